"""`trade data ...`: import, check, repair, synthesise and inspect the market-data store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import numpy as np
import pyarrow as pa

from trade.core.errors import InputError
from trade.data import (
    REGIMES,
    Store,
    check,
    ensure_sample_data,
    format_report,
    import_file,
    normalize_symbol,
    open_store,
    repair,
    synth_bars,
    synth_portfolio,
)
from trade.data.quality import unrecorded_gaps
from trade.data.synth import DEFAULT_START_MS, PATTERN_REGIMES

if TYPE_CHECKING:
    from trade.data.bybit_source import BybitSource

F = TypeVar("F", bound=Callable[..., Any])


def _data_dir_option(func: F) -> F:
    return click.option(
        "--data-dir",
        default=None,
        help="Store root: a directory or a pyarrow URI (s3://..., memory://...). "
        "Default: $TRADE_DATA_DIR, else ./data.",
    )(func)


def _symbol(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Symbols are upper case on Bybit: `btcusdt` is stored and read as BTCUSDT."""
    return None if value is None else normalize_symbol(value)


def _store(data_dir: str | None) -> Store:
    return open_store(data_dir)


def _fmt_ts(ts: int) -> str:
    return str(np.datetime64(int(ts), "ms").astype("datetime64[m]")).replace("T", " ")


@click.group()
def data() -> None:
    """The market-data store: 1m Parquet history, checks, synthetic markets."""


@data.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--symbol", required=True, callback=_symbol,
              help="Store the bars under this symbol, e.g. BTCUSDT.")
@click.option("--bridge-1m", "bridge", is_flag=True,
              help="For bars coarser than 1m: store seeded 1m paths constrained to each bar's "
              "OHLC (recorded as bridged in the provenance). Needs --seed.")
@click.option("--seed", type=int, default=None, help="Seed of the 1m bridge.")
@click.option("--overwrite", is_flag=True,
              help="Replace stored bars whose values differ (default: refuse the import).")
@click.option("--ts-format", default=None,
              help="strptime format of the timestamp column when it cannot be inferred.")
@_data_dir_option
def import_cmd(file: Path, symbol: str, bridge: bool, seed: int | None, overwrite: bool,
               ts_format: str | None, data_dir: str | None) -> None:
    """Import a CSV/Parquet OHLCV FILE into the store as SYMBOL's 1m bars."""
    result = import_file(_store(data_dir), file, symbol, bridge_1m=bridge, seed=seed,
                         overwrite=overwrite, ts_format=ts_format)
    click.echo(result.summary())


@data.command("import-sample")
@click.option("--symbol", default="BTCUSDT", show_default=True, callback=_symbol)
@_data_dir_option
def import_sample(symbol: str, data_dir: str | None) -> None:
    """Import the shipped real Coinbase BTC/USD hourly data (2017-07 .. 2019-10), bridged to 1m
    with seed 7. Safe to run again."""
    store = _store(data_dir)
    ensure_sample_data(store, symbol)
    prov = store.provenance(symbol)
    click.echo(
        f"{symbol}: sample data ready in {store.root} (source {prov.get('source')}, "
        f"hourly bars bridged to 1m with seed {prov.get('seed')})"
    )


@data.command("check")
@click.argument("symbol", callback=_symbol)
@click.option("--zero-run", type=int, default=5, show_default=True,
              help="Flag runs of at least this many bars with high == low.")
@click.option("--jump", type=float, default=0.2, show_default=True,
              help="Flag opens this far (fraction) from the previous close, and wider bars.")
@click.option("--limit", type=int, default=50, show_default=True, help="Lines per section.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--fix", is_flag=True,
              help="First complete or remove what an interrupted write left (hidden temp files).")
@_data_dir_option
def check_cmd(symbol: str, zero_run: int, jump: float, limit: int, as_json: bool, fix: bool,
              data_dir: str | None) -> None:
    """List gaps (missing minutes, merged into ranges) and suspicious bars of SYMBOL.

    Exit status: 0 when every month file is readable and every gap is recorded in the gap
    table (`trade data repair`); 1 when a month file is corrupt or a gap is unrecorded
    (suspicious bars are listed but do not fail the check); 2 on bad input."""
    store = _store(data_dir)
    if fix:
        removed = store.clean(symbol)
        click.echo(f"{symbol}: removed {len(removed)} leftover temp file(s) of interrupted "
                   "writes", err=True)
    if not store.month_files(symbol):
        raise InputError(f"no 1m bars stored for {symbol} in {store.root}")
    report = check(store, symbol, zero_run=zero_run, jump=jump)
    open_gaps = unrecorded_gaps(store, symbol, report.gaps)
    if as_json:
        click.echo(json.dumps({
            "symbol": symbol,
            "rows": report.rows,
            "first_ts": report.first_ts,
            "last_ts": report.last_ts,
            "gaps": [{"start_ms": g.start_ms, "end_ms": g.end_ms, "missing": g.missing}
                     for g in report.gaps],
            "unrecorded_gaps": len(open_gaps),
            "suspicious": [{"ts": s.ts, "kind": s.kind, "detail": s.detail}
                           for s in report.suspicious],
            "corrupt_files": report.corrupt_files,
        }, indent=2))
    else:
        click.echo(format_report(report, limit))
    # exit 1: something a script must act on (an unreadable month, a gap nobody recorded)
    if report.corrupt_files or open_gaps:
        if not as_json:
            why = []
            if report.corrupt_files:
                why.append(f"{len(report.corrupt_files)} corrupt month file(s) (re-import "
                           f"with --overwrite, or `trade data delete-month {symbol} YYYY-MM`)")
            if open_gaps:
                why.append(f"{len(open_gaps)} gap(s) not in the gap table (`trade data "
                           f"repair {symbol}` records them)")
            click.echo(f"{symbol}: check failed: {'; '.join(why)}", err=True)
        raise SystemExit(1)


@data.command("delete-month")
@click.argument("symbol", callback=_symbol)
@click.argument("month", metavar="YYYY-MM")
@_data_dir_option
def delete_month_cmd(symbol: str, month: str, data_dir: str | None) -> None:
    """Remove SYMBOL's month file MONTH (e.g. a corrupt one), then re-import or fetch it."""
    path = _store(data_dir).delete_month(symbol, month)
    click.echo(f"{symbol}: removed {path}")


@data.command("repair")
@click.argument("symbol", callback=_symbol)
@click.option("--endpoint", default=None,
              help="Refetch the gaps from this Bybit V5 host (e.g. the exchange simulator).")
@click.option("--online", is_flag=True, help="Refetch the gaps from Bybit (mainnet).")
@click.option("--testnet", is_flag=True, help="Refetch the gaps from Bybit's testnet.")
@_data_dir_option
def repair_cmd(symbol: str, endpoint: str | None, online: bool, testnet: bool,
               data_dir: str | None) -> None:
    """Refetch SYMBOL's gaps (with --online/--testnet/--endpoint), then record every gap that
    remains in an explicit gap table. An offline store invents no prices."""
    store = _store(data_dir)
    if not store.month_files(symbol):
        raise InputError(f"no 1m bars stored for {symbol} in {store.root}")
    fetch = None
    if endpoint is not None or online or testnet:
        from trade.data.fetch import HistoryFetcher

        source = _bybit_source(symbol, endpoint, testnet, "linear", 10.0)
        fetcher = HistoryFetcher(store, source)

        def fetch(sym: str, start_ms: int, end_ms: int) -> pa.Table:
            fetcher.fetch_klines(start_ms, end_ms)  # stores what the exchange has
            return store.read_bars(sym, start_ms, end_ms)

    click.echo(repair(store, symbol, fetch=fetch).summary())


@data.command("synth")
@click.option("--symbol", "symbols", multiple=True,
              help="Symbol to generate (repeat for several markets; default SYNTH).")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--regime", type=click.Choice(sorted(set(REGIMES) | set(PATTERN_REGIMES))),
              default="mixed", show_default=True)
@click.option("--correlation", type=click.FloatRange(0.0, 1.0), default=None,
              help="With several --symbol: the correlation of their per-minute shocks "
                   "(default 0.6).")
@click.option("--start", default=None,
              help="First bar, UTC date YYYY-MM-DD (default 2024-01-01).")
@click.option("--overwrite", is_flag=True, help="Replace stored bars that differ.")
@_data_dir_option
def synth_cmd(symbols: tuple[str, ...], days: int, seed: int, regime: str,
              correlation: float | None, start: str | None, overwrite: bool,
              data_dir: str | None) -> None:
    """Generate seeded synthetic 1m bars and store them (same seed, same bytes).

    Several --symbol generate markets whose returns are correlated (--correlation), on the
    same minutes, for portfolio backtests."""
    if start is None:
        start_ms = DEFAULT_START_MS
    else:
        try:
            start_ms = int(np.datetime64(start, "D").astype("datetime64[ms]").astype(np.int64))
        except ValueError as exc:
            raise InputError(f"--start {start!r} is not a date YYYY-MM-DD") from exc
    names = [normalize_symbol(s) for s in symbols] or ["SYNTH"]
    if len(names) == 1 and correlation is not None:
        raise InputError("--correlation needs two or more --symbol")
    store = _store(data_dir)
    if len(names) == 1:
        tables = {names[0]: synth_bars(names[0], days, seed, regime, start_ms=start_ms)}
    else:
        rho = 0.6 if correlation is None else correlation
        tables = synth_portfolio(names, days, seed, rho, regime, start_ms=start_ms)
    for symbol, table in tables.items():
        prov: dict[str, object] = {
            "source": "synthetic", "source_interval": "1", "bridged_1m": False, "seed": seed,
            "regime": regime, "days": days, "first_ts": start_ms,
            "last_ts": int(table.column("ts")[-1].as_py()),
        }
        if len(tables) > 1:
            prov["portfolio"] = {"symbols": list(tables), "correlation": rho}
        report = store.write_bars(symbol, table, overwrite=overwrite, provenance=prov)
        shared = f", correlation {rho:g} with {len(tables) - 1} other(s)" if len(tables) > 1 \
            else ""
        click.echo(f"{symbol}: {regime} synthetic, {days} days, seed {seed}{shared}; "
                   f"{report.summary()}")


@data.command("info")
@click.argument("symbol", required=False, callback=_symbol)
@_data_dir_option
def info_cmd(symbol: str | None, data_dir: str | None) -> None:
    """List stored symbols, or details and provenance of one SYMBOL."""
    store = _store(data_dir)
    if symbol is None:
        symbols = store.symbols()
        if not symbols:
            click.echo(f"no symbols in {store.root} (try `trade data import-sample`)")
        for sym in symbols:
            months = list(store.month_files(sym))
            bridged = " (bridged 1m)" if store.provenance(sym).get("bridged_1m") else ""
            click.echo(f"{sym}: {len(months)} months {months[0]} .. {months[-1]}{bridged}")
        return
    bars = store.read_bars(symbol)
    ts = bars.column("ts")
    click.echo(f"{symbol}: {bars.num_rows} 1m bars, {_fmt_ts(ts[0].as_py())} .. "
               f"{_fmt_ts(ts[-1].as_py())} UTC, {len(store.month_files(symbol))} month files")
    funding = store.read_funding(symbol)
    click.echo(f"funding: {funding.num_rows} rates stored")
    oi = store.read_open_interest(symbol)
    click.echo(f"open interest: {oi.num_rows} values stored")
    click.echo("provenance: " + json.dumps(store.provenance(symbol), indent=2, sort_keys=True))


# ---------------------------------------------------------------------------- fetch
def _parse_when(text: str, option: str) -> int:
    """ms since the epoch from `YYYY-MM-DD[THH:MM]` (UTC) or an integer ms timestamp."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        return int(np.datetime64(value.replace(" ", "T"), "ms").astype(np.int64))
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a UTC date YYYY-MM-DD[THH:MM] "
                         "or a ms timestamp") from exc


def _bybit_source(symbol: str, endpoint: str | None, testnet: bool, category: str,
                  timeout: float) -> BybitSource:
    """A pybit-backed kline source: Bybit, its testnet, or another host (`--endpoint`)."""
    from trade.data.bybit_source import BybitSource

    if endpoint is not None and testnet:
        raise InputError("--endpoint and --testnet exclude each other")
    if endpoint is not None:
        from trade.exchange_sim.pybit_client import make_http
        from trade.live.client import check_endpoint

        session = make_http(check_endpoint(endpoint), timeout=timeout)
    else:
        from pybit.unified_trading import HTTP

        session = HTTP(testnet=testnet, timeout=timeout)
    return BybitSource(session, symbol, category=category, timeout_s=timeout)


@data.command("fetch")
@click.argument("symbol", callback=_symbol)
@click.option("--start", required=True,
              help="First minute, UTC: YYYY-MM-DD[THH:MM] or ms since the epoch.")
@click.option("--end", default=None,
              help="End (exclusive), same formats. Default: now (the last closed minute).")
@click.option("--endpoint", default=None,
              help="REST base URL of another Bybit V5 host, e.g. the exchange simulator "
              "http://127.0.0.1:8099.")
@click.option("--testnet", is_flag=True, help="Use Bybit's testnet instead of mainnet.")
@click.option("--category", default="linear", show_default=True)
@click.option("--no-funding", is_flag=True, help="Skip the funding history.")
@click.option("--no-open-interest", is_flag=True,
              help="Skip the open interest (every 5 minutes; the `open_interest` builtin).")
@click.option("--no-instrument", is_flag=True, help="Skip the instrument info.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds before a request counts as timed out (then retried).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=8, show_default=True,
              help="Tries per request before giving up (the download stays resumable).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on stderr.")
@_data_dir_option
def fetch_cmd(symbol: str, start: str, end: str | None, endpoint: str | None, testnet: bool,
              category: str, no_funding: bool, no_open_interest: bool, no_instrument: bool,
              timeout: float, max_attempts: int, progress: bool, data_dir: str | None) -> None:
    """Download SYMBOL's 1m klines, funding and open-interest history and instrument info
    into the store.

    Resumable: an interrupted download keeps every completed day; run the same command again
    to continue from the first missing minute. Minutes the exchange does not have are
    recorded in the gap table, never invented."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from trade.data.fetch import FetchInterrupted, FetchProgress, HistoryFetcher, RetryPolicy

    start_ms = _parse_when(start, "--start")
    start_ms -= start_ms % 60_000
    end_ms = _parse_when(end, "--end") if end is not None else None
    source = _bybit_source(symbol, endpoint, testnet, category, timeout)
    store = _store(data_dir)
    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("min  {task.fields[pages]} pages  {task.fields[retries]} retries"),
                   TimeRemainingColumn(), console=console, disable=not progress)
    task = bar.add_task(f"{symbol} klines", total=None, pages=0, retries=0)

    def on_progress(p: FetchProgress) -> None:
        bar.update(task, description=f"{symbol} {p.phase}", total=p.total_minutes or None,
                   completed=p.done_minutes, pages=p.pages, retries=p.retries)

    policy = RetryPolicy(max_attempts=max_attempts)
    fetcher = HistoryFetcher(store, source, policy=policy, on_progress=on_progress)
    if end_ms is None:
        end_ms = fetcher.call(source.server_time_ms)
        end_ms -= end_ms % 60_000
    end_ms -= end_ms % 60_000
    try:
        with bar:
            result = fetcher.fetch(start_ms, end_ms, funding=not no_funding,
                                   instrument=not no_instrument,
                                   open_interest=not no_open_interest)
    except (KeyboardInterrupt, FetchInterrupted):
        click.echo(f"{symbol}: interrupted; completed days are stored - run the same command "
                   "again to resume", err=True)
        raise SystemExit(130) from None
    click.echo(result.summary())
