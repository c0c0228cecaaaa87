"""`run_portfolio_backtest`: several Plays (each on a symbol) on one wallet, one compiled run.

Each member is prepared exactly as a single backtest prepares its Play (`prepare_run`,
`batch_inputs`: the same bars, funding, features and signals), then all run together in
`trade.sim.portfolio.run_portfolio`: one USDT wallet, isolated margin per position, every
entry sized on the account's equity times the member's `alloc`, an order refused when the
whole account cannot margin it. Each member keeps its own fees, slippage, leverage and
order limits (its own SimConfig); the wallet is the portfolio's: `initial_balance` when
given, else the members' Plays' starting equity (which must then agree).

Portfolios run on the batch path only: a Play with `account.max_drawdown_pct` (a circuit
breaker that needs the event path) is refused.

Figures (`portfolio.json`, see `portfolio_figures`):

* every member's `compute_metrics` on its own ledger (its wallet starts at the account's
  balance and moves only by its own trades, fees and funding);
* `net_pnl`: the member's wallet change (the account's change is their sum) and its share;
* `drawdown_contribution`: the account's deepest drop runs from a peak to a trough of its
  curve (the peak before the trough of `max_drawdown`); a member's contribution is its own
  equity change over that window (the contributions sum to the account's change there);
* `exposure`: the share of the member's own 1m bars with a position open;
* `entry_attempts` / `entry_rejections`: entries placed, and refused for want of margin;
* `correlation`: Pearson correlation of the members' daily returns (each on the account's
  balance), on the union of their days (a day outside a member's span is a 0 return).

Run folder: `trades.parquet` (every member's trades, time order, with a `member` column),
`equity.parquet` (the account's curve; `position_qty` = open positions),
`member_equity.parquet` (each member's own curve, with a `member` column), `metrics.json`
(the account's metrics), `portfolio.json` (the figures above) and `manifest.json`
(`kind: portfolio`; each member's Play, symbol, alloc, data and settings).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

import trade
from trade.core import InputError
from trade.data import Store, open_store
from trade.engine.artifacts import file_sha256, json_bytes, parquet_bytes, table_sha256, write_files
from trade.engine.backtest import (
    BAR_HASH_COLUMNS,
    PathChoice,
    PreparedRun,
    batch_inputs,
    data_manifest,
    play_manifest,
    prepare_run,
    settings_manifest,
)
from trade.metrics import compute_metrics, daily_returns
from trade.play import Play, load_play
from trade.play.portfolio import PortfolioFile
from trade.sim.portfolio import PortfolioMember, run_portfolio
from trade.sim.results import BatchResult

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PATH_REASON = "portfolios run on the batch path"


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A member to run: a Play (or its file), the symbol (None: the Play's) and the share of
    the account's equity its entries are sized on (None: 1 / the number of members)."""

    play: Play | str | Path
    symbol: str | None = None
    alloc: float | None = None


@dataclass(frozen=True, slots=True)
class PortfolioRunResult:
    """What a portfolio backtest produced; the same tables are in `out_dir` (when given).

    `labels` name the members (`play@SYMBOL`), `trades` every member's trades with a
    `member` column, `equity` the account's curve, `member_equity` each member's own curve
    (with `member`), `metrics` the account's `compute_metrics`, `figures` the portfolio
    figures (`portfolio.json`), `manifest` what `manifest.json` holds. Immutable."""

    labels: tuple[str, ...]
    trades: pa.Table
    equity: pa.Table
    member_equity: pa.Table
    final_balance: float
    metrics: dict[str, float | int | None]
    figures: dict[str, Any]
    manifest: dict[str, Any]
    out_dir: Path | None

    @property
    def n_trades(self) -> int:
        """Rows of the account's trade log."""
        return int(self.trades.num_rows)


def members_from_file(pf: PortfolioFile) -> list[MemberSpec]:
    """The members of a loaded portfolio file, in its order."""
    return [MemberSpec(e.play, e.symbol, e.alloc) for e in pf.members]


def members_from_cli(plays: Sequence[str | Path], symbols: Sequence[str],
                     pinned: Sequence[str | None] | None = None) -> list[MemberSpec]:
    """The members of `trade backtest A.yml B.yml@ETHUSDT --symbol X --symbol Y`.

    Parameters
    ----------
    plays : sequence of str or Path
        The Play files, in order.
    symbols : sequence of str
        The repeated --symbol: every Play without a pinned symbol runs on each of them
        (Play order, then symbol order); none: each Play on its own symbol.
    pinned : sequence of str or None, optional
        Per Play, the symbol given as ``PLAY@SYMBOL`` (it runs on that one only).

    Returns
    -------
    list of MemberSpec
        Equal allocations (alloc None: 1 / the number of members).
    """
    pins = list(pinned) if pinned is not None else [None] * len(plays)
    out: list[MemberSpec] = []
    for play, pin in zip(plays, pins, strict=True):
        if pin is not None:
            out.append(MemberSpec(play, pin))
        elif symbols:
            out.extend(MemberSpec(play, s) for s in symbols)
        else:
            out.append(MemberSpec(play))
    return out


def load_member(spec: MemberSpec, k: int) -> tuple[Play, Path | None]:
    """Member k's Play (loaded from its file when it is one) and that file, if any.

    Raises
    ------
    InputError
        The Play file does not exist.
    PlayError
        The Play file is invalid.
    """
    if isinstance(spec.play, Play):
        src = spec.play.source
        return spec.play, Path(src) if src and Path(src).is_file() else None
    path = Path(spec.play)
    if not path.is_file():
        raise InputError(f"member {k + 1}: Play file not found: {path}")
    return load_play(path), path


def member_labels(plays: Sequence[Play], symbols: Sequence[str]) -> tuple[str, ...]:
    """The members' labels: `play@SYMBOL`, with `#k` (1-based member number) added to a pair
    that repeats (what `trade ctl`, the run folder and portfolio sweeps name members by)."""
    base = [f"{p.name}@{s}" for p, s in zip(plays, symbols, strict=True)]
    return tuple(b if base.count(b) == 1 else f"{b}#{k + 1}" for k, b in enumerate(base))


def check_alloc(value: object, where: str) -> float:
    """A member's allocation as a float; InputError naming `where` unless a number > 0."""
    if isinstance(value, bool) or not (isinstance(value, int | float) and math.isfinite(value)
                                       and value > 0):
        raise InputError(f"{where}: alloc must be a number > 0, got {value!r}")
    return float(value)


def _wallet(preps: Sequence[PreparedRun], initial_balance: float | None) -> float:
    if initial_balance is not None:
        if not (math.isfinite(initial_balance) and initial_balance > 0):
            raise InputError(f"initial_balance must be > 0, got {initial_balance!r}")
        return float(initial_balance)
    first = preps[0]
    for p in preps[1:]:
        if p.config.initial_balance != first.config.initial_balance:
            raise InputError(
                f"the members' starting equities differ: {first.play.source or first.play.name} "
                f"has {first.config.initial_balance:g}, {p.play.source or p.play.name} has "
                f"{p.config.initial_balance:g}; one wallet needs one (set initial_balance in a "
                "portfolio file)")
    return float(first.config.initial_balance)


def _on_minutes(r: BatchResult, ts: I64, initial: float) -> F64:
    """A member's equity on the account's minutes: its last value at or before each minute,
    the initial balance before its first (as `trade.sim.portfolio.account_curve` carries it)."""
    own = np.asarray(r.equity.column("ts").to_numpy(), dtype=np.int64)
    eq = np.asarray(r.equity.column("equity").to_numpy(), dtype=np.float64)
    if len(own) == 0:
        return np.full(len(ts), initial)
    at = np.searchsorted(own, ts, side="right") - 1
    return np.where(at >= 0, eq[np.maximum(at, 0)], initial)


def drawdown_window(equity: F64, initial: float) -> tuple[int, int] | None:
    """(peak, trough) of the deepest drop of a curve whose value before its first point is
    `initial`, as indices into [initial, *equity] (0 = before the first point); None when the
    curve never falls below a previous peak."""
    values = np.concatenate(([initial], equity))
    peak = np.maximum.accumulate(values)
    dd = 1.0 - values / peak
    trough = int(np.argmax(dd))
    if dd[trough] <= 0.0:
        return None
    head = values[: trough + 1]
    top = int(len(head) - 1 - np.argmax(head[::-1] == peak[trough]))  # the last time at the peak
    return top, trough


def _correlation(results: Sequence[BatchResult], initial: float) -> list[list[float | None]]:
    series = [daily_returns(r.equity, initial_balance=initial) for r in results]
    days = np.unique(np.concatenate([d.astype(np.int64) for d, _ in series]))
    grid = np.zeros((len(results), len(days)))
    for k, (d, ret) in enumerate(series):
        grid[k, np.searchsorted(days, d.astype(np.int64))] = ret
    out: list[list[float | None]] = []
    for a in range(len(results)):
        row: list[float | None] = []
        for b in range(len(results)):
            x, y = grid[a] - grid[a].mean(), grid[b] - grid[b].mean()
            den = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
            row.append(None if len(days) < 2 or den == 0.0
                       else max(-1.0, min(1.0, float(np.dot(x, y)) / den)))
        out.append(row)
    return out


def portfolio_figures(labels: Sequence[str], results: Sequence[BatchResult], account: pa.Table,
                      initial: float, member_metrics: Sequence[dict[str, float | int | None]]
                      ) -> dict[str, Any]:
    """The portfolio-level figures of a run (see the module docstring).

    Parameters
    ----------
    labels : sequence of str
        The members' names, in member order.
    results : sequence of BatchResult
        Each member's own ledger.
    account : pyarrow.Table
        The account's curve (EQUITY_SCHEMA).
    initial : float
        The account's starting wallet.
    member_metrics : sequence of dict
        Each member's `compute_metrics`.

    Returns
    -------
    dict
        `members` (one row per member: net_pnl, pnl_share, drawdown_contribution,
        drawdown_share, exposure, entry_attempts, entry_rejections, num_trades),
        `drawdown` (the account's window: peak/trough ts and equity, change) and
        `correlation` (`members`, `matrix`).
    """
    ts = np.asarray(account.column("ts").to_numpy(), dtype=np.int64)
    eq = np.asarray(account.column("equity").to_numpy(), dtype=np.float64)
    pnl = [r.final_balance - initial for r in results]
    total = sum(pnl)
    window = drawdown_window(eq, initial)
    dd: dict[str, Any] = {"peak_ts": None, "trough_ts": None, "peak_equity": None,
                          "trough_equity": None, "change": None}
    contrib: list[float | None] = [None] * len(results)
    if window is not None:
        top, low = window
        vals = np.concatenate(([initial], eq))
        dd = {"peak_ts": int(ts[top - 1]) if top > 0 else None, "trough_ts": int(ts[low - 1]),
              "peak_equity": float(vals[top]), "trough_equity": float(vals[low]),
              "change": float(vals[low] - vals[top])}
        for k, r in enumerate(results):
            own = np.concatenate(([initial], _on_minutes(r, ts, initial)))
            contrib[k] = float(own[low] - own[top])
    rows = []
    for k, (label, r, m) in enumerate(zip(labels, results, member_metrics, strict=True)):
        c = contrib[k]
        rows.append({
            "member": label,
            "net_pnl": pnl[k],
            "pnl_share": pnl[k] / total if total != 0.0 else None,
            "drawdown_contribution": c,
            "drawdown_share": c / dd["change"] if c is not None and dd["change"] else None,
            "exposure": m["exposure"],
            "entry_attempts": _entries(r)[0],
            "entry_rejections": _entries(r)[1],
            "num_trades": int(r.trades.num_rows),
            "total_return": m["total_return"],
            "max_drawdown": m["max_drawdown"],
            "sharpe": m["sharpe"],
        })
    return {"members": rows, "net_pnl": total, "drawdown": dd,
            "correlation": {"members": list(labels), "matrix": _correlation(results, initial)}}


def _account_margin(metrics: dict[str, float | int | None], results: Sequence[BatchResult]
                    ) -> None:
    """The account's margin figures that sum or take the extreme over its members (entries
    placed and refused, the closest any position came to liquidation); the ratio figures
    are each member's own (isolated margin) and stay None for the account."""
    att = sum(_entries(r)[0] for r in results)
    rej = sum(_entries(r)[1] for r in results)
    metrics["entry_attempts"] = att
    metrics["entry_rejections"] = rej
    metrics["entry_rejection_rate"] = rej / att if att else None
    liq = [x for x in map(_closest_liquidation, results) if x is not None]
    metrics["closest_liquidation_pct"] = min(liq) if liq else None


def _entries(r: BatchResult) -> tuple[int, int]:
    """(entries placed, entries refused) of a member's ledger (0, 0 when none recorded)."""
    if r.margin is None:
        return 0, 0
    return int(r.margin.entry_attempts), int(r.margin.entry_rejections)


def _closest_liquidation(r: BatchResult) -> float | None:
    x = math.nan if r.margin is None else float(r.margin.closest_liquidation_pct)
    return x if math.isfinite(x) else None


def _with_member(table: pa.Table, label: str) -> pa.Table:
    return table.append_column("member", pa.array([label] * table.num_rows, pa.string()))


def run_portfolio_backtest(
    members: Sequence[MemberSpec],
    *,
    name: str | None = None,
    initial_balance: float | None = None,
    data_dir: str | Path | None = None,
    store: Store | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    out_dir: str | Path | None = None,
    path: PathChoice = "auto",
    seed: int | None = None,
    synthetic: bool | None = None,
    portfolio_file: str | Path | None = None,
) -> PortfolioRunResult:
    """Backtest several members on one wallet and write the run folder to `out_dir`.

    Parameters
    ----------
    members : sequence of MemberSpec
        At least one: each a Play (or Play file), a symbol and an allocation.
    name : str, optional
        The portfolio's name (manifest and report; default: the Plays' names joined by +).
    initial_balance : float, optional
        The wallet; default: the members' starting equity (which must agree).
    data_dir : str or Path, optional
        The data store's root (as for `run_backtest`); ignored when `store` is given.
    store : Store, optional
        An open store for every member's bars, funding and instrument.
    start, end : str or int, optional
        The run's range for every member (default: each Play's `backtest.start/end`).
    out_dir : str or Path, optional
        The run folder (see the module docstring); None writes nothing.
    path : {"auto", "batch", "event"}
        "auto" or "batch"; "event" is refused (portfolios run on the batch path).
    seed : int, optional
        Replaces every member's synthetic seed.
    synthetic : bool, optional
        Where every member's bars come from (`load_run_bars`).
    portfolio_file : str or Path, optional
        The portfolio file the members came from (recorded in the manifest).

    Returns
    -------
    PortfolioRunResult

    Raises
    ------
    InputError
        No member, a missing Play file, a member that needs the event path, differing
        starting equities without `initial_balance`, an allocation that is not > 0, or any
        of `run_backtest`'s input errors (naming the member).
    PlayError
        A member's Play file is invalid.
    """
    if not members:
        raise InputError("a portfolio needs at least one member")
    if path not in ("auto", "batch"):
        raise InputError(f"--path {path}: {PATH_REASON} (auto or batch)")
    st = store if store is not None else open_store(data_dir)
    n = len(members)
    loaded: list[tuple[Play, float]] = []
    for k, spec in enumerate(members):  # every member checked before any data is read
        play, _ = load_member(spec, k)
        if play.account.max_drawdown_pct is not None:
            raise InputError(f"{play.source or play.name}: account.max_drawdown_pct needs the "
                             f"event path, and {PATH_REASON}; backtest this Play alone")
        alloc = check_alloc(1.0 / n if spec.alloc is None else spec.alloc,
                            f"member {k + 1} ({play.name})")
        loaded.append((play, alloc))
    preps: list[PreparedRun] = []
    allocs = [a for _, a in loaded]
    for k, (spec, (play, _)) in enumerate(zip(members, loaded, strict=True)):
        sym = spec.symbol.upper() if spec.symbol else None
        try:
            preps.append(prepare_run(play, store=st, symbol=sym, start=start, end=end,
                                     path="batch", seed=seed, synthetic=synthetic))
        except InputError as exc:
            raise InputError(f"member {k + 1} ({play.name}): {exc}") from None
    wallet = _wallet(preps, initial_balance)
    labels = member_labels([p.play for p in preps], [p.symbol for p in preps])
    inputs = []
    for prep, alloc in zip(preps, allocs, strict=True):
        bars, n_funding, signals = batch_inputs(prep, st)
        config = dataclasses.replace(prep.config, initial_balance=wallet)
        member = PortfolioMember(bars, signals, config, alloc)
        inputs.append((prep, bars, n_funding, config, member))
    result = run_portfolio([m for *_, m in inputs])

    member_metrics = []
    for (_, bars, *_), r in zip(inputs, result.members, strict=True):
        member_metrics.append(compute_metrics(r.equity, r.trades, initial_balance=wallet,
                                              benchmark_close=bars.select(["ts", "close"]),
                                              margin=r.margin))
    trades = pa.concat_tables([_with_member(r.trades, lb)
                               for r, lb in zip(result.members, labels, strict=True)])
    trades = trades.sort_by([("exit_ts", "ascending"), ("entry_ts", "ascending")])
    member_equity = pa.concat_tables([_with_member(r.equity, lb)
                                      for r, lb in zip(result.members, labels, strict=True)])
    # buy and hold is the account's benchmark only when every member trades the same bars
    same = all(p.symbol == preps[0].symbol for p in preps) and \
        all(b.num_rows == inputs[0][1].num_rows for _, b, *_ in inputs)
    bench = inputs[0][1].select(["ts", "close"]) if same else None
    metrics = compute_metrics(result.equity, trades, initial_balance=wallet,
                              benchmark_close=bench)
    _account_margin(metrics, result.members)
    figures = portfolio_figures(labels, result.members, result.equity, wallet, member_metrics)
    figures["member_metrics"] = dict(zip(labels, member_metrics, strict=True))

    title = name or "+".join(dict.fromkeys(p.play.name for p in preps))
    ts = result.equity.column("ts")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py()) + 60_000
    member_rows = []
    for (prep, bars, n_funding, config, member), lb, r in zip(inputs, labels, result.members,
                                                              strict=True):
        info = prep.data_info
        member_rows.append({
            "label": lb,
            "play": play_manifest(prep),
            "symbol": prep.symbol,
            "alloc": member.alloc,
            "exec_timeframe": prep.play.exec_tf,
            "data": data_manifest(prep, bars, table_sha256(bars, BAR_HASH_COLUMNS), n_funding),
            **settings_manifest(prep, config),
            "seed": info.get("seed") if info["kind"] == "synthetic" else seed,
            "n_trades": int(r.trades.num_rows),
            "final_balance": r.final_balance,
        })
    pf = Path(portfolio_file) if portfolio_file is not None else None
    kinds = sorted({p.data_info["kind"] for p in preps})
    manifest: dict[str, Any] = {
        "kind": "portfolio",
        "title": title,
        "portfolio": {"name": title, "file": str(pf) if pf else None,
                      "file_sha256": file_sha256(pf) if pf and pf.is_file() else None},
        "symbol": ", ".join(dict.fromkeys(p.symbol for p in preps)),
        "initial_balance": wallet,
        "members": member_rows,
        "data": {"kind": "+".join(kinds),
                 "description": "; ".join(f"{lb}: {p.data_info['description']}"
                                          for lb, p in zip(labels, preps, strict=True)),
                 "start_ts": first, "end_ts": last,
                 "start": member_rows[0]["data"]["start"] if n == 1 else _iso(first),
                 "end": member_rows[0]["data"]["end"] if n == 1 else _iso(last),
                 "n_minutes": result.equity.num_rows},
        "package_version": trade.__version__,
        "path": "batch",
        "path_reason": PATH_REASON,
        "n_trades": trades.num_rows,
        "final_balance": result.final_balance,
    }
    trades_bytes = parquet_bytes(trades)
    manifest["trade_log_sha256"] = hashlib.sha256(trades_bytes).hexdigest()
    out: Path | None = None
    if out_dir is not None:
        out = Path(out_dir)
        equity_bytes = parquet_bytes(result.equity)
        members_bytes = parquet_bytes(member_equity)
        manifest["equity_sha256"] = hashlib.sha256(equity_bytes).hexdigest()
        manifest["member_equity_sha256"] = hashlib.sha256(members_bytes).hexdigest()
        write_files(out, {"trades.parquet": trades_bytes, "equity.parquet": equity_bytes,
                          "member_equity.parquet": members_bytes,
                          "metrics.json": json_bytes(metrics),
                          "portfolio.json": json_bytes(figures),
                          "manifest.json": json_bytes(manifest)})
    return PortfolioRunResult(labels, trades, result.equity, member_equity,
                              result.final_balance, metrics, figures, manifest, out)


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms").astype("datetime64[s]")) + "Z"
