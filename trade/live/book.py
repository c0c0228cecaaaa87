"""The account book: orders, fills, positions and balance, owned by ONE thread.

Threading: every method of `AccountBook` must be called from the engine thread (the
single writer). Other threads only read `OrderHandle.future`, which the book resolves.

Orders are keyed by their `orderLinkId` (every order this stack creates has one), else by
the exchange's `orderId` (orders created by the exchange, e.g. a TP/SL, or by someone
else). A create is in the book (status Created) from the moment it is submitted, before any
REST reply or push, so nothing can be lost in between; the REST reply and the pushes may
then arrive in any order, any number of times:

* an order row moves the order along the shared transition table (`Order.moved_to`), going
  through the intermediate states the table requires when a push was missed (Untriggered
  -> Triggered -> Filled); rows that would move it backwards (older `updatedTime`, smaller
  `cumExecQty`, or any row after a terminal state) are stale and ignored;
* fills are de-duplicated by `execId`; the order's filled quantity is the larger of the
  order row's `cumExecQty` and the sum of its distinct fills, so a fill is never counted
  twice and a missed push is caught up by the next row or by reconciliation;
* position rows carry Bybit's `seq`: an older seq than the last applied is ignored.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from trade.core import (
    AdapterEvent,
    Balance,
    BalanceUpdate,
    ExecType,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    TimeInForce,
    can_transition,
)

log = logging.getLogger(__name__)
S = OrderStatus


def fnum(row: dict[str, Any], name: str, default: float = 0.0) -> float:
    raw = row.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def inum(row: dict[str, Any], name: str, default: int = 0) -> int:
    raw = row.get(name)
    try:
        return int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        return default


def row_key(row: dict[str, Any]) -> str:
    return str(row.get("orderLinkId") or row.get("orderId") or "")


def _path(src: OrderStatus, dst: OrderStatus) -> list[OrderStatus] | None:
    """The shortest legal sequence of moves src -> ... -> dst (None: unreachable)."""
    if src == dst:
        return []  # a field update (amend, new cumulative fee): no move
    frontier: deque[tuple[OrderStatus, list[OrderStatus]]] = deque([(src, [])])
    seen = {src}
    while frontier:
        node, path = frontier.popleft()
        for nxt in OrderStatus:
            if nxt in seen or not can_transition(node, nxt):
                continue
            if nxt == dst:
                return [*path, nxt]
            seen.add(nxt)
            frontier.append((nxt, [*path, nxt]))
    return None


def request_from_row(row: dict[str, Any]) -> OrderRequest | None:
    """An OrderRequest describing an order we did not create (None if not representable)."""
    try:
        trigger = fnum(row, "triggerPrice")
        is_limit = row.get("orderType") == "Limit"
        if trigger > 0:
            otype = OrderType.STOP_LIMIT if is_limit else OrderType.STOP_MARKET
        else:
            otype = OrderType.LIMIT if is_limit else OrderType.MARKET
        tif = TimeInForce.GTC
        if is_limit:
            tif = TimeInForce.from_bybit(str(row.get("timeInForce") or "GTC"))
        return OrderRequest(
            symbol=str(row["symbol"]),
            side=Side.from_bybit(str(row.get("side"))),
            qty=fnum(row, "qty"),
            order_type=otype,
            price=fnum(row, "price") if is_limit else None,
            trigger_price=trigger if trigger > 0 else None,
            trigger_direction=inum(row, "triggerDirection") if trigger > 0 else 0,
            time_in_force=tif,
            reduce_only=bool(row.get("reduceOnly")),
            close_on_trigger=bool(row.get("closeOnTrigger")),
            take_profit=fnum(row, "takeProfit") or None,
            stop_loss=fnum(row, "stopLoss") or None,
            order_link_id=str(row.get("orderLinkId") or "")[:36],
        )
    except (KeyError, ValueError) as exc:
        log.warning("cannot represent exchange order %s: %s", row.get("orderId"), exc)
        return None


#: stopOrderTypes of a position's own TP/SL orders (not in the book's open orders)
POSITION_TPSL = ("PartialTakeProfit", "PartialStopLoss", "TakeProfit", "StopLoss",
                 "TrailingStop", "tpslOrder")

_CREATE_TYPE = {
    "CreateByStopLoss": ExecType.STOP_LOSS,
    "CreateByTakeProfit": ExecType.TAKE_PROFIT,
    "CreateByPartialStopLoss": ExecType.STOP_LOSS,
    "CreateByPartialTakeProfit": ExecType.TAKE_PROFIT,
    "CreateByTrailingStop": ExecType.TRAILING_STOP,
    "CreateByLiq": ExecType.BUST_TRADE,
}


def fill_from_row(row: dict[str, Any]) -> Fill:
    exec_type = ExecType.TRADE
    if row.get("execType") == "Funding":
        exec_type = ExecType.FUNDING
    elif row.get("execType") == "BustTrade":
        exec_type = ExecType.BUST_TRADE
    else:
        exec_type = _CREATE_TYPE.get(str(row.get("createType")), ExecType.TRADE)
    return Fill(
        exec_id=str(row["execId"]),
        order_id=str(row.get("orderId") or ""),
        symbol=str(row.get("symbol") or ""),
        side=Side.from_bybit(str(row.get("side"))),
        qty=fnum(row, "execQty"),
        price=fnum(row, "execPrice"),
        fee=fnum(row, "execFee"),
        is_maker=bool(row.get("isMaker")),
        ts=inum(row, "execTime"),
        exec_type=exec_type,
        order_link_id=str(row.get("orderLinkId") or ""),
        closed_pnl=fnum(row, "closedPnl"),
    )


def position_from_row(row: dict[str, Any]) -> Position:
    """A `trade.Position` from a ``/v5/position/list`` row or a ``position`` push.

    Parameters
    ----------
    row : dict
        Bybit's fields as strings; missing numbers count as 0, a size of 0 is flat.

    Returns
    -------
    Position
    """
    side = {"Buy": 1, "Sell": -1}.get(str(row.get("side") or ""), 0)
    size = fnum(row, "size")
    if size <= 0:
        side = 0
    entry = fnum(row, "avgPrice") or fnum(row, "entryPrice")
    return Position(
        str(row.get("symbol") or ""),
        side=side,
        size=size if side else 0.0,
        entry_price=entry if side else 0.0,
        leverage=fnum(row, "leverage"),
        margin=fnum(row, "positionIM") or fnum(row, "positionBalance"),
        liq_price=fnum(row, "liqPrice"),
        bust_price=fnum(row, "bustPrice"),
        mark_price=fnum(row, "markPrice"),
        unrealized_pnl=fnum(row, "unrealisedPnl"),
        realized_pnl=fnum(row, "curRealisedPnl"),
        stop_loss=fnum(row, "stopLoss"),
        take_profit=fnum(row, "takeProfit"),
        trailing_distance=fnum(row, "trailingStop"),
        opened_ts=inum(row, "createdTime"),
        updated_ts=inum(row, "updatedTime"),
    )


def balance_from_row(row: dict[str, Any], ts: int = 0) -> Balance:
    coin: dict[str, Any] = next(
        (c for c in row.get("coin") or [] if c.get("coin") == "USDT"), {})
    wallet = fnum(row, "totalWalletBalance", fnum(coin, "walletBalance"))
    equity = fnum(row, "totalEquity", fnum(coin, "equity", wallet))
    return Balance(
        wallet_balance=wallet,
        equity=equity,
        used_margin=fnum(row, "totalInitialMargin"),
        available_balance=fnum(row, "totalAvailableBalance",
                               fnum(coin, "availableToWithdraw")),
        ts=ts,
    )


@dataclass(eq=False)
class OrderHandle:
    """What `submit` returns at once. `future` resolves (on the engine thread) with the
    final Order when the order reaches a terminal state; any thread but the engine thread
    may wait on it."""

    key: str
    request: OrderRequest
    future: Future[Order] = field(default_factory=Future)
    exchange_id: str = ""

    @property
    def done(self) -> bool:
        return self.future.done()


class AccountBook:
    """Orders, fills, positions, balance (see the module docstring). Engine thread only."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.handles: dict[str, OrderHandle] = {}
        self.by_exchange_id: dict[str, str] = {}
        self._row_ts: dict[str, int] = {}  # exchange updatedTime of the last applied row
        self.exec_ids: set[str] = set()
        self.fills: list[Fill] = []
        self._fill_qty: dict[str, float] = {}
        self.positions: dict[str, Position] = {}
        self._pos_seq: dict[str, int] = {}
        self.balance = Balance(0.0, 0.0, 0.0, 0.0)
        self._events: list[AdapterEvent] = []
        self.brackets_due: list[Order] = []
        self.entries_filled: list[Order] = []  # non reduce-only orders that ended filled
        self.stale_rows = 0
        # set when a row could not be applied as the exchange sent it; the session journals
        # `invalid_rows` and reconciles, then clears both
        self.needs_reconcile = False
        self.invalid_rows: list[str] = []

    # ------------------------------------------------------------------ reads
    def drain(self) -> list[AdapterEvent]:
        out, self._events = self._events, []
        return out

    def open_orders(self, symbol: str) -> list[Order]:
        return [o for o in self.orders.values() if o.symbol == symbol and o.is_open]

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        return pos if pos is not None else Position(symbol)

    def first_fill_ts(self, key: str) -> int | None:
        """The exchange time of the first fill of our order `key` (None: no fill seen)."""
        times = [f.ts for f in self.fills
                 if (f.order_link_id or self.key_of(f.order_id)) == key
                 and f.exec_type is not ExecType.FUNDING]
        return min(times) if times else None

    def key_of(self, order_id: str) -> str:
        """Our key for an exchange order id (or a key given as is)."""
        if order_id in self.orders:
            return order_id
        return self.by_exchange_id.get(order_id, order_id)

    # ------------------------------------------------------------------ orders
    def add_pending(self, handle: OrderHandle, ts: int) -> Order:
        order = Order(handle.key, handle.request, S.CREATED, ts, ts)
        self.orders[handle.key] = order
        self.handles[handle.key] = handle
        self._events.append(OrderUpdate(order, ts))
        return order

    def ack(self, key: str, exchange_id: str) -> None:
        if exchange_id:
            self.by_exchange_id[exchange_id] = key
            handle = self.handles.get(key)
            if handle is not None:
                handle.exchange_id = exchange_id

    def reject(self, key: str, reason: str, ts: int) -> Order | None:
        """A create the exchange refused (or that never reached it)."""
        order = self.orders.get(key)
        if order is None or order.status is not S.CREATED:
            return order  # pushes already told us more than the failed reply
        return self._move(order, S.REJECTED, ts, reject_reason=reason)

    def _move(self, order: Order, status: OrderStatus, ts: int, **changes: Any) -> Order:
        path = _path(order.status, status)
        if path is None:
            raise ValueError(f"no legal path {order.status.bybit} -> {status.bybit}")
        if not path:  # same status: a field update (legal self-loop or not)
            new = replace(order, updated_ts=ts, **changes)
        else:
            new = order
            for step in path[:-1]:  # states a missed push would have reported
                new = new.moved_to(step, ts)
                self._events.append(OrderUpdate(new, ts))
            new = replace(new.moved_to(path[-1], ts), **changes)
        self.orders[order.order_id] = new
        self._events.append(OrderUpdate(new, new.updated_ts))
        if new.status.is_terminal:
            self._resolve(new)
        return new

    def _resolve(self, order: Order) -> None:
        handle = self.handles.get(order.order_id)
        if handle is not None and not handle.future.done():
            handle.future.set_result(order)
        if order.filled_qty > 0 and not order.request.reduce_only:
            self.entries_filled.append(order)
            if _has_brackets(order):
                self.brackets_due.append(order)

    def apply_order_row(self, row: dict[str, Any]) -> Order | None:
        key = row_key(row)
        if not key or str(row.get("stopOrderType")) in POSITION_TPSL:
            # a position's TP/SL order (Partial TP/SL): the protection job confirms those;
            # the book's orders are the ones the engine placed or could have placed
            return None
        exchange_id = str(row.get("orderId") or "")
        if exchange_id:
            self.by_exchange_id[exchange_id] = key
        try:
            status = OrderStatus.from_bybit(str(row.get("orderStatus")))
        except ValueError:
            log.warning("unknown orderStatus in %s", row.get("orderStatus"))
            return None
        ts = inum(row, "updatedTime")
        cum = fnum(row, "cumExecQty")
        order = self.orders.get(key)
        if order is None:
            request = request_from_row(row)
            if request is None:
                return None
            created = inum(row, "createdTime", ts)
            order = Order(key, request, S.CREATED, created, created)
            self.orders[key] = order
        last_ts = self._row_ts.get(key, -1)
        if order.status.is_terminal or ts < last_ts or cum < order.filled_qty - 1e-12:
            self.stale_rows += 1  # an old or duplicated push: the book already knows more
            return order
        if _path(order.status, status) is None:
            self.stale_rows += 1
            return order
        filled = max(cum, self._fill_qty.get(key, 0.0))
        changes: dict[str, Any] = {"filled_qty": filled}
        avg = fnum(row, "avgPrice")
        if avg > 0:
            changes["avg_fill_price"] = avg
        changes["cum_fee"] = max(fnum(row, "cumExecFee"), order.cum_fee)
        reason = str(row.get("rejectReason") or "")
        if status is S.REJECTED and reason and reason != "EC_NoError":
            changes["reject_reason"] = reason
        # An amend changes qty/price/trigger: keep the request in step with the exchange.
        if order.is_open and not status.is_terminal:
            req = order.request
            qty = fnum(row, "qty", req.qty)
            price = fnum(row, "price") if req.price is not None else None
            trig = fnum(row, "triggerPrice") if req.trigger_price is not None else None
            if (qty > 0 and qty != req.qty) or (price and price != req.price) or (
                    trig and trig != req.trigger_price):
                try:
                    changes["request"] = replace(req, qty=qty if qty > 0 else req.qty,
                                                 price=price or req.price,
                                                 trigger_price=trig or req.trigger_price)
                except ValueError as exc:
                    # the exchange reports an order we cannot represent: keep the request we
                    # sent, say so, and let a reconciliation read the truth back
                    log.warning("order %s (%s): the exchange reports qty %s price %s trigger %s, "
                                "which is not a valid request (%s); keeping qty %s price %s "
                                "trigger %s until the next reconciliation", key,
                                order.request.order_link_id, qty, price, trig, exc, req.qty,
                                req.price, req.trigger_price)
                    self.needs_reconcile = True
                    self.invalid_rows.append(f"order {key}: {exc}")
        self._row_ts[key] = ts
        if (status == order.status and filled == order.filled_qty
                and changes.get("request") is None and not changes.get("reject_reason")):
            return order  # a duplicate: nothing new
        return self._move(order, status, ts, **changes)

    # ------------------------------------------------------------------ fills
    def apply_execution_row(self, row: dict[str, Any]) -> Fill | None:
        exec_id = str(row.get("execId") or "")
        if not exec_id or exec_id in self.exec_ids:
            return None  # duplicate push or already reconciled
        fill = fill_from_row(row)
        self.exec_ids.add(exec_id)
        self.fills.append(fill)
        self._events.append(FillEvent(fill, fill.ts))
        key = fill.order_link_id or self.key_of(fill.order_id)
        if fill.exec_type is not ExecType.FUNDING and key:
            total = self._fill_qty.get(key, 0.0) + fill.qty
            self._fill_qty[key] = total
            order = self.orders.get(key)
            if order is not None and order.is_open and total > order.filled_qty + 1e-12:
                status = S.FILLED if total >= order.request.qty - 1e-12 else S.PARTIALLY_FILLED
                if _path(order.status, status) is not None:
                    avg = ((order.avg_fill_price * order.filled_qty + fill.price * fill.qty)
                           / total)
                    self._move(order, status, fill.ts, filled_qty=total,
                               avg_fill_price=avg, cum_fee=order.cum_fee + fill.fee)
        return fill

    # ------------------------------------------------------------------ account
    def apply_position_row(self, row: dict[str, Any], ts: int = 0) -> Position | None:
        symbol = str(row.get("symbol") or "")
        if not symbol:
            return None
        seq = inum(row, "seq", -1)
        last = self._pos_seq.get(symbol, -1)
        if seq >= 0 and seq < last:
            self.stale_rows += 1
            return None
        if seq >= 0:
            self._pos_seq[symbol] = seq
        pos = position_from_row(row)
        self.positions[symbol] = pos
        self._events.append(PositionUpdate(pos, ts or int(pos.updated_ts)))
        return pos

    def apply_wallet_row(self, row: dict[str, Any], ts: int = 0) -> Balance:
        bal = balance_from_row(row, ts)
        self.balance = bal
        self._events.append(BalanceUpdate(bal, ts))
        return bal

    def mark(self, symbol: str, price: float, ts: int) -> None:
        """Mark the position to `price` (the 1m close): uPnL and equity as the kernel does."""
        pos = self.positions.get(symbol)
        upnl = 0.0
        if pos is not None and pos.side != 0:
            pos.mark_price = price
            pos.unrealized_pnl = pos.side * pos.size * (price - pos.entry_price)
            upnl = pos.unrealized_pnl
        others = sum(p.unrealized_pnl for s, p in self.positions.items()
                     if s != symbol and p.side != 0)
        b = self.balance
        self.balance = replace(b, equity=b.wallet_balance + upnl + others, ts=ts)


def _has_brackets(order: Order) -> bool:
    r = order.request
    return bool(r.take_profit_levels) or any(
        v is not None for v in (r.stop_loss_offset, r.take_profit_offset, r.trailing_offset,
                                r.trailing_distance))
