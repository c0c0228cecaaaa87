"""Several members (a symbol's 1m bars and a Play's signals each) on one USDT wallet.

`run_portfolio` runs them in one compiled loop in time order (`trade._kernels.batch`'s
`run_portfolio`): at every signal time each member's bars up to that minute are simulated,
then the members whose rows act then do so in member order, each seeing the whole account.
As on Bybit with isolated margin, the members share one balance:

* an order's margin check counts the other members' wallet changes and margin in use, so an
  entry the wallet cannot margin is rejected (and counted in the member's `entry_rejections`);
* an entry is sized on the account's equity (every member's wallet change and unrealised
  PnL) times the member's allocation;
* each position's liquidation, fees and funding are its own (isolated margin).

Each member's `BatchResult` is its own ledger: its wallet starts at the initial balance and
moves only by its own trades, fees and funding; the account's curve is the initial balance
plus every member's change, on the union of the members' minutes (a member with no bar in a
minute keeps its last values). The reference twin is `trade.sim.driver.run_portfolio_signals`
over `ReferenceExchange`s; the differential tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade._kernels import sim as _sim
from trade.sim.batch import kernel_bar_args, kernel_inputs, kernel_signals
from trade.sim.config import SimConfig
from trade.sim.margin import MARGIN_FIELDS, MarginRisk
from trade.sim.results import EQUITY_SCHEMA, BatchResult
from trade.sim.signals import SignalArrays


@dataclass(frozen=True, slots=True)
class PortfolioMember:
    """One member of a portfolio: its bars, its signals, its simulator settings and the share
    of the account's equity its entries are sized on (`alloc`, > 0; 1 = the whole account,
    as a single run). Every member's `config.initial_balance` is the account's."""

    bars: pa.Table
    signals: SignalArrays
    config: SimConfig
    alloc: float = 1.0


@dataclass(frozen=True, slots=True)
class PortfolioResult:
    """The outcome of a portfolio run.

    `members`: each member's own ledger (trades, its curve, its margin figures), in member
    order. `equity`: the account's curve (EQUITY_SCHEMA) on the union of the members'
    minutes: equity and wallet = the initial balance plus every member's change, and
    `position_qty` = the number of open positions (members hold different instruments, so
    their quantities do not add). `final_balance`: the account's wallet after every member's
    end-of-data close. Immutable."""

    members: tuple[BatchResult, ...]
    equity: pa.Table
    final_balance: float
    initial_balance: float


def run_portfolio(members: Sequence[PortfolioMember]) -> PortfolioResult:
    """Backtest several members on one wallet (see the module docstring).

    Parameters
    ----------
    members : sequence of PortfolioMember
        At least one; each member's bars and signals as for `run_batch`.

    Returns
    -------
    PortfolioResult

    Raises
    ------
    ValueError
        No member, a member's initial balance differs from the first one's, an allocation is
        not > 0, or a member's bars or signals are invalid (the message names the member).
    """
    if not members:
        raise ValueError("a portfolio needs at least one member")
    args = []
    check = False  # the kernel validates every member's bars when one is not ValidatedBars
    outs: list[tuple[pa.Table, npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
    for k, m in enumerate(members):
        if not isinstance(m, PortfolioMember):
            raise ValueError(f"member {k} must be a PortfolioMember, got {type(m).__name__}")
        try:
            table, cols, validate = kernel_inputs(m.bars, m.config)
            sig = kernel_signals(m.signals, table.num_rows)
        except ValueError as exc:
            raise ValueError(f"member {k}: {exc}") from None
        check = check or validate
        out = np.empty((3, table.num_rows), dtype=np.float64)
        risk = np.empty((1, len(MARGIN_FIELDS)), dtype=np.float64)
        args.append((*kernel_bar_args(cols), sig, m.config, out[0], out[1], out[2], risk,
                     float(m.alloc)))
        outs.append((table, out, risk))
    results = _sim.run_portfolio_arrays(args, check)
    done: list[BatchResult] = []
    for (table, out, risk), (trades, wallet) in zip(outs, results, strict=True):
        ts_col = table.column("ts")
        ts_arr = ts_col.combine_chunks() if ts_col.num_chunks != 1 else ts_col.chunk(0)
        eq = pa.table([ts_arr.cast(pa.int64()), out[0], out[1], out[2]], schema=EQUITY_SCHEMA)
        done.append(BatchResult(trades, eq, float(wallet), MarginRisk.from_row(risk[0])))
    initial = float(members[0].config.initial_balance)
    return PortfolioResult(tuple(done), account_curve(done, initial),
                           account_balance([r.final_balance for r in done], initial), initial)


def account_balance(balances: Sequence[float], initial: float) -> float:
    """The account's wallet from its members' own wallets: the first member's wallet plus
    each other member's change, in member order (so one member's is its own, to the bit)."""
    if not balances:
        return initial
    total = balances[0]
    for b in balances[1:]:
        total += b - initial
    return total


def _union(stamps: Sequence[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """The sorted union of strictly increasing minute stamps (a sort and a dedupe: numpy's
    hash-based unique is many times slower on a year of minutes)."""
    if not stamps:
        return np.empty(0, dtype=np.int64)
    first = stamps[0]
    if all(len(s) == len(first) and np.array_equal(s, first) for s in stamps[1:]):
        return first.copy()  # the common case: the same minutes everywhere
    merged = np.concatenate(stamps)
    merged.sort(kind="stable")
    keep = np.empty(len(merged), dtype=bool)
    keep[:1] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def account_curve(results: Sequence[BatchResult], initial: float) -> pa.Table:
    """The account's curve (EQUITY_SCHEMA) from its members' own curves, on the union of
    their minutes (see PortfolioResult)."""
    stamps = [np.asarray(r.equity.column("ts").to_numpy(), dtype=np.int64) for r in results]
    ts = _union(stamps)
    # the first member's values, then each other member's change, in member order: a
    # portfolio of one is its member's curve to the bit
    eq = np.full(len(ts), initial)
    wallet = np.full(len(ts), initial)
    open_positions = np.zeros(len(ts))
    for k, (r, own) in enumerate(zip(results, stamps, strict=True)):
        if not len(own):
            continue
        m_eq = np.asarray(r.equity.column("equity").to_numpy(), dtype=np.float64)
        m_wa = np.asarray(r.equity.column("wallet_balance").to_numpy(), dtype=np.float64)
        m_q = np.asarray(r.equity.column("position_qty").to_numpy(), dtype=np.float64)
        if len(own) != len(ts):
            # the member's last row at or before every minute of the union (its first values
            # before its first minute: the initial balance, nothing open)
            at = np.searchsorted(own, ts, side="right") - 1
            seen = at >= 0
            pick = np.where(seen, at, 0)
            m_eq = np.where(seen, m_eq[pick], initial)
            m_wa = np.where(seen, m_wa[pick], initial)
            m_q = np.where(seen, m_q[pick], 0.0)
        if k == 0:
            eq, wallet = m_eq.copy(), m_wa.copy()
        else:
            eq += m_eq - initial
            wallet += m_wa - initial
        open_positions += m_q != 0.0
    return pa.table([ts, eq, wallet, open_positions], schema=EQUITY_SCHEMA)
