"""Several members on one wallet (trade.sim.portfolio): parity that proves the loop.

* a portfolio of one member is that member's single backtest, bit for bit;
* a portfolio whose wallet never binds is the sum of its members' single backtests (each
  member's trades and curve identical, the account's curve their sum);
* the compiled portfolio loop and the reference twin (trade.sim.driver.run_portfolio_signals
  over ReferenceExchanges) agree on random portfolios whose wallet binds;
* a hand case: two members wanting all the equity in the same minute, the second refused.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_differential import (
    _close,
    assert_margins_agree,
    assert_results_agree,
    assert_tables_agree,
    bar_series,
    configs,
    signal_sets,
)

from trade.sim import SignalArrays, run_batch
from trade.sim.config import SimConfig, SizeMode
from trade.sim.driver import run_portfolio_signals
from trade.sim.portfolio import PortfolioMember, account_curve, run_portfolio
from trade.sim.reference import ReferenceExchange
from trade.sim.results import BatchResult

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@st.composite
def portfolios(draw: st.DrawFn, min_members: int = 1, max_members: int = 3
               ) -> list[PortfolioMember]:
    m = draw(st.integers(min_members, max_members))
    balance = draw(st.sampled_from([1_000.0, 10_000.0]))
    members = []
    for k in range(m):
        bars = draw(bar_series(min_bars=30, max_bars=160))
        cfg = dataclasses.replace(draw(configs), symbol=SYMBOLS[k], initial_balance=balance)
        alloc = draw(st.sampled_from([1.0, 0.5, 0.3]))
        members.append(PortfolioMember(bars, draw(signal_sets(bars.num_rows)), cfg, alloc))
    return members


def _reference(members: list[PortfolioMember]) -> list[BatchResult]:
    return run_portfolio_signals([ReferenceExchange(m.config) for m in members],
                                 [m.bars for m in members], [m.signals for m in members],
                                 [m.config for m in members], [m.alloc for m in members])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios(1, 1))
def test_a_portfolio_of_one_is_its_single_backtest(members: list[PortfolioMember]) -> None:
    (m,) = members
    single = run_batch(m.bars, m.signals, dataclasses.replace(m.config))
    if m.alloc != 1.0:
        # sizing on a share of the equity is not a single run's; the whole account is
        members = [dataclasses.replace(m, alloc=1.0)]
    got = run_portfolio(members)
    member = got.members[0]
    assert member.trades.equals(single.trades)
    assert member.equity.equals(single.equity)
    assert member.final_balance == single.final_balance
    assert member.margin == single.margin or repr(member.margin) == repr(single.margin)
    assert got.final_balance == single.final_balance
    assert np.array_equal(got.equity.column("equity").to_numpy(),
                          single.equity.column("equity").to_numpy())


def _small(members: list[PortfolioMember]) -> list[PortfolioMember]:
    # fixed sizes far inside the wallet: no order of one member can be refused for another's
    out = []
    for m in members:
        s = dataclasses.replace(m.signals, size_mode=SizeMode.FIXED_USDT)
        s.size_value[:] = 10.0
        cfg = dataclasses.replace(m.config, initial_balance=1e9, min_notional=0.0, min_qty=0.0)
        out.append(dataclasses.replace(m, signals=s, config=cfg))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios(2, 3))
def test_a_wallet_that_never_binds_is_the_sum_of_the_single_backtests(
        members: list[PortfolioMember]) -> None:
    members = _small(members)
    got = run_portfolio(members)
    singles = [run_batch(m.bars, m.signals, m.config) for m in members]
    for k, (member, single) in enumerate(zip(got.members, singles, strict=True)):
        assert member.trades.equals(single.trades), f"member {k}"
        assert member.equity.equals(single.equity), f"member {k}"
        assert member.final_balance == single.final_balance
    # the account: the initial balance plus every member's change, on every minute of any
    initial = members[0].config.initial_balance
    assert got.equity.equals(account_curve(singles, initial))
    net = sum(sum(s.trades.column("net_pnl").to_pylist()) for s in singles)
    assert _close(got.final_balance - initial, net) or abs(got.final_balance - initial - net) < 1e-3
    minutes = set()
    for m in members:
        minutes |= set(m.bars.column("ts").to_pylist())
    assert got.equity.column("ts").to_pylist() == sorted(minutes)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios(2, 3))
def test_the_compiled_portfolio_equals_the_reference(members: list[PortfolioMember]) -> None:
    got = run_portfolio(members)
    want = _reference(members)
    for k, (a, b) in enumerate(zip(got.members, want, strict=True)):
        assert_results_agree(a, b, f"member {k}")
    initial = members[0].config.initial_balance
    assert_tables_agree(got.equity, account_curve(want, initial), "account curve")


def _flat_bars(n: int, start: int = 0) -> pa.Table:
    ts = (start + np.arange(n, dtype=np.int64)) * 60_000
    one = np.full(n, 100.0)
    return pa.table({"ts": ts, "open": one, "high": one, "low": one, "close": one,
                     "volume": np.ones(n)})


def test_the_second_member_cannot_margin_what_the_first_took() -> None:
    cfg = SimConfig(initial_balance=1_000.0, leverage=1.0, taker_fee=0.0, maker_fee=0.0,
                    slippage=0.0)

    def all_in() -> SignalArrays:
        sig = SignalArrays.empty(np.arange(4), size_mode=SizeMode.PERCENT_EQUITY)
        sig.entry_long[0] = 1
        return sig

    members = [PortfolioMember(_flat_bars(4), all_in(), dataclasses.replace(cfg, symbol=s))
               for s in ("BTCUSDT", "ETHUSDT")]
    got = run_portfolio(members)
    first, second = got.members
    # the first takes the whole wallet as margin; the second's order finds none left
    assert first.n_trades == 1 and second.n_trades == 0
    assert first.margin is not None and second.margin is not None
    assert (first.margin.entry_attempts, first.margin.entry_rejections) == (1, 0)
    assert (second.margin.entry_attempts, second.margin.entry_rejections) == (1, 1)
    alone = run_batch(members[1].bars, members[1].signals, members[1].config)
    assert alone.n_trades == 1  # alone it would have traded
    for a, b in zip(got.members, _reference(members), strict=True):
        assert_results_agree(a, b, "hand case")
        assert_margins_agree(a.margin, b.margin, "hand case")


def test_half_allocations_size_on_half_the_account() -> None:
    cfg = SimConfig(initial_balance=1_000.0, leverage=1.0, taker_fee=0.0, maker_fee=0.0,
                    slippage=0.0)
    sig = SignalArrays.empty(np.arange(4), size_mode=SizeMode.PERCENT_EQUITY)
    sig.entry_long[0] = 1
    members = [PortfolioMember(_flat_bars(4), dataclasses.replace(sig),
                               dataclasses.replace(cfg, symbol=s), alloc=0.5)
               for s in ("BTCUSDT", "ETHUSDT")]
    got = run_portfolio(members)
    # each sized on half of the 1,000 USDT account: 5 units at 100, both fit
    assert [r.trades.column("qty").to_pylist() for r in got.members] == [[5.0], [5.0]]


def test_members_must_share_the_wallet_and_name_a_bad_member() -> None:
    cfg = SimConfig(initial_balance=1_000.0)
    sig = SignalArrays.empty(np.arange(4))
    good = PortfolioMember(_flat_bars(4), sig, cfg)
    with pytest.raises(ValueError, match="initial balance"):
        run_portfolio([good, dataclasses.replace(good, config=SimConfig(initial_balance=5.0))])
    with pytest.raises(ValueError, match="allocation"):
        run_portfolio([good, dataclasses.replace(good, alloc=0.0)])
    with pytest.raises(ValueError, match="at least one member"):
        run_portfolio([])
    bad = _flat_bars(4).set_column(3, "low", pa.array([100.0, -1.0, 100.0, 100.0]))
    with pytest.raises(ValueError, match="member 1 at row 1"):
        run_portfolio([good, dataclasses.replace(good, bars=bad)])
