"""The Bybit V5-compatible exchange server: REST and WebSocket on one 127.0.0.1 port.

Threads: `start()` runs one asyncio event loop on one thread ("exchange-sim"). Every
request handler, WebSocket connection and the bar driver run on that loop, so the
`Venue` (orders, position, balance) has a single writer. The public methods of
`ExchangeSimServer` may be called from any thread; they hand work to the loop and
wait for it. `stop()` closes every socket and joins the thread.

Parts, one module per concern: `routing` (REST dispatch, auth, rate limits), `market_routes`
(`/v5/market/...`), `trading` (orders, executions, trading-stop, leverage, DCP), `account`
(wallet, positions, margin settings), `streams` (WebSocket), `replay` (the bar driver);
this module assembles them and owns the lifecycle and the thread bridge.

Paths: REST under `/v5/...`; WebSocket at `/v5/public/linear` and `/v5/private` (the
paths pybit connects to). Time: the *market* clock (replayed bars, order and execution
times) is separate from the *server* clock (auth window checks, `/v5/market/time`,
the envelope `time`, rate limits), which is real time plus the fault-injected skew.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa
from aiohttp import web

from trade.core import Clock, InputError, SimulatedClock, WallClock
from trade.exchange_sim import dcp as d
from trade.exchange_sim.account import AccountRoutes
from trade.exchange_sim.base import Listing
from trade.exchange_sim.clock import ReplayClock, wall_shift_ms
from trade.exchange_sim.dcp import DcpMonitor, DcpTrigger
from trade.exchange_sim.faults import FaultConfig, FaultInjector
from trade.exchange_sim.market import MINUTE_MS, MarketData
from trade.exchange_sim.market_routes import MarketRoutes
from trade.exchange_sim.ratelimit import RateLimiter
from trade.exchange_sim.replay import ReplayDriver
from trade.exchange_sim.routing import RestRouter
from trade.exchange_sim.trading import TradingRoutes
from trade.exchange_sim.venue import (
    EngineFactory,
    Instrument,
    SharedWallet,
    Venue,
    default_engine_factory,
)
from trade.exchange_sim.ws_trade import WsTrade
from trade.sim.config import SimConfig

log = logging.getLogger(__name__)

T = TypeVar("T")


class ExchangeSimServer(RestRouter, MarketRoutes, TradingRoutes, AccountRoutes, WsTrade,
                         ReplayDriver):
    """A local Bybit V5 exchange replaying 1m bars, filling orders with the backtest kernel.

    Threads: `start()` runs the server on its own thread ("exchange-sim"), the only one that
    touches the venues; the public methods may be called from any thread (they hand work
    to that thread and wait). Use it as a context manager, or call `start()` and `stop()`.

    Parameters
    ----------
    bars: a pyarrow Table with ts/open/high/low/close[/volume/turnover/mark_price/
        funding_rate] 1m bars of `symbol` (or use `from_store`), or a mapping
        {symbol: table} to list several symbols on one server (the first is `symbol`'s
        place: `symbol` is then ignored); every symbol trades from one USDT wallet.
    instruments: {symbol: Instrument} for symbols other than the first (default: built
        from `sim_config`'s steps, as for the first).
    clock: the market clock. A `SimulatedClock` lets a test step the replay (`step()`,
        `sync()`); default is a `ReplayClock` at `speed` x real time from `start_ms`
        (default: the first bar's open).
    api_keys: {api_key: secret} accepted for private REST and WebSocket auth.
    port: 0 picks a free port; read `port`, `base_url`, `ws_base` after `start()`.
    dcp_clock: times disconnect-cancel-all windows (default: `server_clock`); a test
        passes a SimulatedClock and advances it instead of waiting. See `dcp.py`.
    dcp_windows: {product: seconds} DCP already enabled at start (default: none; a
        client enables it with POST /v5/order/disconnected-cancel-all).
    dcp_legacy_topic: also accept the deprecated private topic `dcp` (arms every product).
    bracket_grace_s: real seconds a bar waits after a fill at its open for the client's
        trading-stop before the rest of the bar runs (0: whole bars, no grace). See `_feed`.
    align_to_wall: with the default clock at speed 1, shift every bar by whole minutes so
        the replay runs on the wall clock (`wall_shift_ms`; see clock.py). `start_ms` is
        in the history's own time.
    bracket_grace_misses: after this many graces in a row ran out without a trading-stop,
        the client is taken not to send fill-relative brackets: no grace until its next
        trading-stop (so Plays without brackets do not wait 0.5 s on every entry).
    fills: "intrabar" fills orders inside the forming minute, on its documented price path
        (a market order at once, triggers when the path crosses them; see intrabar.py);
        "bar" keeps the backtest's 1m semantics (a market order fills at the next bar's
        open; what the stepped parity tests use). "auto" (default): "intrabar" at real
        time (the default clock at speed 1), else "bar".
    """

    def __init__(
        self,
        bars: pa.Table | Mapping[str, pa.Table],
        *,
        symbol: str = "BTCUSDT",
        api_keys: dict[str, str] | None = None,
        clock: Clock | None = None,
        speed: float = 1.0,
        start_ms: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        sim_config: SimConfig | None = None,
        instrument: Instrument | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        faults: FaultConfig | None = None,
        rate_limits: dict[str, int] | None = None,
        engine_factory: EngineFactory = default_engine_factory,
        server_clock: Clock | None = None,
        poll_interval_s: float = 0.02,
        ws_ack_delay_s: float = 0.05,
        dcp_clock: Clock | None = None,
        dcp_windows: dict[str, int] | None = None,
        dcp_legacy_topic: bool = False,
        bracket_grace_s: float = 0.5,
        bracket_grace_misses: int = 3,
        align_to_wall: bool = True,
        fills: Literal["auto", "intrabar", "bar"] = "auto",
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise InputError(f"the exchange simulator binds loopback only, not {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"port must be an integer in 0..65535 (0: any free port), "
                             f"got {port!r}")
        tables = dict(bars) if isinstance(bars, Mapping) else {symbol: bars}
        if not tables:
            raise InputError("the exchange simulator needs the bars of at least one symbol")
        symbol = next(iter(tables))
        self.symbol = symbol
        config = sim_config or SimConfig(symbol=symbol)
        if config.symbol != symbol:
            raise InputError(f"sim_config.symbol {config.symbol!r} != symbol {symbol!r}")
        self.wall_shift_ms = 0  # added to every bar's time when laid onto the wall clock
        first = tables[symbol]
        if clock is None and speed == 1.0 and align_to_wall and "ts" in first.column_names \
                and first.num_rows:
            # real time: the replay is laid onto the wall clock (whole minutes, see clock.py);
            # every symbol moves by the same minutes, so they stay aligned with each other
            start = int(first.column("ts")[0].as_py()) if start_ms is None else start_ms
            wall = (server_clock or WallClock()).now_ms()
            self.wall_shift_ms = wall_shift_ms(start, wall)
            tables = {s: _shift(t, self.wall_shift_ms) for s, t in tables.items()}
            start_ms = wall  # market now == wall now
        self.listings = {}
        wallet: SharedWallet | None = None
        for k, (sym, table) in enumerate(tables.items()):
            cfg = config
            if len(tables) > 1:  # see venue.SharedWallet: the wallet checks the margin
                cfg = dataclasses.replace(config, symbol=sym,
                                          initial_balance=config.initial_balance * len(tables))
            inst = instrument if k == 0 else (instruments or {}).get(sym)
            inst = inst or Instrument(
                symbol=sym,
                base_coin=sym.removesuffix("USDT") or sym,
                qty_step=config.qty_step or 0.001,
                min_qty=config.min_qty or 0.001,
                min_notional=config.min_notional or 5.0,
                tick_size=config.tick_size or 0.1,
            )
            venue = Venue(cfg, inst, engine_factory)
            if wallet is None:
                wallet = venue.wallet
            else:
                venue.id_prefix = f"{sym.lower()}-"  # order and execution ids never repeat
                wallet.join(venue)
            self.listings[sym] = Listing(
                sym, MarketData(sym, table, funding_rate=cfg.funding_rate), inst, venue)
        assert wallet is not None
        wallet.initial = config.initial_balance  # the account's own starting balance
        primary = self.listings[symbol]
        self.market, self.instrument, self.venue = primary.market, primary.instrument, \
            primary.venue
        self.api_keys = dict(api_keys or {})
        if clock is None:
            clock = ReplayClock(self.market.first_ts if start_ms is None else start_ms, speed)
        self.clock: Clock = clock
        if fills not in ("auto", "intrabar", "bar"):
            raise InputError(f"fills must be 'auto', 'intrabar' or 'bar', got {fills!r}")
        self.intrabar = fills == "intrabar" or (
            fills == "auto" and isinstance(clock, ReplayClock) and clock.speed == 1.0)
        for lst in self.listings.values():
            lst.venue.intrabar = self.intrabar
        self.server_clock: Clock = server_clock or WallClock()
        self.faults = FaultInjector(faults)
        self.limiter = RateLimiter(rate_limits)
        self.host = host
        self._requested_port = port
        self.port = 0
        self.poll_interval_s = poll_interval_s
        self.ws_ack_delay_s = ws_ack_delay_s
        self._conns = {}
        self._conn_ids = itertools.count(1)
        self._msg_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._driver: asyncio.Task[None] | None = None
        self._state: asyncio.Lock | None = None
        self._grace: asyncio.Event | None = None  # set while a bracket grace waits
        if not (math.isfinite(bracket_grace_s) and bracket_grace_s >= 0):
            raise InputError(
                f"bracket_grace_s must be a finite number >= 0, got {bracket_grace_s!r}"
            )
        self.bracket_grace_s = bracket_grace_s
        if isinstance(bracket_grace_misses, bool) or not (
                isinstance(bracket_grace_misses, int) and bracket_grace_misses >= 1):
            raise InputError(
                f"bracket_grace_misses must be an integer >= 1, got {bracket_grace_misses!r}")
        self.bracket_grace_misses = bracket_grace_misses
        self.grace_misses = 0  # graces in a row that ran out without a trading-stop
        self.grace_used = False
        self.graces = {"granted": 0, "used": 0}  # used: ended by a trading-stop
        self._hanging: set[asyncio.Task[Any]] = set()
        self.requests_seen = 0
        self.dcp_clock: Clock = dcp_clock or self.server_clock
        self.dcp = DcpMonitor()
        for product, window in (dcp_windows or {}).items():
            try:
                self.dcp.configure(product, int(window))
            except ValueError as exc:
                raise InputError(f"dcp_windows[{product!r}]: {exc}") from None
        self.dcp_legacy_topic = dcp_legacy_topic
        self.dcp_triggers: list[DcpTrigger] = []  # every DCP firing, in order
        self._routes = self._build_routes()

    @classmethod
    def from_store(
        cls,
        data_dir: Path,
        symbol: str | Sequence[str],
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        **kwargs: Any,
    ) -> ExchangeSimServer:
        """Replay bars from the data store (`trade.data.open_store(dir).read_bars`) of one
        symbol or several (one wallet)."""
        symbols = [symbol] if isinstance(symbol, str) else list(symbol)
        tables = {s: load_bars(data_dir, s, start_ms=start_ms, end_ms=end_ms) for s in symbols}
        return cls(tables, **kwargs)

    # ------------------------------------------------------------------ addresses
    @property
    def base_url(self) -> str:
        """The REST root, ``http://host:port`` (the port is known after `start()`)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        """The WebSocket root, ``ws://host:port``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def ws_public_url(self) -> str:
        """The public stream (klines, tickers, order book) of linear contracts."""
        return f"{self.ws_base}/v5/public/linear"

    @property
    def ws_private_url(self) -> str:
        """The private stream (orders, executions, positions, wallet, dcp)."""
        return f"{self.ws_base}/v5/private"

    @property
    def ws_trade_url(self) -> str:
        """The WebSocket order-entry endpoint (order.create / amend / cancel)."""
        return f"{self.ws_base}/v5/trade"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ExchangeSimServer:
        """Start the server thread and its event loop, listen, and return self once ready.

        InputError when the port cannot be bound (busy, not available); RuntimeError when
        already started, or the server fails or takes over 30 s to start."""
        if self._thread is not None:
            raise RuntimeError("the exchange simulator is already started")
        self._thread = threading.Thread(target=self._run, name="exchange-sim", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._start_error is not None:
            self._thread.join(timeout=10)
            self._thread = None
            err = self._start_error
            if isinstance(err, OSError):  # busy port, address not available: the user's to fix
                reason = err.strerror or str(err)
                raise InputError(f"exchange simulator cannot listen on {self.host}:"
                                 f"{self._requested_port}: {reason}") from None
            raise RuntimeError(f"exchange simulator failed to start: {err!r}") from err
        if not self._ready.is_set():
            raise RuntimeError("exchange simulator did not start within 30 s")
        return self

    def stop(self) -> None:
        """Close every connection and socket, stop the loop and join its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(TimeoutError):
                fut.result(timeout=15)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        if thread.is_alive():
            raise RuntimeError("exchange simulator thread did not stop")
        self._thread = None

    def __enter__(self) -> ExchangeSimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self._state = asyncio.Lock()
        app = web.Application()
        app.router.add_get("/v5/public/linear", self._ws_public)
        app.router.add_get("/v5/private", self._ws_private)
        app.router.add_get("/v5/trade", self._ws_trade)
        app.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()  # nothing half-started stays behind
            raise
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        await self._sync()  # warm-up: feed the bars already closed at the start time
        self._driver = asyncio.get_running_loop().create_task(self._drive())

    async def _shutdown(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
        for task in list(self._hanging):
            task.cancel()
        for conn in list(self._conns.values()):
            await self._close_conn(conn, abort=False)
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ thread bridge
    def _call(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("the exchange simulator is not running")

        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), loop).result(timeout)

    def sync(self) -> int:
        """Feed every bar closed by the market clock now; returns how many were fed.

        Returns after every resulting push has been written to the sockets.
        """
        return self._call(self._sync())

    def step(self, bars: int = 1) -> int:
        """With a SimulatedClock: move the market clock to the close of the next `bars` bars."""
        clock = self.clock
        if not isinstance(clock, SimulatedClock):
            raise TypeError("step() needs the server to run on a SimulatedClock")
        target = min(self.fed + bars, len(self.market)) - 1
        if target < 0:
            return 0
        close_ms = int(self.market.ts[target]) + MINUTE_MS
        if close_ms > clock.now_ms():
            clock.set(close_ms)
        return self.sync()

    @property
    def grace_active(self) -> bool:
        """A bar is waiting in a bracket grace right now (any thread may ask)."""
        return self._grace is not None

    def market_now_ms(self) -> int:
        """The market clock (ms): the replay's time, which bars, orders and fills carry."""
        return self.clock.now_ms()

    def server_now_ms(self) -> int:
        """The server clock (ms) plus the fault-injected skew: what auth checks use."""
        return self.server_clock.now_ms() + self.faults.clock_skew_ms

    def configure_faults(self, config: FaultConfig) -> None:
        """Replace the fault settings (and reseed) at once; safe from any thread."""
        self.faults.configure(config)

    def close_connections(
        self,
        kind: Literal["all", "public", "private", "trade"] = "all",
        *,
        abort: bool = True,
        topic: str | None = None,
    ) -> int:
        """Drop WebSocket connections (abort = TCP reset without a close frame).

        With `topic`, only the connections subscribed to it (e.g. "dcp.future").
        """

        async def run() -> int:
            conns = [c for c in self._conns.values() if kind in ("all", c.kind)
                     and (topic is None or topic in c.topics)]
            for conn in conns:
                await self._close_conn(conn, abort=abort)
            return len(conns)

        return self._call(run())

    def dcp_status(self) -> dict[str, dict[str, Any]]:
        """Per product: `window_s` (None when DCP is off), live dcp `connections`, and
        `down_s` (seconds since the last one died, None while any is alive)."""

        async def run() -> dict[str, dict[str, Any]]:
            now = self.dcp_clock.monotonic()
            out: dict[str, dict[str, Any]] = {}
            for product in d.PRODUCTS:
                since = self.dcp.down_since(product)
                out[product] = {
                    "window_s": self.dcp.windows.get(product),
                    "connections": self.dcp.connections(product),
                    "down_s": None if since is None else now - since,
                }
            return out

        return self._call(run())

    def check_dcp(self) -> list[DcpTrigger]:
        """Fire every DCP window that has run out now; returns the firings of this call.

        The bar driver also checks every `poll_interval_s`, so a firing may already have
        happened: `dcp_triggers` lists them all.
        """
        return self._call(self._check_dcp())

    def connection_count(
            self, kind: Literal["all", "public", "private", "trade"] = "all") -> int:
        """Open WebSocket connections of `kind` (a snapshot; any thread may ask)."""
        return sum(1 for c in list(self._conns.values()) if kind in ("all", c.kind))

    def inspect(self, fn: Callable[[Venue], T]) -> T:
        """Run `fn(venue)` on the server thread (for tests and tools)."""

        async def run() -> T:
            assert self._state is not None
            async with self._state:
                return fn(self.venue)

        return self._call(run())


def _shift(table: pa.Table, shift_ms: int) -> pa.Table:
    if "ts" not in table.column_names:
        return table
    shifted = np.asarray(table.column("ts").to_numpy(zero_copy_only=False),
                         dtype=np.int64) + shift_ms
    return table.set_column(table.column_names.index("ts"), "ts", pa.array(shifted))


def store_instrument(data_dir: Path, symbol: str) -> Instrument | None:
    """The instrument the data store keeps for `symbol` (None: a file, or none stored).

    Parameters
    ----------
    data_dir : Path
        A data-store directory (a file path, e.g. a .parquet of bars, gives None).
    symbol : str
        The symbol whose instrument is asked for.

    Returns
    -------
    Instrument or None
        The stored trading rules, or None when `data_dir` is not a directory or the store
        keeps no instrument for `symbol`.
    """
    path = Path(data_dir)
    if not path.is_dir():
        return None
    from trade.data import NoDataError, open_store

    try:
        return open_store(path).read_instrument(symbol)  # the one Instrument type
    except NoDataError:
        return None


def store_symbols(data_dir: Path) -> list[str]:
    """Every symbol the data store at `data_dir` holds bars of (sorted).

    Parameters
    ----------
    data_dir : Path
        A data-store directory.

    Returns
    -------
    list[str]
        The symbols, sorted; never empty.

    Raises
    ------
    InputError
        `data_dir` is not a directory, or the store in it holds no symbol.
    """
    path = Path(data_dir)
    if not path.is_dir():
        raise InputError(f"data directory {path} does not exist")
    from trade.data import open_store

    symbols = sorted(open_store(path).symbols())
    if not symbols:
        raise InputError(f"the data store at {path} holds no symbol")
    return symbols


def load_bars(
    data_dir: Path, symbol: str, *, start_ms: int | None = None, end_ms: int | None = None
) -> pa.Table:
    """1m bars from the data store (with its funding and open-interest series as columns,
    `trade.data.series`), or straight from a .parquet/.csv file path.

    Parameters
    ----------
    data_dir : Path
        A data-store directory, or a .parquet / .csv file of bars (read whole, with its
        own columns).
    symbol : str
        The symbol to read from a store (ignored for a file).
    start_ms, end_ms : int, optional
        Keep bars with start_ms <= ts < end_ms (a store only; a file is read whole).

    Returns
    -------
    pyarrow.Table
        The bars, with a `ts` column (bar open time, ms UTC).

    Raises
    ------
    InputError
        A file that is neither .parquet nor .csv or has no `ts` column, a missing
        directory, the data store unavailable, or no bars returned for `symbol`.
    """
    path = Path(data_dir)
    if path.is_file():
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif path.suffix == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        else:
            raise InputError(f"{path}: expected a data directory, a .parquet or a .csv file")
        if "ts" not in table.column_names:
            raise InputError(f"{path}: no 'ts' column (bar open time, ms UTC)")
        return table
    if not path.is_dir():
        raise InputError(f"data directory {path} does not exist")
    try:
        from trade.data import open_store
    except ImportError as exc:
        raise InputError(f"the data store (trade.data) is not available: {exc}") from exc
    from trade.data.series import with_series

    store = open_store(path)
    table = store.read_bars(symbol, start_ms, end_ms)
    if not isinstance(table, pa.Table):
        raise InputError(f"store at {path} returned no bars for {symbol}")
    # the stored funding rates settle as stored; stored open interest is served
    return with_series(table, store, symbol)
