"""`trade panic --confirm`: cancel every order and close every position now."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("panic")
@click.option("--confirm", is_flag=True, help="Required: really cancel and close everything.")
@click.option("--mode", type=click.Choice(["demo", "live"]), default="demo",
              show_default=True)
@click.option("--endpoint", default=None, help="Base URL of a Bybit-compatible host.")
@click.option("--keys", "key_file", type=click.Path(path_type=Path), default=None)
@click.option("--symbol", default=None, help="Only this symbol (default: every USDT perp).")
def panic(confirm: bool, mode: str, endpoint: str | None, key_file: Path | None,
          symbol: str | None) -> None:
    """Cancel all open orders and close all positions with reduce-only market orders."""
    from trade.live import BybitRest, load_credentials, make_session
    from trade.live import panic as do_panic

    if not confirm:
        raise click.UsageError("trade panic cancels every order and closes every position: "
                               "add --confirm")
    creds = load_credentials(mode, key_file=key_file)
    rest = BybitRest(make_session(mode, endpoint=endpoint, credentials=creds))  # type: ignore[arg-type]
    rest.sync_time()
    report = do_panic(rest, symbol)
    click.echo(f"panic: cancelled {report.cancelled} orders, closed "
               f"{len(report.closed)} positions {report.closed}")
    for err in report.errors:
        click.echo(f"error: {err}", err=True)
    if report.errors:
        raise SystemExit(1)
