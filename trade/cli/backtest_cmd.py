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
    report_path: Path | None = None
    if report and result.out_dir is not None:
        from trade.report import write_run_report

        try:
            report_path = write_run_report(result.out_dir, data_dir=data_dir)
        except EXPECTED_ERRORS as exc:
            fail(f"the run finished but its report failed: {exc}", exc)
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


@click.command("backtest")
@click.argument("play_file", metavar="PLAY", type=PLAY_FILE)
@click.option("--symbol", default=None, callback=lambda _c, _p, v: v.upper() if v else v,
              help="Symbol to run on (default: the Play's); upper-cased, as Bybit's are.")
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
def backtest(play_file: Path, symbol: str | None, start: str | None, end: str | None,
             data_dir: str | None, out: Path | None, path: str, synthetic: bool,
             seed: int | None, as_json: bool, report: bool) -> None:
    """Backtest PLAY and write trades.parquet, equity.parquet, metrics.json, manifest.json."""
    run_and_report(play_file, symbol=symbol, start=start, end=end, data_dir=data_dir, out=out,
                   path=path, as_json=as_json, seed=seed, report=report, synthetic=synthetic)
