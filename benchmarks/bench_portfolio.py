"""The portfolio loop: symbol-bars per second, against its members run one by one.

pytest benchmarks/bench_portfolio.py --benchmark-only -s    # 3 and 10 members x a year of 1m
TRADE_BENCH_QUICK=1 pytest benchmarks/bench_portfolio.py   # CI: small sizes

Members: seeded markets, each with the same 15m stop/target signals (an entry every 4 hours,
20 % of the equity), an equal share of the account each, on a wallet large enough that it
never binds. Measured in one run: the single-symbol kernel (`run_batch` of one member), the
portfolio (`run_portfolio` of all) and the members run one by one. Throughput is
symbol-bars per second (1m bars x members / wall time). Timings are reported, never asserted.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from conftest import sizes, synthetic_bars, tpsl_signals

from trade.sim import SimConfig, run_batch
from trade.sim.batch import validate_bars
from trade.sim.portfolio import PortfolioMember, run_portfolio

CONFIG = SimConfig(initial_balance=1e9, leverage=3.0, slippage=0.0002, funding_rate=0.0001)
_MEMBERS: dict[tuple[int, int], list[PortfolioMember]] = {}


def _members(m: int, n: int) -> list[PortfolioMember]:
    if (m, n) not in _MEMBERS:
        out = []
        for k in range(m):
            bars: pa.Table = validate_bars(synthetic_bars(n, seed=7 + k)).table
            cfg = dataclasses.replace(CONFIG, symbol=f"SYM{k}USDT")
            out.append(PortfolioMember(bars, tpsl_signals(n), cfg, alloc=1 / m))
        _MEMBERS[(m, n)] = out
    return _MEMBERS[(m, n)]


def _best(run: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("m", [3, 10])
def test_portfolio_symbol_bars_per_second(benchmark: Any, m: int) -> None:
    n = sizes()["1y"]
    members = _members(m, n)
    first = members[0]

    def singles() -> None:
        for x in members:
            run_batch(x.bars, x.signals, x.config)

    result = benchmark.pedantic(lambda: run_portfolio(members), rounds=3, iterations=1)
    assert len(result.members) == m
    t_portfolio = benchmark.stats.stats.min
    t_single = _best(lambda: run_batch(first.bars, first.signals, first.config))
    t_singles = _best(singles)
    info = benchmark.extra_info
    info["symbol_bars_per_s"] = m * n / t_portfolio
    info["single_symbol_bars_per_s"] = n / t_single
    info["portfolio_over_singles"] = t_portfolio / t_singles
    print(f"\n{m} members x {n:,} 1m bars: portfolio {t_portfolio * 1e3:.1f} ms = "
          f"{m * n / t_portfolio / 1e6:.1f} M symbol-bars/s; one symbol alone "
          f"{n / t_single / 1e6:.1f} M bars/s; the {m} run one by one {t_singles * 1e3:.1f} ms "
          f"(portfolio / one by one = {t_portfolio / t_singles:.2f}x)")
