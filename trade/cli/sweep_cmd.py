"""`trade sweep PLAY`: search a Play's parameters; results to Parquet, the best in a table.

`trade sweep PORTFOLIO.yml` sweeps a portfolio file (trade.sweep.portfolio): members'
parameters as `--param MEMBER.PATH=SPEC`, allocations as `--param alloc.MEMBER=SPEC`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trade.cli._params import PLAY_FILE
from trade.cli.errors import EXPECTED_ERRORS, USER_ERROR_EXIT, debug_enabled, fail, print_traceback
from trade.core import TradeError
from trade.play import PlayError


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                  TaskProgressColumn(), TextColumn("{task.fields[rate]} variants/s"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task("sweep", total=None, rate="-")

        def update(done: int, total: int | None) -> None:
            speed = prog.tasks[0].speed
            prog.update(task, completed=done, total=total,
                        rate=f"{speed:.1f}" if speed else "-")

        yield update


def _top_table(path: Path, sort: str, top: int, title: str) -> Any:
    import pyarrow.compute as pc
    from rich.table import Table

    from trade.sweep import read_results
    from trade.sweep.analysis import higher_is_better

    table = read_results(path)
    col = f"metric.{sort}"
    if col not in table.column_names:
        raise TradeError(f"no column {col} in {path}")
    table = table.filter(pc.and_(pc.equal(table.column("eligible"), True),
                                 pc.is_null(table.column("error"))))
    order = "descending" if higher_is_better(sort) else "ascending"
    table = table.sort_by([(col, order)]).slice(0, top)
    params = [c for c in table.column_names if c.startswith("param.")]
    shown = [col, "metric.total_return", "metric.max_drawdown"]
    shown += [c for c in (f"oos.metric.{sort}", f"holdout.metric.{sort}")
              if c in table.column_names]
    out = Table(title=title, header_style="bold")
    out.add_column("variant")
    for c in params:
        out.add_column(_short(c[len("param."):]))
    out.add_column("trades", justify="right")
    for c in dict.fromkeys(shown):
        if c in table.column_names:
            out.add_column(c.replace("metric.", ""), justify="right")
    for row in table.to_pylist():
        cells = [row["variant_id"][:10], *(str(row[c]) for c in params), str(row["n_trades"])]
        for c in dict.fromkeys(shown):
            if c in table.column_names:
                v = row[c]
                cells.append("-" if v is None else f"{v:.4g}")
        out.add_row(*cells)
    return out


def _num(v: float | None, fmt: str = ".4g") -> str:
    return "-" if v is None else format(v, fmt)


def _walk_forward_line(wf: dict[str, Any], sort: str) -> str:
    """The walk-forward summary, rounded (figures to 4 significant digits, returns in %)."""
    eff = wf.get("efficiency")
    ann_is, ann_oos = wf.get("annualised_is_return"), wf.get("annualised_oos_return")
    returns = (f"annualised return in-sample {_num(ann_is and 100 * ann_is, '.1f')} % · "
               f"out-of-sample {_num(ann_oos and 100 * ann_oos, '.1f')} %")
    efficiency = (f"efficiency {eff:.2f}" if eff is not None
                  else f"efficiency - ({wf.get('efficiency_note') or 'undefined'})")
    return (f"walk-forward ({len(wf['windows'])} windows): mean in-sample {sort} "
            f"{_num(wf['mean_is'])} · mean out-of-sample {_num(wf['mean_oos'])} · "
            f"{returns} · {efficiency}")


def _short(path: str) -> str:
    """A column label: `features.ema_fast.params.length` -> `ema_fast.length` (after a
    portfolio member's label too: `ema@BTCUSDT.features.ema_fast.params.length` ->
    `ema@BTCUSDT.ema_fast.length`)."""
    parts = path.split(".")
    if len(parts) >= 4 and parts[-4] == "features" and parts[-2] == "params":
        return ".".join([*parts[:-4], parts[-3], parts[-1]])
    return path


@click.command("sweep")
@click.argument("play_file", type=PLAY_FILE)
@click.option("--param", "params", multiple=True, metavar="PATH=SPEC",
              help="Swept value: range:LO:HI:STEP, values:A,B,C, int:LO..HI, float:LO..HI[:log]. "
              "For a portfolio file: MEMBER.PATH=SPEC or alloc.MEMBER=SPEC, MEMBER a label "
              "such as ema_cross_basics@BTCUSDT.")
@click.option("--constraint", "constraints", multiple=True, metavar="EXPR",
              help='e.g. "features.ema_fast.params.length < features.ema_slow.params.length".')
@click.option("--no-play-sweep", is_flag=True, help="Ignore the Play's own sweep: section.")
@click.option("--search", type=click.Choice(["grid", "random", "bayes"]), default="grid",
              show_default=True)
@click.option("--budget", type=int, default=None, help="Variants to try (random/bayes; caps grid).")
@click.option("--seed", type=int, default=0, show_default=True, help="Search seed.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: start locally).")
@click.option("--workers", type=int, default=None, help="Threads / Ray tasks (default: cores).")
@click.option("--top", type=int, default=20, show_default=True)
@click.option("--sort", default="sharpe", show_default=True, help="Metric to rank by.")
@click.option("--metrics", "metrics_mode", type=click.Choice(["full", "fast"]), default="full",
              show_default=True, help="Every metric, or a fast core subset.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Results Parquet (default: sweeps/<play>.parquet).")
@click.option("--resume", is_flag=True, help="Skip variants already in --out.")
@click.option("--walk-forward", "walk_forward", default=None,
              metavar="train=90d,test=30d[,anchored]")
@click.option("--holdout", default=None, metavar="20%|60d",
              help="Keep the end of the data out of selection; score the best on it.")
@click.option("--min-trades", type=int, default=0, show_default=True)
@click.option("--data-dir", default=None, help="Data store (default: the configured one).")
@click.option("--start", default=None)
@click.option("--end", default=None)
@click.option("--synthetic", is_flag=True,
              help="Sweep on the Play's synthetic: block (seeded generated bars) instead of "
              "stored data. Without it a missing store or symbol is an error.")
@click.option("--data-seed", type=int, default=None,
              help="Seed of the Play's synthetic data (with --synthetic).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True)
def sweep(play_file: Path, params: tuple[str, ...], constraints: tuple[str, ...],
          no_play_sweep: bool, search: str, budget: int | None, seed: int, backend: str,
          address: str | None, workers: int | None, top: int, sort: str, metrics_mode: str,
          out: Path | None, resume: bool, walk_forward: str | None, holdout: str | None,
          min_trades: int, data_dir: str | None, start: str | None, end: str | None,
          synthetic: bool, data_seed: int | None, as_json: bool, no_progress: bool) -> None:
    """Search PLAY_FILE's parameters; stream every variant's metrics to a Parquet table.

    PLAY_FILE may be a portfolio file: every variant runs its members on one wallet and is
    scored on the account (docs/sweeps.md, "Portfolios")."""
    from rich.console import Console

    from trade.play import load_play
    from trade.play.portfolio import is_portfolio_file, load_portfolio_file
    from trade.sweep import SweepContext, SweepSettings, run_sweep, space_for
    from trade.sweep.data import sweep_context_for
    from trade.sweep.portfolio import PortfolioSweepContext, portfolio_sweep_context_for

    if not play_file.is_file():
        fail(f"Play file not found: {play_file}")
    try:
        portfolio = is_portfolio_file(play_file)
        from trade.sweep.space import Constraint, parse_dimension

        for text in params:  # a malformed --param or --constraint is reported before any data
            parse_dimension(text)
        for text in constraints:
            Constraint.parse(text)
        settings = SweepSettings(metrics=metrics_mode,  # type: ignore[arg-type]
                                 min_trades=min_trades, sort=sort)
        ctx: SweepContext | PortfolioSweepContext
        if portfolio:
            ctx = portfolio_sweep_context_for(
                load_portfolio_file(play_file), settings=settings, data_dir=data_dir,
                start=start, end=end, seed=data_seed, walk_forward=walk_forward,
                holdout=holdout, synthetic=synthetic)
            name = ctx.name
        else:
            ctx = sweep_context_for(load_play(play_file), settings=settings, data_dir=data_dir,
                                    start=start, end=end, seed=data_seed,
                                    walk_forward=walk_forward, holdout=holdout,
                                    synthetic=synthetic)
            name = ctx.play.name
        space = space_for(ctx, params, constraints, use_play_sweep=not no_play_sweep)
        out_path = out or Path("sweeps") / f"{name}.parquet"
        with _progress(not no_progress and not as_json) as progress:
            outcome = run_sweep(ctx, space, out_path, search=search,  # type: ignore[arg-type]
                                budget=budget, seed=seed,
                                backend=backend,  # type: ignore[arg-type]
                                address=address, workers=workers, resume=resume,
                                progress=progress)
    except PlayError as exc:
        # reported as `trade play validate` does: one line per issue
        if debug_enabled():
            print_traceback(exc)
        for issue in exc.issues:
            click.echo(f"error: invalid Play: {issue}", err=True)
        sys.exit(USER_ERROR_EXIT)
    except EXPECTED_ERRORS as exc:  # anything else is a bug, reported by trade.cli.main
        fail(str(exc) or type(exc).__name__, exc)
    summary = outcome.summary
    if as_json:
        click.echo(json.dumps({"results": str(outcome.path), "new": outcome.n_new,
                               "skipped": outcome.n_skipped, "interrupted": outcome.interrupted,
                               **summary}, indent=2, default=str))
    else:
        console = Console()
        console.print(_top_table(outcome.path, sort, top,
                                 f"{name}: top {top} by {sort}"))
        data = summary.get("data") or {}
        console.print(f"data: {data.get('description', 'unknown')}")
        console.print(f"results: {outcome.path} · {summary['n_variants']} variants "
                      f"({outcome.n_new} new, {outcome.n_skipped} resumed), "
                      f"{summary.get('n_eligible', 0)} with >= {min_trades} trades")
        if summary.get("deflated_sharpe") is not None or summary.get("pbo") is not None:
            dsr, pbo = summary.get("deflated_sharpe"), summary.get("pbo")
            console.print(f"deflated Sharpe ratio of the best: "
                          f"{'-' if dsr is None else f'{dsr:.3f}'} · probability of backtest "
                          f"overfitting: {'-' if pbo is None else f'{pbo:.3f}'} "
                          f"({summary.get('n_trials', 0)} trials)")
        wf = summary.get("walk_forward")
        if wf:
            console.print(_walk_forward_line(wf, sort))
        best = summary.get("best")
        if best and f"holdout.metric.{sort}" in best:
            console.print(f"hold-out {sort} of the best: {best[f'holdout.metric.{sort}']}")
        if summary.get("overfit"):
            console.print("[bold red]overfitting warning:[/] "
                          + "; ".join(summary["overfit_reasons"]))
    if outcome.interrupted:
        click.echo(f"interrupted: {outcome.n_new} new variants kept in {outcome.path} "
                   "(continue with --resume)", err=True)
        sys.exit(130)
