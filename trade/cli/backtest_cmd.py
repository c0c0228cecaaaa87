"""`trade backtest PLAY`: run a Play on stored (or synthetic) data and print its metrics."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trade.cli._params import PLAY_FILE
from trade.cli.errors import EXPECTED_ERRORS, fail
from trade.play import PlayError
from trade.play.expect import check_expected, expectation_lines
from trade.play.notes import play_notes


def play_error_line(exc: PlayError) -> str:
    more = len(exc.issues) - 1
    extra = f" (+{more} more; see `trade play validate`)" if more else ""
    return f"invalid Play: {exc.issues[0]}{extra}"


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for long runs; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), console=console, transient=True) as prog:
        task = prog.add_task("run", total=1)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=max(total, 1))

        yield update


def print_summary(result: Any, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from trade.metrics import summary_table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in summary_table(result.metrics):
        table.add_row(label, value)
    console = Console()
    console.print(table)
    m = result.manifest
    console.print(f"path: {m['path']} ({m['path_reason']}) · data: {m['data']['description']}")
    console.print(f"range: {m['data']['start']} .. {m['data']['end']} · "
                  f"{m['data']['n_bars_1m']:,} 1m bars · trades: {m['n_trades']}")
    if result.out_dir is not None:
        console.print(f"artifacts: {result.out_dir}")


def _write_report(out_dir: Path | None, data_dir: str | None) -> Path | None:
    """The HTML report of a finished run (single or portfolio), or None without artifacts;
    a failure is one line saying the run itself finished."""
    if out_dir is None:
        return None
    from trade.report import write_run_report

    try:
        return write_run_report(out_dir, data_dir=data_dir)
    except EXPECTED_ERRORS as exc:
        fail(f"the run finished but its report failed: {exc}", exc)


def run_and_report(play_file: Path, *, symbol: str | None, start: str | None, end: str | None,
                   data_dir: str | None, out: Path | None, path: str, as_json: bool,
                   seed: int | None, store: Any = None, report: bool = False,
                   synthetic: bool = False) -> None:
    """Shared by `trade backtest` and `trade quickstart`: run, then print table or JSON."""
    from trade.engine import run_backtest
    from trade.play import load_play

    try:
        if not play_file.is_file():
            fail(f"Play file not found: {play_file}")
        play = load_play(play_file)
        for note in play_notes(play):
            click.echo(f"note: {note}", err=True)
        if out is None:
            out = Path("runs") / play.name
        with progress_bar(not as_json and sys.stderr.isatty()) as progress:
            result = run_backtest(play, data_dir=data_dir, store=store, symbol=symbol,
                                  start=start, end=end, out_dir=out,
                                  path=path,  # type: ignore[arg-type]
                                  seed=seed, progress=progress, synthetic=synthetic)
    except PlayError as exc:
        fail(play_error_line(exc), exc)
    except EXPECTED_ERRORS as exc:  # anything else is a bug, reported by trade.cli.main
        fail(str(exc) or type(exc).__name__, exc)
    report_path = _write_report(result.out_dir, data_dir) if report else None
    checks = check_expected(play.expected, result.metrics) if play.expected is not None else []
    if as_json:
        expected = [{"name": c.name, "wanted": c.wanted, "got": c.got, "ok": c.ok} for c in checks]
        click.echo(json.dumps({"metrics": result.metrics, "manifest": result.manifest,
                               "report": str(report_path) if report_path else None,
                               "expected": expected},
                              sort_keys=True, default=str))
    else:
        print_summary(result, f"{play.name} on {result.manifest['symbol']}")
        for line in expectation_lines(play.expected, result.metrics):
            click.echo(line)
        if report_path is not None:
            click.echo(f"report: {report_path}")


def print_portfolio_summary(result: Any) -> None:
    """The account's summary table, then one row per member and the correlation matrix."""
    from rich.console import Console
    from rich.table import Table

    from trade.metrics import METRIC_DOCS, format_value, summary_table

    m = result.manifest
    console = Console()
    table = Table(title=f"portfolio {m['title']} (account)", show_header=True,
                  header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in summary_table(result.metrics):
        table.add_row(label, value)
    console.print(table)
    per = Table(title="members", show_header=True, header_style="bold")
    per.add_column("member", no_wrap=True)
    for col in ("alloc", "trades", "net PnL", "PnL %", "DD part", "exposure", "refused"):
        per.add_column(col, justify="right")
    allocs = {row["label"]: row["alloc"] for row in m["members"]}

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x * 100:.1f}%"

    for row in result.figures["members"]:
        c = row["drawdown_contribution"]
        per.add_row(row["member"], f"{allocs[row['member']]:g}", str(row["num_trades"]),
                    f"{row['net_pnl']:,.2f}", pct(row["pnl_share"]),
                    "n/a" if c is None else f"{c:,.2f}",
                    format_value(METRIC_DOCS["exposure"], row["exposure"]),
                    f"{row['entry_rejections']}/{row['entry_attempts']}")
    console.print(per)
    corr = result.figures["correlation"]
    if len(corr["members"]) > 1:
        ct = Table(title="correlation of daily returns", show_header=True, header_style="bold")
        ct.add_column("")
        for k in range(len(corr["members"])):
            ct.add_column(str(k + 1), justify="right")
        for k, (name, row) in enumerate(zip(corr["members"], corr["matrix"], strict=True)):
            ct.add_row(f"{k + 1} {name}", *("n/a" if v is None else f"{v:.2f}" for v in row))
        console.print(ct)
    console.print(f"path: {m['path']} ({m['path_reason']}) · wallet {m['initial_balance']:,.2f}"
                  f" · range: {m['data']['start']} .. {m['data']['end']} · trades: "
                  f"{m['n_trades']}")
    if result.out_dir is not None:
        console.print(f"artifacts: {result.out_dir}")


def run_portfolio_and_report(play_files: tuple[Path, ...], *, symbols: tuple[str, ...],
                             pinned: tuple[str | None, ...],
                             start: str | None, end: str | None, data_dir: str | None,
                             out: Path | None, path: str, as_json: bool, seed: int | None,
                             report: bool, synthetic: bool) -> None:
    """`trade backtest` with several Plays, several symbols or a portfolio file: one account."""
    from trade.engine.portfolio import (
        members_from_cli,
        members_from_file,
        run_portfolio_backtest,
    )
    from trade.play import load_play
    from trade.play.portfolio import is_portfolio_file, load_portfolio_file

    try:
        files = [f for f in play_files if is_portfolio_file(f)]
        name: str | None = None
        balance: float | None = None
        source: Path | None = None
        if files:
            if len(play_files) > 1 or symbols or any(pinned):
                fail(f"{files[0]} is a portfolio file: it runs alone (its members name their "
                     "Plays and symbols)")
            pf = load_portfolio_file(files[0])
            members = members_from_file(pf)
            name, balance, source = pf.name, pf.initial_balance, pf.source
        else:
            for f in play_files:
                if not f.is_file():
                    fail(f"Play file not found: {f}")
            members = members_from_cli(play_files, symbols, pinned)
        plays = {}
        for spec in members:
            key = str(spec.play)
            if key not in plays:
                plays[key] = load_play(Path(key))
                for note in play_notes(plays[key]):
                    click.echo(f"note: {note} ({plays[key].name})", err=True)
        members = [type(spec)(plays[str(spec.play)], spec.symbol, spec.alloc)
                   for spec in members]
        title = name or "+".join(dict.fromkeys(p.name for p in plays.values()))
        if out is None:
            out = Path("runs") / title
        result = run_portfolio_backtest(members, name=title, initial_balance=balance,
                                        data_dir=data_dir, start=start, end=end, out_dir=out,
                                        path=path,  # type: ignore[arg-type]
                                        seed=seed, synthetic=synthetic, portfolio_file=source)
    except PlayError as exc:
        fail(play_error_line(exc), exc)
    except EXPECTED_ERRORS as exc:
        fail(str(exc) or type(exc).__name__, exc)
    report_path = _write_report(result.out_dir, data_dir) if report else None
    if as_json:
        click.echo(json.dumps({"metrics": result.metrics, "portfolio": result.figures,
                               "manifest": result.manifest,
                               "report": str(report_path) if report_path else None},
                              sort_keys=True, default=str))
    else:
        print_portfolio_summary(result)
        if report_path is not None:
            click.echo(f"report: {report_path}")


# click's ParamType takes no type argument up to 8.3 (see trade.cli._params)
class MemberArgType(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A Play file (or bundled Play name), optionally pinned to a symbol: ``PLAY@SYMBOL``."""

    name = "PLAY[@SYMBOL]"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[Path, str | None]:
        if isinstance(value, tuple):
            return value
        text = str(value)
        head, sep, tail = text.rpartition("@")
        if sep and head and tail and "/" not in tail and not Path(text).is_file():
            return PLAY_FILE.convert(head, param, ctx), tail.strip().upper()
        return PLAY_FILE.convert(text, param, ctx), None


MEMBER_ARG = MemberArgType()


def _symbols(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
             ) -> tuple[str, ...]:
    return tuple(v.upper() for v in value)


@click.command("backtest")
@click.argument("plays", metavar="PLAY[@SYMBOL]...", nargs=-1, required=True, type=MEMBER_ARG)
@click.option("--symbol", "symbols", multiple=True, callback=_symbols,
              help="Symbol to run on (default: the Play's); upper-cased, as Bybit's are. "
              "Repeat it to run every Play on every symbol as one portfolio.")
@click.option("--start", default=None, help="First day, YYYY-MM-DD (UTC, inclusive).")
@click.option("--end", default=None, help="End day, YYYY-MM-DD (UTC, exclusive).")
@click.option("--data-dir", default=None, help="Data store (default $TRADE_DATA_DIR or ./data).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder for the artifacts (default runs/<play name>).")
@click.option("--path", "path", type=click.Choice(["auto", "batch", "event"]), default="auto",
              show_default=True, help="Execution path: fast batch, bar-by-bar event, or auto.")
@click.option("--synthetic", is_flag=True,
              help="Run on the Play's synthetic: block (seeded generated bars) instead of stored "
              "data. Without it a missing store or symbol is an error.")
@click.option("--seed", type=int, default=None,
              help="Seed for the synthetic data (with --synthetic).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics and manifest as JSON.")
@click.option("--report", is_flag=True, help="Also write the run's HTML report (report.html).")
def backtest(plays: tuple[tuple[Path, str | None], ...], symbols: tuple[str, ...],
             start: str | None, end: str | None, data_dir: str | None, out: Path | None, path: str,
             synthetic: bool, seed: int | None, as_json: bool, report: bool) -> None:
    """Backtest PLAY and write trades.parquet, equity.parquet, metrics.json, manifest.json.

    Several Plays, several --symbol, or a portfolio file (docs/play_reference.md,
    "Portfolio files") run as one portfolio on one wallet: every Play on every --symbol
    (each on its own symbol without one; PLAY@SYMBOL pins a Play to SYMBOL), sized on equal
    shares of the account; the run folder adds each member's curve (member_equity.parquet)
    and the portfolio figures (portfolio.json)."""
    from trade.play.portfolio import is_portfolio_file

    play_files = tuple(p for p, _ in plays)
    pinned = tuple(s for _, s in plays)
    if len(play_files) > 1 or len(symbols) > 1 or is_portfolio_file(play_files[0]):
        run_portfolio_and_report(play_files, symbols=symbols, pinned=pinned, start=start,
                                 end=end, data_dir=data_dir, out=out, path=path, as_json=as_json,
                                 seed=seed, report=report, synthetic=synthetic)
        return
    play_file = play_files[0]
    symbol = pinned[0] or (symbols[0] if symbols else None)
    run_and_report(play_file, symbol=symbol, start=start, end=end, data_dir=data_dir, out=out,
                   path=path, as_json=as_json, seed=seed, report=report, synthetic=synthetic)
