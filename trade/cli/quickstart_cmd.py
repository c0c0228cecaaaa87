"""`trade quickstart`: import the shipped real BTC sample and backtest the shipped Play on it."""

from __future__ import annotations

from pathlib import Path

import click

from trade.cli.backtest_cmd import run_and_report
from trade.cli.errors import EXPECTED_ERRORS, fail


@click.command("quickstart")
@click.option("--data-dir", default=None, help="Data store (default $TRADE_DATA_DIR or ./data).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs") / "quickstart",
              show_default=True, help="Run folder for the artifacts.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics and manifest as JSON.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Also write the run's HTML report.")
def quickstart(data_dir: str | None, out: Path, as_json: bool, report: bool) -> None:
    """Import the packaged Coinbase BTC hourly sample (bridged to 1m, seed 7) into the store and
    run the packaged quick-start Play on it, printing its metrics."""
    from trade.data import ensure_sample_data, open_store
    from trade.engine import quickstart_play_path

    try:
        store = open_store(data_dir)
        if not as_json:
            click.echo(f"importing the shipped BTC sample into {store.root} (first run only) ...",
                       err=True)
        symbol = ensure_sample_data(store)
    except EXPECTED_ERRORS as exc:
        fail(str(exc), exc)
    run_and_report(quickstart_play_path(), symbol=symbol, start=None, end=None,
                   data_dir=data_dir, out=out, path="auto", as_json=as_json, seed=None,
                   store=store, report=report)
