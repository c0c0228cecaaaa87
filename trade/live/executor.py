"""The order executor: submit returns a handle at once; REST runs on worker threads.

Threading: `submit`, `cancel`, `amend`, `trading_stop`, `protect` and `reconcile` are
called by the engine thread only; they put the order in the book (status Created) and hand
the REST call to a worker: mutations go, in submission order, to one FIFO worker
("live-rest-orders"); reads (reconciliation, lookups) to a small pool ("live-rest-*").
Workers never touch the book: they post typed events (`OrderAck`, `OrderFailed`,
`Snapshot`, then `JobDone`) to the engine queue. `wait_fill(handle, timeout)` may be
called from any thread except the engine thread: it waits on the handle's Future
(resolved by the execution stream through the book) and,
only if that takes longer than `poll_after_s`, asks for a REST lookup of that one order as a
timed fallback.

Brackets: the fill-relative brackets of an entry (`stop_loss_offset`, `take_profit_offset`,
`trailing_offset`) are sent with trading-stop once the entry has filled (`bracket_prices`),
as a `protect` job: sent, then confirmed by reading the position back, retried with backoff
until a deadline (trade.live.protect, docs/live.md). A trailing activation
(`OrderRequest.trailing_activation`, a fraction of the fill price, fill_model.md rules
4b/5) goes with the trail as Bybit's `activePrice` = fill x (1 + side x activation) on the
tick grid. Bybit arms the trail when the last price
reaches that level, in real time; the kernel (hence the backtest and the exchange
simulator, whose trading-stop passes `activePrice` on) arms it at a 1m close whose extreme
reached it, effective from the next bar: the same level, armed at most one bar apart.

Order ids: every create carries an `orderLinkId` from `link_id()`: `<tag>-<bar minute>-<n>`,
deterministic per (session tag, decision bar, n-th order of that bar), so a restart that
re-decides the same bar re-sends the same id and the exchange refuses a second order.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from trade.core import Clock, Order, OrderRequest, OrderType, Side
from trade.core.instrument import Instrument
from trade.live.book import AccountBook, OrderHandle
from trade.live.client import BybitRest
from trade.live.errors import BybitError, OrderNotFoundError, TransientError
from trade.live.events import (
    JobDone,
    LiveEvent,
    OrderAck,
    OrderFailed,
    ProtectResult,
    Snapshot,
)
from trade.live.protect import (
    PartialPlan,
    ProtectionPolicy,
    find_row,
    held_levels,
    partial_missing,
    verdict,
    wanted,
)
from trade.sim.config import tick_grid

log = logging.getLogger(__name__)
TRADING_STOP = "/v5/position/trading-stop"
Post = Callable[[LiveEvent], None]


def _decimals(step: float) -> int:
    text = f"{step:.12f}".rstrip("0")
    return len(text.partition(".")[2])


def fmt_step(value: float, step: float, *, mode: str = "nearest") -> str:
    """`value` on the `step` grid as Bybit wants it (a plain decimal string)."""
    if step <= 0:
        return f"{value:.10f}".rstrip("0").rstrip(".")
    units = value / step
    # nearest is Python's round (half-even), as trade.sim.reference.round_to_tick
    n = math.floor(units + 1e-9) if mode == "floor" else round(units)
    # n steps written exactly: the integer n * step_units with `decimals` digits after the point
    step_units, decimals = tick_grid(step)
    digits = str(abs(n * step_units)).rjust(decimals + 1, "0")
    sign = "-" if n * step_units < 0 else ""
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}" if decimals else f"{sign}{digits}"


def create_params(request: OrderRequest, rules: Instrument, link_id: str
                  ) -> dict[str, Any]:
    """Bybit V5 /v5/order/create parameters of an OrderRequest."""
    p: dict[str, Any] = {
        "category": "linear",
        "symbol": request.symbol,
        "side": request.side.bybit,
        "orderType": request.order_type.bybit,
        "qty": fmt_step(request.qty, rules.qty_step, mode="floor"),
        "orderLinkId": link_id,
        "positionIdx": 0,
    }
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        assert request.price is not None
        p["price"] = fmt_step(request.price, rules.tick_size)
        p["timeInForce"] = request.time_in_force.bybit
    if request.order_type.is_conditional:
        assert request.trigger_price is not None
        p["triggerPrice"] = fmt_step(request.trigger_price, rules.tick_size)
        p["triggerDirection"] = request.effective_trigger_direction
        p["triggerBy"] = "LastPrice"
    if request.reduce_only:
        p["reduceOnly"] = True
    if request.close_on_trigger:
        p["closeOnTrigger"] = True
    if request.take_profit is not None:
        p["takeProfit"] = fmt_step(request.take_profit, rules.tick_size)
    if request.stop_loss is not None:
        p["stopLoss"] = fmt_step(request.stop_loss, rules.tick_size)
    return p


def bracket_prices(order: Order) -> dict[str, float]:
    """Fill-relative brackets (OrderRequest.*_offset) as absolute trading-stop levels."""
    r = order.request
    px = order.avg_fill_price
    out: dict[str, float] = {}
    if px <= 0:
        return out
    sign = 1.0 if r.side is Side.BUY else -1.0
    if r.stop_loss_offset is not None:
        out["stopLoss"] = px * (1 - sign * r.stop_loss_offset)
    elif r.stop_loss is not None:
        out["stopLoss"] = r.stop_loss
    if r.take_profit_offset is not None:
        out["takeProfit"] = px * (1 + sign * r.take_profit_offset)
    elif r.take_profit is not None:
        out["takeProfit"] = r.take_profit
    if r.trailing_offset is not None:
        out["trailingStop"] = px * r.trailing_offset
    elif r.trailing_distance is not None:
        out["trailingStop"] = r.trailing_distance
    act = r.trailing_activation
    if "trailingStop" in out and act is not None and act > 0:
        # the trail arms once the price has moved `act` of the fill price in favour
        out["activePrice"] = px * (1 + sign * act)
    return out


def trading_stop_levels(take_profit: float | None, stop_loss: float | None,
                        trailing_distance: float | None,
                        trailing_active_price: float | None) -> dict[str, float]:
    """The levels given (not None) under Bybit's trading-stop field names."""
    named = (("takeProfit", take_profit), ("stopLoss", stop_loss),
             ("trailingStop", trailing_distance), ("activePrice", trailing_active_price))
    return {k: v for k, v in named if v is not None}


class OrderExecutor:
    """See the module docstring."""

    def __init__(self, rest: BybitRest, book: AccountBook, post: Post, clock: Clock,
                 rules: Instrument, *, tag: str = "t", workers: int = 4,
                 poll_after_s: float = 2.0) -> None:
        self.rest = rest
        self.book = book
        self.post = post
        self.clock = clock
        self.rules = rules
        self.tag = tag[:10]
        self.poll_after_s = poll_after_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="live-rest")
        # Mutations (create/cancel/amend/trading-stop) keep their submission order: one
        # worker, FIFO. An exit submitted before an entry must reach the exchange first.
        self._ordered = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-rest-orders")
        self._tokens = itertools.count(1)
        self.inflight: set[int] = set()
        self.reads: set[int] = set()  # reconciliation jobs in flight (they change nothing)
        self._bar_minute = 0
        self._seq = 0
        self._engine_thread: threading.Thread | None = None
        self.closed = False

    # ------------------------------------------------------------ engine thread
    def bind_engine_thread(self) -> None:
        self._engine_thread = threading.current_thread()

    def set_bar(self, bar_ts: int) -> None:
        """The decision bar (its open time): link ids are numbered within it."""
        minute = bar_ts // 60_000
        if minute != self._bar_minute:
            self._bar_minute, self._seq = minute, 0

    def link_id(self) -> str:
        self._seq += 1
        return f"{self.tag}-{self._bar_minute}-{self._seq}"[:36]

    def _job(self, fn: Callable[[], None], *, ordered: bool = True,
             token: int | None = None) -> int:
        token = next(self._tokens) if token is None else token
        self.inflight.add(token)

        def run() -> None:
            try:
                fn()
            finally:
                self.post(JobDone(token))

        if self.closed:
            self.post(JobDone(token))
        else:
            (self._ordered if ordered else self._pool).submit(run)
        return token

    def job_done(self, token: int) -> bool:
        """Forget a finished job; True if it could have changed the exchange (not a read)."""
        self.inflight.discard(token)
        if token in self.reads:
            self.reads.discard(token)
            return False
        return True

    def submit(self, request: OrderRequest) -> OrderHandle:
        link = request.order_link_id or self.link_id()
        if link != request.order_link_id:
            request = _with_link(request, link)
        handle = OrderHandle(link, request)
        self.book.add_pending(handle, self.clock.now_ms())
        params = create_params(request, self.rules, link)

        def send() -> None:
            try:
                res = self.rest.create_order(params)
            except TransientError as exc:
                self.post(OrderFailed(link, "create", exc, unknown=True))
                return
            except BybitError as exc:
                self.post(OrderFailed(link, "create", exc))
                return
            self.post(OrderAck(link, str(res.get("orderId", "")),
                               bool(res.get("already_placed"))))

        self._job(send)
        return handle

    def _order_ref(self, key: str) -> dict[str, str]:
        order = self.book.orders.get(key)
        handle = self.book.handles.get(key)
        if order is not None and order.order_link_id == key:
            return {"order_link_id": key}
        exchange_id = handle.exchange_id if handle else ""
        return {"order_id": exchange_id or key}

    def cancel(self, key: str) -> None:
        order = self.book.orders.get(key)
        symbol = order.symbol if order else self.rules.symbol
        ref = self._order_ref(key)

        def send() -> None:
            try:
                self.rest.cancel_order(symbol, **ref)
            except OrderNotFoundError as exc:
                self.post(OrderFailed(key, "cancel", exc))  # already closed: reconcile
                self._lookup_now([key])
            except BybitError as exc:
                self.post(OrderFailed(key, "cancel", exc, unknown=isinstance(exc,
                                                                             TransientError)))

        self._job(send)

    def amend(self, key: str, *, qty: float | None = None, price: float | None = None,
              trigger_price: float | None = None) -> None:
        order = self.book.orders.get(key)
        symbol = order.symbol if order else self.rules.symbol
        ref = self._order_ref(key)
        q = fmt_step(qty, self.rules.qty_step, mode="floor") if qty is not None else None
        p = fmt_step(price, self.rules.tick_size) if price is not None else None
        t = fmt_step(trigger_price, self.rules.tick_size) if trigger_price is not None \
            else None

        def send() -> None:
            try:
                self.rest.amend_order(symbol, qty=q, price=p, trigger_price=t, **ref)
            except BybitError as exc:
                self.post(OrderFailed(key, "amend", exc,
                                      unknown=isinstance(exc, TransientError)))

        self._job(send)

    def trading_stop(self, symbol: str, levels: dict[str, float]) -> None:
        fields = {k: fmt_step(v, self.rules.tick_size) if v > 0 else "0"
                  for k, v in levels.items()}

        def send() -> None:
            try:
                self.rest.trading_stop(symbol, **fields)
            except BybitError as exc:
                self.post(OrderFailed(symbol, "trading_stop", exc))

        self._job(send)

    def _partial_fields(self, plan: PartialPlan, tp: tuple[float, float] | None,
                        sl_size: float) -> dict[str, Any]:
        """One Partial trading-stop: a take-profit level (`tp`) or the stop of `sl_size`."""
        tick, step = self.rules.tick_size, self.rules.qty_step
        if tp is not None:
            price = fmt_step(tp[0], tick)
            out = {"takeProfit": price, "tpSize": fmt_step(tp[1], step, mode="floor"),
                   "tpOrderType": "Limit" if plan.tp_limit else "Market",
                   "tpTriggerBy": "MarkPrice" if plan.tp_by_mark else "LastPrice"}
            if plan.tp_limit:
                out["tpLimitPrice"] = price  # the limit rests at the level (rule 4 B)
            return out
        price = fmt_step(plan.stop_loss, tick)
        out = {"stopLoss": price, "slSize": fmt_step(sl_size, step, mode="floor"),
               "slOrderType": "Limit" if plan.sl_limit else "Market",
               "slTriggerBy": "MarkPrice" if plan.sl_by_mark else "LastPrice"}
        if plan.sl_limit:
            out["slLimitPrice"] = price
        return out

    def protect(self, symbol: str, levels: dict[str, float], side: int,
                policy: ProtectionPolicy, partial: PartialPlan | None = None,
                *, blind: bool = True) -> int:
        """Set `levels` with trading-stop and confirm them by reading the position back;
        unconfirmed, send again with backoff until `policy.deadline_s` (trade.live.protect).
        `partial`: brackets Bybit holds as Partial TP/SL orders, one trading-stop per
        take-profit level, then the stop, then the Full levels (the simulator's bracket
        grace ends at the stop); confirmed by reading the open orders back, and only what
        is missing is sent again. `blind`: the first attempt sends before reading (an
        entry's brackets, nothing is set yet); else it reads first (a restart or repair,
        where a Partial order may already be listed). Posts one ProtectResult; returns
        the job token. Runs on the ordered worker, so an exit submitted after it waits for
        it (bounded by the deadline)."""
        tick = self.rules.tick_size
        fields = {k: fmt_step(v, tick) if v > 0 else "0" for k, v in levels.items()}
        want = wanted(levels, tick)
        token = next(self._tokens)
        stop = self.rest.stop
        plan = partial if partial else None

        def run() -> None:
            t0 = self.clock.monotonic()
            delay = policy.backoff_initial_s
            attempt = 0
            held: dict[str, float] = {}
            tps_todo = list(plan.take_profits) if plan is not None else []
            sl_todo = plan is not None and plan.stop_loss > 0
            sl_size = plan.size if plan is not None else 0.0
            full_todo = bool(fields)
            send = blind or plan is None
            while True:
                attempt += 1
                problems: list[str] = []
                if send and plan is not None:
                    for tp in tps_todo:
                        try:
                            self.rest.call("POST", TRADING_STOP, {
                                "category": "linear", "symbol": symbol, "tpslMode": "Partial",
                                "positionIdx": 0, **self._partial_fields(plan, tp, 0.0)},
                                attempts=1)
                        except BybitError as exc:
                            problems.append(f"Partial take-profit refused: {exc}")
                    if sl_todo:
                        try:
                            self.rest.call("POST", TRADING_STOP, {
                                "category": "linear", "symbol": symbol, "tpslMode": "Partial",
                                "positionIdx": 0, **self._partial_fields(plan, None, sl_size)},
                                attempts=1)
                        except BybitError as exc:
                            problems.append(f"Partial stop refused: {exc}")
                if send and full_todo:
                    try:
                        self.rest.call("POST", TRADING_STOP,
                                       {"category": "linear", "symbol": symbol,
                                        "tpslMode": "Full", "positionIdx": 0, **fields},
                                       attempts=1)
                    except BybitError as exc:
                        problems.append(f"trading-stop refused: {exc}")
                read_only, send = not send, True
                try:
                    # the open orders first, then the position: a take-profit that fills
                    # between the two reads is either still listed or already out of the
                    # size read after it, so it never looks missing (and is never sent twice)
                    orders: list[dict[str, Any]] = []
                    if plan is not None:
                        orders = self.rest.open_orders(symbol)
                    rows = self.rest.call("GET", "/v5/position/list",
                                          {"category": "linear", "symbol": symbol},
                                          attempts=1).get("list") or []
                except BybitError as exc:
                    problems.append(f"position read-back failed: {exc}")
                else:
                    row = find_row(rows, symbol)
                    held = held_levels(row)
                    ok, why = verdict(row, want, side, tick)
                    full_todo = not ok and bool(fields)
                    if plan is not None:
                        tps_todo, sl_todo, pwhy = partial_missing(
                            plan, orders, row, side, tick, self.rules.qty_step)
                        sl_size = float(row.get("size") or 0.0) if row is not None else 0.0
                        if tps_todo or sl_todo:
                            why = pwhy if ok else f"{why}; {pwhy}"
                            ok = False
                    elapsed = self.clock.monotonic() - t0
                    if ok:
                        self.post(ProtectResult(token, True, why, attempt, elapsed, held))
                        return
                    problems.append(why)
                    if read_only and not stop.is_set():
                        attempt -= 1  # a first look (repair, break-even): now send what is missing
                        continue
                elapsed = self.clock.monotonic() - t0
                detail = "; ".join(problems)
                if stop.is_set():
                    self.post(ProtectResult(token, False, detail, attempt, elapsed, held,
                                            abandoned=True))
                    return
                if elapsed + delay > policy.deadline_s:
                    self.post(ProtectResult(token, False, detail, attempt, elapsed, held))
                    return
                log.warning("protection not confirmed (attempt %d, %.1f s): %s; again in "
                            "%.2f s", attempt, elapsed, detail, delay)
                if self.clock.wait(stop, delay) or stop.is_set():
                    self.post(ProtectResult(token, False, detail, attempt,
                                            self.clock.monotonic() - t0, held, abandoned=True))
                    return
                delay = min(delay * 2, policy.backoff_max_s)

        return self._job(run, token=token)

    def reconcile(self, symbol: str, *, since_ms: int | None, reason: str) -> int:
        """Read orders, executions, position and wallet over REST; posts one Snapshot.
        Returns the job token (done once the engine has processed its JobDone)."""
        check = [k for k, o in self.book.orders.items() if o.is_open and o.symbol == symbol]

        def read() -> None:
            try:
                open_rows = self.rest.open_orders(symbol)
                open_keys = {r.get("orderLinkId") or r.get("orderId") for r in open_rows}
                looked: list[dict[str, Any]] = []
                missing: list[str] = []
                for key in check:
                    if key in open_keys:
                        continue
                    row = self._find(symbol, key)
                    if row is None:
                        missing.append(key)
                    else:
                        looked.append(row)
                execs = self.rest.executions(symbol, start_ms=since_ms)
                positions = self.rest.positions(symbol)
                wallet = self.rest.wallet()
            except BybitError as exc:
                self.post(_failure(f"reconcile ({reason})", exc))
                return
            self.post(Snapshot(tuple(open_rows), tuple(looked), tuple(missing),
                               tuple(reversed(execs)), tuple(positions), wallet, reason))

        token = next(self._tokens)
        self.reads.add(token)
        return self._job(read, ordered=False, token=token)

    def _find(self, symbol: str, key: str) -> dict[str, Any] | None:
        order = self.book.orders.get(key)
        if order is not None and order.order_link_id == key:
            return self.rest.find_order(symbol, key)
        rows = self.rest.get("/v5/order/realtime", {"category": "linear", "symbol": symbol,
                                                    "orderId": key}).get("list") or []
        return rows[0] if rows else None

    def _lookup_now(self, keys: list[str]) -> None:
        """(worker thread) Look orders up and post what the exchange says about them."""
        looked: list[dict[str, Any]] = []
        missing: list[str] = []
        for key in keys:
            try:
                row = self.rest.find_order(self.rules.symbol, key)
            except BybitError as exc:
                self.post(_failure("order lookup", exc))
                return
            (looked.append(row) if row is not None else missing.append(key))
        self.post(Snapshot(looked_up=tuple(looked), missing_keys=tuple(missing),
                           reason="lookup"))

    # ------------------------------------------------------------ other threads
    def wait_fill(self, handle: OrderHandle, timeout_s: float) -> Order:
        """The order's final state (not from the engine thread). REST poll as fallback."""
        if threading.current_thread() is self._engine_thread:
            raise RuntimeError("wait_fill would block the engine thread that resolves it")
        first = min(self.poll_after_s, timeout_s)
        try:
            return handle.future.result(first)
        except FutureTimeout:
            pass
        if not self.closed:
            self._pool.submit(self._lookup_now, [handle.key])
        return handle.future.result(max(timeout_s - first, 0.0))

    def shutdown(self) -> None:
        """Stop accepting jobs, abandon retries and join the workers."""
        self.closed = True
        self.rest.stop.set()
        self._ordered.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _with_link(request: OrderRequest, link: str) -> OrderRequest:
    from dataclasses import replace

    return replace(request, order_link_id=link)


def _failure(where: str, exc: BybitError) -> Any:
    from trade.live.events import Failure

    return Failure(where, str(exc))


__all__ = ["Future", "OrderExecutor", "bracket_prices", "create_params",
           "fmt_step", "trading_stop_levels"]
