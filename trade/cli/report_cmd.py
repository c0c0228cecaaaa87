"""`trade report`: HTML report of a run folder or of a sweep results Parquet."""

from __future__ import annotations

from pathlib import Path

import click

from trade.core.errors import InputError


@click.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="HTML file to write (default: RUN_DIR/report.html or RESULTS.html).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Market-data store with the run's 1m bars (default: manifest, then ./data).",
)
@click.option(
    "--metric", default="sharpe", show_default=True, help="Sweep reports: the metric shown first."
)
@click.option("-x", "x_param", default=None, help="Sweep reports: heatmap x parameter.")
@click.option("-y", "y_param", default=None, help="Sweep reports: heatmap y parameter.")
def report(
    target: Path,
    out: Path | None,
    data_dir: Path | None,
    metric: str,
    x_param: str | None,
    y_param: str | None,
) -> None:
    """Write a self-contained HTML report of TARGET (a run folder or sweep results)."""
    from trade.report import is_sweep_results, write_run_report, write_sweep_report

    if target.is_dir():
        path = write_run_report(target, out=out, data_dir=data_dir)
    elif is_sweep_results(target):
        path = write_sweep_report(target, out=out, metric=metric, x=x_param, y=y_param)
    else:
        raise InputError(
            f"{target}: neither a run folder (with trades.parquet) nor sweep results "
            "(a Parquet file with metric.<name> columns)"
        )
    click.echo(f"report written: {path} ({path.stat().st_size / 1e6:.1f} MB)")
