"""LiveSession: the engine thread's world (book, executor, risk, streams) and LiveAdapter.

Threading model (docs/architecture.md, "Live stack"): pybit's WebSocket threads, the REST workers and
the stream supervisors only `post()` typed events onto one queue. The thread that calls
`open()` becomes the **engine thread**: it alone calls `pump`, `process`, `barrier`,
`close` and every LiveAdapter method, and it alone writes orders, positions and balances
(through `AccountBook`). `post()` may be called from any thread.

After every private-stream reconnect (and at start) the session reconciles orders,
executions, position and balance over REST; `barrier()` makes the engine wait for that
(and for every in-flight REST job) before it decides on a bar, so trading resumes only on
reconciled state. `barrier()` also reconciles when anything could have changed on the
exchange since the last bar (open orders, an open position, or jobs sent), because the
public and private streams are not ordered with respect to each other.

Brackets Bybit lacks or spells differently: fill-relative brackets go out with
trading-stop once the entry filled (a trailing activation as `activePrice`, see
trade.live.executor); break-even, which Bybit does not have, is applied by the session at
each 1m close (`on_bar_close`, trade.live.breakeven), the kernel's rule 5.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from trade.core import (
    AdapterEvent,
    Balance,
    BalanceUpdate,
    Clock,
    FillEvent,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    WallClock,
)
from trade.live.book import AccountBook, OrderHandle
from trade.live.breakeven import BreakEvenTracker
from trade.live.client import BybitRest
from trade.live.errors import BybitError, RiskRejected
from trade.live.events import (
    Call,
    ConnState,
    Failure,
    JobDone,
    KlinePush,
    LiveEvent,
    OrderAck,
    OrderFailed,
    PrivatePush,
    Snapshot,
    Stop,
    StreamState,
)
from trade.live.executor import InstrumentRules, OrderExecutor, trading_stop_levels
from trade.live.journal import Journal, fill_fields, order_fields, order_final_fields
from trade.live.risk import RiskManager
from trade.live.secrets import Credentials
from trade.live.ws import StreamManager

log = logging.getLogger(__name__)
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")


class SessionError(BybitError):
    """The session could not reach a consistent state (e.g. reconciliation timed out)."""


class LiveSession:
    """See the module docstring."""

    def __init__(
        self,
        rest: BybitRest,
        symbol: str,
        *,
        credentials: Credentials | None,
        clock: Clock | None = None,
        ws_base: str | None = None,
        demo: bool = False,
        live: bool = False,
        risk: RiskManager | None = None,
        journal: Journal | None = None,
        tag: str = "t",
        public_topics: tuple[str, ...] = (),
        stream_options: dict[str, Any] | None = None,
        dcp_window_s: int = 10,
        sync_timeout_s: float = 15.0,
    ) -> None:
        self.rest = rest
        self.symbol = symbol
        self.clock: Clock = clock or WallClock()
        self.credentials = credentials
        self.live = live
        self.queue: queue.Queue[LiveEvent] = queue.Queue()
        self.book = AccountBook()
        self.risk = risk or RiskManager()
        self.journal = journal or Journal(None, self.clock)
        self.rules = InstrumentRules(symbol)
        self.breakeven = BreakEvenTracker(symbol)
        self.executor: OrderExecutor | None = None
        self.tag = tag
        self.dcp_window_s = dcp_window_s
        self.dcp_enabled = False
        self.sync_timeout_s = sync_timeout_s
        opts = dict(stream_options or {})
        opts.setdefault("timestamp_ms", rest.timesync.timestamp_ms)
        self.streams: dict[str, StreamManager] = {}
        if public_topics:
            self.streams["public"] = StreamManager("public", channel="linear",
                                                   topics=public_topics, sink=self.post,
                                                   ws_base=ws_base, **opts)
        self._ws_base = ws_base
        self._demo = demo
        self._opts = opts
        self.on_kline: Callable[[KlinePush], None] | None = None
        self.on_stream: Callable[[StreamState], None] | None = None
        self.last_price = 0.0
        self.last_exec_ms: int | None = None
        self.needs_reconcile = True
        self.reconciles = 0
        self.failures: list[str] = []
        self._engine_thread: threading.Thread | None = None
        self._closed = False
        self._activity = False  # private pushes or REST jobs since the last reconciliation
        self._deciding = False  # a closed bar is being handled (on_kline is running)
        self._held_klines: deque[KlinePush] = deque()  # bars that closed meanwhile
        self.stopping = threading.Event()  # set from any thread: waits give up at once

    # ------------------------------------------------------------ any thread
    def post(self, event: LiveEvent) -> None:
        self.queue.put(event)

    def call(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run `fn` on the engine thread and return its result (tests, tools)."""
        fut: Future[Any] = Future()
        self.post(Call(fn, fut))
        return fut.result(timeout_s)

    # ------------------------------------------------------------ engine thread
    def open(self, *, wait_streams_s: float = 15.0) -> None:
        """Sync time, read the instrument, start streams and reconcile (engine thread)."""
        self._engine_thread = threading.current_thread()
        self.rest.sync_time()
        row = self.rest.instrument(self.symbol)
        if row is not None:
            self.rules = InstrumentRules.from_row(row)
        self.breakeven.tick = self.rules.tick_size
        if self.credentials is not None:
            self.executor = OrderExecutor(self.rest, self.book, self.post, self.clock,
                                          self.rules, tag=self.tag)
            self.executor.bind_engine_thread()
            topics = list(PRIVATE_TOPICS)
            if self.live:
                self.dcp_enabled = self._enable_dcp()
                if self.dcp_enabled:
                    topics.append("dcp.future")  # derivatives DCP (plain "dcp" is deprecated)
            self.streams["private"] = StreamManager(
                "private", channel="private", topics=topics, sink=self.post,
                credentials=self.credentials, ws_base=self._ws_base, demo=self._demo,
                **self._opts)
        for stream in self.streams.values():
            stream.start()
        for stream in self.streams.values():
            if not stream.wait_for_state(ConnState.SUBSCRIBED, wait_streams_s):
                raise SessionError(f"stream {stream.name} did not subscribe within "
                                   f"{wait_streams_s:g} s: {stream.failures[-3:]}")
        self.journal.write("start", symbol=self.symbol, dcp=self.dcp_enabled)
        if self.executor is not None:
            self.barrier(force=True)

    def _enable_dcp(self) -> bool:
        try:
            self.rest.set_dcp(self.dcp_window_s)
        except BybitError as exc:
            log.warning("disconnect-cancel-all (DCP) could not be enabled: %s", exc)
            self.journal.write("error", where="dcp", message=str(exc))
            return False
        log.info("disconnect-cancel-all enabled (%d s window)", self.dcp_window_s)
        return True

    def pump(self, timeout_s: float) -> int:
        """Process queued events for up to `timeout_s` (returns after the first batch)."""
        n = 0
        try:
            event = self.queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return 0
        while True:
            self.process(event)
            n += 1
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                return n

    def pump_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = self.clock.monotonic() + timeout_s
        wall = WallClock()
        wall_deadline = wall.monotonic() + timeout_s
        while not done():
            if self.stopping.is_set():
                return False
            if self.clock.monotonic() > deadline and wall.monotonic() > wall_deadline:
                return False
            self.pump(0.05)
        return True

    def dirty(self) -> bool:
        if self.executor is None:
            return False
        pos = self.book.position(self.symbol)
        return bool(self.needs_reconcile or self.executor.inflight or pos.side != 0
                    or self.book.open_orders(self.symbol) or self._activity)

    def barrier(self, *, force: bool = False) -> None:
        """Wait for in-flight REST jobs, then reconcile if anything may have changed."""
        ex = self.executor
        if ex is None:
            return
        if not self.pump_until(lambda: not ex.inflight, self.sync_timeout_s):
            if self.stopping.is_set():
                return
            raise SessionError("REST jobs did not finish within the sync timeout")
        if not (force or self.dirty()):
            return
        since = None if self.last_exec_ms is None else self.last_exec_ms - 60_000
        token = ex.reconcile(self.symbol, since_ms=since, reason="barrier")
        if not self.pump_until(lambda: token not in ex.inflight, self.sync_timeout_s):
            if self.stopping.is_set():
                return
            raise SessionError("reconciliation did not finish within the sync timeout")
        self.pump_until(lambda: not ex.inflight, self.sync_timeout_s)

    def _closed_bar(self, event: KlinePush) -> None:
        """Hand a closed bar to `on_kline`, one bar at a time, in order."""
        if self._deciding:
            # a bar that closes while the previous one is still being decided (its barrier
            # pumps events) waits its turn instead of being decided inside it
            self._held_klines.append(event)
            return
        assert self.on_kline is not None
        self._deciding = True
        try:
            self.on_kline(event)
            while self._held_klines:
                self.on_kline(self._held_klines.popleft())
        finally:
            self._deciding = False

    def process(self, event: LiveEvent) -> None:
        """Apply one event (engine thread only)."""
        if isinstance(event, PrivatePush):
            self._activity = True
            self._private(event)
        elif isinstance(event, KlinePush):
            if event.confirm and self.on_kline is not None:
                self._closed_bar(event)
        elif isinstance(event, OrderAck):
            self.book.ack(event.key, event.order_id)
            self.journal.write("order_ack", link=event.key, order_id=event.order_id,
                               already_placed=event.already_placed)
        elif isinstance(event, OrderFailed):
            self._failed(event)
        elif isinstance(event, Snapshot):
            self._snapshot(event)
        elif isinstance(event, JobDone):
            self._activity = True
            if self.executor is not None:
                self.executor.job_done(event.token)
        elif isinstance(event, StreamState):
            self._stream_state(event)
        elif isinstance(event, Failure):
            if self.stopping.is_set():
                # a REST job cut short by the stop itself: expected, not a failure
                self.journal.write("abandoned", where=event.where, message=event.message)
            else:
                self.failures.append(f"{event.where}: {event.message}")
                self.journal.write("error", where=event.where, message=event.message)
        elif isinstance(event, Call):
            try:
                result = event.fn()
            except Exception as exc:  # noqa: BLE001 - handed to the caller's future
                event.future.set_exception(exc)
            else:
                event.future.set_result(result)
        elif isinstance(event, Stop):
            pass
        self._after()

    def _after(self) -> None:
        book = self.book
        entries, book.entries_filled = book.entries_filled, []
        for order in entries:
            ts = book.first_fill_ts(order.order_id)
            self.breakeven.on_entry(order, order.updated_ts if ts is None else ts)
        due, book.brackets_due = book.brackets_due, []
        for order in due:
            if self.executor is not None:
                levels = self.executor.apply_brackets(order)
                if levels:
                    self.journal.write("brackets", link=order.order_id,
                                       avg_price=order.avg_fill_price, **levels)

    def on_bar_close(self, ts: int, high: float, low: float, close: float) -> None:
        """Break-even at the close of the 1m bar `ts` (engine thread, after `barrier()`,
        before the engine decides): see trade.live.breakeven. The new stop goes out with
        trading-stop, ahead of any order the engine sends on this bar, so it is effective
        from the next bar as in the kernel. When the bar already closed beyond the level
        (Bybit refuses a stop on the wrong side of the price) the position is closed with a
        reduce-only market order, which fills where the kernel's gapped stop would: at the
        next open, with slippage."""
        ex = self.executor
        if ex is None:
            return
        pos = self.book.position(self.symbol)
        action = self.breakeven.on_bar(ts, high, low, close, pos)
        if action is None:
            return
        if action.through:
            side = Side.SELL if pos.side > 0 else Side.BUY
            handle = ex.submit(OrderRequest(self.symbol, side, pos.size, reduce_only=True))
            self.journal.write("break_even", bar=ts, level=action.level, action="close",
                               link=handle.key, entry=pos.entry_price)
        else:
            ex.trading_stop(self.symbol, {"stopLoss": action.level})
            self.journal.write("break_even", bar=ts, level=action.level, action="stop",
                               entry=pos.entry_price)

    def _private(self, ev: PrivatePush) -> None:
        book = self.book
        for row in ev.rows:
            if ev.topic == "order":
                book.apply_order_row(row)
            elif ev.topic == "execution":
                self._fill_row(row)
            elif ev.topic == "position":
                if str(row.get("symbol")) == self.symbol:
                    book.apply_position_row(row, ev.creation_ms)
            elif ev.topic == "wallet":
                book.apply_wallet_row(row, ev.creation_ms)
            elif ev.topic.startswith("dcp"):
                log.info("dcp status: %s", row)

    def _fill_row(self, row: dict[str, Any]) -> None:
        fill = self.book.apply_execution_row(row)
        if fill is not None:
            self.last_exec_ms = max(self.last_exec_ms or 0, fill.ts)
            self.journal.write("fill", **fill_fields(fill))

    def _failed(self, ev: OrderFailed) -> None:
        self.journal.write("error", where=ev.action, link=ev.key, message=str(ev.error),
                           unknown=ev.unknown)
        if ev.action != "create":
            self.needs_reconcile = True
            return
        if ev.unknown:
            self.needs_reconcile = True  # the order may exist: reconciliation decides
            return
        self.book.reject(ev.key, str(ev.error), self.clock.now_ms())

    def _snapshot(self, snap: Snapshot) -> None:
        book = self.book
        for row in (snap.open_orders or ()):
            book.apply_order_row(row)
        for row in snap.looked_up:
            book.apply_order_row(row)
        for row in snap.executions:
            self._fill_row(row)
        for key in snap.missing_keys:
            order = book.orders.get(key)
            if order is not None and order.is_open:
                ex = self.executor
                if order.status.name == "CREATED" and ex is not None and ex.inflight and \
                        snap.reason == "lookup":
                    continue  # its create may still be on its way
                book.reject(key, "not found on the exchange", self.clock.now_ms())
        for row in (snap.positions or ()):
            if str(row.get("symbol")) == self.symbol:
                book.apply_position_row(row)
        if snap.wallet is not None:
            book.apply_wallet_row(snap.wallet, self.clock.now_ms())
        if snap.reason == "barrier":
            self.needs_reconcile = False
            self._activity = False
            self.reconciles += 1

    def _stream_state(self, ev: StreamState) -> None:
        self.journal.write("stream", stream=ev.stream, state=ev.state.value,
                           reconnected=ev.reconnected)
        if ev.stream == "private" and ev.state in (ConnState.RECONNECTING, ConnState.STALE):
            self.needs_reconcile = True
        if ev.reconnected and ev.stream == "private":
            self.needs_reconcile = True  # pushes may have been missed while away
        if self.on_stream is not None:
            self.on_stream(ev)

    def close(self) -> None:
        """Stop streams and REST workers (protective orders stay on the exchange)."""
        if self._closed:
            return
        self._closed = True
        for stream in self.streams.values():
            stream.begin_stop()  # close every socket at once, then join
        for stream in self.streams.values():
            stream.stop()
        if self.executor is not None:
            self.executor.shutdown()
        else:
            self.rest.stop.set()
        while True:  # apply what the workers posted before they stopped
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(event, Call | KlinePush):
                self.process(event)
        self.journal.write("stop")


class LiveAdapter:
    """`trade.core.ExchangeAdapter` over a LiveSession. Engine thread only.

    `submit` runs the pre-trade risk checks, then returns at once with the order in state
    Created (or Rejected, for a risk refusal); the REST create runs on a worker and what the
    exchange does arrives as events, collected by `drain_events()`."""

    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self.handles: dict[str, OrderHandle] = {}

    @property
    def _ex(self) -> OrderExecutor:
        ex = self.session.executor
        if ex is None:
            raise RuntimeError("the session has no credentials: it cannot trade")
        return ex

    def submit(self, request: OrderRequest) -> Order:
        s = self.session
        now = s.clock.now_ms()
        pos = s.book.position(request.symbol)
        try:
            s.risk.check(request, last_price=s.last_price, position=pos,
                         equity=s.book.balance.equity, now_ms=now)
        except RiskRejected as exc:
            ex = self._ex
            link = request.order_link_id or ex.link_id()
            from dataclasses import replace

            handle = OrderHandle(link, replace(request, order_link_id=link))
            s.book.add_pending(handle, now)
            order = s.book.reject(link, f"risk: {exc}", now)
            s.journal.write("order_refused", link=link, reason=str(exc),
                            side=request.side.bybit, qty=request.qty)
            assert order is not None
            return order
        handle = self._ex.submit(request)
        self.handles[handle.key] = handle
        r = handle.request
        s.journal.write("order", **order_fields(handle.key, r))
        return s.book.orders[handle.key]

    def handle(self, key: str) -> OrderHandle | None:
        return self.handles.get(key)

    def cancel(self, symbol: str, order_id: str) -> Order:
        key = self.session.book.key_of(order_id)
        self._ex.cancel(key)
        self.session.journal.write("cancel", link=key)
        return self.session.book.orders[key]

    def amend(self, symbol: str, order_id: str, *, qty: float | None = None,
              price: float | None = None, trigger_price: float | None = None) -> Order:
        key = self.session.book.key_of(order_id)
        self._ex.amend(key, qty=qty, price=price, trigger_price=trigger_price)
        self.session.journal.write("amend", link=key, qty=qty, price=price,
                                   trigger=trigger_price)
        return self.session.book.orders[key]

    def set_trading_stop(self, symbol: str, *, take_profit: float | None = None,
                         stop_loss: float | None = None,
                         trailing_distance: float | None = None,
                         trailing_active_price: float | None = None) -> None:
        levels = trading_stop_levels(take_profit, stop_loss, trailing_distance,
                                     trailing_active_price)
        if levels:
            self._ex.trading_stop(symbol, levels)
            self.session.journal.write("trading_stop", **levels)

    def open_orders(self, symbol: str) -> list[Order]:
        return self.session.book.open_orders(symbol)

    def position(self, symbol: str) -> Position:
        return self.session.book.position(symbol)

    def balance(self) -> Balance:
        return self.session.book.balance

    def drain_events(self) -> list[AdapterEvent]:
        events = self.session.book.drain()
        j = self.session.journal
        for ev in events:
            if isinstance(ev, OrderUpdate) and ev.order.status.is_terminal:
                j.write("order_final", **order_final_fields(ev.order))
            elif isinstance(ev, PositionUpdate | BalanceUpdate | FillEvent):
                continue  # fills are journaled when applied; positions are derived state
        return events
