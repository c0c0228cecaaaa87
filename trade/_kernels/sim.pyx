# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The Python face of the compiled simulation kernel (docs/fill_model.md).

Two faces over the same nogil engine functions: `SimExchange` (the step API, one 1m bar at a
time, emitting adapter events) and `run_batch_arrays` / `run_batch_summary_arrays` (a whole run
of precomputed signals in one nogil loop). The engine itself is split by concern, each part with
its .pxd: engine (state, buffers, event log), ledger (position arithmetic), book (the account's
orders), fills (the 1m bar rules), batch (the batch runner). This module holds everything that
touches Python objects: the code tables, the error texts, requests in and events out.

The arithmetic mirrors trade/sim/reference.py operation by operation so that both produce the
same floating-point results; keep them in step.
"""

from libc.math cimport NAN
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from trade._kernels.position cimport PositionState, Position
from trade._kernels.lifecycle cimport is_terminal, ST_CREATED, ST_UNTRIGGERED
from trade._kernels.engine cimport *
from trade._kernels.ledger cimport set_liq, used_margin, add_level, partial_sync
from trade._kernels.book cimport engine_submit, engine_cancel, engine_amend
from trade._kernels.fills cimport (
    engine_bar, engine_bar_open, engine_bar_rest, engine_finish, check_bar,
)
from trade._kernels.batch cimport *

cdef void _set_tick(Engine* e, double tick) noexcept:
    from trade.sim.config import tick_grid
    units, decimals = tick_grid(tick)
    e.cfg.tick = tick if units > 0 else 0.0
    e.cfg.tick_units = units
    e.cfg.tick_scale = 10.0 ** decimals


# the RJ_* enum of engine.pxd by name (trade.sim.rejects.RejectCode mirrors it; a test checks)
REJECT_CODES = {"NONE": RJ_NONE, "FINISHED": RJ_FINISHED, "NO_PRICE": RJ_NO_PRICE,
                "MIN_QTY": RJ_MIN_QTY, "POST_ONLY": RJ_POST_ONLY, "RO_FLAT": RJ_RO_FLAT,
                "RO_INCREASE": RJ_RO_INCREASE, "MIN_NOTIONAL": RJ_MIN_NOTIONAL,
                "BALANCE": RJ_BALANCE, "RO_CANCEL": RJ_RO_CANCEL}

# the OT_/TIF_/X_/R_ enums of engine.pxd by name: trade.core.enums.OrderType, TimeInForce,
# ExecType and ExitReason mirror them member for member (tests/test_code_tables.py)
ORDER_TYPE_CODES = {"MARKET": OT_MARKET, "LIMIT": OT_LIMIT, "STOP_MARKET": OT_STOP_MARKET,
                    "STOP_LIMIT": OT_STOP_LIMIT}
TIME_IN_FORCE_CODES = {"GTC": TIF_GTC, "IOC": TIF_IOC, "FOK": TIF_FOK,
                       "POST_ONLY": TIF_POST_ONLY}
EXEC_TYPE_CODES = {"TRADE": X_TRADE, "FUNDING": X_FUNDING, "BUST_TRADE": X_BUST_TRADE,
                   "STOP_LOSS": X_STOP_LOSS, "TAKE_PROFIT": X_TAKE_PROFIT,
                   "TRAILING_STOP": X_TRAILING_STOP}
EXIT_REASON_CODES = {"SIGNAL": R_SIGNAL, "STOP_LOSS": R_STOP_LOSS,
                     "TAKE_PROFIT": R_TAKE_PROFIT, "TRAILING_STOP": R_TRAILING_STOP,
                     "LIQUIDATION": R_LIQUIDATION, "FLIP": R_FLIP,
                     "END_OF_DATA": R_END_OF_DATA}

BAR_ERRORS = {
    1: "ts",
    2: "open",
    3: "high",
    4: "low",
    5: "close",
    6: "high",
    7: "high",
    8: "low",
    9: "volume",
    10: "mark_price",
    11: "funding_rate",
}
BAR_MESSAGES = {
    1: "ts must be strictly increasing (unsorted or duplicate timestamp)",
    2: "open must be a finite price > 0",
    3: "high must be a finite price > 0",
    4: "low must be a finite price > 0",
    5: "close must be a finite price > 0",
    6: "high < low",
    7: "high < max(open, close)",
    8: "low > min(open, close)",
    9: "volume must be finite and >= 0",
    10: "mark_price must be NaN (none) or a finite price > 0",
    11: "funding_rate must be NaN (none) or finite",
}

EXIT_REASON_NAMES = ("signal", "stop_loss", "take_profit", "trailing_stop", "liquidation",
                     "flip", "end_of_data")


def _raise_engine_error(int err, long long a, long long b, long long c):
    if err == ERR_TRANSITION:
        from trade.core.lifecycle import IllegalTransitionError
        raise IllegalTransitionError(
            f"kernel bug: illegal order transition {b} -> {c} for order o-{a + 1}")
    if err == ERR_NOMEM:
        raise MemoryError("simulation kernel out of memory")


cdef inline void _check_err(Engine* e) except *:
    cdef int err = e.fault.code
    if err != ERR_NONE:
        e.fault.code = ERR_NONE
        _raise_engine_error(err, e.fault.a, e.fault.b, e.fault.c)



# =============================================================================
# The step API: SimExchange, one 1m bar at a time.

import math as _math

import pyarrow as _pa

from trade.core.enums import ExecType as _ExecType
from trade.core.enums import OrderStatus as _OrderStatus
from trade.core.enums import OrderType as _OrderType
from trade.core.enums import Side as _Side
from trade.core.enums import TimeInForce as _TimeInForce
from trade.core.models import Balance as _Balance
from trade.core.models import Fill as _Fill
from trade.core.models import FillEvent as _FillEvent
from trade.core.models import Order as _Order
from trade.core.models import OrderRequest as _OrderRequest
from trade.core.models import OrderUpdate as _OrderUpdate
from trade.core.models import PositionUpdate as _PositionUpdate


def _reject_text(int code, config) -> str:
    if code == RJ_NONE:
        return ""
    if code == RJ_FINISHED:
        return "exchange finished"
    if code == RJ_NO_PRICE:
        return "no market price yet"
    if code == RJ_MIN_QTY:
        return f"qty below minimum {config.min_qty}"
    if code == RJ_POST_ONLY:
        return "post-only order would cross"
    if code == RJ_RO_FLAT:
        return "reduce-only order with no position"
    if code == RJ_RO_INCREASE:
        return "reduce-only order would increase the position"
    if code == RJ_MIN_NOTIONAL:
        return f"order notional below minimum {config.min_notional}"
    if code == RJ_BALANCE:
        return "insufficient available balance"
    if code == RJ_RO_CANCEL:
        return "reduce-only: no position"
    return f"reason {code}"


cdef inline double _opt(object v):
    return 0.0 if v is None else <double>v


cdef void _order_from_request(COrder* o, object req) except *:
    cdef int k
    memset(o, 0, sizeof(COrder))
    o.side = int(req.side)
    o.otype = int(req.order_type)
    o.tif = int(req.time_in_force)
    o.trig_dir = req.effective_trigger_direction
    o.reduce_only = bool(req.reduce_only)
    o.qty = req.qty
    o.price = _opt(req.price)
    o.trigger = _opt(req.trigger_price)
    o.sl = _opt(req.stop_loss)
    o.tp = _opt(req.take_profit)
    o.trail = _opt(req.trailing_distance)
    o.sl_off = _opt(req.stop_loss_offset)
    o.tp_off = _opt(req.take_profit_offset)
    o.trail_off = _opt(req.trailing_offset)
    o.be_act = _opt(req.break_even_activation)
    o.trail_act = _opt(req.trailing_activation)
    o.be_off = req.break_even_offset
    levels = req.take_profit_levels
    o.n_lv = len(levels)
    for k in range(o.n_lv):
        o.lv_pct[k] = levels[k][0]
        o.lv_frac[k] = levels[k][1]
    o.tp_limit = req.tp_limit
    o.sl_limit = req.sl_limit
    o.tp_mark = req.tp_by_mark
    o.sl_mark = req.sl_by_mark


def _level_pairs(levels):
    """Absolute take-profit levels as float (price, qty) pairs, checked (ValueError)."""
    from trade.core.models import MAX_TP_LEVELS
    pairs = []
    for level in levels:
        try:
            px, qty = level
            px = float(px)
            qty = float(qty)
        except (TypeError, ValueError):
            raise ValueError(f"a take-profit level is a (price, qty) pair, got {level!r}") from None
        if not (_math.isfinite(px) and px > 0 and _math.isfinite(qty) and qty > 0):
            raise ValueError(f"take-profit level {level!r}: price and qty must be finite and > 0")
        pairs.append((px, qty))
    if len(pairs) > MAX_TP_LEVELS:
        raise ValueError(f"at most {MAX_TP_LEVELS} take-profit levels, got {len(pairs)}")
    return pairs


def _bar_error(int code, long long ts, str where="") -> ValueError:
    return ValueError(f"bad 1m bar{where} (ts={ts}): field {BAR_ERRORS[code]!r}: "
                      f"{BAR_MESSAGES[code]}")


cdef class SimExchange:
    """The compiled exchange simulator, advanced one 1m bar at a time (docs/fill_model.md).

    Same Python surface as trade.sim.reference.ReferenceExchange. Not thread-safe: one
    thread owns an instance.
    """

    def __cinit__(self):
        memset(&self.e, 0, sizeof(Engine))

    def __init__(self, config):
        from trade.sim.config import SimConfig

        if not isinstance(config, SimConfig):
            raise ValueError(f"SimExchange needs a SimConfig, got {type(config).__name__}")
        engine_free(&self.e)
        engine_init(&self.e, config.initial_balance, config.leverage, config.taker_fee,
                    config.maker_fee, config.slippage, config.maintenance_margin_rate,
                    config.funding_rate, int(config.intrabar), config.qty_step, config.min_qty,
                    config.min_notional, True)
        _set_tick(&self.e, config.tick_size)
        self.config = config
        self.symbol = config.symbol
        self._requests = []

    def __dealloc__(self):
        engine_free(&self.e)

    # ------------------------------------------------------------------ orders
    cdef object _order(self, long long oi):
        cdef COrder* o = &self.e.book.orders[oi]
        return _Order(
            f"o-{oi + 1}",
            self._requests[oi],
            _OrderStatus(o.status),
            o.created_ts,
            o.updated_ts,
            o.filled_qty,
            o.avg_px,
            o.cum_fee,
            _reject_text(o.reason, self.config),
        )

    cdef long long _index(self, str order_id) except -1:
        cdef long long oi
        if not isinstance(order_id, str) or not order_id.startswith("o-"):
            raise ValueError(f"order {order_id!r} not found")
        try:
            oi = int(order_id[2:]) - 1
        except ValueError:
            raise ValueError(f"order {order_id!r} not found") from None
        if oi < 0 or oi >= self.e.book.n_orders:
            raise ValueError(f"order {order_id!r} not found")
        return oi

    cdef long long _open_index(self, str order_id) except -1:
        cdef long long oi = self._index(order_id)
        cdef int st = self.e.book.orders[oi].status
        if is_terminal(st) or st == ST_CREATED:
            raise ValueError(f"order {order_id!r} is not open ({_OrderStatus(st).bybit})")
        return oi

    def submit(self, request):
        """Place an order. A refused order comes back Rejected with a reject_reason."""
        cdef COrder tmpl
        cdef long long oi
        if not isinstance(request, _OrderRequest):
            raise ValueError(f"submit takes an OrderRequest, got {type(request).__name__}")
        if request.symbol != self.symbol:
            raise ValueError(f"order symbol {request.symbol!r} != {self.symbol!r}")
        _order_from_request(&tmpl, request)
        oi = engine_submit(&self.e, &tmpl)
        if oi >= 0:
            self._requests.append(request)
        _check_err(&self.e)
        return self._order(oi)

    def cancel(self, order_id):
        cdef long long oi = self._open_index(order_id)
        engine_cancel(&self.e, oi)
        _check_err(&self.e)
        return self._order(oi)

    def amend(self, order_id, *, qty=None, price=None, trigger_price=None):
        cdef long long oi = self._open_index(order_id)
        cdef COrder* o = &self.e.book.orders[oi]
        from dataclasses import replace

        req = self._requests[oi]
        changes = {}
        if qty is not None:
            if not (isinstance(qty, (int, float)) and _math.isfinite(qty) and qty > o.filled_qty):
                raise ValueError(f"amend qty {qty!r} must exceed the filled qty")
            changes["qty"] = float(qty)
        if price is not None:
            if req.price is None:
                raise ValueError(f"order {order_id} has no price to amend")
            changes["price"] = price
        if trigger_price is not None:
            if req.trigger_price is None or o.status != ST_UNTRIGGERED:
                raise ValueError(f"order {order_id} has no pending trigger to amend")
            changes["trigger_price"] = trigger_price
        new_req = replace(req, **changes)  # re-validates the request (ValueError if bad)
        if new_req.time_in_force == _TimeInForce.POST_ONLY and new_req.price is not None:
            crosses = (new_req.price >= self.e.mkt.last_close if new_req.side == _Side.BUY
                       else new_req.price <= self.e.mkt.last_close)
            if crosses:
                raise ValueError("amend would make a post-only order cross")
        self._requests[oi] = new_req
        engine_amend(&self.e, oi, _opt(changes.get("qty")), _opt(changes.get("price")),
                     _opt(changes.get("trigger_price")))
        _check_err(&self.e)
        return self._order(oi)

    def set_trading_stop(self, *, take_profit=None, stop_loss=None, trailing_distance=None,
                         trailing_active_price=None):
        """Attach TP / SL / trailing distance to the open position (None = keep, 0 = clear).

        ``trailing_active_price`` (with a trailing distance > 0; Bybit's ``activePrice``)
        leaves the trail unarmed until the best price since entry reaches it.
        """
        cdef PositionState* p = &self.e.acct.pos
        cdef double act
        if p.side == 0:
            raise ValueError("set_trading_stop needs an open position")
        for name, v in (("take_profit", take_profit), ("stop_loss", stop_loss),
                        ("trailing_distance", trailing_distance),
                        ("trailing_active_price", trailing_active_price)):
            if v is not None and not (isinstance(v, (int, float)) and _math.isfinite(v)
                                      and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        if trailing_active_price and not trailing_distance:
            raise ValueError("trailing_active_price needs a trailing_distance > 0")
        if take_profit is not None:
            if self.e.acct.cx:
                # Partial mode: the take-profit replaces the levels by one for the whole position
                self.e.acct.n_lv = 0
            p.take_profit = take_profit
            if self.e.acct.cx:
                partial_sync(&self.e)
        if stop_loss is not None:
            p.stop_loss = stop_loss
        if trailing_distance is not None:
            p.trailing_distance = trailing_distance
            p.trailing_stop = 0.0
            act = trailing_active_price or 0.0
            # a trail set by trading-stop is armed at once unless the best price since entry
            # has yet to reach its activation price
            self.e.acct.trail_armed = trailing_distance > 0 and (
                act <= 0.0 or (self.e.acct.best >= act if p.side > 0 else self.e.acct.best <= act))
            self.e.acct.trail_arm_price = 0.0 if self.e.acct.trail_armed else act
            if self.e.acct.trail_armed:
                # a trailing stop set between bars starts at best - distance, checked next bar
                p.trailing_stop = self.e.acct.best - trailing_distance * p.side
        emit_position(&self.e)
        _check_err(&self.e)

    def set_take_profit_levels(self, levels, *, bint limit=False, bint by_mark=False):
        """Replace the open position's take-profit(s) with split levels (Bybit tpslMode Partial).

        ``levels``: absolute ``(price, qty)`` pairs, each a reduce-only take-profit of a fixed
        qty (one larger than the position closes it); an empty sequence clears them. ``limit``:
        each is a limit at its price (tpOrderType Limit); ``by_mark``: they trigger on the mark
        price, checked once per 1m bar. Refused (ValueError) without an open position.
        """
        cdef PositionState* p = &self.e.acct.pos
        if p.side == 0:
            raise ValueError("set_take_profit_levels needs an open position")
        pairs = _level_pairs(levels)
        self.e.acct.n_lv = 0
        for px, qty in pairs:
            add_level(&self.e, px, qty)
        p.take_profit = 0.0  # the levels replace every take-profit, a Full-mode one too
        self.e.acct.tp_limit = limit
        self.e.acct.tp_mark = by_mark
        partial_sync(&self.e)
        emit_position(&self.e)
        _check_err(&self.e)

    def set_stop_mode(self, *, bint limit, bint by_mark):
        """How the open position's stop loss (and trailing stop) fills: ``limit`` = a
        reduce-only limit at the stop (slOrderType Limit), ``by_mark`` = triggered by the mark
        price once per 1m bar. Refused (ValueError) without an open position."""
        if self.e.acct.pos.side == 0:
            raise ValueError("set_stop_mode needs an open position")
        self.e.acct.sl_limit = limit
        self.e.acct.sl_mark = by_mark
        partial_sync(&self.e)
        emit_position(&self.e)
        _check_err(&self.e)

    def take_profit_levels(self):
        """The position's split take-profits still to fill, nearest first: ``[(price, qty)]``
        with qty at most the position's size ([] without levels)."""
        cdef double size = self.e.acct.pos.size
        return [(self.e.acct.lv_px[k], min(self.e.acct.lv_qty[k], size))
                for k in range(self.e.acct.n_lv)]

    def reject_code(self, str order_id) -> int:
        """Why an order was refused (or a reduce-only order cancelled): a RJ_* number, the
        values of trade.sim.rejects.RejectCode (0 = not refused); the text stays in the
        order's reject_reason for people."""
        return self.e.book.orders[self._index(order_id)].reason

    def set_leverage(self, double leverage):
        """Change the leverage, with or without an open position (Bybit's set-leverage).

        An open position's margin becomes entry x size / leverage and its liquidation and
        bankruptcy prices move with it; resting orders reserve at the new leverage. The
        caller (the exchange simulator) refuses changes Bybit refuses before calling this.
        """
        if not (_math.isfinite(leverage) and leverage >= 1.0):
            raise ValueError(f"leverage must be a finite number >= 1, got {leverage!r}")
        self._not_split("set_leverage")
        self.e.cfg.leverage = leverage
        self.e.acct.pos.leverage = leverage
        if self.e.acct.pos.side != 0:
            self.e.acct.pos.margin = self.e.acct.pos.entry_price * self.e.acct.pos.size / leverage
            set_liq(&self.e)
        emit_position(&self.e)
        _check_err(&self.e)

    # -------------------------------------------------------------------- bars
    def on_bar(self, long long ts, double open, double high, double low, double close,
               double volume=0.0, double mark_price=NAN, double funding_rate=NAN):
        """Process one 1m bar (validated first: nothing is applied when it is bad).

        Exactly ``on_bar_open(ts, open)`` followed by ``on_bar_rest(ts, open, ...)``.
        """
        cdef int code
        self._not_split("on_bar")
        code = check_bar(self.e.mkt.last_ts, ts, open, high, low, close, volume, mark_price,
                         funding_rate)
        if code:
            raise _bar_error(code, ts)
        engine_bar(&self.e, ts, open, high, low, close, mark_price, funding_rate)
        _check_err(&self.e)

    def on_bar_open(self, long long ts, double open):
        """Start a 1m bar: rule 1 only (queued market orders fill at the open).

        The caller may then submit, cancel, amend or set a trading stop (a position opened
        at this open is checked against it on this bar) before ``on_bar_rest`` finishes
        the bar. Orders placed in between are first eligible on the next bar.
        """
        cdef int code
        self._not_split("on_bar_open")
        # only ts and open are known yet: validate them against a flat bar at the open
        code = check_bar(self.e.mkt.last_ts, ts, open, open, open, open, 0.0, NAN, NAN)
        if code:
            raise _bar_error(code, ts)
        engine_bar_open(&self.e, ts, open)
        self._split_open = True
        self._split_ts = ts
        self._split_px = open
        _check_err(&self.e)

    def on_bar_rest(self, long long ts, double open, double high, double low, double close,
                    double volume=0.0, double mark_price=NAN, double funding_rate=NAN):
        """Finish the bar ``on_bar_open`` started (same ts and open): rules 2-7."""
        cdef int code
        if not self._split_open:
            raise ValueError("on_bar_rest without a preceding on_bar_open")
        if ts != self._split_ts:
            raise ValueError(f"on_bar_rest: ts {ts} is not the ts {self._split_ts} of "
                             "the bar on_bar_open started")
        if open != self._split_px:
            raise ValueError(f"bar {ts}: on_bar_rest open {open!r} differs from the open "
                             f"{self._split_px!r} given to on_bar_open")
        code = check_bar(ts - 1, ts, open, high, low, close, volume, mark_price, funding_rate)
        if code:
            raise _bar_error(code, ts)
        self._split_open = False
        engine_bar_rest(&self.e, ts, open, high, low, close, mark_price, funding_rate)
        _check_err(&self.e)

    def _not_split(self, str what):
        if self.e.mkt.finished:
            raise ValueError(f"{what} after finish()")
        if self._split_open:
            raise ValueError(f"{what} while bar {self._split_ts} awaits on_bar_rest")

    def finish(self):
        """Close an open position at the last close (reason end_of_data) and stop."""
        if self._split_open:
            raise ValueError(f"finish() while bar {self._split_ts} awaits on_bar_rest")
        engine_finish(&self.e)
        _check_err(&self.e)

    # ------------------------------------------------------------------- state
    def position(self):
        cdef PositionState snap
        snapshot(&self.e, &snap)
        return Position.wrap(self.symbol, &snap)

    def balance(self):
        cdef double used = used_margin(&self.e)
        return _Balance(self.e.acct.wallet, equity_at_mark(&self.e), used,
                        self.e.acct.wallet - used,
                        now_ts(&self.e))

    def open_orders(self):
        cdef long long k
        return [self._order(self.e.book.active[k]) for k in range(self.e.book.n_active)
                if not is_terminal(self.e.book.orders[self.e.book.active[k]].status)]

    @property
    def bars_processed(self) -> int:
        return self.e.curve.n

    def drain_events(self):
        """Adapter events in the order they happened since the last drain."""
        cdef long long k
        cdef CEvent* ev
        cdef PositionState snap
        out = []
        for k in range(self.e.events.n):
            ev = &self.e.events.buf[k]
            if ev.kind == EV_ORDER:
                order = _Order(
                    f"o-{ev.oidx + 1}",
                    self._requests[ev.oidx],
                    _OrderStatus(ev.status),
                    self.e.book.orders[ev.oidx].created_ts,
                    ev.ts,
                    ev.filled_qty,
                    ev.avg_px,
                    ev.cum_fee,
                    _reject_text(ev.reason, self.config),
                )
                out.append(_OrderUpdate(order, ev.ts))
            elif ev.kind == EV_FILL:
                oid = f"o-{ev.oidx + 1}" if ev.oidx >= 0 else ""
                link = self._requests[ev.oidx].order_link_id if ev.oidx >= 0 else ""
                fill = _Fill(
                    f"e-{ev.exec_no}",
                    oid,
                    self.symbol,
                    _Side(ev.side),
                    ev.qty,
                    ev.price,
                    ev.fee,
                    bool(ev.maker),
                    ev.ts,
                    _ExecType(ev.exec_type),
                    link,
                    ev.closed_pnl,
                )
                out.append(_FillEvent(fill, ev.ts))
            else:
                snap = ev.pos
                out.append(_PositionUpdate(Position.wrap(self.symbol, &snap), ev.ts))
        self.e.events.n = 0
        return out

    def trade_log(self):
        """The trade log so far (TRADE_LOG_SCHEMA)."""
        return _trades_to_table(self.e.trades.buf, self.e.trades.n, self.symbol)

    def equity_curve(self):
        """One row per processed 1m bar (EQUITY_SCHEMA)."""
        cdef long long n = self.e.curve.n
        import numpy as np

        ts = np.empty(n, dtype=np.int64)
        eq = np.empty(n, dtype=np.float64)
        wa = np.empty(n, dtype=np.float64)
        qt = np.empty(n, dtype=np.float64)
        cdef long long[::1] ts_v = ts
        cdef double[::1] eq_v = eq, wa_v = wa, qt_v = qt
        cdef long long k
        for k in range(n):
            ts_v[k] = self.e.curve.ts[k]
            eq_v[k] = self.e.curve.equity[k]
            wa_v[k] = self.e.curve.wallet[k]
            qt_v[k] = self.e.curve.qty[k]
        from trade.sim.results import EQUITY_SCHEMA

        return _pa.table([ts, eq, wa, qt], schema=EQUITY_SCHEMA)


cdef object _trades_to_table(CTrade* trades, long long n, str symbol):
    import numpy as np

    cols = {
        "trade_id": np.arange(1, n + 1, dtype=np.int64),
        "side": np.empty(n, dtype=np.int8),
        "entry_ts": np.empty(n, dtype=np.int64),
        "exit_ts": np.empty(n, dtype=np.int64),
    }
    cdef signed char[::1] side_v = cols["side"]
    cdef long long[::1] ets = cols["entry_ts"], xts = cols["exit_ts"]
    names = ("entry_price", "exit_price", "qty", "gross_pnl", "fees", "funding", "net_pnl",
             "mae", "mfe", "leverage")
    f = np.empty((len(names), n), dtype=np.float64)
    reasons = np.empty(n, dtype=np.int32)
    cdef double[:, ::1] fv = f
    cdef int[::1] rv = reasons
    cdef long long k
    cdef CTrade* t
    for k in range(n):
        t = &trades[k]
        side_v[k] = t.side
        ets[k] = t.entry_ts
        xts[k] = t.exit_ts
        fv[0, k] = t.entry_price
        fv[1, k] = t.exit_price
        fv[2, k] = t.qty
        fv[3, k] = t.gross
        fv[4, k] = t.fees
        fv[5, k] = t.funding
        fv[6, k] = t.net
        fv[7, k] = t.mae
        fv[8, k] = t.mfe
        fv[9, k] = t.leverage
        rv[k] = t.reason
    for i, name in enumerate(names):
        cols[name] = f[i]
    cols["symbol"] = _pa.array([symbol] * n, _pa.string())
    cols["exit_reason"] = _pa.array(EXIT_REASON_NAMES, _pa.string()).take(_pa.array(reasons))
    from trade.sim.results import TRADE_LOG_SCHEMA

    return _pa.table([cols[fld.name] for fld in TRADE_LOG_SCHEMA], schema=TRADE_LOG_SCHEMA)


def row_orders(int held, double size, bint resting, long long bar, long long placed_bar,
               long long expire_bars, bint entry_long, bint entry_short, bint exit_long,
               bint exit_short, double exit_pct, bint allow_flip, double qty_step):
    """Steps 1-3 of one signal row (trade/sim/signals.py) against the venue's state:
    (cancel the resting entry?, reduce-only exit qty (0 = none), entry direction (0 = none),
    qty of the opposite position the entry also closes)."""
    cdef RowIn r
    cdef RowOut o
    r.held = held
    r.size = size
    r.resting = resting
    r.bar = bar
    r.placed_bar = placed_bar
    r.expire_bars = expire_bars
    r.entry_long = entry_long
    r.entry_short = entry_short
    r.exit_long = exit_long
    r.exit_short = exit_short
    r.exit_pct = exit_pct
    r.allow_flip = allow_flip
    r.qty_step = qty_step
    row_orders_c(&r, &o)
    return o.cancel_entry, o.exit_qty, o.direction, o.flip_qty


def entry_qty(int size_mode, double value, double equity, double ref, double sl,
              double leverage, double taker_fee, double qty_step, double min_qty,
              double min_notional) -> float:
    """Quantity of a new entry at `ref` (0 = skip): the sizing of trade/sim/signals.py step 3."""
    return entry_qty_c(size_mode, value, equity, ref, sl, leverage, taker_fee, qty_step,
                       min_qty, min_notional)


def entry_order(int direction, double qty, double flip_qty, double ref, double limit_offset,
                double tick):
    """(is a limit?, order qty, limit price or 0) of an entry of `qty` (see entry_order_c)."""
    cdef int otype = OT_MARKET
    cdef double oq = 0.0, px = 0.0
    from trade.sim.config import tick_grid
    units, decimals = tick_grid(tick)
    entry_order_c(direction, qty, flip_qty, ref, limit_offset, tick if units > 0 else 0.0,
                  units, 10.0 ** decimals, &otype, &oq, &px)
    return otype == OT_LIMIT, oq, px


def minute_aligned(const long long[::1] ts) -> bool:
    """Every timestamp on a whole minute (ts % 60000 == 0): a 1m bar is then its own 1m
    bucket. One nogil pass (a division by a constant compiles to a multiply)."""
    cdef long long k, n = ts.shape[0]
    cdef long long bad = 0
    with nogil:
        for k in range(n):
            bad |= ts[k] % 60000
    return bad == 0


def validate_bar_arrays(const long long[::1] ts, const double[::1] o, const double[::1] h,
                        const double[::1] l, const double[::1] c, v, mark, fr):
    """Raise ValueError naming the first bad row and field of a bar table."""
    cdef long long n = ts.shape[0]
    cdef const double[::1] v_v, m_v, f_v
    cdef const double* vp = NULL
    cdef const double* mp = NULL
    cdef const double* fp = NULL
    cdef int code = 0
    cdef long long bad
    for name, arr in (("open", o), ("high", h), ("low", l), ("close", c)):
        if arr.shape[0] != n:
            raise ValueError(f"bar column {name} has {arr.shape[0]} rows, expected {n}")
    if v is not None:
        v_v = v
        if v_v.shape[0] != n:
            raise ValueError(f"bar column volume has {v_v.shape[0]} rows, expected {n}")
        if n:
            vp = &v_v[0]
    if mark is not None:
        m_v = mark
        if m_v.shape[0] != n:
            raise ValueError(f"bar column mark_price has {m_v.shape[0]} rows, expected {n}")
        if n:
            mp = &m_v[0]
    if fr is not None:
        f_v = fr
        if f_v.shape[0] != n:
            raise ValueError(f"bar column funding_rate has {f_v.shape[0]} rows, expected {n}")
        if n:
            fp = &f_v[0]
    if n == 0:
        return
    with nogil:
        bad = validate_rows(&ts[0], &o[0], &h[0], &l[0], &c[0], vp, mp, fp, 0, n, &code)
    if bad >= 0:
        raise _bar_error(code, ts[bad], f" at row {bad}")


def max_drawdown(const double[::1] values, double base):
    """max over the curve [base, *values] of 1 - value / running peak (the base is the first
    peak): the drawdown rule of the summary mode (dd_track), in one pass with no temporary.
    NaN when a ratio is NaN (a zero peak), as numpy's max of the curve would be."""
    cdef double peak = base, trough = base, dd = 0.0 if base > 0.0 else -1.0e308
    cdef bint dnan = False
    cdef long long k, n = values.shape[0]
    cdef double d
    if not base > 0.0:
        d = 1.0 - base / base
        if d > dd:
            dd = d
        elif d != d:
            dnan = True
    with nogil:
        for k in range(n):
            dd_track(values[k], &peak, &trough, &dd, &dnan)
    return NAN if dnan else dd


cdef object _fcol(FCol* c, const double[:] v, str name, long long n):
    if v.shape[0] != n:
        raise ValueError(f"signal array {name} has {v.shape[0]} rows, expected {n}")
    c.p = NULL
    c.step = 0
    if n == 0:
        return None
    if v.strides[0] == sizeof(double):
        c.step = 1
    elif v.strides[0] != 0:
        raise ValueError(f"signal array {name} must be contiguous (or one value broadcast "
                         "to every row)")
    c.p = &v[0]
    return None


cdef object _bcol(BCol* c, const unsigned char[:] v, str name, long long n):
    if v.shape[0] != n:
        raise ValueError(f"signal array {name} has {v.shape[0]} rows, expected {n}")
    c.p = NULL
    c.step = 0
    if n == 0:
        return None
    if v.strides[0] == 1:
        c.step = 1
    elif v.strides[0] != 0:
        raise ValueError(f"signal array {name} must be contiguous (or one value broadcast "
                         "to every row)")
    c.p = &v[0]
    return None


cdef object _signals_into(object signals, Signals* s, long long n):
    """Point `s` at the arrays of (prepared) SignalArrays; checks shapes and the index range.
    A column may be one value broadcast to every row (stride 0: read as a scalar)."""
    cdef const long long[::1] idx_v = signals.exec_close_idx
    cdef long long j
    memset(s, 0, sizeof(Signals))
    s.n = idx_v.shape[0]
    _bcol(&s.entry_long, signals.entry_long, "entry_long", s.n)
    _bcol(&s.entry_short, signals.entry_short, "entry_short", s.n)
    _bcol(&s.exit_long, signals.exit_long, "exit_long", s.n)
    _bcol(&s.exit_short, signals.exit_short, "exit_short", s.n)
    _fcol(&s.size_value, signals.size_value, "size_value", s.n)
    _fcol(&s.sl_pct, signals.sl_pct, "sl_pct", s.n)
    _fcol(&s.tp_pct, signals.tp_pct, "tp_pct", s.n)
    _fcol(&s.trail_pct, signals.trail_pct, "trail_pct", s.n)
    _fcol(&s.be_activation, signals.be_activation, "be_activation", s.n)
    _fcol(&s.be_offset, signals.be_offset, "be_offset", s.n)
    _fcol(&s.exit_pct, signals.exit_pct, "exit_pct", s.n)
    _fcol(&s.limit_offset, signals.entry_limit_offset, "entry_limit_offset", s.n)
    _fcol(&s.trail_activation, signals.trail_activation, "trail_activation", s.n)
    if s.n and (idx_v[0] < 0 or idx_v[s.n - 1] >= n):
        raise ValueError(f"exec_close_idx out of range [0, {n})")
    with nogil:
        for j in range(1, s.n):
            if idx_v[j] <= idx_v[j - 1]:
                break
        else:
            j = 0
    if j:
        raise ValueError(f"exec_close_idx not strictly increasing at row {j}")
    if s.n:
        s.idx = &idx_v[0]
    s.size_mode = int(signals.size_mode)
    s.allow_flip = bool(signals.allow_flip)
    s.expire_bars = int(signals.expire_bars)
    s.entry_tif = int(signals.entry_tif)
    levels = signals.take_profit_levels
    if len(levels) > MAX_LV:
        raise ValueError(f"at most {MAX_LV} take-profit levels, got {len(levels)}")
    s.n_lv = len(levels)
    for j in range(s.n_lv):
        s.lv_pct[j] = levels[j][0]
        s.lv_frac[j] = levels[j][1]
    s.tp_limit = bool(signals.tp_limit)
    s.sl_limit = bool(signals.sl_limit)
    s.tp_mark = bool(signals.tp_by_mark)
    s.sl_mark = bool(signals.sl_by_mark)
    if s.entry_tif < TIF_GTC or s.entry_tif > TIF_POST_ONLY:
        raise ValueError(f"entry_tif must be a TimeInForce, got {signals.entry_tif!r}")
    # the memoryviews die here; the arrays live on in `signals`, which the caller holds
    return None


cdef object _bars_into(Bars* b, const long long[::1] ts, const double[::1] o,
                       const double[::1] h, const double[::1] l, const double[::1] c, volume,
                       mark, fr):
    """Point `b` at the bar columns (numpy arrays the caller holds); checks their lengths."""
    cdef long long n = ts.shape[0]
    cdef const double[::1] v_v
    memset(b, 0, sizeof(Bars))
    b.n = n
    for name, arr in (("open", o), ("high", h), ("low", l), ("close", c)):
        if arr.shape[0] != n:
            raise ValueError(f"bar column {name} has {arr.shape[0]} rows, expected {n}")
    for name, arr in (("volume", volume), ("mark_price", mark), ("funding_rate", fr)):
        if arr is not None:
            v_v = arr
            if v_v.shape[0] != n:
                raise ValueError(f"bar column {name} has {v_v.shape[0]} rows, expected {n}")
    if n == 0:
        return None
    b.ts = &ts[0]
    b.o = &o[0]
    b.h = &h[0]
    b.l = &l[0]
    b.c = &c[0]
    if volume is not None:
        v_v = volume
        b.v = &v_v[0]
    if mark is not None:
        v_v = mark
        b.mark = &v_v[0]
    if fr is not None:
        v_v = fr
        b.fr = &v_v[0]
    return None


cdef object _run_engine(Bars* b, Signals* s, Out* out, config, bint validate):
    """Run the loop on a private engine; returns (trade-log table, final wallet balance).
    A bad bar raises ValueError naming it before any result exists (nothing half-applied)."""
    cdef Engine e
    cdef long long bad = -1
    cdef int code = 0
    engine_init(&e, config.initial_balance, config.leverage, config.taker_fee,
                config.maker_fee, config.slippage, config.maintenance_margin_rate,
                config.funding_rate, int(config.intrabar), config.qty_step, config.min_qty,
                config.min_notional, False)
    _set_tick(&e, config.tick_size)
    try:
        with nogil:
            bad = run_loop(&e, s, b, out, validate, &code)
            if e.fault.code == ERR_NONE and bad < 0:
                engine_finish(&e)
        if bad >= 0:
            raise _bar_error(code, b.ts[bad], f" at row {bad}")
        _check_err(&e)
        table = _trades_to_table(e.trades.buf, e.trades.n, config.symbol)
        return table, e.acct.wallet
    finally:
        engine_free(&e)


def run_batch_arrays(const long long[::1] ts, const double[::1] o, const double[::1] h,
                     const double[::1] l, const double[::1] c, volume, mark, fr, signals, config,
                     double[::1] eq_out, double[::1] wallet_out, double[::1] qty_out,
                     bint validate=True, double[:, ::1] risk=None):
    """Run the whole backtest in one nogil loop. Signals must be validated already
    (SignalArrays.validate); this checks their shapes and index range.

    With validate (the default) the bars are validated block by block (4096 rows) just ahead
    of the simulation of that block, while the block is still in cache: a bad row raises
    ValueError naming it before any result exists (the engine is private to this call), so
    nothing is half-applied. validate=False is for bars validated already (ValidatedBars).

    Fills eq_out / wallet_out / qty_out (one row per bar) and, when given, `risk` (shape
    (1, 6)) with the run's margin figures in trade.sim.margin.MARGIN_FIELDS order; returns
    (trade-log table, final wallet balance).
    """
    cdef Bars b
    cdef Signals s
    cdef Out out
    _bars_into(&b, ts, o, h, l, c, volume, mark, fr)
    for name, arr in (("eq_out", eq_out), ("wallet_out", wallet_out), ("qty_out", qty_out)):
        if arr.shape[0] != b.n:
            raise ValueError(f"array {name} has {arr.shape[0]} rows, expected {b.n}")
    _signals_into(signals, &s, b.n)
    memset(&out, 0, sizeof(Out))
    if b.n:
        out.eq = &eq_out[0]
        out.wa = &wallet_out[0]
        out.qty = &qty_out[0]
    if risk is not None:
        if risk.shape[0] != 1 or risk.shape[1] != 6:
            raise ValueError("risk must have shape (1, 6)")
        out.risk = &risk[0, 0]
    risk_reset(&out)
    result = _run_engine(&b, &s, &out, config, validate)
    risk_write(&out)
    return result


def run_batch_summary_arrays(const long long[::1] ts, const double[::1] o, const double[::1] h,
                             const double[::1] l, const double[::1] c, volume, mark, fr,
                             signals, config, const long long[::1] cuts, long long[::1] g_day,
                             long long[::1] g_seg, double[::1] g_close, double[:, ::1] seg,
                             bint validate=True, double[:, ::1] risk=None):
    """run_batch_arrays, recording a summary of the equity curve instead of the curve.

    The bars are cut into segments at the rows `cuts` (strictly increasing, in (0, n)).
    Per segment k (row `seg[k]`): max drawdown of the 1m equity with the segment's base as
    first peak, the number of bars with a position, the last equity, the base (the initial
    balance for the first segment, else the equity of the bar before it). Per (segment, UTC
    day) group, in order: the day number (ts // 86400000), the segment, the equity at the
    group's last bar. When given, `risk` (shape (segments, 6)) receives each segment's
    margin figures (trade.sim.margin.MARGIN_FIELDS order). Returns (trade-log table, final
    wallet balance, number of groups).
    """
    cdef Bars b
    cdef Signals s
    cdef Out out
    cdef long long k, n_seg = cuts.shape[0] + 1
    _bars_into(&b, ts, o, h, l, c, volume, mark, fr)
    if b.n == 0:
        raise ValueError("no bars")
    for k in range(cuts.shape[0]):
        if cuts[k] <= 0 or cuts[k] >= b.n or (k > 0 and cuts[k] <= cuts[k - 1]):
            raise ValueError(f"cuts must be strictly increasing rows in (0, {b.n}), "
                             f"row {k} is {cuts[k]}")
    if seg.shape[0] != n_seg or seg.shape[1] != 4:
        raise ValueError(f"seg must have shape ({n_seg}, 4)")
    if risk is not None and (risk.shape[0] != n_seg or risk.shape[1] != 6):
        raise ValueError(f"risk must have shape ({n_seg}, 6)")
    if g_seg.shape[0] != g_day.shape[0] or g_close.shape[0] != g_day.shape[0]:
        raise ValueError("g_day, g_seg and g_close must have the same length")
    _signals_into(signals, &s, b.n)
    memset(&out, 0, sizeof(Out))
    out.summary = True
    out.n_cuts = cuts.shape[0]
    if out.n_cuts:
        out.cuts = &cuts[0]
        out.next_cut = cuts[0]
    else:
        out.next_cut = -1
    out.day_end = -1
    out.cap_groups = g_day.shape[0]
    if out.cap_groups:
        out.g_day = &g_day[0]
        out.g_seg = &g_seg[0]
        out.g_close = &g_close[0]
    out.seg = &seg[0, 0]
    if risk is not None:
        out.risk = &risk[0, 0]
    seg_start(&out, config.initial_balance)
    table, wallet = _run_engine(&b, &s, &out, config, validate)
    seg_end(&out)
    if out.n_groups > out.cap_groups:
        raise ValueError(f"{out.n_groups} day groups do not fit in {out.cap_groups}")
    return table, wallet, out.n_groups


def run_portfolio_arrays(members, bint validate=True):
    """Several members (a symbol's bars and a Play's signals each) on one USDT wallet, in one
    nogil loop in time order (batch.run_portfolio).

    `members`: a sequence of tuples (ts, open, high, low, close, volume, mark, funding,
    signals, config, eq_out, wallet_out, qty_out, risk, alloc), each as for run_batch_arrays
    plus `alloc`, the share of the account's equity the member's entries are sized on. Every
    config has the same initial balance (the one wallet). A member's outputs hold its own
    ledger: its wallet starts at the initial balance and moves by its own trades, fees and
    funding (the account's wallet is the initial balance plus every member's change).
    Returns [(trade-log table, final wallet balance)] in member order; a bad bar raises
    ValueError naming its member and row before any result exists.
    """
    cdef long long m = len(members), k, bad = -1, bad_member = -1
    cdef int code = 0
    cdef Engine* es = NULL
    cdef Bars* bs = NULL
    cdef Signals* ss = NULL
    cdef Out* outs = NULL
    cdef Runner* rs = NULL
    cdef double[::1] eq_out, wallet_out, qty_out
    cdef double[:, ::1] risk
    if m == 0:
        raise ValueError("a portfolio needs at least one member")
    balance = members[0][9].initial_balance
    for k in range(m):
        if len(members[k]) != 15:
            raise ValueError(f"member {k}: expected 15 fields, got {len(members[k])}")
        if members[k][9].initial_balance != balance:
            raise ValueError(f"member {k}: initial balance {members[k][9].initial_balance} is "
                             f"not the portfolio's {balance} (one wallet)")
        if not (members[k][14] > 0):
            raise ValueError(f"member {k}: allocation must be > 0, got {members[k][14]}")
    es = <Engine*>calloc(m, sizeof(Engine))
    bs = <Bars*>calloc(m, sizeof(Bars))
    ss = <Signals*>calloc(m, sizeof(Signals))
    outs = <Out*>calloc(m, sizeof(Out))
    rs = <Runner*>calloc(m, sizeof(Runner))
    if es == NULL or bs == NULL or ss == NULL or outs == NULL or rs == NULL:
        free(es); free(bs); free(ss); free(outs); free(rs)
        raise MemoryError("simulation kernel out of memory")
    try:
        for k in range(m):
            (ts, o, h, l, c, volume, mark, fr, signals, config, eq_out, wallet_out, qty_out,
             risk, alloc) = members[k]
            _bars_into(&bs[k], ts, o, h, l, c, volume, mark, fr)
            for name, arr in (("eq_out", eq_out), ("wallet_out", wallet_out),
                              ("qty_out", qty_out)):
                if arr.shape[0] != bs[k].n:
                    raise ValueError(f"member {k}: array {name} has {arr.shape[0]} rows, "
                                     f"expected {bs[k].n}")
            if risk.shape[0] != 1 or risk.shape[1] != 6:
                raise ValueError(f"member {k}: risk must have shape (1, 6)")
            _signals_into(signals, &ss[k], bs[k].n)
            if bs[k].n:
                outs[k].eq = &eq_out[0]
                outs[k].wa = &wallet_out[0]
                outs[k].qty = &qty_out[0]
            outs[k].risk = &risk[0, 0]
            risk_reset(&outs[k])
            engine_init(&es[k], config.initial_balance, config.leverage, config.taker_fee,
                        config.maker_fee, config.slippage, config.maintenance_margin_rate,
                        config.funding_rate, int(config.intrabar), config.qty_step,
                        config.min_qty, config.min_notional, False)
            _set_tick(&es[k], config.tick_size)
            runner_init(&rs[k], &es[k], &ss[k], &bs[k], &outs[k], validate, float(alloc))
        with nogil:
            bad = run_portfolio(rs, m, &code, &bad_member)
            if bad < 0:
                for k in range(m):
                    if es[k].fault.code != ERR_NONE:
                        break
                else:
                    for k in range(m):
                        engine_finish(&es[k])
        if bad >= 0:
            raise _bar_error(code, bs[bad_member].ts[bad],
                             f" of member {bad_member} at row {bad}")
        result = []
        for k in range(m):
            _check_err(&es[k])
            risk_write(&outs[k])
            result.append((_trades_to_table(es[k].trades.buf, es[k].trades.n,
                                            members[k][9].symbol), es[k].acct.wallet))
        return result
    finally:
        for k in range(m):
            engine_free(&es[k])
        free(es)
        free(bs)
        free(ss)
        free(outs)
        free(rs)
