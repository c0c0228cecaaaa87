"""`trade run PLAY --mode paper|demo|live`: trade a Play on live (or replayed) bars.

Demo is the default. Live trading needs live keys (BYBIT_API_KEY / BYBIT_API_SECRET, or a
0600 `--keys` file) AND an explicit confirmation: the `--confirm-live` flag plus either
the environment variable TRADE_CONFIRM_LIVE set to the symbol (e.g. BTCUSDT) or typing the
symbol at the prompt. `--endpoint http://127.0.0.1:8099` points any mode at another
Bybit-compatible host (e.g. `trade exchange-sim`). SIGINT/SIGTERM stop cleanly; open orders
and TP/SL stay on the exchange. In live mode Bybit's disconnect-cancel-all is on: once the
process has been gone for its window (10 s), Bybit cancels the resting orders; the position
and its TP/SL stay.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from trade.data import Instrument
    from trade.engine import OrderPlan
    from trade.play import Play

log = logging.getLogger(__name__)


def venue_plan(play: Play, symbol: str, *, mode: str, endpoint: str | None,
               data_dir: str | None) -> tuple[Instrument, OrderPlan]:
    """The instrument and order plan of a run: the venue's instruments-info (qty step, min
    qty, min notional, max leverage, tick), so sizing and rounding match the exchange the
    orders go to; the maintenance-margin rate from the store's instrument (else the
    default), since Bybit does not report it there."""
    import dataclasses

    from trade.data import open_store
    from trade.engine import DEFAULT_INSTRUMENT, order_plan
    from trade.live import fetch_instrument

    default = DEFAULT_INSTRUMENT.model_copy(update={"symbol": symbol})
    base = open_store(data_dir).read_instrument(symbol, default=default)
    instrument = fetch_instrument(mode, symbol, endpoint=endpoint,  # type: ignore[arg-type]
                                  base=base)
    plan = dataclasses.replace(order_plan(play, instrument), symbol=symbol)
    return instrument, plan


def _confirm_live(symbol: str, confirm_flag: bool) -> None:
    if not confirm_flag:
        raise click.UsageError("--mode live trades real money: add --confirm-live")
    typed = os.environ.get("TRADE_CONFIRM_LIVE")
    if typed is None:
        typed = click.prompt(f"Type {symbol} to start LIVE trading", default="",
                             show_default=False)
    if typed.strip() != symbol:
        raise click.UsageError(f"live trading not confirmed (expected {symbol!r})")


@click.command("run")
@click.argument("play_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["paper", "demo", "live"]), default="demo",
              show_default=True)
@click.option("--endpoint", default=None,
              help="Base URL of a Bybit-compatible host (e.g. http://127.0.0.1:8099).")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), default=None,
              help="JSONL journal (append; a restart resumes from it).")
@click.option("--dashboard", default=None, help="Serve a live dashboard on HOST:PORT.")
@click.option("--confirm-live", is_flag=True, help="Required (with a typed confirmation) "
              "for --mode live.")
@click.option("--keys", "key_file", type=click.Path(path_type=Path), default=None,
              help="A 0600 file with api_key=... and api_secret=... lines.")
@click.option("--symbol", default=None, help="Override the Play's symbol.")
@click.option("--history-bars", type=int, default=1000, show_default=True,
              help="Closed 1m bars read over REST to warm the indicators up.")
@click.option("--max-order-notional", type=float, default=None)
@click.option("--max-symbol-notional", type=float, default=None)
@click.option("--daily-loss-pct", type=float, default=None)
@click.option("--data-dir", default=None,
              help="Data store whose instrument supplies the maintenance-margin rate "
              "(default $TRADE_DATA_DIR or ./data); the rest comes from the exchange.")
def run(play_file: Path, mode: str, endpoint: str | None, journal_path: Path | None,
        dashboard: str | None, confirm_live: bool, key_file: Path | None, symbol: str | None,
        history_bars: int, max_order_notional: float | None,
        max_symbol_notional: float | None, daily_loss_pct: float | None,
        data_dir: str | None) -> None:
    """Run PLAY_FILE on live bars: paper (simulated fills), demo (Bybit demo) or live."""
    from trade.engine import PlayEngine, sim_config
    from trade.live import LiveRunner, RedactingFilter, RiskLimits, RunConfig, load_credentials
    from trade.play import load_play, play_hash

    play = load_play(play_file)
    sym = symbol or play.symbol
    creds = None
    if mode == "live":
        _confirm_live(sym, confirm_live)
    if mode != "paper":
        creds = load_credentials(mode, key_file=key_file)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    instrument, plan = venue_plan(play, sym, mode=mode, endpoint=endpoint, data_dir=data_dir)
    click.echo(f"instrument {sym}: tick {instrument.tick_size:g}, qty step "
               f"{instrument.qty_step:g}, min qty {instrument.min_qty:g}, min notional "
               f"{instrument.min_notional:g}, max leverage {instrument.max_leverage:g}, "
               f"mmr {instrument.maintenance_margin_rate:g}")
    limits = RiskLimits(max_order_notional=max_order_notional,
                        max_symbol_notional=max_symbol_notional,
                        max_leverage=plan.leverage * 1.05,
                        daily_loss_pct=daily_loss_pct)
    config = RunConfig(
        symbol=sym, mode=mode,  # type: ignore[arg-type]
        endpoint=endpoint, credentials=creds, journal_path=journal_path,
        history_bars=history_bars, leverage=plan.leverage,
        sim_config=sim_config(play, plan, instrument) if mode == "paper" else None,
        risk_limits=limits, warmup_equity=float(play.account.starting_equity_usdt),
        tag=play_hash(play)[:8],
    )
    board: Any = None
    listener = None
    if dashboard:
        from trade.report import DashboardServer, parse_address

        host, port = parse_address(dashboard)
        board = DashboardServer(host, port).start()
        listener = board.publish
        click.echo(f"dashboard: {board.url}")

    runner = LiveRunner(config, lambda adapter: PlayEngine(play, adapter, plan=plan),
                        listener=listener)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if config.mode == "live":
            kept = ("TP/SL stay; resting orders are cancelled by Bybit's disconnect-cancel-all "
                    "after its window")
        elif config.mode == "paper":
            kept = "paper: the simulated account ends with the process; the journal keeps it"
        else:
            kept = "orders and TP/SL stay on the exchange"
        click.echo(f"signal {signum}: stopping ({kept})", err=True)
        runner.stop()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        click.echo(f"trade run: {play.name} on {sym}, mode {mode}"
                   + (f", endpoint {endpoint}" if endpoint else ""))
        summary = runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if board is not None:
            board.stop()
    click.echo(f"stopped: {summary.bars} bars, {summary.orders} orders, {summary.fills} fills"
               + (f", {len(summary.failures)} errors" if summary.failures else ""))
