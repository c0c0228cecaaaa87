"""The portfolio loop against its members run one by one (pytest-benchmark).

pytest benchmarks/bench_portfolio.py --benchmark-only -s    # 3 members x a year of 1m bars
TRADE_BENCH_QUICK=1 pytest benchmarks/bench_portfolio.py   # CI: small sizes

Three members (three seeded markets, the same 15m stop/target signals, a third of the
account each, on a wallet large enough that it never binds) in one `run_portfolio`, against
the three `run_batch` runs of the same members: the price of running them on one wallet in
time order (the loop stops every member at every signal time of any member). Timings are
reported, never asserted; the ratio is printed (portfolio time / the three singles' time).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pyarrow as pa
import pytest
from conftest import sizes, synthetic_bars, tpsl_signals

from trade.sim import SimConfig, run_batch
from trade.sim.batch import validate_bars
from trade.sim.portfolio import PortfolioMember, run_portfolio

CONFIG = SimConfig(initial_balance=1e9, leverage=3.0, slippage=0.0002, funding_rate=0.0001)


def _members(n: int) -> list[PortfolioMember]:
    out = []
    for k, sym in enumerate(("BTCUSDT", "ETHUSDT", "SOLUSDT")):
        bars: pa.Table = validate_bars(synthetic_bars(n, seed=7 + k)).table
        out.append(PortfolioMember(bars, tpsl_signals(n), dataclasses.replace(CONFIG, symbol=sym),
                                   alloc=1 / 3))
    return out


def _best(run: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def test_portfolio_vs_singles(benchmark: object) -> None:
    n = sizes()["1y"]
    members = _members(n)

    def singles() -> None:
        for m in members:
            run_batch(m.bars, m.signals, m.config)

    result = benchmark.pedantic(lambda: run_portfolio(members),  # type: ignore[attr-defined]
                                rounds=3, iterations=1)
    assert len(result.members) == 3
    t_singles = _best(singles)
    t_portfolio = benchmark.stats.stats.min  # type: ignore[attr-defined]
    benchmark.extra_info["singles_s"] = t_singles  # type: ignore[attr-defined]
    benchmark.extra_info["ratio"] = t_portfolio / t_singles  # type: ignore[attr-defined]
    print(f"\nportfolio of 3 x {n} 1m bars: {t_portfolio * 1e3:.1f} ms; the 3 single runs: "
          f"{t_singles * 1e3:.1f} ms; portfolio / singles = {t_portfolio / t_singles:.2f}x")


if __name__ == "__main__":
    pytest.main([__file__, "--benchmark-only", "-s", "-p", "no:randomly"])
