"""LiveSession: the engine thread's world (book, executor, risk, streams) and LiveAdapter.

Threading model (docs/architecture.md, "Live stack"): pybit's WebSocket threads, the REST
workers and the stream supervisors only `post()` typed events onto one queue. The thread that calls
`open()` becomes the **engine thread**: it alone calls `pump`, `process`, `barrier`,
`close` and every LiveAdapter method, and it alone writes orders, positions and balances
(through `AccountBook`). `post()` may be called from any thread.

After every private-stream reconnect (and at start) the session reconciles orders,
executions, position and balance over REST, and again before a bar's decision when anything
could have changed on the exchange since the last bar (open orders, an open position, or
jobs sent: `dirty()`), because the public and private streams are not ordered with respect
to each other. The engine thread never waits for that: the runner starts the reconcile
(`start_reconcile`), keeps consuming events, and decides the bar when it lands, or at once
with new entries held when REST is still in flight (trade.live.runner, "Settling").
`barrier()`, which pumps until REST is done, is only for start-up, tests and tools.

Brackets Bybit lacks or spells differently: fill-relative brackets go out with
trading-stop once the entry filled (a trailing activation as `activePrice`, see
trade.live.executor); break-even, which Bybit does not have, is applied by the session at
each 1m close (`on_bar_close`, trade.live.breakeven), the kernel's rule 5.

Protection (trade.live.protect, docs/live.md): every entry carries provisional SL/TP on the
create; every trading-stop (brackets, break-even, the engine's, a restart's repair) is a
`protect` job confirmed by reading the position back, journaled as `protection_requested`
then `protection_confirmed` (or `protection_failed`: the position is closed reduce-only
and the session is paused, i.e. it refuses new entries until restarted; exits still go).

Entry holds: `LiveAdapter.submit` refuses a new entry (exits still go) while the session is
paused, while the runner holds entries (a stale, caught-up or unreconciled bar:
`entry_hold`); an order against the book's position is then sent reduce-only, sized to at
most that position, so it can close but never open or flip one.

Bar clock: `market_now_ms()` is the exchange's bar time as the public stream has shown it
(the newest kline seen, forming or closed, when it arrived, plus the real time since). It
follows a replay of any speed, and the live exchange, without reading the server clock.
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
    InputError,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    WallClock,
)
from trade.core.instrument import Instrument
from trade.data.fetch import SourceError, parse_instrument
from trade.live.book import AccountBook, OrderHandle
from trade.live.breakeven import BreakEvenTracker
from trade.live.client import BybitRest
from trade.live.errors import BybitError, RiskRejected
from trade.live.events import (
    Call,
    ConnState,
    Deferred,
    Failure,
    JobDone,
    KlinePush,
    LiveEvent,
    OrderAck,
    OrderFailed,
    PrivatePush,
    ProtectResult,
    Snapshot,
    Stop,
    StreamState,
)
from trade.live.executor import (
    OrderExecutor,
    bracket_prices,
    trading_stop_levels,
)
from trade.live.journal import Journal, fill_fields, order_fields, order_final_fields
from trade.live.protect import (
    PartialPlan,
    ProtectionPolicy,
    decision_price,
    entry_levels,
    entry_plan,
    journal_entry_for,
    merge_held,
    plan_from,
    with_provisional,
)
from trade.live.risk import RiskManager
from trade.live.secrets import Credentials
from trade.live.ws import StreamManager

log = logging.getLogger(__name__)
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")


def _interval_ms(interval: str) -> int:
    """A kline interval ("1", "5", "60", "D") in ms."""
    if interval.isdigit():
        return int(interval) * 60_000
    return {"D": 86_400_000, "W": 604_800_000}.get(interval, 60_000)


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
        protection: ProtectionPolicy | None = None,
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
        self.rules = Instrument(symbol=symbol)  # until open() reads the venue's
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
        self._held: deque[Callable[[], None]] = deque()  # bars (and work) that came meanwhile
        self.stopping = threading.Event()  # set from any thread: waits give up at once
        self.protection = protection or ProtectionPolicy()
        # a decision waits for protection jobs: never give up on them before their deadline
        self.sync_timeout_s = max(sync_timeout_s, self.protection.deadline_s + 5.0)
        self.protect_jobs: dict[int, dict[str, Any]] = {}
        self.stop_kind = (False, False)  # the position's stop: (limit, mark-price trigger)
        self.protect_stats = {"requested": 0, "confirmed": 0, "failed": 0, "closed": 0}
        self.paused = ""  # why new entries are refused for the rest of the run
        self.entry_hold = ""  # why the bar being decided may not enter (set by the runner)
        self.on_notify: Callable[[str, dict[str, Any]], None] | None = None
        self.journaled_exec_ids: set[str] = set()  # fills an earlier run already journaled
        self._clock_lock = threading.Lock()
        self._bar_ms = 0  # newest exchange bar time seen on the stream ...
        self._bar_mono = 0.0  # ... and when (local monotonic)
        self.after_event: Callable[[], None] | None = None  # the runner's settle step

    # ------------------------------------------------------------ any thread
    def post(self, event: LiveEvent) -> None:
        if isinstance(event, KlinePush):
            # the bar clock: a forming bar shows its start has passed, a closed one its close
            seen = event.start + (_interval_ms(event.interval) if event.confirm else 0)
            self.saw_bar_time(seen)
        self.queue.put(event)

    def saw_bar_time(self, ms: int) -> None:
        """The exchange's bar clock has reached `ms` (any thread)."""
        with self._clock_lock:
            if ms > self._bar_ms:
                self._bar_ms = ms
                self._bar_mono = WallClock().monotonic()

    def market_now_ms(self) -> int:
        """The exchange's bar time now (see the module docstring); 0 before any bar."""
        with self._clock_lock:
            if not self._bar_ms:
                return 0
            return self._bar_ms + int((WallClock().monotonic() - self._bar_mono) * 1000)

    def call(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run `fn` on the engine thread and return its result (tests, tools)."""
        if threading.current_thread() is self._engine_thread:
            raise RuntimeError("call() from the engine thread would wait on itself")
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
            try:  # the venue's rules: every order is rounded and sized on them
                self.rules = parse_instrument(row, self.symbol, self.rules)
            except SourceError as exc:
                raise InputError(f"{self.symbol}: {exc}") from None
        self.breakeven.tick = self.rules.tick_size
        self.journal.set_grid(self.rules.tick_size, self.rules.qty_step)
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

    def start_reconcile(self) -> int:
        """Start a reconciliation on a REST worker (never waits); returns its job token.
        It has landed once the token left `executor.inflight`; it succeeded if
        `reconciles` grew meanwhile."""
        ex = self.executor
        assert ex is not None
        since = None if self.last_exec_ms is None else self.last_exec_ms - 60_000
        return ex.reconcile(self.symbol, since_ms=since, reason="barrier")

    def barrier(self, *, force: bool = False, strict: bool = True) -> str:
        """Pump events until in-flight REST jobs are done, then reconcile if anything may
        have changed, and pump until it lands. Start-up, tests and tools only: the runner
        never calls it for a bar (it settles without waiting, trade.live.runner).

        Returns "" once the state is reconciled, else why not: the reconciliation failed,
        or (with `strict=False`) REST did not finish within the sync timeout. Strict, a
        timeout raises SessionError."""
        ex = self.executor
        if ex is None:
            return ""
        if not self.pump_until(lambda: not ex.inflight, self.sync_timeout_s):
            if self.stopping.is_set():
                return "stopping"
            if strict:
                raise SessionError("REST jobs did not finish within the sync timeout")
            return "REST jobs did not finish within the sync timeout"
        if not (force or self.dirty()):
            return ""
        done_before = self.reconciles
        token = self.start_reconcile()
        if not self.pump_until(lambda: token not in ex.inflight, self.sync_timeout_s):
            if self.stopping.is_set():
                return "stopping"
            if strict:
                raise SessionError("reconciliation did not finish within the sync timeout")
            return "reconciliation did not finish within the sync timeout"
        self.pump_until(lambda: not ex.inflight, self.sync_timeout_s)
        if self.reconciles == done_before:
            return "reconciliation failed (REST errors): state not confirmed"
        return ""

    def _closed_bar(self, event: KlinePush) -> None:
        """Hand a closed bar to `on_kline`, one bar at a time, in order."""
        on_kline = self.on_kline
        assert on_kline is not None
        self._serial(lambda: on_kline(event))

    def _serial(self, fn: Callable[[], None]) -> None:
        if self._deciding:
            # a bar that closes while the previous one is still being decided (its barrier
            # pumps events) waits its turn instead of being decided inside it
            self._held.append(fn)
            return
        self._deciding = True
        try:
            fn()
            while self._held:
                self._held.popleft()()
        finally:
            self._deciding = False

    def process(self, event: LiveEvent) -> None:
        """Apply one event (engine thread only)."""
        if isinstance(event, PrivatePush):
            if self._concerns_us(event):
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
            # a finished reconciliation is no activity: it would make every bar dirty
            if self.executor is None or self.executor.job_done(event.token):
                self._activity = True
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
        elif isinstance(event, ProtectResult):
            self._protected(event)
        elif isinstance(event, Deferred):
            self._serial(event.fn)
        elif isinstance(event, Stop):
            pass
        self._after()
        if self.after_event is not None:
            self.after_event()

    def _after(self) -> None:
        book = self.book
        entries, book.entries_filled = book.entries_filled, []
        for order in entries:
            ts = book.first_fill_ts(order.order_id)
            self.breakeven.on_entry(order, order.updated_ts if ts is None else ts)
        due, book.brackets_due = book.brackets_due, []
        for order in due:
            levels = bracket_prices(order)
            side = 1 if order.request.side is Side.BUY else -1
            plan = plan_from(order.request, side, order.avg_fill_price, order.filled_qty,
                             levels, self.rules.tick_size, self.rules.qty_step)
            # how this position's stop fills: a break-even moves it as the same kind
            self.stop_kind = (order.request.sl_limit, order.request.sl_by_mark)
            if levels or plan:
                self.protect(levels, side, reason="entry", link=order.order_id,
                             partial=plan, avg_price=order.avg_fill_price)

    # ------------------------------------------------------------ protection
    def protect(self, levels: dict[str, float], side: int, *, reason: str, link: str = "",
                partial: PartialPlan | None = None, **extra: Any) -> int | None:
        """Send `levels` (and the `partial` plan: Partial TP/SL orders) with trading-stop
        and have them confirmed (trade.live.protect)."""
        ex = self.executor
        if ex is None or not (levels or partial) or side == 0:
            return None
        self.protect_stats["requested"] += 1
        if partial:
            extra = {**extra, "partial": partial.record()}
        self.journal.write("protection_requested", reason=reason, link=link, side=side,
                           **extra, **levels)
        token = ex.protect(self.symbol, levels, side, self.protection, partial or None,
                           blind=reason == "entry")
        self.protect_jobs[token] = {"reason": reason, "link": link, "side": side,
                                    "levels": levels}
        return token

    def _protected(self, ev: ProtectResult) -> None:
        job = self.protect_jobs.pop(ev.token, None)
        if job is None:
            return
        common = {"reason": job["reason"], "link": job["link"], "attempts": ev.attempts,
                  "elapsed_ms": round(ev.elapsed_s * 1000), "held": ev.held}
        if ev.abandoned:
            self.journal.write("protection_abandoned", detail=ev.detail, **common)
        elif ev.confirmed:
            self.protect_stats["confirmed"] += 1
            self.journal.write("protection_confirmed", detail=ev.detail, **common)
        else:
            self.protect_stats["failed"] += 1
            self._protection_failed(job, ev, common)

    def _protection_failed(self, job: dict[str, Any], ev: ProtectResult,
                           common: dict[str, Any]) -> None:
        """Unconfirmed protection: close the position reduce-only and pause (new entries
        refused for the rest of the run; exits and protective orders still go)."""
        message = (f"protection ({job['reason']}) of {self.symbol} not confirmed after "
                   f"{ev.attempts} attempts in {ev.elapsed_s:.1f} s: {ev.detail}")
        log.error("%s: closing the position and pausing new entries", message)
        self.journal.write("protection_failed", detail=ev.detail, asked=job["levels"],
                           **common)
        self.failures.append(message)
        pos = self.book.position(self.symbol)
        ex = self.executor
        if pos.side != 0 and pos.size > 0 and ex is not None:
            side = Side.SELL if pos.side > 0 else Side.BUY
            handle = ex.submit(OrderRequest(self.symbol, side, pos.size, reduce_only=True))
            self.protect_stats["closed"] += 1
            self.journal.write("order", **order_fields(handle.key, handle.request))
            self.journal.write("protection_close", link=handle.key, size=pos.size,
                               side=pos.side)
        else:
            self.needs_reconcile = True
        self.pause(message)

    def pause(self, reason: str) -> None:
        """Refuse new entries for the rest of the run (exits still go); say why."""
        if self.paused:
            return
        self.paused = reason
        self.journal.write("paused", reason=reason)
        self.notify("paused", reason=reason)

    def notify(self, kind: str, **fields: Any) -> None:
        """The notification hook: a journaled, logged event (and `on_notify`, if set)."""
        self.journal.write("notify", event=kind, **fields)
        log.warning("notify %s: %s", kind, fields)
        if self.on_notify is not None:
            self.on_notify(kind, fields)

    def entries_blocked(self) -> str:
        """Why a new entry may not go out now ("" = it may)."""
        return f"paused: {self.paused}" if self.paused else self.entry_hold

    def repair(self, records: list[dict[str, Any]]) -> int | None:
        """On start: protect the open position as its journal and the Play call for
        (trade.live.protect, "Repair on start"); returns the protect job token, if any."""
        pos = self.book.position(self.symbol)
        if self.executor is None or pos.side == 0 or pos.size <= 0:
            return None
        held = {"stopLoss": pos.stop_loss, "takeProfit": pos.take_profit,
                "trailingStop": pos.trailing_distance}
        rec = journal_entry_for(records, pos.side)
        plan: PartialPlan | None = None
        if rec is not None:
            levels = entry_levels(rec, pos.side, pos.entry_price)
            plan = entry_plan(rec, pos.side, pos.entry_price, levels, self.rules.tick_size,
                              self.rules.qty_step)
            self.stop_kind = (bool(rec.get("sl_limit")), bool(rec.get("sl_by_mark")))
            reason = "restart"
        else:
            policy = self.protection.unknown_position
            self.journal.write("unknown_position", side=pos.side, size=pos.size,
                               entry=pos.entry_price, policy=policy, held=held)
            self.notify("unknown_position", side=pos.side, size=pos.size, policy=policy)
            if policy == "close":
                side = Side.SELL if pos.side > 0 else Side.BUY
                handle = self.executor.submit(OrderRequest(self.symbol, side, pos.size,
                                                           reduce_only=True))
                self.journal.write("order", **order_fields(handle.key, handle.request))
                return None
            if policy == "report":
                return None
            levels = self._fallback_levels(pos.side, pos.entry_price)
            reason = "unknown_position"
            if not levels:
                log.warning("unknown %s position: the Play has no fixed stop to attach",
                            self.symbol)
                return None
        levels = merge_held(levels, held, pos.side)
        return self.protect(levels, pos.side, reason=reason, partial=plan,
                            entry=pos.entry_price)

    def _fallback_levels(self, side: int, entry: float) -> dict[str, float]:
        p = self.protection
        out: dict[str, float] = {}
        if p.fallback_sl_offset:
            out["stopLoss"] = entry * (1 - side * p.fallback_sl_offset)
        if p.fallback_tp_offset:
            out["takeProfit"] = entry * (1 + side * p.fallback_tp_offset)
        return out

    def on_bar_close(self, ts: int, high: float, low: float, close: float) -> None:
        """Break-even at the close of the 1m bar `ts` (engine thread, once the bar has
        settled, before the engine decides): see trade.live.breakeven. The new stop goes
        out with trading-stop, ahead of any order the engine sends on this bar, so it is effective
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
            self.journal.write("break_even", bar=ts, level=action.level, action="stop",
                               entry=pos.entry_price)
            if any(self.stop_kind):
                # a Partial stop (limit or mark-price) moves as a Partial stop of its kind
                limit, by_mark = self.stop_kind
                plan = PartialPlan(stop_loss=action.level, sl_limit=limit, sl_by_mark=by_mark,
                                   size=pos.size)
                self.protect({}, pos.side, reason="break_even", partial=plan)
            else:
                self.protect({"stopLoss": action.level}, pos.side, reason="break_even")

    def _concerns_us(self, ev: PrivatePush) -> bool:
        """A push that may change this session's state: its symbol's orders, executions or
        position, or any other topic (wallet, DCP). Several Plays on one account (one per
        symbol) each see the whole account's private stream; another symbol's order or
        execution rows are not this session's."""
        if ev.topic not in ("order", "execution", "position"):
            return True
        return any(str(row.get("symbol") or self.symbol) == self.symbol for row in ev.rows)

    def _private(self, ev: PrivatePush) -> None:
        book = self.book
        for row in ev.rows:
            if ev.topic in ("order", "execution") and \
                    str(row.get("symbol") or self.symbol) != self.symbol:
                continue  # another Play's symbol on the same account
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
        self._take_invalid_rows()

    def _take_invalid_rows(self, *, reconcile: bool = True) -> None:
        """Rows the book could not apply as sent: journal them, and reconcile unless this
        is the reconciliation's own snapshot (reading the same rows again would not help)."""
        book = self.book
        if not book.needs_reconcile:
            return
        for message in book.invalid_rows:
            self.journal.write("error", where="order_row", message=message)
        book.invalid_rows.clear()
        book.needs_reconcile = False
        if reconcile:
            self.needs_reconcile = True

    def _fill_row(self, row: dict[str, Any]) -> None:
        fill = self.book.apply_execution_row(row)
        if fill is not None:
            self.last_exec_ms = max(self.last_exec_ms or 0, fill.ts)
            if fill.exec_id not in self.journaled_exec_ids:  # an earlier run journaled it
                self.journaled_exec_ids.add(fill.exec_id)
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
        self._take_invalid_rows(reconcile=False)
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
        # from here a REST job the shutdown cuts short is an abandonment, not a failure (a
        # close that no stop() preceded, e.g. the engine loop ending on SIGINT, set no flag)
        self.stopping.set()
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
            if not isinstance(event, Call | KlinePush | Deferred):
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
        direction = 1 if request.side is Side.BUY else -1
        # every order that is not reduce-only may open a position (the engine's exits are
        # reduce-only; a flip is one order for the position and the new size)
        opens = not request.reduce_only
        held = s.entries_blocked() if opens else ""
        # what is left to close: the position less the reduce-only orders already closing it
        room = pos.size - sum(o.leaves_qty for o in s.book.open_orders(request.symbol)
                              if o.request.reduce_only and o.request.side is request.side)
        if held and pos.side == -direction and room > 0:
            # entries held: an order against the book's position goes reduce-only, at most
            # what is left of that position, so it can close it but never open or flip one
            size = min(request.qty, room)
            s.journal.write("order_trimmed", reason=held, side=request.side.bybit,
                            qty=request.qty, to=size)
            request = OrderRequest(request.symbol, request.side, size, reduce_only=True,
                                   order_link_id=request.order_link_id)
            held = ""
        elif not held and opens:
            # the entry carries provisional SL/TP (trade.live.protect)
            request = with_provisional(request, decision_price(request, s.last_price),
                                       s.protection.margin, s.rules.tick_size)
        try:
            if held:
                raise RiskRejected(f"entry held: {held}")
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
            _ = self._ex  # raises without credentials
            side = self.session.book.position(symbol).side
            self.session.protect(levels, side, reason="engine")

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
