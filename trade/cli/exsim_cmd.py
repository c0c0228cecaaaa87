"""`trade exchange-sim`: run the Bybit V5-compatible simulator on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any, Literal

import click


@click.command("exchange-sim")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True,
              help="Data store directory (or a .parquet/.csv file of 1m bars).")
@click.option("--symbol", "symbols", multiple=True,
              help="A symbol to list (repeat for several, one wallet across them); default: "
                   "every symbol in the data store (BTCUSDT for a single file).")
@click.option("--speed", type=float, default=60.0, show_default=True,
              help="Market minutes replayed per real minute (1 = real time).")
@click.option("--port", type=int, default=8099, show_default=True,
              help="0 = any free port.")
@click.option("--start", "start_ms", type=int, default=None,
              help="Replay start (ms UTC); default: the first stored bar.")
@click.option("--faults", "faults_file", type=click.Path(path_type=Path, exists=True),
              default=None, help="YAML/JSON fault-injection settings.")
@click.option("--api-key", default="sim-key", show_default=True)
@click.option("--api-secret", default="sim-secret", show_default=True)
@click.option("--balance", type=float, default=10_000.0, show_default=True,
              help="Initial USDT wallet balance.")
@click.option("--leverage", type=float, default=1.0, show_default=True)
@click.option("--bracket-grace", "bracket_grace_s", type=float, default=0.5, show_default=True,
              help="Real seconds a bar waits, after a fill at its open, for the client's "
                   "trading-stop (fill-relative TP/SL act on the entry bar); 0 = none. "
                   "Given up after 3 unused graces in a row, until a trading-stop comes.")
@click.option("--fills", type=click.Choice(["auto", "intrabar", "bar"]), default="auto",
              show_default=True,
              help="intrabar: orders fill inside the forming minute on its price path (a "
                   "market order at once); bar: the backtest's 1m rules (next bar's open); "
                   "auto: intrabar at --speed 1, else bar.")
def exchange_sim(
    data_dir: Path,
    symbols: tuple[str, ...],
    speed: float,
    port: int,
    start_ms: int | None,
    faults_file: Path | None,
    api_key: str,
    api_secret: str,
    balance: float,
    leverage: float,
    bracket_grace_s: float,
    fills: Literal["auto", "intrabar", "bar"],
) -> None:
    """Serve Bybit V5 REST and WebSocket from replayed history, for offline rehearsals."""
    from trade.core import InputError
    from trade.data import normalize_symbol
    from trade.exchange_sim import (
        ExchangeSimServer,
        FaultConfig,
        load_bars,
        store_instrument,
        store_symbols,
    )
    from trade.sim.config import SimConfig

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be in 0..65535 (0: any free port), got {port}")
    if speed <= 0:
        raise click.BadParameter("must be > 0", param_hint="--speed")
    if not 0 <= bracket_grace_s <= 10:
        raise click.BadParameter("must be between 0 and 10 seconds",
                                 param_hint="--bracket-grace")
    faults = FaultConfig.from_file(faults_file) if faults_file is not None else None
    if not symbols:
        symbols = tuple(store_symbols(data_dir)) if data_dir.is_dir() else ("BTCUSDT",)
    if data_dir.is_file() and len(symbols) > 1:
        raise InputError(f"{data_dir} holds the bars of one symbol; give a data store "
                         f"directory to list several")
    # Bybit symbols are upper case: `btcusdt` is BTCUSDT (as the store reads it), each once,
    # in the order given
    symbols = tuple(dict.fromkeys(normalize_symbol(s) for s in symbols))
    symbol = symbols[0]
    try:
        sim_config = SimConfig(symbol=symbol, initial_balance=balance, leverage=leverage)
    except InputError as exc:  # say which options made the settings invalid
        raise InputError(f"--balance {balance:g} / --leverage {leverage:g}: {exc}") from None
    bars = {s: load_bars(data_dir, s) for s in symbols}
    found = {s: store_instrument(data_dir, s) for s in symbols}
    instruments = {s: i for s, i in found.items() if i is not None}
    server = ExchangeSimServer(
        bars,
        symbol=symbol,
        instrument=instruments.get(symbol),
        instruments=instruments,
        api_keys={api_key: api_secret},
        speed=speed,
        start_ms=start_ms,
        port=port,
        faults=faults,
        sim_config=sim_config,
        bracket_grace_s=bracket_grace_s,
        fills=fills,
    )
    stop = threading.Event()
    with server:
        click.echo(f"exchange-sim: REST {server.base_url}  WS {server.ws_base}/v5/public/linear "
                   f"and {server.ws_base}/v5/private  ("
                   + ", ".join(f"{len(lst.market)} bars of {s}"
                               for s, lst in server.listings.items())
                   + f", x{speed:g}; one USDT wallet)")
        click.echo("fills: " + ("intrabar (inside the forming minute, on its price path)"
                                if server.intrabar else "bar (the backtest's 1m rules)"))
        if server.wall_shift_ms:
            click.echo(f"real time: the replay runs on the wall clock (bars shifted by "
                       f"{server.wall_shift_ms // 60_000} min)")
        click.echo(f"api key {api_key!r}; point pybit at it with "
                   f"trade.exchange_sim.make_http / make_websocket, ccxt as docs/exchange_sim.md "
                   f"shows. Ctrl-C stops.")
        announced = False
        # SIGINT and SIGTERM stop it cleanly, also when it was started in the background
        # (where a shell starts it with SIGINT ignored and Python's Ctrl-C handler is absent)
        previous = _on_stop_signals(stop)
        try:
            while not stop.wait(0.5):
                if not announced and all(lst.fed >= len(lst.market)
                                         for lst in server.listings.values()):
                    announced = True
                    click.echo("exchange-sim: end of history reached; still serving")
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        click.echo("exchange-sim: stopping")


def _on_stop_signals(stop: threading.Event) -> dict[signal.Signals, Any]:
    """Make SIGINT and SIGTERM set `stop` (main thread only); returns the old handlers."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    return previous
