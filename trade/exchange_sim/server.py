"""The Bybit V5-compatible exchange server: REST and WebSocket on one 127.0.0.1 port.

Threads: `start()` runs one asyncio event loop on one thread ("exchange-sim"). Every
request handler, WebSocket connection and the bar driver run on that loop, so the
`Venue` (orders, position, balance) has a single writer. The public methods of
`ExchangeSimServer` may be called from any thread; they hand work to the loop and
wait for it. `stop()` closes every socket and joins the thread.

Paths: REST under `/v5/...`; WebSocket at `/v5/public/linear` and `/v5/private` (the
paths pybit connects to). Time: the *market* clock (replayed bars, order and execution
times) is separate from the *server* clock (auth window checks, `/v5/market/time`,
the envelope `time`, rate limits), which is real time plus the fault-injected skew.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import pyarrow as pa
from aiohttp import WSMsgType, web

from trade.core import Clock, InputError, SimulatedClock, WallClock
from trade.exchange_sim import dcp as d
from trade.exchange_sim import protocol as p
from trade.exchange_sim.clock import ReplayClock
from trade.exchange_sim.dcp import DcpMonitor, DcpTrigger
from trade.exchange_sim.faults import FaultConfig, FaultInjector
from trade.exchange_sim.market import INTERVALS, MINUTE_MS, MarketData, bucket_end
from trade.exchange_sim.protocol import ApiError, envelope, num
from trade.exchange_sim.ratelimit import LimitStatus, RateLimiter
from trade.exchange_sim.venue import (
    EngineFactory,
    Instrument,
    Pushes,
    Venue,
    default_engine_factory,
)
from trade.sim.config import SimConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
PRIVATE_TOPICS = frozenset({"order", "execution", "position", "wallet"})
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def _loads_object(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(p.PARAM_ERROR, "params error: body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(p.PARAM_ERROR, "params error: body must be a JSON object")
    return data


def _int_param(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError(p.PARAM_ERROR, f"params error: {name} invalid ({raw!r})") from None


def _limit(params: dict[str, Any], default: int, maximum: int) -> int:
    value = _int_param(params, "limit", default)
    assert value is not None
    if not 1 <= value <= maximum:
        raise ApiError(p.PARAM_ERROR, f"params error: limit must be in [1, {maximum}]")
    return value


def _page(rows: list[dict[str, Any]], params: dict[str, Any], limit: int) -> dict[str, Any]:
    """Cursor pagination: the cursor is the offset of the next page (opaque to clients)."""
    cursor = params.get("cursor") or "0"
    try:
        offset = int(cursor)
    except ValueError:
        raise ApiError(p.PARAM_ERROR, f"params error: cursor invalid ({cursor!r})") from None
    page = rows[offset : offset + limit]
    nxt = str(offset + limit) if offset + limit < len(rows) else ""
    return {"category": "linear", "list": page, "nextPageCursor": nxt}


@dataclass(eq=False)
class _Conn:
    """One WebSocket connection and its outgoing queue (written by its writer task)."""

    cid: str
    kind: Literal["public", "private"]
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue[tuple[str, bool]] = field(default_factory=asyncio.Queue)
    topics: set[str] = field(default_factory=set)
    snapshot_sent: set[str] = field(default_factory=set)
    authed: bool = False
    pushes: int = 0
    held: str | None = None
    writer: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    handler: Callable[[dict[str, Any], str], Awaitable[Any]]
    private: bool


class ExchangeSimServer:
    """A local Bybit V5 exchange replaying 1m bars, filling orders with the backtest kernel.

    Parameters
    ----------
    bars: a pyarrow Table with ts/open/high/low/close[/volume/turnover/mark_price/
        funding_rate] 1m bars of `symbol` (or use `from_store`).
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
    bracket_grace_misses: after this many graces in a row ran out without a trading-stop,
        the client is taken not to send fill-relative brackets: no grace until its next
        trading-stop (so Plays without brackets do not wait 0.5 s on every entry).
    """

    def __init__(
        self,
        bars: pa.Table,
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
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise InputError(f"the exchange simulator binds loopback only, not {host!r}")
        self.symbol = symbol
        config = sim_config or SimConfig(symbol=symbol)
        if config.symbol != symbol:
            raise InputError(f"sim_config.symbol {config.symbol!r} != symbol {symbol!r}")
        self.market = MarketData(symbol, bars, funding_rate=config.funding_rate)
        self.instrument = instrument or Instrument(
            symbol=symbol,
            base_coin=symbol.removesuffix("USDT") or symbol,
            qty_step=config.qty_step or 0.001,
            min_qty=config.min_qty or 0.001,
            min_notional=config.min_notional or 5.0,
            tick_size=config.tick_size or 0.1,
        )
        self.venue = Venue(config, self.instrument, engine_factory)
        self.api_keys = dict(api_keys or {})
        if clock is None:
            clock = ReplayClock(self.market.first_ts if start_ms is None else start_ms, speed)
        self.clock: Clock = clock
        self.server_clock: Clock = server_clock or WallClock()
        self.faults = FaultInjector(faults)
        self.limiter = RateLimiter(rate_limits)
        self.host = host
        self._requested_port = port
        self.port = 0
        self.poll_interval_s = poll_interval_s
        self.ws_ack_delay_s = ws_ack_delay_s
        self.fed = 0  # bars fed to the engine so far
        self._conns: dict[str, _Conn] = {}
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
        symbol: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        **kwargs: Any,
    ) -> ExchangeSimServer:
        """Replay bars from the data store (`trade.data.open_store(dir).read_bars`)."""
        table = load_bars(data_dir, symbol, start_ms=start_ms, end_ms=end_ms)
        return cls(table, symbol=symbol, **kwargs)

    # ------------------------------------------------------------------ addresses
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def ws_public_url(self) -> str:
        return f"{self.ws_base}/v5/public/linear"

    @property
    def ws_private_url(self) -> str:
        return f"{self.ws_base}/v5/private"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ExchangeSimServer:
        if self._thread is not None:
            raise RuntimeError("the exchange simulator is already started")
        self._thread = threading.Thread(target=self._run, name="exchange-sim", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._start_error is not None:
            self._thread.join(timeout=10)
            self._thread = None
            raise RuntimeError(f"exchange simulator failed to start: {self._start_error}")
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
        except OSError as exc:
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
        app.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
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
        return self.clock.now_ms()

    def server_now_ms(self) -> int:
        return self.server_clock.now_ms() + self.faults.clock_skew_ms

    def configure_faults(self, config: FaultConfig) -> None:
        """Replace the fault settings (and reseed) at once; safe from any thread."""
        self.faults.configure(config)

    def close_connections(
        self,
        kind: Literal["all", "public", "private"] = "all",
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

    def connection_count(self, kind: Literal["all", "public", "private"] = "all") -> int:
        return sum(1 for c in list(self._conns.values()) if kind in ("all", c.kind))

    def inspect(self, fn: Callable[[Venue], T]) -> T:
        """Run `fn(venue)` on the server thread (for tests and tools)."""

        async def run() -> T:
            assert self._state is not None
            async with self._state:
                return fn(self.venue)

        return self._call(run())

    # --------------------------------------------------------------- bar driver
    async def _drive(self) -> None:
        while True:
            await self._sync()
            await self._check_dcp()
            await asyncio.sleep(self.poll_interval_s)

    async def _check_dcp(self) -> list[DcpTrigger]:
        assert self._state is not None
        fired: list[DcpTrigger] = []
        async with self._state:
            for product in self.dcp.due(self.dcp_clock.monotonic()):
                now = self.market_now_ms()
                ids: list[str] = []
                if product == "DERIVATIVES":  # the simulator's only product: USDT perpetuals
                    ids, pushes = self.venue.dcp_cancel(now)
                    self._publish_private(pushes, now)
                trigger = DcpTrigger(product, now, tuple(ids))
                log.info("DCP fired for %s: cancelled %d order(s)", product, len(ids))
                self.dcp_triggers.append(trigger)
                fired.append(trigger)
            if fired:
                await self._flush()
        return fired

    async def _sync(self) -> int:
        assert self._state is not None
        async with self._state:
            target = self.market.closed_count(self.clock.now_ms())
            count = 0
            while self.fed < target:
                await self._feed(self.fed)
                count += 1
            if count:
                await self._flush()
            return count

    async def _feed(self, i: int) -> None:
        """Feed bar `i` (the caller holds `_state`); a fill at its open earns a grace.

        On Bybit a client attaches fill-relative TP/SL with trading-stop milliseconds after
        its entry fills, so the entry's own bar already runs against them, as in the
        backtest (docs/fill_model.md rule 4). The simulator models that latency: it fills
        at the open (rule 1) and pushes the executions, then waits up to
        `bracket_grace_s` real seconds (ending as soon as a trading-stop has been applied)
        before the rest of the bar (rules 2-7). `_state` stays held throughout, so no other
        request sees the half-processed bar; only trading-stop is let through (see
        `_mutate`). Bars without a fill at the open cost nothing, and so do fills once
        `bracket_grace_misses` graces in a row ran out unused (until a trading-stop comes).
        """
        bar = self.market.bar(i)
        mark = self.market.mark_price(i)
        funding = math.nan
        if self.market.funding is not None:
            funding = float(self.market.funding[i])
        now = max(self.clock.now_ms(), bar[0] + MINUTE_MS)
        if self.bracket_grace_s <= 0:
            pushes = self.venue.on_bar(bar, mark, funding, now)
        else:
            pushes, opened = self.venue.on_bar_open(bar, now)
            if opened and self.grace_misses < self.bracket_grace_misses:
                self._publish_private(pushes, now)
                await self._flush()
                used = await self._bracket_grace()
                self.grace_misses = 0 if used else self.grace_misses + 1
                self.graces["granted"] += 1
                self.graces["used"] += used
                pushes = Pushes()
            rest = self.venue.on_bar_rest(bar, mark, funding, now)
            pushes.items.extend(rest.items)
        self.fed += 1
        self._publish_private(pushes, now)
        self._publish_public(i, now)

    async def _bracket_grace(self) -> bool:
        """Wait, `_state` held, until a trading-stop is applied (True) or the grace runs
        out (False)."""
        applied = asyncio.Event()
        self._grace = applied
        try:
            await asyncio.wait_for(applied.wait(), self.bracket_grace_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._grace = None

    # --------------------------------------------------------------- publishing
    def _publish_private(self, pushes: Pushes, now_ms: int) -> None:
        if not pushes.items:
            return
        for topic, rows in pushes.items:
            message = _DUMPS(
                {
                    "id": f"{next(self._msg_ids)}",
                    "topic": topic,
                    "creationTime": now_ms,
                    "data": rows,
                }
            )
            for conn in self._conns.values():
                if conn.kind == "private" and conn.authed and topic in conn.topics:
                    self._enqueue(conn, message, faulty=True)

    def _publish_public(self, i: int, now_ms: int) -> None:
        cache: dict[str, str] = {}
        for conn in list(self._conns.values()):
            if conn.kind != "public":
                continue
            for topic in sorted(conn.topics):
                if topic.startswith("tickers."):
                    self._send_ticker(conn, topic, i, now_ms)
                    continue
                if topic not in cache:
                    cache[topic] = self._public_message(topic, i, now_ms)
                self._enqueue(conn, cache[topic], faulty=True)

    def _public_message(self, topic: str, i: int, now_ms: int) -> str:
        kind, _, rest = topic.partition(".")
        ts, o, _h, _lo, c, v = self.market.bar(i)
        if kind == "kline":
            interval = rest.partition(".")[0]
            rows = self.market.klines(
                interval, visible=i + 1, start=None, end=None, limit=1
            )
            row = rows[0]
            end = bucket_end(row.start, interval)
            data = {
                "start": row.start,
                "end": end - 1,
                "interval": interval,
                "open": num(row.open),
                "close": num(row.close),
                "high": num(row.high),
                "low": num(row.low),
                "volume": num(row.volume),
                "turnover": num(row.turnover),
                "confirm": ts + MINUTE_MS >= end,
                "timestamp": now_ms,
            }
            return _DUMPS({"topic": topic, "data": [data], "ts": now_ms, "type": "snapshot"})
        # publicTrade: one synthetic trade per 1m bar, at its close, for its volume.
        trade = {
            "T": ts + MINUTE_MS - 1,
            "s": self.symbol,
            "S": "Buy" if c >= o else "Sell",
            "v": num(v),
            "p": num(c),
            "L": "PlusTick" if c >= o else "MinusTick",
            "i": f"sim-{ts}",
            "BT": False,
        }
        return _DUMPS({"topic": topic, "type": "snapshot", "ts": now_ms, "data": [trade]})

    def _send_ticker(self, conn: _Conn, topic: str, i: int, now_ms: int) -> None:
        data = self.market.ticker(i, now_ms, self.instrument.tick_size)
        kind = "delta" if topic in conn.snapshot_sent else "snapshot"
        conn.snapshot_sent.add(topic)
        message = {"topic": topic, "type": kind, "data": data, "cs": i + 1, "ts": now_ms}
        self._enqueue(conn, _DUMPS(message), faulty=kind == "delta")

    def _enqueue(self, conn: _Conn, message: str, *, faulty: bool) -> None:
        conn.queue.put_nowait((message, faulty))

    async def _flush(self) -> None:
        """Wait until every queued push has been handed to its socket."""
        for conn in list(self._conns.values()):
            if conn.writer is not None and not conn.writer.done():
                await conn.queue.join()

    async def _writer(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message, faulty = await conn.queue.get()
            try:
                if not faulty:
                    await self._send(conn, message)
                    continue
                await self._send_faulty(conn, message, loop)
            finally:
                conn.queue.task_done()

    async def _send_faulty(
        self, conn: _Conn, message: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        cfg = self.faults.config
        action = self.faults.ws_action()
        if action == "drop":
            return
        if action == "delay":
            loop.call_later(cfg.ws_delay_s, lambda: loop.create_task(self._send(conn, message)))
            return
        if action == "reorder" and conn.held is None:
            conn.held = message  # goes out right after the next message
            return
        await self._send(conn, message)
        if action == "duplicate":
            await self._send(conn, message)
        if conn.held is not None and conn.held is not message:
            held, conn.held = conn.held, None
            await self._send(conn, held)
        conn.pushes += 1
        if cfg.ws_close_after is not None and conn.pushes >= cfg.ws_close_after:
            await self._close_conn(conn, abort=True)

    async def _send(self, conn: _Conn, message: str) -> None:
        if conn.ws.closed:
            return
        try:
            await conn.ws.send_str(message)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("push to %s failed: %s", conn.cid, exc)

    async def _close_conn(self, conn: _Conn, *, abort: bool) -> None:
        if self._conns.pop(conn.cid, None) is not None and conn.kind == "private":
            self.dcp.closed(conn.cid, self.dcp_clock.monotonic())
        if abort:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=1001, message=b"server shutdown")
        if conn.writer is not None and conn.writer is not asyncio.current_task():
            conn.writer.cancel()
        # Unblock anyone flushing this connection.
        while not conn.queue.empty():
            conn.queue.get_nowait()
            conn.queue.task_done()

    # ---------------------------------------------------------------- WebSocket
    async def _ws_public(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, "public")

    async def _ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, "private")

    async def _ws(
        self, request: web.Request, kind: Literal["public", "private"]
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = _Conn(f"sim-{kind}-{next(self._conn_ids)}", kind, ws, request)
        conn.writer = asyncio.get_running_loop().create_task(self._writer(conn))
        self._conns[conn.cid] = conn
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_ws_message(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            if conn.cid in self._conns:
                await self._close_conn(conn, abort=False)
            if conn.writer is not None:
                conn.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.writer
        return ws

    async def _on_ws_message(self, conn: _Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            self._enqueue(conn, _DUMPS({"success": False, "ret_msg": "invalid json",
                                        "conn_id": conn.cid, "op": ""}), faulty=False)
            return
        if not isinstance(msg, dict):
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            if conn.kind == "public":
                reply: dict[str, Any] = {"success": True, "ret_msg": "pong",
                                         "conn_id": conn.cid, "op": "ping"}
                if req_id:
                    reply["req_id"] = req_id
            else:
                reply = {"req_id": req_id or "", "op": "pong",
                         "args": [str(self.server_now_ms())], "conn_id": conn.cid}
            self._enqueue(conn, _DUMPS(reply), faulty=False)
        elif op == "auth":
            self._enqueue(conn, _DUMPS(self._ws_auth(conn, msg.get("args"))), faulty=False)
        elif op in ("subscribe", "unsubscribe"):
            self._ws_subscribe(conn, op, req_id, msg.get("args"))
        else:
            reply = {"success": False, "ret_msg": f"error:unknown op {op!r}",
                     "conn_id": conn.cid, "op": op}
            self._enqueue(conn, _DUMPS(reply), faulty=False)

    def _ws_auth(self, conn: _Conn, args: object) -> dict[str, Any]:
        def fail(why: str) -> dict[str, Any]:
            return {"success": False, "ret_msg": why, "op": "auth", "conn_id": conn.cid}

        if conn.kind != "private":
            return fail("auth is only available on the private stream")
        if not (isinstance(args, list) and len(args) == 3):
            return fail("Params Error")
        api_key, expires, signature = args
        secret = self.api_keys.get(str(api_key))
        if secret is None:
            return fail("Invalid apikey")
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return fail("Params Error")
        if expires_ms <= self.server_now_ms():
            return fail("Params Error: auth expired")  # the signature must not be expired
        if not p.signatures_match(p.ws_auth_signature(secret, expires_ms), str(signature)):
            return fail("Invalid sign")
        conn.authed = True
        return {"success": True, "ret_msg": "", "op": "auth", "conn_id": conn.cid}

    def _valid_topic(self, conn: _Conn, topic: str) -> bool:
        if conn.kind == "private":
            return topic in PRIVATE_TOPICS or self._dcp_products(topic) is not None
        m = re.fullmatch(r"kline\.([0-9A-Z]+)\.([A-Z0-9]+)", topic)
        if m:
            return m.group(1) in INTERVALS and m.group(2) == self.symbol
        m = re.fullmatch(r"(tickers|publicTrade)\.([A-Z0-9]+)", topic)
        return bool(m) and m is not None and m.group(2) == self.symbol

    def _dcp_products(self, topic: str) -> tuple[str, ...] | None:
        if topic == d.LEGACY_TOPIC and self.dcp_legacy_topic:
            return d.PRODUCTS  # the deprecated topic armed DCP for every product
        return d.TOPICS.get(topic)

    def _ws_subscribe(self, conn: _Conn, op: str, req_id: object, args: object) -> None:
        topics = [str(a) for a in args] if isinstance(args, list) else []
        bad = [t for t in topics if not self._valid_topic(conn, t)]
        ok = bool(topics) and not bad
        ret_msg = ""
        if conn.kind == "private" and not conn.authed:
            ok, ret_msg = False, "Request not authorized"
        elif not ok:
            ret_msg = f"error:handler not found,topic:{','.join(bad) or '(none)'}"
        reply: dict[str, Any] = {"success": ok, "ret_msg": ret_msg, "conn_id": conn.cid,
                                 "op": op}
        if req_id:
            reply["req_id"] = req_id
        message = _DUMPS(reply)
        loop = asyncio.get_running_loop()

        def activate() -> None:
            # Like Bybit's network latency, the ack is not instant: pybit registers a
            # topic's callback only after sending the subscribe, so it must not race.
            if conn.cid not in self._conns:
                return
            self._enqueue(conn, message, faulty=False)
            if not ok:
                return
            dcp_products = tuple(prod for t in topics for prod in self._dcp_products(t) or ())
            if op == "unsubscribe":
                conn.topics.difference_update(topics)
                conn.snapshot_sent.difference_update(topics)
                self.dcp.unsubscribed(conn.cid, dcp_products)
                return
            conn.topics.update(topics)
            if conn.kind == "private":
                self.dcp.subscribed(conn.cid, dcp_products)
            if conn.kind == "public" and self.fed > 0:
                for topic in topics:
                    if topic.startswith("tickers."):
                        self._send_ticker(conn, topic, self.fed - 1, self.market_now_ms())

        if self.ws_ack_delay_s > 0:
            loop.call_later(self.ws_ack_delay_s, activate)
        else:
            activate()

    # --------------------------------------------------------------------- REST
    def _build_routes(self) -> dict[str, _Route]:
        r = _Route
        return {
            "/v5/market/time": r("GET", self._market_time, False),
            "/v5/market/kline": r("GET", self._kline, False),
            "/v5/market/mark-price-kline": r("GET", self._mark_kline, False),
            "/v5/market/tickers": r("GET", self._tickers, False),
            "/v5/market/instruments-info": r("GET", self._instruments, False),
            "/v5/market/funding/history": r("GET", self._funding, False),
            "/v5/market/orderbook": r("GET", self._orderbook, False),
            "/v5/order/create": r("POST", self._mutate("create"), True),
            "/v5/order/amend": r("POST", self._mutate("amend"), True),
            "/v5/order/cancel": r("POST", self._mutate("cancel"), True),
            "/v5/order/cancel-all": r("POST", self._mutate("cancel_all"), True),
            "/v5/order/disconnected-cancel-all": r("POST", self._set_dcp, True),
            "/v5/account/query-dcp-info": r("GET", self._dcp_info, True),
            "/v5/order/realtime": r("GET", self._realtime, True),
            "/v5/order/history": r("GET", self._history, True),
            "/v5/position/list": r("GET", self._positions, True),
            "/v5/position/set-leverage": r("POST", self._mutate("set_leverage"), True),
            "/v5/position/trading-stop": r("POST", self._mutate("trading_stop"), True),
            "/v5/position/switch-isolated": r("POST", self._switch_isolated, True),
            "/v5/account/wallet-balance": r("GET", self._wallet, True),
            "/v5/execution/list": r("GET", self._executions, True),
        }

    def _json(
        self, payload: dict[str, Any], limit: LimitStatus | None = None, status: int = 200
    ) -> web.Response:
        headers = limit.headers() if limit is not None else {}
        return web.Response(
            status=status, text=_DUMPS(payload), content_type="application/json", headers=headers
        )

    def _error(self, err: ApiError, limit: LimitStatus | None = None) -> web.Response:
        return self._json(
            envelope({}, self.server_now_ms(), err.ret_code, err.message), limit
        )

    async def _http(self, request: web.Request) -> web.StreamResponse:
        self.requests_seen += 1
        path = request.path
        route = self._routes.get(path)
        if route is None or route.method != request.method:
            return self._json(
                envelope({}, self.server_now_ms(), p.ROUTE_NOT_FOUND, "route not found"),
                status=404,
            )
        fault = self.faults.rest_fault(path)
        if fault == "http_error":
            status = self.faults.config.rest_error_status
            return web.Response(status=status, text=f"<html><body>{status}</body></html>",
                                content_type="text/html")
        if fault == "timeout":
            return await self._hang(request)
        query = request.raw_path.partition("?")[2]
        body = await request.read()
        client = request.remote or "?"
        try:
            if route.private:
                client = self._authenticate(request, query, body)
        except ApiError as err:
            return self._error(err)
        now = self.server_now_ms()
        if fault == "rate_limit":
            limit = self.limiter.limit_for(path)
            return self._error(ApiError(p.RATE_LIMIT), LimitStatus(False, limit, 0, now + 1000))
        quota = self.limiter.check(client, path, now)
        if not quota.allowed:
            return self._error(ApiError(p.RATE_LIMIT), quota)
        try:
            if request.method == "GET":
                params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
            else:
                params = _loads_object(body)
            result = await route.handler(params, path)
        except ApiError as err:
            return self._error(err, quota)
        return self._json(envelope(result, self.server_now_ms()), quota)

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        """Timeout fault: hold the request, then drop the connection without an answer."""
        task = asyncio.current_task()
        assert task is not None
        self._hanging.add(task)
        try:
            await asyncio.sleep(self.faults.config.rest_timeout_s)
        finally:
            self._hanging.discard(task)
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone

    def _authenticate(self, request: web.Request, query: str, body: bytes) -> str:
        headers = request.headers
        api_key = headers.get("X-BAPI-API-KEY", "")
        secret = self.api_keys.get(api_key)
        if not api_key or secret is None:
            raise ApiError(p.INVALID_API_KEY)
        ts_text = headers.get("X-BAPI-TIMESTAMP", "")
        recv_text = headers.get("X-BAPI-RECV-WINDOW", "5000") or "5000"
        try:
            ts = int(ts_text)
            recv_window = int(recv_text)
        except ValueError:
            raise ApiError(p.PARAM_ERROR, "params error: X-BAPI-TIMESTAMP/RECV-WINDOW") from None
        now = self.server_now_ms()
        # Bybit's window: server_time - recv_window <= timestamp < server_time + 1000.
        if not (now - recv_window <= ts < now + 1000):
            raise ApiError(
                p.TIMESTAMP_ERROR,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]",
            )
        payload = query.encode("utf-8") if request.method == "GET" else body
        signed = p.rest_sign_payload(ts_text, api_key, recv_text, payload)
        expected = p.hmac_sha256(secret, signed)
        if not p.signatures_match(expected, headers.get("X-BAPI-SIGN", "")):
            raise ApiError(p.SIGN_ERROR, p.MESSAGES[p.SIGN_ERROR].format(signed.decode(
                "utf-8", "replace")))
        return api_key

    # ------------------------------------------------------------ market routes
    def _check_market(self, params: dict[str, Any]) -> None:
        category = params.get("category", "linear")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol != self.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")

    async def _market_time(self, params: dict[str, Any], path: str) -> Any:
        now = self.server_now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _visible(self) -> int:
        return self.fed

    async def _kline(self, params: dict[str, Any], path: str) -> Any:
        return self._kline_rows(params, mark=False)

    async def _mark_kline(self, params: dict[str, Any], path: str) -> Any:
        return self._kline_rows(params, mark=True)

    def _kline_rows(self, params: dict[str, Any], *, mark: bool) -> dict[str, Any]:
        self._check_market(params)
        interval = str(params.get("interval", ""))
        if interval not in INTERVALS:
            raise ApiError(p.PARAM_ERROR, f"params error: interval invalid ({interval!r})")
        rows = self.market.klines(
            interval,
            visible=self._visible(),
            start=_int_param(params, "start"),
            end=_int_param(params, "end"),
            limit=_limit(params, 200, 1000),
            mark=mark,
        )
        if mark:
            out = [[str(r.start), num(r.open), num(r.high), num(r.low), num(r.close)] for r in rows]
        else:
            out = [
                [str(r.start), num(r.open), num(r.high), num(r.low), num(r.close), num(r.volume),
                 num(r.turnover)]
                for r in rows
            ]
        return {"category": "linear", "symbol": self.symbol, "list": out}

    async def _tickers(self, params: dict[str, Any], path: str) -> Any:
        category = params.get("category", "linear")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is not None and symbol != self.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")
        rows = []
        if self.fed > 0:
            rows.append(self.market.ticker(self.fed - 1, self.market_now_ms(),
                                           self.instrument.tick_size))
        return {"category": "linear", "list": rows}

    async def _instruments(self, params: dict[str, Any], path: str) -> Any:
        category = params.get("category", "linear")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        rows = [self.instrument.info()] if symbol in (None, self.symbol) else []
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    async def _funding(self, params: dict[str, Any], path: str) -> Any:
        self._check_market(params)
        start = _int_param(params, "startTime")
        end = _int_param(params, "endTime")
        if start is not None and end is None:
            raise ApiError(p.PARAM_ERROR, "params error: endTime is required with startTime")
        rows = self.market.funding_history(
            now_ms=self.market_now_ms(), start=start, end=end, limit=_limit(params, 200, 200)
        )
        return {
            "category": "linear",
            "list": [
                {"symbol": self.symbol, "fundingRate": num(rate) if rate else "0",
                 "fundingRateTimestamp": str(t)}
                for t, rate in rows
            ],
        }

    async def _orderbook(self, params: dict[str, Any], path: str) -> Any:
        self._check_market(params)
        depth = _limit(params, 25, 500)
        now = self.market_now_ms()
        if self.fed == 0:
            return {"s": self.symbol, "b": [], "a": [], "ts": now, "u": 0, "seq": 0, "cts": now}
        i = self.fed - 1
        close = float(self.market.close[i])
        tick = self.instrument.tick_size
        step = self.instrument.qty_step
        base = max(float(self.market.volume[i]) / (2 * depth), self.instrument.min_qty)
        size = round(round(base / step) * step, 10) if step > 0 else base
        mid = round(close / tick) * tick
        bids = [[num(round(mid - k * tick, 10)), num(size)] for k in range(1, depth + 1)]
        asks = [[num(round(mid + k * tick, 10)), num(size)] for k in range(1, depth + 1)]
        return {"s": self.symbol, "b": bids, "a": asks, "ts": now, "u": self.fed,
                "seq": self.fed, "cts": now}

    # ----------------------------------------------------------- account routes
    def _mutate(self, name: str) -> Callable[[dict[str, Any], str], Awaitable[Any]]:
        async def apply(params: dict[str, Any]) -> Any:
            method = getattr(self.venue, name)
            result, pushes = method(params, self.market_now_ms())
            self._publish_private(pushes, self.market_now_ms())
            await self._flush()  # the stream hears of a change before REST answers
            return result

        async def handler(params: dict[str, Any], path: str) -> Any:
            assert self._state is not None
            grace = self._grace
            if name == "trading_stop" and grace is not None and not grace.is_set():
                # a bracket grace holds `_state` for this very request (see `_feed`)
                try:
                    return await apply(params)
                finally:
                    grace.set()
            async with self._state:
                if name == "trading_stop":
                    self.grace_misses = 0  # this client does send trading-stops
                return await apply(params)

        return handler

    async def _set_dcp(self, params: dict[str, Any], path: str) -> Any:
        product = params.get("product", d.DEFAULT_PRODUCT)
        if product not in d.PRODUCTS:
            raise ApiError(p.PARAM_ERROR, f"params error: product invalid ({product!r})")
        raw = params.get("timeWindow")
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ApiError(p.PARAM_ERROR, f"params error: timeWindow invalid ({raw!r})")
        window = _int_param(params, "timeWindow")
        if window is None:
            raise ApiError(p.PARAM_ERROR, "params error: timeWindow is required")
        assert self._state is not None
        async with self._state:
            try:
                self.dcp.configure(str(product), window)
            except ValueError as exc:
                raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        return {}

    async def _dcp_info(self, params: dict[str, Any], path: str) -> Any:
        return {"dcpInfos": self.dcp.info()}

    async def _switch_isolated(self, params: dict[str, Any], path: str) -> Any:
        return self.venue.switch_isolated(params)

    def _check_account(self, params: dict[str, Any]) -> None:
        category = params.get("category")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is not None and symbol != self.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")

    async def _realtime(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            records = self._select_orders(params)
            open_only = str(params.get("openOnly", "0"))
            if not (params.get("orderId") or params.get("orderLinkId")) and open_only != "2":
                records = [r for r in records if not r.order.status.is_terminal]
            rows = [self.venue.order_row(r) for r in records]
        return _page(rows, params, _limit(params, 20, 50))

    async def _history(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            records = self._select_orders(params)
            status = params.get("orderStatus")
            if status:
                records = [r for r in records if r.order.status.bybit == status]
            rows = [self.venue.order_row(r) for r in records]
        return _page(rows, params, _limit(params, 20, 50))

    def _select_orders(self, params: dict[str, Any]) -> list[Any]:
        records = sorted(
            self.venue.orders.values(), key=lambda r: (r.created_ms, r.order.order_id),
            reverse=True,
        )
        oid = params.get("orderId")
        link = params.get("orderLinkId")
        if oid:
            records = [r for r in records if r.order.order_id == oid]
        if link:
            records = [r for r in records if r.order.order_link_id == link]
        return records

    async def _positions(self, params: dict[str, Any], path: str) -> Any:
        category = params.get("category")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is None and params.get("settleCoin") is None:
            raise ApiError(p.PARAM_ERROR, "params error: symbol or settleCoin is required")
        if symbol is not None and symbol != self.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")
        assert self._state is not None
        async with self._state:
            row = self.venue.position_row(self.venue.engine.position())
        return {"category": "linear", "list": [row], "nextPageCursor": ""}

    async def _wallet(self, params: dict[str, Any], path: str) -> Any:
        account = params.get("accountType")
        if account not in ("UNIFIED", "CONTRACT"):
            raise ApiError(p.PARAM_ERROR, f"params error: accountType invalid ({account!r})")
        assert self._state is not None
        async with self._state:
            row = self.venue.wallet_row()
        row["accountType"] = account
        return {"list": [row]}

    async def _executions(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            rows: Iterable[dict[str, Any]] = reversed(self.venue.executions)
            for key in ("orderId", "orderLinkId", "execType"):
                want = params.get(key)
                if want:
                    rows = [r for r in rows if r[key] == want]
            start = _int_param(params, "startTime")
            end = _int_param(params, "endTime")
            out = [
                r for r in rows
                if (start is None or int(r["execTime"]) >= start)
                and (end is None or int(r["execTime"]) <= end)
            ]
        page = _page(out, params, _limit(params, 50, 100))
        return page


def load_bars(
    data_dir: Path, symbol: str, *, start_ms: int | None = None, end_ms: int | None = None
) -> pa.Table:
    """1m bars from the data store, or straight from a .parquet/.csv file path."""
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
    table = open_store(path).read_bars(symbol, start_ms, end_ms)
    if not isinstance(table, pa.Table):
        raise InputError(f"store at {path} returned no bars for {symbol}")
    return table
