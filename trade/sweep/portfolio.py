"""Sweeps of a portfolio: the members' Play parameters and the allocations, one account.

    ctx = portfolio_sweep_context_for(load_portfolio_file("two.yml"), holdout="20%")
    space = portfolio_space(ctx, [
        "ema_cross_basics@BTCUSDT.features.ema_fast.params.length=values:5,9,13",
        "alloc.ema_cross_basics@BTCUSDT=values:0.3,0.5"])
    run_sweep(ctx, space, "two.parquet")            # the same runner, local threads or Ray

A swept path names a member by its label (`play@SYMBOL`, `#k` added when a pair repeats,
as `trade.engine.portfolio` names members) and then a path of that member's Play
(`LABEL.features.ema_fast.params.length`), or an allocation (`alloc.LABEL`). The members'
Plays' own `sweep:` sections are swept too (under their labels) unless `use_play_sweep` is
False.

A variant: each member's Play with its overrides (`SweepContext.variant_play`), its signals
built by the single-Play sweep's machinery on its own bars (`SweepContext.prepare`: the
shared `FrameCache`, `trade.engine.build_signals`), the members run together on one wallet
by `trade.sim.portfolio.run_portfolio`, and the account scored as `run_portfolio_backtest`
scores it: `compute_metrics` of the account curve with every member's trades, the margin
figures entries placed / refused (summed over members) and the closest liquidation (the
least over members), the ratio figures None (each member's own under isolated margin).
The selection, each walk-forward window and the hold-out are slices of the account curve by
time (`trade.sweep.evaluate.score_run`, as a single sweep slices its run).

The portfolio kernel has no summary mode: every variant records the account's whole curve,
`--metrics fast` only computes fewer metrics from it, and the margin figures are known for
the whole run only (a window shorter than the run, the selection before a hold-out
included, has them None).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core import InputError
from trade.data import Store, open_store
from trade.engine.backtest import prepare_run, with_funding
from trade.engine.portfolio import (
    PATH_REASON,
    MemberSpec,
    check_alloc,
    load_member,
    member_labels,
    members_from_file,
)
from trade.play import Play, PlayError
from trade.play.errors import PlayIssue
from trade.play.portfolio import PortfolioFile
from trade.sim import BatchResult
from trade.sim.portfolio import PortfolioMember, PortfolioResult, run_portfolio
from trade.sweep.data import selection_windows
from trade.sweep.evaluate import (
    DayIndex,
    SweepContext,
    SweepSettings,
    day_index,
    new_row,
    score_run,
)
from trade.sweep.space import Dimension, Space, dimension_from_sweep, parse_dimension
from trade.sweep.windows import WalkForward, Window

I64 = npt.NDArray[np.int64]
ALLOC = "alloc"


@dataclass
class PortfolioSweepContext:
    """What every variant of a portfolio sweep shares (built once; shipped once per Ray
    node: each member's bars once, inside its `SweepContext`).

    `members` holds one `SweepContext` per member (its base Play, its 1m bars with the
    store's funding, its instrument and its feature cache); `symbols`, `labels` and
    `allocs` (the base allocations) are in member order; `initial_balance` is the
    portfolio's wallet (None: the members' Plays' starting equity, which must agree in every
    variant). `settings`, `selection_end`, `windows` and `data` as `SweepContext`'s, on the
    account's minutes (`ts`: the union of the members' minutes). Pickling drops the caches."""

    name: str
    members: tuple[SweepContext, ...]
    symbols: tuple[str, ...]
    allocs: tuple[float, ...]
    initial_balance: float | None = None
    settings: SweepSettings = field(default_factory=SweepSettings)
    selection_end: int | None = None
    windows: tuple[Window, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the portfolio file (for messages)
    labels: tuple[str, ...] = field(init=False)
    ts: I64 = field(init=False)
    same_bars: bool = field(init=False)
    _index: dict[str, DayIndex] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.members)
        if n == 0:
            raise InputError("a portfolio needs at least one member")
        if not len(self.symbols) == len(self.allocs) == n:
            raise InputError("a portfolio sweep needs one symbol and one alloc per member")
        for k, a in enumerate(self.allocs):
            check_alloc(a, f"member {k + 1} ({self.members[k].play.name})")
        self.labels = member_labels([m.play for m in self.members], self.symbols)
        for m in self.members:
            if m.needs_event:
                raise InputError(f"{m.play.source or m.play.name}: account.max_drawdown_pct "
                                 f"needs the event path, and {PATH_REASON}")
        stamps = [m.cache.ts_1m for m in self.members]
        first = stamps[0]
        self.same_bars = all(s == self.symbols[0] for s in self.symbols) and all(
            len(t) == len(first) and np.array_equal(t, first) for t in stamps[1:])
        self.ts = first if len(stamps) == 1 or self.same_bars else \
            np.unique(np.concatenate(stamps)).astype(np.int64)

    @property
    def needs_event(self) -> bool:
        """Always False: portfolios run on the batch path (checked at construction)."""
        return False

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "members": self.members, "symbols": self.symbols,
                "allocs": self.allocs, "initial_balance": self.initial_balance,
                "settings": self.settings, "selection_end": self.selection_end,
                "windows": self.windows, "data": self.data, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._index = {}
        self.__post_init__()

    # ------------------------------------------------------------------ addressing

    def resolve(self, path: str) -> tuple[int, str | None]:
        """(member index, Play path) of a swept path; the Play path is None for the
        member's allocation (`alloc.LABEL`). InputError naming the members when the path
        names none (an unknown label, or a label without a Play path)."""
        if path.startswith(f"{ALLOC}."):
            label = path[len(ALLOC) + 1:]
            if label in self.labels:
                return self.labels.index(label), None
        for k, label in sorted(enumerate(self.labels), key=lambda kv: -len(kv[1])):
            if path.startswith(f"{label}.") and len(path) > len(label) + 1:
                return k, path[len(label) + 1:]
        raise InputError(f"--param {path}: names no member; a portfolio sweep's path is "
                         f"MEMBER.PLAY_PATH or {ALLOC}.MEMBER, with MEMBER one of: "
                         f"{', '.join(self.labels)}")

    def split(self, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[float]]:
        """The variant's Play overrides per member and its allocations (unswept ones the
        base's)."""
        overrides: list[dict[str, Any]] = [{} for _ in self.members]
        allocs = list(self.allocs)
        for path, value in params.items():
            k, sub = self.resolve(path)
            if sub is None:
                allocs[k] = check_alloc(value, f"{ALLOC}.{self.labels[k]}")
            else:
                overrides[k][sub] = value
        return overrides, allocs

    # ------------------------------------------------------------------ running

    def variant_members(self, params: Mapping[str, Any]
                        ) -> tuple[list[Play], list[PortfolioMember], float]:
        """The variant's member Plays, the `run_portfolio` members and the wallet.

        Raises PlayError (a bad path or value) or InputError (a member needing the event
        path, an alloc that is not > 0, starting equities that differ without a wallet)."""
        overrides, allocs = self.split(params)
        plays: list[Play] = []
        prepared = []
        for k, (m, over) in enumerate(zip(self.members, overrides, strict=True)):
            play = m.variant_play(over)
            if play.account.max_drawdown_pct is not None:
                raise InputError(f"{self.labels[k]}: account.max_drawdown_pct needs the event "
                                 f"path, and {PATH_REASON}")
            plays.append(play)
            prepared.append(m.prepare(play, self.symbols[k]))
        wallet = self.initial_balance
        if wallet is None:
            balances = {c.initial_balance for _, c in prepared}
            if len(balances) != 1:
                raise InputError("the members' starting equities differ ("
                                 + ", ".join(f"{lb}: {c.initial_balance:g}" for lb, (_, c)
                                             in zip(self.labels, prepared, strict=True))
                                 + "); one wallet needs one (set initial_balance in the "
                                 "portfolio file)")
            wallet = float(prepared[0][1].initial_balance)
        members = [PortfolioMember(m.bars, signals,
                                   dataclasses.replace(config, initial_balance=wallet), alloc)
                   for m, (signals, config), alloc in zip(self.members, prepared, allocs,
                                                         strict=True)]
        return plays, members, wallet

    def simulate(self, params: Mapping[str, Any]) -> tuple[PortfolioResult, float]:
        """Run one variant: (the portfolio's result, the wallet)."""
        _, members, wallet = self.variant_members(params)
        return run_portfolio(members), wallet

    # ------------------------------------------------------------------ windows

    def rows_of(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        """Row range [lo, hi) of the account's minutes with start <= ts < end."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self.ts) if end_ms is None else int(np.searchsorted(self.ts, end_ms,
                                                                     side="left"))
        return lo, hi

    def day_index(self, lo: int, hi: int) -> DayIndex:
        """day_index of the account's minutes [lo, hi) (cached: the same for every variant)."""
        key = f"{lo}:{hi}"
        found = self._index.get(key)
        if found is None:
            found = day_index(self.ts[lo:hi])
            self._index[key] = found
        return found


def account_trades(result: PortfolioResult) -> pa.Table:
    """Every member's trades in the account's order (exit time, then entry time), as
    `run_portfolio_backtest` writes them (without its `member` column)."""
    trades = pa.concat_tables([r.trades for r in result.members])
    return trades.sort_by([("exit_ts", "ascending"), ("entry_ts", "ascending")])


def account_margin(result: PortfolioResult) -> dict[str, float | int | None]:
    """The account's margin figures over its members' whole runs, as
    `run_portfolio_backtest` reports them: entries placed and refused (sums), the rejection
    rate, the closest liquidation (the least over members); the ratio figures stay None."""
    att = rej = 0
    liq: list[float] = []
    for r in result.members:
        if r.margin is None:
            continue
        att += int(r.margin.entry_attempts)
        rej += int(r.margin.entry_rejections)
        x = float(r.margin.closest_liquidation_pct)
        if math.isfinite(x):
            liq.append(x)
    return {"entry_attempts": att, "entry_rejections": rej,
            "entry_rejection_rate": rej / att if att else None,
            "closest_liquidation_pct": min(liq) if liq else None}


def evaluate_portfolio(ctx: PortfolioSweepContext, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run one portfolio variant and score the account: one results row (the same columns
    as `trade.sweep.evaluate.evaluate`'s).

    Parameters
    ----------
    ctx : PortfolioSweepContext
        The members, their bars, the settings, windows and hold-out boundary.
    params : Mapping[str, Any]
        The variant: `LABEL.PLAY_PATH` / `alloc.LABEL` -> value (empty: the base portfolio).

    Returns
    -------
    dict[str, Any]
        Column name -> value (see `evaluate`).

    Raises
    ------
    InputError
        An unknown member, an alloc that is not > 0, differing starting equities, a member
        that needs the event path, or a hold-out that leaves no minute to select on.
    PlayError
        A parameter path or value makes a member's Play invalid.
    """
    result, wallet = ctx.simulate(params)
    if result.equity.num_rows != len(ctx.ts):
        raise ValueError(f"the account curve has {result.equity.num_rows} minutes, the "
                         f"members' bars {len(ctx.ts)}")
    account = BatchResult(account_trades(result), result.equity, result.final_balance, None)
    whole = (0, len(ctx.ts))
    margin = account_margin(result)

    def adjust(metrics: dict[str, float | int | None], lo: int, hi: int) -> None:
        if (lo, hi) == whole:  # the kernel records the members' figures for the whole run
            metrics.update(margin)

    bench = ctx.members[0].bars if ctx.same_bars else None
    return score_run(ctx, new_row(params), account, wallet, bench,
                     lambda bounds: [None] * len(bounds), adjust)


def portfolio_preflight(ctx: PortfolioSweepContext, space: Space) -> None:
    """Errors common to every variant, before the sweep starts: a dimension whose every
    probed value makes its member's Play invalid, or an allocation dimension with no value
    > 0. Raises PlayError with one issue per such dimension (as the single sweep's
    `preflight`); an unknown member raises InputError."""
    from trade.sweep.runner import probe_values

    issues: list[PlayIssue] = []
    for d in space.dims:
        k, sub = ctx.resolve(d.path)
        found: list[PlayIssue | None] = []
        for v in probe_values(d):
            found.append(_member_issue(ctx, k, sub, d.path, v))
        if found and all(i is not None for i in found):
            first = found[0]
            assert first is not None
            issues.append(PlayIssue(first.file, first.line, first.path,
                                    f"{first.message} (--param {d.path}: every value tried "
                                    "is invalid, so no variant can run)"))
    if issues:
        raise PlayError(issues)


def _member_issue(ctx: PortfolioSweepContext, k: int, sub: str | None, path: str,
                  value: Any) -> PlayIssue | None:
    """Why member k cannot run with `sub` = value (its first issue), or None if it can."""
    m = ctx.members[k]
    if sub is None:
        try:
            check_alloc(value, path)
        except InputError as exc:
            return PlayIssue(ctx.source or ctx.name, 0, path, str(exc))
        return None
    from trade.engine import order_plan, sim_config

    try:
        play = m.variant_play({sub: value})
        sim_config(play, order_plan(play, m.instrument), m.instrument)
    except PlayError as exc:
        issue = exc.issues[0]
        return PlayIssue(issue.file, issue.line, f"{ctx.labels[k]}.{issue.path}"
                         if issue.path else "", issue.message)
    except ValueError as exc:  # InputError from the order rules
        return PlayIssue(m.play.source, 0, "", str(exc).splitlines()[0])
    if play.account.max_drawdown_pct is not None:
        return PlayIssue(m.play.source, 0, path, f"account.max_drawdown_pct needs the event "
                         f"path, and {PATH_REASON}")
    return None


def portfolio_space(ctx: PortfolioSweepContext, params: Sequence[str] = (),
                    constraints: Sequence[str] = (), *, use_play_sweep: bool = True) -> Space:
    """The space of a portfolio sweep: each member's Play `sweep:` section under its label,
    then the `--param` specs (which replace an entry of the same path).

    Raises InputError: nothing to sweep, a spec `parse_dimension` refuses, a path that
    names no member, or a constraint (not supported for portfolios: the labels' `@` is not
    a constraint path)."""
    if constraints:
        raise InputError("--constraint is not supported for portfolio sweeps yet")
    dims: dict[str, Dimension] = {}
    if use_play_sweep:
        for label, m in zip(ctx.labels, ctx.members, strict=True):
            for path, sp in m.play.sweep.items():
                full = f"{label}.{path}"
                dims[full] = dimension_from_sweep(full, sp)
    for text in params:
        d = parse_dimension(text)
        ctx.resolve(d.path)
        dims[d.path] = d
    if not dims:
        raise InputError(f"{ctx.source or ctx.name}: nothing to sweep: no member Play has a "
                         "sweep: section and no --param was given")
    return Space(tuple(dims.values()))


def portfolio_sweep_context_for(
    portfolio: PortfolioFile | Sequence[MemberSpec],
    *,
    name: str | None = None,
    initial_balance: float | None = None,
    settings: SweepSettings | None = None,
    data_dir: str | Path | None = None,
    store: Store | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    seed: int | None = None,
    walk_forward: str | WalkForward | None = None,
    holdout: str | None = None,
    synthetic: bool | None = None,
) -> PortfolioSweepContext:
    """Load every member's bars as `run_portfolio_backtest` does and build the context.

    Parameters
    ----------
    portfolio : PortfolioFile or sequence of MemberSpec
        A loaded portfolio file (its name, wallet and members), or the members.
    name, initial_balance : optional
        The portfolio's name and wallet (default: the file's; for members, the Plays'
        names joined by + and their common starting equity).
    settings : SweepSettings, optional
        How variants are scored.
    data_dir, store, start, end, seed, synthetic : optional
        As for `run_portfolio_backtest` (each member's bars from `prepare_run`, with the
        store's funding series).
    walk_forward, holdout : optional
        As for `trade.sweep.data.sweep_context_for`, over the account's minutes.

    Returns
    -------
    PortfolioSweepContext

    Raises
    ------
    InputError
        No member, a missing Play file, a member that needs the event path, an alloc that
        is not > 0, or any of `prepare_run`'s input errors (naming the member).
    PlayError
        A member's Play file is invalid.
    """
    source = ""
    if isinstance(portfolio, PortfolioFile):
        specs = members_from_file(portfolio)
        name = name or portfolio.name
        initial_balance = initial_balance if initial_balance is not None else \
            portfolio.initial_balance
        source = str(portfolio.source)
    else:
        specs = list(portfolio)
    if not specs:
        raise InputError("a portfolio needs at least one member")
    st = store if store is not None else open_store(data_dir)
    n = len(specs)
    plays: list[Play] = []
    allocs: list[float] = []
    for k, spec in enumerate(specs):  # every member checked before any data is read
        play, _ = load_member(spec, k)
        if play.account.max_drawdown_pct is not None:
            raise InputError(f"{play.source or play.name}: account.max_drawdown_pct needs the "
                             f"event path, and {PATH_REASON}")
        allocs.append(check_alloc(1.0 / n if spec.alloc is None else spec.alloc,
                                   f"member {k + 1} ({play.name})"))
        plays.append(play)
    members: list[SweepContext] = []
    symbols: list[str] = []
    infos: list[dict[str, Any]] = []
    for k, (spec, play) in enumerate(zip(specs, plays, strict=True)):
        sym = spec.symbol.upper() if spec.symbol else None
        try:
            prep = prepare_run(play, store=st, symbol=sym, start=start, end=end, path="batch",
                               seed=seed, synthetic=synthetic)
        except InputError as exc:
            raise InputError(f"member {k + 1} ({play.name}): {exc}") from None
        bars = prep.bars
        if prep.data_info["kind"] == "store":  # as trade.engine.backtest.batch_inputs
            bars, _ = with_funding(bars, st, prep.symbol)
        members.append(SweepContext(prep.play, bars, instrument=prep.instrument))
        symbols.append(prep.symbol)
        infos.append({k2: v for k2, v in prep.data_info.items() if k2 != "provenance"})
    title = name or "+".join(dict.fromkeys(p.name for p in plays))
    ctx = PortfolioSweepContext(title, tuple(members), tuple(symbols), tuple(allocs),
                                initial_balance, settings or SweepSettings(), source=source)
    first, stop = int(ctx.ts[0]), int(ctx.ts[-1]) + 60_000
    ctx.selection_end, ctx.windows = selection_windows(first, stop, walk_forward, holdout)
    ctx.data = {
        "kind": "+".join(sorted({str(i["kind"]) for i in infos})),
        "description": "; ".join(f"{lb}: {i.get('description', i['kind'])}"
                                 for lb, i in zip(ctx.labels, infos, strict=True)),
        "portfolio": title, "start_ts": first, "end_ts": stop, "n_bars_1m": len(ctx.ts),
        "members": [{"label": lb, "symbol": s, "alloc": a, **i} for lb, s, a, i
                    in zip(ctx.labels, symbols, allocs, infos, strict=True)],
    }
    return ctx
