"""Ray sweep scaling: the same sweep on a running cluster of one node, then of two nodes.

    pytest benchmarks/bench_ray.py --benchmark-only      # figures in extra_info
    python benchmarks/bench_ray.py                       # plain timings, speed-up per node

Each node is a separate raylet with its own object store and one CPU, started on this
machine and bound to 127.0.0.1 (Ray's own multi-node test harness). The cluster is started
before the timing, as a user starts one with `ray start` and joins it with `--address`:
the figure is the sweep alone (context shipped once per node, variants in tasks), not
Ray's start-up. On a 2-core machine two one-CPU nodes are the most that can show a gain;
the projection for a larger cluster is in `projected_speedup` below.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from trade.data import synth_bars
from trade.play import load_play
from trade.sweep import SweepContext, SweepSettings, run_sweep, space_for

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
DAYS = 8 if QUICK else 60
PLAY = Path(__file__).resolve().parents[1] / "plays" / "01_ema_cross_basics.yml"
FAST = (5, 9) if QUICK else (5, 7, 9, 11, 13, 15, 17, 19)
PARAMS = [f"features.ema_fast.params.length=values:{','.join(map(str, FAST))}",
          "features.ema_slow.params.length=values:21,30"]
_NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False,
         "object_store_memory": 80 * 1024 * 1024}


@contextmanager
def cluster_of(nodes: int) -> Iterator[str]:
    """A Ray cluster of `nodes` one-CPU nodes on loopback; yields its address."""
    import ray
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    # keep a loopback address on loopback when the driver joins (Ray's single-host switch)
    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    cluster = Cluster(initialize_head=True, head_node_args=dict(_NODE))
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**_NODE)
        cluster.wait_for_nodes()
        yield str(cluster.address)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = saved


def _context() -> SweepContext:
    return SweepContext(load_play(PLAY), synth_bars("BTCUSDT", DAYS, 3, "mixed"),
                        SweepSettings(min_trades=1, metrics="fast"))


def sweep_seconds(address: str) -> float:
    ctx = _context()
    space = space_for(ctx, PARAMS)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(ctx, space, Path(tmp) / "r.parquet", backend="ray", address=address)
        return time.perf_counter() - t0


def projected_speedup(t1: float, t2: float, nodes: int) -> float:
    """Amdahl from two points: t(n) = fixed + work / n, fitted to n = 1 and n = 2."""
    work = 2.0 * (t1 - t2)
    fixed = max(t1 - work, 0.0)
    return t1 / (fixed + work / nodes)


@pytest.mark.ray
@pytest.mark.parametrize("nodes", [1, 2])
def test_sweep_on_cluster(benchmark: Any, nodes: int) -> None:
    with cluster_of(nodes) as address:
        sweep_seconds(address)  # warm: worker processes started, imports done
        seconds = benchmark.pedantic(sweep_seconds, args=(address,), rounds=1 if QUICK else 3,
                                     iterations=1)
    benchmark.extra_info.update({"nodes": nodes, "variants": len(FAST) * 2, "days": DAYS,
                                 "seconds": seconds})


def main() -> int:
    times: dict[int, float] = {}
    for nodes in (1, 2):
        with cluster_of(nodes) as address:
            sweep_seconds(address)
            times[nodes] = min(sweep_seconds(address) for _ in range(3))
        print(f"{nodes} node(s): {times[nodes]:.2f} s for {len(FAST) * 2} variants "
              f"x {DAYS} days of 1m bars")
    gain = times[1] / times[2]
    print(f"measured speed-up from the second node: {gain:.2f}x")
    for n in (4, 8, 16):
        fit = projected_speedup(times[1], times[2], n)
        print(f"projected on {n} nodes (Amdahl fit): {fit:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
