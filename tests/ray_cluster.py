"""A Ray cluster of several one-CPU nodes on this machine, all on loopback (tests, benchmarks).

Each node is a separate raylet with its own object store (Ray's own multi-node test harness),
so a sweep that joins it by address ships its context to every node as on a real cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False,
        "object_store_memory": 80 * 1024 * 1024}


@contextmanager
def cluster_of(nodes: int) -> Iterator[str]:
    """Start `nodes` one-CPU nodes bound to 127.0.0.1; yield the head's address; stop all."""
    import ray
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another test's local Ray must not be mistaken for the cluster
        ray.shutdown()
    # A driver joining "127.0.0.1:port" rewrites the loopback address to the machine's own
    # routable address (Ray assumes a loopback address means "this node, as others see it"),
    # where a cluster bound to 127.0.0.1 does not listen. Ray's switch for single-host
    # clusters keeps every address on loopback; nothing here may listen on anything else.
    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
        try:
            for _ in range(nodes - 1):
                cluster.add_node(**NODE)
            cluster.wait_for_nodes()
            yield str(cluster.address)
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
