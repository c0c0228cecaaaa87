"""A sweep on a Ray cluster of two nodes gives the local sweep's results, and both nodes work.

The fixture starts a real two-node cluster on this machine (a head and a second worker node,
each a separate raylet with its own object store and one CPU, all bound to 127.0.0.1, no
dashboard) with Ray's own test harness, and stops it after. The sweep joins it by address,
as a user joins a cluster started with `ray start --head`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path
from typing import Any

import pytest

from tests.ray_cluster import cluster_of
from trade.data import synth_bars
from trade.play import load_play
from trade.sweep import SweepContext, SweepSettings, read_results, run_sweep, space_for

pytestmark = pytest.mark.ray
PLAY = Path(__file__).resolve().parents[1] / "plays" / "01_ema_cross_basics.yml"
PARAMS = ["features.ema_fast.params.length=values:5,9,13",
          "features.ema_slow.params.length=values:21,30"]


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[str]:
    with cluster_of(2) as address:
        yield address


def _context() -> SweepContext:
    bars = synth_bars("BTCUSDT", 6, 11, "mixed")
    return SweepContext(load_play(PLAY), bars, SweepSettings(min_trades=1))


def test_two_node_sweep_equals_local(two_nodes: str, tmp_path: Path) -> None:
    import ray

    ctx = _context()
    local = run_sweep(ctx, space_for(ctx, PARAMS), tmp_path / "local.parquet", workers=2)
    remote = run_sweep(_context(), space_for(ctx, PARAMS), tmp_path / "ray.parquet",
                       backend="ray", address=two_nodes)
    assert not ray.is_initialized()  # the sweep joined the cluster and left it, not stopped it
    a = read_results(local.path).sort_by("variant_id")
    b = read_results(remote.path).sort_by("variant_id")
    assert a.num_rows == 6
    assert a.equals(b)
    assert local.summary == remote.summary


def test_work_is_spread_over_both_nodes(two_nodes: str) -> None:
    import ray

    from trade.sweep.ray_backend import RayExecutor

    ctx = _context()
    executor = RayExecutor(ctx, address=two_nodes, batch=1)
    try:
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == 2
        assert executor.slots == 2  # one CPU on each node
        variants: list[dict[str, Any]] = [
            {"features.ema_fast.params.length": f, "features.ema_slow.params.length": 30}
            for f in (5, 7, 9, 11, 13, 15)]
        # six single-variant tasks at once on two one-CPU nodes: the second node must take some
        futures = [executor.submit([v]) for v in variants]
        wait(futures)
        rows = [f.result()[0] for f in futures]
    finally:
        executor.close()
    assert executor.nodes_used == {n["NodeID"] for n in alive}
    assert all("error" not in r and r["n_trades"] > 0 for r in rows), rows
    assert len({r["variant_id"] for r in rows}) == 6
