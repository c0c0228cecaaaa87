"""Ray sweep scaling: the same sweep on a running cluster of one node, then of two nodes.

    pytest benchmarks/bench_ray.py --benchmark-only      # figures in extra_info
    python -m benchmarks.bench_ray                       # plain timings, speed-up per node

Each node is a separate raylet with its own object store and one CPU, started on this
machine and bound to 127.0.0.1 (Ray's own multi-node test harness). The cluster is started
before the timing, as a user starts one with `ray start` and joins it with `--address`:
the figure is the sweep alone (context shipped once per node, variants in tasks), not
Ray's start-up. Each sweep still pays a fixed cost per node (the context — Play and bars —
fetched from the object store and unpickled, the indicator cache rebuilt), about 2 s for a
year of 1m bars here, against ~10 ms per variant: a sweep needs a few hundred variants per
node before an added node pays. On a 2-core machine two one-CPU nodes are the most that
can show a gain; the projection for a larger cluster is in `projected_speedup` below.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ray_cluster import cluster_of
from trade.data import synth_bars
from trade.play import load_play
from trade.sweep import SweepContext, SweepSettings, run_sweep, space_for

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
DAYS = 8 if QUICK else 365
PLAY = Path(__file__).resolve().parents[1] / "plays" / "01_ema_cross_basics.yml"
FAST = (5, 9) if QUICK else tuple(range(5, 69, 2))
SLOW = (21, 30) if QUICK else (21, 30, 40, 50, 60, 80, 100, 120)
N_VARIANTS = len(FAST) * len(SLOW)  # 4, or 256 (a sweep large enough to pay Ray's fixed cost)
PARAMS = [f"features.ema_fast.params.length=values:{','.join(map(str, FAST))}",
          f"features.ema_slow.params.length=values:{','.join(map(str, SLOW))}"]

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
    benchmark.extra_info.update({"nodes": nodes, "variants": N_VARIANTS, "days": DAYS,
                                 "seconds": seconds})


def main() -> int:
    times: dict[int, float] = {}
    for nodes in (1, 2):
        with cluster_of(nodes) as address:
            sweep_seconds(address)
            times[nodes] = min(sweep_seconds(address) for _ in range(2))
        print(f"{nodes} node(s): {times[nodes]:.2f} s for {N_VARIANTS} variants "
              f"x {DAYS} days of 1m bars")
    gain = times[1] / times[2]
    print(f"measured speed-up from the second node: {gain:.2f}x")
    for n in (4, 8, 16):
        fit = projected_speedup(times[1], times[2], n)
        print(f"projected on {n} nodes (Amdahl fit): {fit:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
