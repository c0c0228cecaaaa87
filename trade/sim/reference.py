"""The reference simulator: docs/fill_model.md, line by line, in plain Python.

Written for clarity, not speed. It has the same step API as the compiled
`trade.sim.SimExchange`; property tests require both (and the compiled batch
runner) to produce identical trade logs and equity curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa

from trade._kernels.position import Position
from trade.core.enums import ExecType, OrderStatus, OrderType, Side, TimeInForce
from trade.core.models import (
    MAX_TP_LEVELS,
    AdapterEvent,
    Balance,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderUpdate,
    PositionUpdate,
)
from trade.sim.config import Intrabar, SimConfig, round_to_tick, tick_grid
from trade.sim.rejects import RejectCode
from trade.sim.results import EQUITY_SCHEMA, trades_table

FUNDING_PERIOD_MS = 8 * 3_600_000
BAR_MS = 60_000


@dataclass(slots=True)
class _Resting:
    """An order the reference keeps, with the bookkeeping the rules need."""

    order: Order
    seq: int
    active_from_bar: int  # first bar index on which it may fill
    marketable: bool = False  # a limit that crossed the last close at placement
    limit_after_trigger: bool = False  # a triggered stop-limit now resting as a limit


@dataclass(slots=True)
class _Pos:
    side: int = 0
    size: float = 0.0
    entry: float = 0.0
    leverage: float = 1.0
    margin: float = 0.0
    liq: float = 0.0
    bust: float = 0.0
    stop_loss: float = 0.0
    take_profit: float = 0.0
    trailing_distance: float = 0.0
    trailing_stop: float = 0.0
    best: float = 0.0  # most favourable price since entry
    be_activation: float = 0.0
    be_offset: float = 0.0
    be_done: bool = False
    trail_arm_price: float = 0.0  # price whose reach arms the trail (0 = armed when set)
    trail_armed: bool = False  # an unarmed trailing stop neither ratchets nor triggers
    entry_fees: float = 0.0  # fees of opening fills not yet attributed to a closed trade
    funding: float = 0.0  # funding not yet attributed to a closed trade
    realized: float = 0.0
    fees_paid: float = 0.0
    funding_paid: float = 0.0
    mae: float = 0.0
    mfe: float = 0.0
    opened_ts: int = 0
    updated_ts: int = 0
    opened_bar: int = -1
    entry_fill_price: float = 0.0
    # Partial mode (docs/fill_model.md rule 4, A-D): split take-profit levels nearest first,
    # each [price, qty (inf: the whole position), state LV_*], limit / mark brackets and a
    # resting limit stop loss (the trailing stop is always a market stop)
    cx: bool = False
    tp_limit: bool = False
    sl_limit: bool = False
    tp_mark: bool = False
    sl_mark: bool = False
    levels: list[list[float]] = field(default_factory=list)
    sl_rest: bool = False
    sl_rest_px: float = 0.0


#: states of a take-profit level: waiting for its trigger, a limit resting at its price, a
#: limit placed marketable at a mark trigger (its first bar)
LV_WAIT, LV_REST, LV_FRESH = 0, 1, 2


def _floor_step(qty: float, step: float) -> float:
    return math.floor(qty / step + 1e-9) * step if step > 0 else qty


def _reached(side: int, x: float, level: float) -> bool:
    """x is at or beyond level in the position's favour (long: x >= level)."""
    return x >= level if side > 0 else x <= level


def _past(side: int, x: float, level: float) -> bool:
    """x is strictly beyond level in the position's favour (long: x > level)."""
    return x > level if side > 0 else x < level


def _capped(side: int, px: float, level: float) -> float:
    """A marketable limit closing the position fills no worse than its price."""
    return px if _past(side, px, level) else level


@dataclass(slots=True)
class _BarCtx:
    ts: int
    o: float
    h: float
    l: float  # noqa: E741
    c: float
    index: int


@dataclass(slots=True)
class ReferenceExchange:
    """Plain-Python simulator with the SimExchange step API (see docs/fill_model.md)."""

    config: SimConfig
    wallet: float = 0.0
    pos: _Pos = field(default_factory=_Pos)
    orders: dict[str, _Resting] = field(default_factory=dict)
    all_orders: dict[str, Order] = field(default_factory=dict)
    events: list[AdapterEvent] = field(default_factory=list)
    trades: list[dict[str, object]] = field(default_factory=list)
    equity_rows: list[tuple[int, float, float, float]] = field(default_factory=list)
    last_ts: int = -1
    last_close: float = math.nan
    last_mark: float = math.nan
    bar_index: int = -1
    _order_seq: int = 0
    _exec_seq: int = 0
    _reject_codes: dict[str, RejectCode] = field(default_factory=dict)
    _trade_seq: int = 0
    _finished: bool = False
    _split: tuple[int, float] | None = None  # (ts, open) of a bar awaiting on_bar_rest
    # the rest of a portfolio's account as this member's orders see it (0 alone): the other
    # members' wallet changes and margin in use (set by the portfolio driver before it acts)
    others_wallet: float = 0.0
    others_used: float = 0.0

    def __post_init__(self) -> None:
        self.wallet = self.config.initial_balance
        self.pos.leverage = self.config.leverage

    # ----------------------------------------------------------------- helpers
    @property
    def _now(self) -> int:
        return max(self.last_ts, 0)

    def _emit_order(self, order: Order) -> None:
        self.all_orders[order.order_id] = order
        self.events.append(OrderUpdate(order, order.updated_ts))

    def _move(self, rec: _Resting, status: OrderStatus, **changes: object) -> None:
        rec.order = rec.order.moved_to(status, self._now, **changes)
        self._emit_order(rec.order)
        if rec.order.status.is_terminal:
            self.orders.pop(rec.order.order_id, None)

    def _reserved_margin(self, exclude: str = "") -> float:
        total = 0.0
        for oid, rec in self.orders.items():
            req = rec.order.request
            if oid == exclude or req.reduce_only or req.order_type is OrderType.MARKET:
                continue
            px = req.price if req.price is not None else req.trigger_price
            assert px is not None
            total += rec.order.leaves_qty * px / self.config.leverage
        return total

    def _used_margin(self) -> float:
        return self.pos.margin + self._reserved_margin()

    def _slipped(self, px: float, side: int) -> float:
        """A taker fill moved against the trader by slippage, on the tick grid rounded against
        the trader too (buy: up, sell: down); without slippage the price is untouched."""
        slip = self.config.slippage
        if slip == 0.0:
            return px
        moved = px * (1 + slip) if side > 0 else px * (1 - slip)
        units, decimals = tick_grid(self.config.tick_size)
        if units == 0:
            return moved
        tick = self.config.tick_size
        n = math.ceil(moved / tick - 1e-9) if side > 0 else math.floor(moved / tick + 1e-9)
        return float(n * units) / float(10**decimals)

    def _upnl(self, price: float) -> float:
        p = self.pos
        return (price - p.entry) * p.size * p.side if p.side else 0.0

    def _liq_prices(self, entry: float, side: int) -> tuple[float, float]:
        lev, mmr = self.config.leverage, self.config.maintenance_margin_rate
        if side > 0:
            return entry * (1 - 1 / lev + mmr), entry * (1 - 1 / lev)
        return entry * (1 + 1 / lev - mmr), entry * (1 + 1 / lev)

    # --------------------------------------------------------------- step API
    def submit(self, request: OrderRequest) -> Order:
        if request.symbol != self.config.symbol:
            raise ValueError(f"order symbol {request.symbol!r} != {self.config.symbol!r}")
        self._order_seq += 1
        oid = f"o-{self._order_seq}"
        order = Order(oid, request, OrderStatus.CREATED, self._now, self._now)
        code, reason = self._rejection(request)
        self._reject_codes[oid] = code
        if code:
            order = order.moved_to(OrderStatus.REJECTED, self._now, reject_reason=reason)
            self._emit_order(order)
            return order
        rec = _Resting(order, self._order_seq, self.bar_index + 1)
        if request.order_type is OrderType.LIMIT:
            assert request.price is not None
            crosses = (
                request.price >= self.last_close
                if request.side is Side.BUY
                else request.price <= self.last_close
            )
            rec.marketable = crosses
        first = OrderStatus.UNTRIGGERED if request.order_type.is_conditional else OrderStatus.NEW
        rec.order = order.moved_to(first, self._now)
        self.orders[oid] = rec
        self._emit_order(rec.order)
        return rec.order

    def _rejection(self, req: OrderRequest) -> tuple[RejectCode, str]:
        cfg = self.config
        if self._finished:
            return RejectCode.FINISHED, "exchange finished"
        if math.isnan(self.last_close):
            return RejectCode.NO_PRICE, "no market price yet"
        if req.qty < cfg.min_qty:
            return RejectCode.MIN_QTY, f"qty {req.qty} below minimum {cfg.min_qty}"
        if req.time_in_force is TimeInForce.POST_ONLY:
            assert req.price is not None
            crosses = (
                req.price >= self.last_close
                if req.side is Side.BUY
                else req.price <= self.last_close
            )
            if crosses:  # post-only that would cross at placement is rejected
                return RejectCode.POST_ONLY, "post-only order would cross"
        p = self.pos
        if req.reduce_only:
            if p.side == 0:
                return RejectCode.RO_FLAT, "reduce-only order with no position"
            if int(req.side) == p.side:
                return RejectCode.RO_INCREASE, "reduce-only order would increase the position"
            return RejectCode.NONE, ""
        ref = self._ref_price(req)
        opening_qty = req.qty
        if p.side and int(req.side) != p.side:
            opening_qty = max(req.qty - p.size, 0.0)
        if opening_qty > 0 and req.qty * ref < cfg.min_notional:
            return RejectCode.MIN_NOTIONAL, f"order notional below minimum {cfg.min_notional}"
        need = opening_qty * ref / cfg.leverage + opening_qty * ref * cfg.taker_fee
        # one wallet for a portfolio: the other members' balance and margin count (0 alone)
        available = (self.wallet + self.others_wallet) - (self._used_margin() + self.others_used)
        if need > available + 1e-12:
            return RejectCode.BALANCE, "insufficient available balance"
        return RejectCode.NONE, ""

    def reject_code(self, order_id: str) -> int:
        """Why an order was refused or cancelled (trade.sim.rejects.RejectCode; 0 = not)."""
        if order_id not in self._reject_codes:
            raise ValueError(f"order {order_id!r} not found")
        return int(self._reject_codes[order_id])

    def _ref_price(self, req: OrderRequest) -> float:
        if req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert req.price is not None
            return req.price
        if req.order_type is OrderType.STOP_MARKET:
            assert req.trigger_price is not None
            return req.trigger_price
        return self.last_close

    def cancel(self, order_id: str) -> Order:
        rec = self._open(order_id)
        status = (
            OrderStatus.DEACTIVATED
            if rec.order.status is OrderStatus.UNTRIGGERED
            else OrderStatus.CANCELLED
        )
        self._move(rec, status)
        return rec.order

    def amend(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        rec = self._open(order_id)
        req = rec.order.request
        changes: dict[str, object] = {}
        if qty is not None:
            if not (math.isfinite(qty) and qty > rec.order.filled_qty):
                raise ValueError(f"amend qty {qty!r} must exceed the filled qty")
            changes["qty"] = qty
        if price is not None:
            if req.price is None:
                raise ValueError(f"order {order_id} has no price to amend")
            changes["price"] = price
        if trigger_price is not None:
            if req.trigger_price is None or rec.order.status is not OrderStatus.UNTRIGGERED:
                raise ValueError(f"order {order_id} has no pending trigger to amend")
            changes["trigger_price"] = trigger_price
        new_req = replace(req, **changes)  # type: ignore[arg-type]
        if new_req.time_in_force is TimeInForce.POST_ONLY and new_req.price is not None:
            crosses = (
                new_req.price >= self.last_close
                if new_req.side is Side.BUY
                else new_req.price <= self.last_close
            )
            if crosses:
                raise ValueError("amend would make a post-only order cross")
        rec.order = rec.order.moved_to(rec.order.status, self._now, request=new_req)
        if new_req.order_type is OrderType.LIMIT and new_req.price is not None:
            rec.marketable = (
                new_req.price >= self.last_close
                if new_req.side is Side.BUY
                else new_req.price <= self.last_close
            )
        self._emit_order(rec.order)
        return rec.order

    def _open(self, order_id: str) -> _Resting:
        rec = self.orders.get(order_id)
        if rec is None:
            known = self.all_orders.get(order_id)
            if known is None:
                raise ValueError(f"order {order_id!r} not found")
            raise ValueError(f"order {order_id!r} is not open ({known.status.bybit})")
        return rec

    def set_trading_stop(
        self,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        p = self.pos
        if p.side == 0:
            raise ValueError("set_trading_stop needs an open position")
        for name, v in (
            ("take_profit", take_profit),
            ("stop_loss", stop_loss),
            ("trailing_distance", trailing_distance),
            ("trailing_active_price", trailing_active_price),
        ):
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        if trailing_active_price and not trailing_distance:
            raise ValueError("trailing_active_price needs a trailing_distance > 0")
        if take_profit is not None:
            if p.cx:
                p.levels = []  # Partial mode: one level for the whole position replaces them
            p.take_profit = take_profit
            if p.cx:
                self._partial_sync()
        if stop_loss is not None:
            p.stop_loss = stop_loss
        if trailing_distance is not None:
            p.trailing_distance = trailing_distance
            p.trailing_stop = 0.0
            act = trailing_active_price or 0.0
            # armed at once unless the best price since entry has yet to reach the activation
            reached = p.best >= act if p.side > 0 else p.best <= act
            p.trail_armed = trailing_distance > 0 and (act <= 0 or reached)
            p.trail_arm_price = 0.0 if p.trail_armed else act
            if p.trail_armed:
                p.trailing_stop = p.best - trailing_distance * p.side
        self._emit_position()

    def set_take_profit_levels(
        self, levels: Sequence[tuple[float, float]], *, limit: bool = False, by_mark: bool = False
    ) -> None:
        """Replace the position's take-profit(s) with split levels (as SimExchange's)."""
        p = self.pos
        if p.side == 0:
            raise ValueError("set_take_profit_levels needs an open position")
        pairs = []
        for level in levels:
            try:
                px, qty = level
                px, qty = float(px), float(qty)
            except (TypeError, ValueError):
                raise ValueError(
                    f"a take-profit level is a (price, qty) pair, got {level!r}") from None
            if not (math.isfinite(px) and px > 0 and math.isfinite(qty) and qty > 0):
                raise ValueError(
                    f"take-profit level {level!r}: price and qty must be finite and > 0")
            pairs.append((px, qty))
        if len(pairs) > MAX_TP_LEVELS:
            raise ValueError(f"at most {MAX_TP_LEVELS} take-profit levels, got {len(pairs)}")
        p.levels = []
        for px, qty in pairs:
            self._add_level(px, qty)
        p.take_profit = 0.0  # the levels replace every take-profit, a Full-mode one too
        p.tp_limit, p.tp_mark = bool(limit), bool(by_mark)
        self._partial_sync()
        self._emit_position()

    def set_stop_mode(self, *, limit: bool, by_mark: bool) -> None:
        """How the position's stop fills and triggers (as SimExchange's)."""
        p = self.pos
        if p.side == 0:
            raise ValueError("set_stop_mode needs an open position")
        p.sl_limit, p.sl_mark = bool(limit), bool(by_mark)
        self._partial_sync()
        self._emit_position()

    def take_profit_levels(self) -> list[tuple[float, float]]:
        """The split take-profits still to fill, nearest first (as SimExchange's)."""
        return [(lv[0], min(lv[1], self.pos.size)) for lv in self.pos.levels]

    def _add_level(self, px: float, qty: float) -> None:
        """A take-profit level, kept nearest first, after those at the same price."""
        p = self.pos
        if len(p.levels) >= MAX_TP_LEVELS:
            return
        k = len(p.levels)
        while k > 0 and (p.levels[k - 1][0] > px if p.side > 0 else p.levels[k - 1][0] < px):
            k -= 1
        p.levels.insert(k, [px, qty, LV_WAIT])

    def _partial_sync(self) -> None:
        """Partial mode when a level or a limit / mark bracket is set; in it a Full-mode
        take-profit becomes one level for the whole position when there is none yet."""
        p = self.pos
        p.cx = bool(p.levels) or p.tp_limit or p.sl_limit or p.tp_mark or p.sl_mark
        if not p.sl_limit:
            p.sl_rest = False
        if p.cx and p.take_profit > 0:
            if not p.levels:
                self._add_level(p.take_profit, math.inf)
            p.take_profit = 0.0

    def set_leverage(self, leverage: float) -> None:
        """Change the leverage, also with an open position (as the kernel's set_leverage)."""
        if not (math.isfinite(leverage) and leverage >= 1.0):
            raise ValueError(f"leverage must be a finite number >= 1, got {leverage!r}")
        self._not_split("set_leverage")
        self.config = replace(self.config, leverage=leverage)
        p = self.pos
        p.leverage = leverage
        if p.side:
            p.margin = p.entry * p.size / leverage
            p.liq, p.bust = self._liq_prices(p.entry, p.side)
        self._emit_position()

    def open_orders(self) -> list[Order]:
        return [rec.order for rec in sorted(self.orders.values(), key=lambda r: r.seq)]

    def drain_events(self) -> list[AdapterEvent]:
        out, self.events = self.events, []
        return out

    def position(self) -> Position:
        p = self.pos
        mark = self.last_mark if not math.isnan(self.last_mark) else 0.0
        return Position(
            self.config.symbol,
            side=p.side,
            size=p.size,
            entry_price=p.entry,
            leverage=self.config.leverage,
            margin=p.margin,
            liq_price=p.liq,
            bust_price=p.bust,
            mark_price=mark,
            unrealized_pnl=self._upnl(mark) if p.side else 0.0,
            realized_pnl=p.realized,
            fees_paid=p.fees_paid,
            funding_paid=p.funding_paid,
            stop_loss=p.stop_loss,
            take_profit=p.take_profit,
            trailing_distance=p.trailing_distance,
            trailing_stop=p.trailing_stop,
            mae=p.mae,
            mfe=p.mfe,
            maintenance_margin_rate=self.config.maintenance_margin_rate,
            opened_ts=p.opened_ts,
            updated_ts=p.updated_ts,
        )

    def balance(self) -> Balance:
        mark = self.last_mark if not math.isnan(self.last_mark) else 0.0
        upnl = self._upnl(mark) if self.pos.side else 0.0
        used = self._used_margin()
        return Balance(self.wallet, self.wallet + upnl, used, self.wallet - used, self._now)

    # ------------------------------------------------------------- validation
    def _check_bar(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        if ts <= self.last_ts:
            raise ValueError(f"bar ts {ts} is not after the previous bar ts {self.last_ts}")
        self._check_bar_prices(ts, o, h, lo, c, v)

    def _check_bar_prices(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        for name, x in (("open", o), ("high", h), ("low", lo), ("close", c)):
            if not (math.isfinite(x) and x > 0):
                raise ValueError(f"bar {ts}: {name} must be a finite price > 0, got {x!r}")
        if h < max(o, c) or lo > min(o, c) or h < lo:
            raise ValueError(f"bar {ts}: inconsistent OHLC (o={o}, h={h}, l={lo}, c={c})")
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"bar {ts}: volume must be >= 0, got {v!r}")

    # ---------------------------------------------------------------- one bar
    def on_bar(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        mark_price: float = math.nan,
        funding_rate: float = math.nan,
    ) -> None:
        """Process one 1m bar: exactly on_bar_open followed by on_bar_rest."""
        self._not_split("on_bar")
        self._check_bar(ts, open, high, low, close, volume)
        self.on_bar_open(ts, open)
        self.on_bar_rest(ts, open, high, low, close, volume, mark_price, funding_rate)

    def _not_split(self, what: str) -> None:
        if self._finished:
            raise ValueError(f"{what} after finish()")
        if self._split is not None:
            raise ValueError(f"{what} while bar {self._split[0]} awaits on_bar_rest")

    def on_bar_open(self, ts: int, open: float) -> None:
        """Start a 1m bar: rule 1 only (queued market orders fill at the open)."""
        self._not_split("on_bar_open")
        self._check_bar(ts, open, open, open, open, 0.0)
        self.bar_index += 1
        self.last_ts = ts
        self._split = (ts, open)
        bar = _BarCtx(ts, open, open, open, open, self.bar_index)
        self._fill_market_orders(bar)  # rule 1

    def on_bar_rest(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        mark_price: float = math.nan,
        funding_rate: float = math.nan,
    ) -> None:
        """Finish the bar on_bar_open started (same ts and open): rules 2-7."""
        if self._split is None:
            raise ValueError("on_bar_rest without a preceding on_bar_open")
        if ts != self._split[0]:
            raise ValueError(
                f"on_bar_rest: ts {ts} is not the ts {self._split[0]} "
                "of the bar on_bar_open started"
            )
        if open != self._split[1]:
            raise ValueError(
                f"bar {ts}: on_bar_rest open {open!r} differs from the open {self._split[1]!r} "
                "given to on_bar_open"
            )
        self._check_bar_prices(ts, open, high, low, close, volume)
        self._split = None
        bar = _BarCtx(ts, open, high, low, close, self.bar_index)
        # orders placed between the halves are first eligible on the next bar
        self._trigger_stops(bar)  # rule 2
        self._fill_limits(bar)  # rule 3
        self._check_exits(bar, mark_price)  # rule 4
        self._ratchet(bar)  # rule 5
        self._funding(bar, funding_rate)  # rule 6
        self._mark(bar, mark_price)  # rule 7

    def _active(self, bar: _BarCtx) -> list[_Resting]:
        return [
            r
            for r in sorted(self.orders.values(), key=lambda r: r.seq)
            if r.active_from_bar <= bar.index
        ]

    def _fill_market_orders(self, bar: _BarCtx) -> None:
        for rec in self._active(bar):
            if rec.order.request.order_type is not OrderType.MARKET:
                continue
            side = rec.order.request.side
            # market orders fill at the next 1m open, moved against the trader by slippage
            price = self._slipped(bar.o, int(side))
            self._execute(rec, price, bar, maker=False)

    def _trigger_stops(self, bar: _BarCtx) -> None:
        for rec in self._active(bar):
            req = rec.order.request
            if not req.order_type.is_conditional or rec.order.status is not OrderStatus.UNTRIGGERED:
                continue
            trig = req.trigger_price
            assert trig is not None
            rise = req.effective_trigger_direction == 1
            if rise:
                touched = bar.h >= trig
                trig_px = bar.o if bar.o >= trig else trig  # gap: the bar opens beyond the trigger
            else:
                touched = bar.l <= trig
                trig_px = bar.o if bar.o <= trig else trig
            if not touched:
                continue
            self._move(rec, OrderStatus.TRIGGERED)
            if req.order_type is OrderType.STOP_MARKET:
                px = self._slipped(trig_px, int(req.side))
                self._execute(rec, px, bar, maker=False)
                continue
            limit = req.price
            assert limit is not None
            marketable = limit >= trig_px if req.side is Side.BUY else limit <= trig_px
            if marketable:
                if req.side is Side.BUY:
                    px = min(self._slipped(trig_px, 1), limit)
                else:
                    px = max(self._slipped(trig_px, -1), limit)
                self._execute(rec, px, bar, maker=False)
            else:
                rec.limit_after_trigger = True
                rec.active_from_bar = bar.index + 1  # rests as a limit from the next bar on
                self._move(rec, OrderStatus.NEW)

    def _fill_limits(self, bar: _BarCtx) -> None:
        for rec in self._active(bar):
            req = rec.order.request
            is_limit = req.order_type is OrderType.LIMIT or rec.limit_after_trigger
            if not is_limit or rec.order.status not in (
                OrderStatus.NEW,
                OrderStatus.PARTIALLY_FILLED,
            ):
                continue
            price = req.price
            assert price is not None
            buy = req.side is Side.BUY
            if rec.marketable:
                rec.marketable = False
                open_inside = bar.o <= price if buy else bar.o >= price
                if open_inside:
                    # a marketable limit fills at the open (with slippage) capped at its price
                    px = (min(self._slipped(bar.o, 1), price) if buy
                          else max(self._slipped(bar.o, -1), price))
                    self._execute(rec, px, bar, maker=False)
                    continue
            if buy:
                through = bar.l < price  # a touch does not fill: the queue ahead is unknown
                px = bar.o if bar.o <= price else price
            else:
                through = bar.h > price
                px = bar.o if bar.o >= price else price
            if through:
                self._execute(rec, px, bar, maker=True)
            elif req.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._move(rec, OrderStatus.CANCELLED)  # IOC/FOK: no fill on the first bar

    # ------------------------------------------------------------- execution
    def _execute(self, rec: _Resting, price: float, bar: _BarCtx, *, maker: bool) -> None:
        req = rec.order.request
        p = self.pos
        qty = rec.order.leaves_qty
        side = int(req.side)
        if req.reduce_only:
            if p.side == 0 or p.side == side:
                self._reject_codes[rec.order.order_id] = RejectCode.RO_CANCEL
                self._move(rec, OrderStatus.CANCELLED, reject_reason="reduce-only: no position")
                return
            qty = min(qty, p.size)  # reduce-only is clipped to the position: it never flips
        fee_rate = self.config.maker_fee if maker else self.config.taker_fee
        close_qty = min(qty, p.size) if p.side and p.side != side else 0.0
        open_qty = qty - close_qty
        if close_qty > 0:
            reason = "flip" if open_qty > 0 else "signal"
            self._close(
                close_qty,
                price,
                bar.ts,
                fee_rate,
                reason,
                ExecType.TRADE,
                rec.order.order_id,
                req.side,
                maker=maker,
            )
        if open_qty > 0:
            self._open_or_add(
                open_qty, price, side, bar, fee_rate, req, rec.order.order_id, maker=maker
            )
        filled = rec.order.filled_qty + qty
        avg = ((rec.order.avg_fill_price * rec.order.filled_qty) + price * qty) / filled
        fee = qty * price * fee_rate
        self._move(
            rec,
            OrderStatus.FILLED,
            filled_qty=filled,
            avg_fill_price=avg,
            cum_fee=rec.order.cum_fee + fee,
        )

    def _next_exec_id(self) -> str:
        self._exec_seq += 1
        return f"e-{self._exec_seq}"

    def _open_or_add(
        self,
        qty: float,
        price: float,
        side: int,
        bar: _BarCtx,
        fee_rate: float,
        req: OrderRequest,
        order_id: str,
        *,
        maker: bool,
    ) -> None:
        p = self.pos
        fee = qty * price * fee_rate
        opening = p.side == 0
        if opening:
            p.side = side
            p.size = qty
            p.entry = price
            p.opened_ts = bar.ts
            p.opened_bar = bar.index
            p.best = price
            p.mae = 0.0
            p.mfe = 0.0
            p.realized = 0.0
            p.fees_paid = 0.0
            p.funding_paid = 0.0
            p.entry_fees = 0.0
            p.funding = 0.0
            p.be_done = False
            p.entry_fill_price = price
        else:
            p.entry = (p.entry * p.size + price * qty) / (p.size + qty)
            p.size += qty
        p.margin = p.entry * p.size / self.config.leverage
        p.liq, p.bust = self._liq_prices(p.entry, p.side)
        p.entry_fees += fee
        p.fees_paid += fee
        p.updated_ts = bar.ts
        self.wallet -= fee
        # brackets relative to the fill price are set at the fill, on the tick grid
        tick = self.config.tick_size
        if req.stop_loss_offset is not None:
            p.stop_loss = round_to_tick(price * (1 - req.stop_loss_offset * side), tick)
        elif req.stop_loss is not None:
            p.stop_loss = req.stop_loss
        if req.take_profit_offset is not None:
            p.take_profit = round_to_tick(price * (1 + req.take_profit_offset * side), tick)
        elif req.take_profit is not None:
            p.take_profit = req.take_profit
        trail = None
        if req.trailing_offset is not None:
            trail = round_to_tick(req.trailing_offset * price, tick)
        elif req.trailing_distance is not None:
            trail = req.trailing_distance
        if trail is not None and trail > 0:
            # the trail attached to this fill replaces the position's (distance and activation);
            # a distance that rounds to zero ticks attaches no trail
            p.trailing_distance = trail
            act = req.trailing_activation or 0.0
            # the activation is a move of this fill's price, on the tick grid like activePrice
            arm = round_to_tick(price * (1 + act * side), tick) if act > 0 else 0.0
            # armed at the fill unless the best price has yet to reach the activation price
            reached = p.best >= arm if side > 0 else p.best <= arm
            p.trail_armed = arm <= 0 or reached
            p.trail_arm_price = 0.0 if p.trail_armed else arm
            # armed at once: it starts at best - distance; else no level until it arms
            p.trailing_stop = p.best - trail * side if p.trail_armed else 0.0
        if req.break_even_activation is not None:
            p.be_activation = req.break_even_activation
            p.be_offset = req.break_even_offset
            p.be_done = False
        levels = req.take_profit_levels
        if opening and (levels or req.tp_limit or req.sl_limit or req.tp_by_mark
                        or req.sl_by_mark):
            # the opening order's split take-profits and limit / mark settings become the
            # position's (an adding order keeps the position's levels: fixed prices and qty)
            p.tp_limit, p.sl_limit = req.tp_limit, req.sl_limit
            p.tp_mark, p.sl_mark = req.tp_by_mark, req.sl_by_mark
            if levels:
                p.take_profit = 0.0  # split take-profits replace the single one
                rem = p.size
                for i, (pct, frac) in enumerate(levels):
                    # A: level i at fill x (1 + side x pct_i) on the tick grid, for size_i of
                    # what the earlier levels leave (down to the qty step); the last: the rest
                    q = rem if i == len(levels) - 1 else _floor_step(rem * frac,
                                                                     self.config.qty_step)
                    if q <= 0:
                        continue
                    self._add_level(round_to_tick(price * (1 + pct * side), tick), q)
                    rem -= q
        if p.cx or p.levels or p.tp_limit or p.sl_limit or p.tp_mark or p.sl_mark:
            self._partial_sync()
        self.events.append(
            FillEvent(
                Fill(
                    self._next_exec_id(),
                    order_id,
                    self.config.symbol,
                    Side(side),
                    qty,
                    price,
                    fee,
                    maker,
                    bar.ts,
                    ExecType.TRADE,
                    "",
                    0.0,
                ),
                bar.ts,
            )
        )
        self._emit_position()

    def _close(
        self,
        qty: float,
        price: float,
        ts: int,
        fee_rate: float,
        reason: str,
        exec_type: ExecType,
        order_id: str,
        side: Side,
        *,
        maker: bool = False,
    ) -> None:
        p = self.pos
        frac = qty / p.size
        gross = (price - p.entry) * qty * p.side
        fee = qty * price * fee_rate
        entry_fee_share = p.entry_fees * frac
        funding_share = p.funding * frac
        self._trade_seq += 1
        self.trades.append(
            {
                "trade_id": self._trade_seq,
                "symbol": self.config.symbol,
                "side": p.side,
                "entry_ts": p.opened_ts,
                "exit_ts": ts,
                "entry_price": p.entry,
                "exit_price": price,
                "qty": qty,
                "gross_pnl": gross,
                "fees": entry_fee_share + fee,
                "funding": funding_share,
                "net_pnl": gross - entry_fee_share - fee - funding_share,
                "exit_reason": reason,
                "mae": p.mae * frac,
                "mfe": p.mfe * frac,
                "leverage": self.config.leverage,
            }
        )
        self.wallet += gross - fee
        p.entry_fees -= entry_fee_share
        p.funding -= funding_share
        p.realized += gross
        p.fees_paid += fee
        p.updated_ts = ts
        self.events.append(
            FillEvent(
                Fill(
                    self._next_exec_id(),
                    order_id,
                    self.config.symbol,
                    side,
                    qty,
                    price,
                    fee,
                    maker,
                    ts,
                    exec_type,
                    "",
                    gross,
                ),
                ts,
            )
        )
        if qty >= p.size - 1e-12 * max(p.size, 1.0):
            self._flatten(ts)
        else:
            p.size -= qty
            p.margin = p.entry * p.size / self.config.leverage
        self._emit_position()

    def _flatten(self, ts: int) -> None:
        lev = self.pos.leverage
        self.pos = _Pos(leverage=lev, updated_ts=ts)

    def _emit_position(self) -> None:
        self.events.append(PositionUpdate(self.position(), self._now))

    # ------------------------------------------------------------------ exits
    def _check_exits(self, bar: _BarCtx, mark_price: float = math.nan) -> None:
        p = self.pos
        if p.side == 0:
            return
        if p.cx:
            self._check_exits_partial(bar)
            # D: mark-price triggers after the path rules, before funding and the mark
            if self.pos.side != 0 and (self.pos.tp_mark or self.pos.sl_mark):
                self._mark_triggers(bar, mark_price)
            return
        start = p.entry_fill_price if p.opened_bar == bar.index else bar.o
        long = p.side > 0
        stop, stop_reason = self._effective_stop()
        tp = p.take_profit
        # (level, kind, is_adverse) of every level this bar touches
        touched: list[tuple[float, str]] = []
        if (long and bar.l <= p.liq) or (not long and bar.h >= p.liq):
            touched.append((p.liq, "liquidation"))
        if stop > 0 and ((long and bar.l <= stop) or (not long and bar.h >= stop)):
            touched.append((stop, stop_reason))
        if tp > 0 and ((long and bar.h >= tp) or (not long and bar.l <= tp)):
            touched.append((tp, "take_profit"))
        if not touched:
            return
        adverse = [t for t in touched if t[1] != "take_profit"]
        # the adverse level nearer the start fires first: a stop beyond liquidation never fires
        adverse.sort(key=lambda t: -t[0] if long else t[0])
        if self.config.intrabar is Intrabar.SL_FIRST or len(touched) == 1:
            # stop loss (or liquidation) wins when one 1m bar touches both it and the take-profit
            first = adverse[0] if adverse else touched[0]
        else:
            first = self._first_on_path(
                bar, start, adverse, [t for t in touched if t[1] == "take_profit"]
            )
        level, kind = first
        self._exit_at(level, kind, start, bar)

    def _effective_stop(self) -> tuple[float, str]:
        p = self.pos
        sl, tr = p.stop_loss, p.trailing_stop if p.trailing_distance > 0 else 0.0
        if tr <= 0:
            return sl, "stop_loss"
        if sl <= 0:
            return tr, "trailing_stop"
        # the tighter stop (nearer the price) is the effective one; a tie counts as stop loss
        if p.side > 0:
            return (tr, "trailing_stop") if tr > sl else (sl, "stop_loss")
        return (tr, "trailing_stop") if tr < sl else (sl, "stop_loss")

    def _first_on_path(
        self,
        bar: _BarCtx,
        start: float,
        adverse: list[tuple[float, str]],
        tps: list[tuple[float, str]],
    ) -> tuple[float, str]:
        long = self.pos.side > 0
        # path: start -> nearer extreme -> farther extreme -> close; ties go to the low first
        low_first = (start - bar.l) <= (bar.h - start)
        if low_first:
            legs = ["down", "up"]
        else:
            legs = ["up", "down"]
        for leg in legs:
            if (leg == "down") == long:
                if adverse:
                    return adverse[0]
            elif tps:
                return tps[0]
        return adverse[0] if adverse else tps[0]

    def _exit_at(self, level: float, kind: str, start: float, bar: _BarCtx) -> None:
        p = self.pos
        long = p.side > 0
        close_side = Side.SELL if long else Side.BUY
        if kind == "liquidation":
            # liquidation closes at the bankruptcy price and forfeits the margin; no fee
            self._close(
                p.size, p.bust, bar.ts, 0.0, "liquidation", ExecType.BUST_TRADE, "", close_side
            )
            return
        if kind == "take_profit":
            beyond = start >= level if long else start <= level
            px = start if beyond else level
            self._close(
                p.size,
                px,
                bar.ts,
                self.config.taker_fee,
                kind,
                ExecType.TAKE_PROFIT,
                "",
                close_side,
            )
            return
        beyond = start <= level if long else start >= level
        px = start if beyond else level  # a gap through the stop fills at the open
        px = self._slipped(px, -1 if long else 1)  # the closing side pays the slippage
        exec_type = ExecType.TRAILING_STOP if kind == "trailing_stop" else ExecType.STOP_LOSS
        self._close(p.size, px, bar.ts, self.config.taker_fee, kind, exec_type, "", close_side)

    # ----------------------------------------------------- Partial mode (rule 4, A-D)
    def _fill_level(self, k: int, px: float, maker: bool, bar: _BarCtx) -> None:
        """Level k fills its qty (one above the position's size closes it): a partial close."""
        p = self.pos
        q = min(p.levels[k][1], p.size)
        del p.levels[k]
        fee = self.config.maker_fee if maker else self.config.taker_fee
        close_side = Side.SELL if p.side > 0 else Side.BUY
        self._close(q, px, bar.ts, fee, "take_profit", ExecType.TAKE_PROFIT, "", close_side,
                    maker=maker)

    def _stop_limit_fill(self, px: float, bar: _BarCtx) -> None:
        """C: the limit stop loss fills: the whole position at px, maker fee, no slippage."""
        p = self.pos
        close_side = Side.SELL if p.side > 0 else Side.BUY
        self._close(p.size, px, bar.ts, self.config.maker_fee, "stop_loss", ExecType.STOP_LOSS,
                    "", close_side, maker=True)

    def _levels_path(self, start: float, bar: _BarCtx) -> None:
        """The favourable leg of the path: a resting limit stop, then the take-profit levels
        nearest first (one bar may fill several)."""
        p = self.pos
        side = p.side
        fav = bar.h if side > 0 else bar.l
        if p.sl_rest and _past(side, fav, p.sl_rest_px):
            # C: a resting limit stop trades once the price goes back through it, maker
            self._stop_limit_fill(p.sl_rest_px, bar)
            return
        k = 0
        while k < len(self.pos.levels) and self.pos.side != 0:
            lv, _, st = self.pos.levels[k]
            if st == LV_WAIT:
                if p.tp_mark or not _reached(side, fav, lv):
                    k += 1  # D: a mark-price level is not checked on the path
                    continue
                if not p.tp_limit:
                    # A: a market level: at its price, or at the start beyond it; taker
                    self._fill_level(k, start if _reached(side, start, lv) else lv, False, bar)
                    continue
                if _reached(side, start, lv):
                    # B: opened at/beyond it: marketable at the open, taker, slipped, capped
                    self._fill_level(k, _capped(side, self._slipped(start, -side), lv), False,
                                     bar)
                    continue
                if _past(side, fav, lv):
                    self._fill_level(k, lv, True, bar)  # B: traded through: at it, maker
                    continue
                self.pos.levels[k][2] = LV_REST  # B: a touch triggers it, does not fill
                k += 1
                continue
            if st == LV_FRESH and _reached(side, start, lv):
                # B+D: placed marketable: an open at/beyond it fills at once, taker, capped
                self._fill_level(k, _capped(side, self._slipped(start, -side), lv), False, bar)
                continue
            if _past(side, fav, lv):
                # B: a resting limit (rule 3): at its price or the open beyond it, maker
                self._fill_level(k, start if _reached(side, start, lv) else lv, True, bar)
                continue
            self.pos.levels[k][2] = LV_REST
            k += 1

    def _adverse_leg(
        self,
        start: float,
        bar: _BarCtx,
        liq_t: bool,
        sl_t: bool,
        sl: float,
        tr_t: bool,
        tr: float,
    ) -> None:
        """The adverse leg of the path in Partial mode: of the liquidation price, the stop loss
        (when checked on the path) and the trailing stop it reaches, the nearest acts first."""
        p = self.pos
        side = p.side
        if liq_t:
            # a stop at or beyond the liquidation price never fires (a tie is a liquidation)
            sl_t = sl_t and _past(side, sl, p.liq)
            tr_t = tr_t and _past(side, tr, p.liq)
        if tr_t and (not sl_t or _past(side, tr, sl)):
            # the trail reached first: always a last-price market stop (4b), whatever sl_limit says
            self._exit_at(tr, "trailing_stop", start, bar)
            return
        if sl_t:
            if not p.sl_limit:
                self._exit_at(sl, "stop_loss", start, bar)  # 4b: market (a tie beats the trail)
                return
            # C: the stop loss places a reduce-only limit at its level: triggered inside the bar
            # it fills there (maker) only when nothing further down the leg fires and the close
            # is back on the position's side of it; opened beyond it, it rests. It may never fill.
            if (not tr_t and not liq_t and not _reached(-side, start, sl)
                    and _past(side, bar.c, sl)):
                self._stop_limit_fill(sl, bar)
                return
            p.sl_rest, p.sl_rest_px = True, sl
        if tr_t:
            # C: a limit stop placed or resting does not stop the trail: it fires further down
            self._exit_at(tr, "trailing_stop", start, bar)
        elif liq_t:
            self._exit_at(p.liq, "liquidation", start, bar)  # liquidation still applies

    def _check_exits_partial(self, bar: _BarCtx) -> None:
        """Rule 4 a-c in Partial mode (rule 4, A-C)."""
        p = self.pos
        side = p.side
        long = side > 0
        start = p.entry_fill_price if p.opened_bar == bar.index else bar.o
        if p.sl_rest and _past(side, start, p.sl_rest_px):
            # C: a resting limit stop: the bar opens back beyond it: at the open, maker
            self._stop_limit_fill(start, bar)
            return
        adv = bar.l if long else bar.h
        liq_t = _reached(-side, adv, p.liq)
        # the trailing stop is always on the path (Bybit's trail: last price, market)
        tr = p.trailing_stop if p.trailing_distance > 0 else 0.0
        tr_t = tr > 0 and _reached(-side, adv, tr)
        # D: a mark-price stop loss is not checked on the path; C: a resting limit is no trigger
        sl = p.stop_loss
        sl_t = sl > 0 and not p.sl_mark and not p.sl_rest and _reached(-side, adv, sl)
        if not (liq_t or sl_t or tr_t):
            self._levels_path(start, bar)
        elif self.config.intrabar is Intrabar.SL_FIRST:
            # A: in a bar that touches a stop (or liquidation) no level fills
            self._adverse_leg(start, bar, liq_t, sl_t, sl, tr_t, tr)
        elif ((start - bar.l) <= (bar.h - start)) == long:
            # ohlc_path, the adverse extreme first (ties go to the low first)
            self._adverse_leg(start, bar, liq_t, sl_t, sl, tr_t, tr)
        else:
            self._levels_path(start, bar)
            if self.pos.side != 0:
                self._adverse_leg(start, bar, liq_t, sl_t, sl, tr_t, tr)
        for lv in self.pos.levels:
            if lv[2] == LV_FRESH:
                lv[2] = LV_REST  # a limit placed marketable had its first bar

    def _mark_triggers(self, bar: _BarCtx, mark_price: float) -> None:
        """Rule 4 d (D): mark-price triggers, once per 1m bar against the bar's mark."""
        p = self.pos
        side = p.side
        m = bar.c if math.isnan(mark_price) else mark_price
        if p.sl_mark and not p.sl_rest:
            # D: the mark checks the stop loss only (the trail is on the path, by the last price)
            stop = p.stop_loss
            if stop > 0 and _reached(-side, m, stop):
                if p.sl_limit:
                    # C+D: the mark trigger places the limit at the stop: it rests
                    p.sl_rest, p.sl_rest_px = True, stop
                else:
                    # D: a mark-price stop fills at the bar's close, slipped, taker
                    self._close(p.size, self._slipped(bar.c, -side), bar.ts,
                                self.config.taker_fee, "stop_loss", ExecType.STOP_LOSS, "",
                                Side.SELL if side > 0 else Side.BUY)
                return
        if not p.tp_mark:
            return
        k = 0
        while k < len(self.pos.levels) and self.pos.side != 0:
            lv, _, st = self.pos.levels[k]
            if st != LV_WAIT or not _reached(side, m, lv):
                k += 1
                continue
            if p.tp_limit:
                # D+B: the limit is placed now: marketable when the close is at/beyond it
                self.pos.levels[k][2] = LV_FRESH if _reached(side, bar.c, lv) else LV_REST
                k += 1
                continue
            self._fill_level(k, bar.c, False, bar)  # D: at the bar's close, taker, no slippage

    def _ratchet(self, bar: _BarCtx) -> None:
        p = self.pos
        if p.side == 0:
            return
        long = p.side > 0
        p.best = max(p.best, bar.h) if long else min(p.best, bar.l)
        if p.trailing_distance > 0 and not p.trail_armed:
            # the trail arms once the best price since entry reached the activation price
            p.trail_armed = p.best >= p.trail_arm_price if long else p.best <= p.trail_arm_price
        if p.trailing_distance > 0 and p.trail_armed:
            cand = p.best - p.trailing_distance * p.side
            # the trailing stop only moves in the trader's favour; it is checked from the next bar
            # (just armed: it starts at best - distance)
            if p.trailing_stop <= 0 or (cand > p.trailing_stop if long else cand < p.trailing_stop):
                p.trailing_stop = cand
        if p.be_activation > 0 and not p.be_done:
            excursion = (p.best - p.entry) / p.entry * p.side
            if excursion >= p.be_activation:
                be = round_to_tick(p.entry * (1 + p.be_offset * p.side), self.config.tick_size)
                if p.stop_loss <= 0 or (be > p.stop_loss if long else be < p.stop_loss):
                    p.stop_loss = be  # break-even never loosens an existing stop
                p.be_done = True

    def _funding(self, bar: _BarCtx, funding_rate: float) -> None:
        p = self.pos
        if p.side == 0 or (bar.ts + BAR_MS) % FUNDING_PERIOD_MS != 0:
            return
        rate = funding_rate if not math.isnan(funding_rate) else self.config.funding_rate
        if rate == 0:
            return
        # longs pay a positive rate on the notional at the 1m close; shorts receive it
        payment = p.size * bar.c * rate * p.side
        self.wallet -= payment
        p.funding += payment
        p.funding_paid += payment
        self.events.append(
            FillEvent(
                Fill(
                    self._next_exec_id(),
                    "",
                    self.config.symbol,
                    Side.BUY if p.side > 0 else Side.SELL,
                    0.0,
                    bar.c,
                    payment,
                    False,
                    bar.ts,
                    ExecType.FUNDING,
                ),
                bar.ts,
            )
        )

    def _mark(self, bar: _BarCtx, mark_price: float) -> None:
        p = self.pos
        self.last_close = bar.c
        self.last_mark = mark_price if not math.isnan(mark_price) else bar.c
        if p.side:
            # MAE/MFE follow the 1m lows and highs
            if p.side > 0:
                p.mae = min(p.mae, (bar.l - p.entry) * p.size)
                p.mfe = max(p.mfe, (bar.h - p.entry) * p.size)
            else:
                p.mae = min(p.mae, (p.entry - bar.h) * p.size)
                p.mfe = max(p.mfe, (p.entry - bar.l) * p.size)
        upnl = self._upnl(self.last_mark) if p.side else 0.0
        self.equity_rows.append((bar.ts, self.wallet + upnl, self.wallet, p.size * p.side))

    def finish(self) -> None:
        """Close an open position at the last close (reason end_of_data) and stop."""
        if self._split is not None:
            raise ValueError(f"finish() while bar {self._split[0]} awaits on_bar_rest")
        if self._finished:
            return
        p = self.pos
        if p.side and self.last_ts >= 0:
            side = Side.SELL if p.side > 0 else Side.BUY
            self._close(
                p.size,
                self.last_close,
                self.last_ts,
                self.config.taker_fee,
                "end_of_data",
                ExecType.TRADE,
                "",
                side,
            )
        for rec in list(self.orders.values()):
            self.cancel(rec.order.order_id)
        self._finished = True

    # ---------------------------------------------------------------- results
    def trade_log(self) -> pa.Table:
        return trades_table(self.trades)

    def equity_curve(self) -> pa.Table:
        ts, eq, wallet, qty = zip(*self.equity_rows, strict=True) if self.equity_rows else ((),) * 4
        return pa.table(
            {
                "ts": list(ts),
                "equity": list(eq),
                "wallet_balance": list(wallet),
                "position_qty": list(qty),
            },
            schema=EQUITY_SCHEMA,
        )
