# The step API: SimExchange, one 1m bar at a time (included by sim.pyx).

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
    o.be_off = req.break_even_offset


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
        self.config = config
        self.symbol = config.symbol
        self._requests = []

    def __dealloc__(self):
        engine_free(&self.e)

    # ------------------------------------------------------------------ orders
    cdef object _order(self, long long oi):
        cdef COrder* o = &self.e.orders[oi]
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
        if oi < 0 or oi >= self.e.n_orders:
            raise ValueError(f"order {order_id!r} not found")
        return oi

    cdef long long _open_index(self, str order_id) except -1:
        cdef long long oi = self._index(order_id)
        cdef int st = self.e.orders[oi].status
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
        cdef COrder* o = &self.e.orders[oi]
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
            crosses = (new_req.price >= self.e.last_close if new_req.side == _Side.BUY
                       else new_req.price <= self.e.last_close)
            if crosses:
                raise ValueError("amend would make a post-only order cross")
        self._requests[oi] = new_req
        engine_amend(&self.e, oi, _opt(changes.get("qty")), _opt(changes.get("price")),
                     _opt(changes.get("trigger_price")))
        _check_err(&self.e)
        return self._order(oi)

    def set_trading_stop(self, *, take_profit=None, stop_loss=None, trailing_distance=None):
        """Attach TP / SL / trailing distance to the open position (None = keep, 0 = clear)."""
        cdef PositionState* p = &self.e.pos
        if p.side == 0:
            raise ValueError("set_trading_stop needs an open position")
        for name, v in (("take_profit", take_profit), ("stop_loss", stop_loss),
                        ("trailing_distance", trailing_distance)):
            if v is not None and not (isinstance(v, (int, float)) and _math.isfinite(v)
                                      and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v!r}")
        if take_profit is not None:
            p.take_profit = take_profit
        if stop_loss is not None:
            p.stop_loss = stop_loss
        if trailing_distance is not None:
            p.trailing_distance = trailing_distance
            p.trailing_stop = 0.0
            if trailing_distance > 0:
                # a trailing stop set between bars starts at best - distance, checked next bar
                p.trailing_stop = self.e.best - trailing_distance * p.side
        _emit_position(&self.e)
        _check_err(&self.e)

    # -------------------------------------------------------------------- bars
    def on_bar(self, long long ts, double open, double high, double low, double close,
               double volume=0.0, double mark_price=NAN, double funding_rate=NAN):
        """Process one 1m bar (validated first: nothing is applied when it is bad)."""
        cdef int code
        if self.e.finished:
            raise ValueError("on_bar after finish()")
        code = check_bar(self.e.last_ts, ts, open, high, low, close, volume, mark_price,
                         funding_rate)
        if code:
            raise _bar_error(code, ts)
        engine_bar(&self.e, ts, open, high, low, close, mark_price, funding_rate)
        _check_err(&self.e)

    def finish(self):
        """Close an open position at the last close (reason end_of_data) and stop."""
        engine_finish(&self.e)
        _check_err(&self.e)

    # ------------------------------------------------------------------- state
    def position(self):
        cdef PositionState snap
        _snapshot(&self.e, &snap)
        return Position.wrap(self.symbol, &snap)

    def balance(self):
        cdef double used = _used_margin(&self.e)
        return _Balance(self.e.wallet, _equity(&self.e), used, self.e.wallet - used,
                        _now(&self.e))

    def open_orders(self):
        cdef long long k
        return [self._order(self.e.active[k]) for k in range(self.e.n_active)
                if not is_terminal(self.e.orders[self.e.active[k]].status)]

    @property
    def bars_processed(self) -> int:
        return self.e.n_eq

    def drain_events(self):
        """Adapter events in the order they happened since the last drain."""
        cdef long long k
        cdef CEvent* ev
        cdef PositionState snap
        out = []
        for k in range(self.e.n_events):
            ev = &self.e.events[k]
            if ev.kind == EV_ORDER:
                order = _Order(
                    f"o-{ev.oidx + 1}",
                    self._requests[ev.oidx],
                    _OrderStatus(ev.status),
                    self.e.orders[ev.oidx].created_ts,
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
        self.e.n_events = 0
        return out

    def trade_log(self):
        """The trade log so far (TRADE_LOG_SCHEMA)."""
        return _trades_to_table(self.e.trades, self.e.n_trades, self.symbol)

    def equity_curve(self):
        """One row per processed 1m bar (EQUITY_SCHEMA)."""
        cdef long long n = self.e.n_eq
        import numpy as np

        ts = np.empty(n, dtype=np.int64)
        eq = np.empty(n, dtype=np.float64)
        wa = np.empty(n, dtype=np.float64)
        qt = np.empty(n, dtype=np.float64)
        cdef long long[::1] ts_v = ts
        cdef double[::1] eq_v = eq, wa_v = wa, qt_v = qt
        cdef long long k
        for k in range(n):
            ts_v[k] = self.e.eq_ts[k]
            eq_v[k] = self.e.eq_equity[k]
            wa_v[k] = self.e.eq_wallet[k]
            qt_v[k] = self.e.eq_qty[k]
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
