# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled simulation kernel: the 1m fill model of docs/fill_model.md.

One C engine state (`Engine`) and nogil functions for every rule. Two faces use the very same
functions: `SimExchange` (the step API, one 1m bar at a time, emitting adapter events) and
`run_batch_arrays` (a whole run of precomputed signals in one nogil loop).

The arithmetic mirrors trade/sim/reference.py operation by operation so that both produce the
same floating-point results; keep them in step.
"""

from libc.math cimport ceil, floor, rint, isnan, isfinite, NAN, INFINITY
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

from trade._kernels.position cimport PositionState, position_reset, Position
from trade._kernels.lifecycle cimport (
    legal_transition, is_terminal, ST_CREATED, ST_NEW, ST_FILLED, ST_CANCELLED, ST_REJECTED,
    ST_UNTRIGGERED, ST_TRIGGERED, ST_DEACTIVATED, ST_PARTIALLY_FILLED,
)

DEF BAR_MS = 60000
DEF FUNDING_PERIOD_MS = 28800000

# ----------------------------------------------------------------------------- buffers

cdef bint _grow(void** buf, long long* cap, long long need, size_t item) noexcept nogil:
    cdef long long new_cap
    cdef void* p
    if need <= cap[0]:
        return True
    new_cap = cap[0] * 2 if cap[0] > 0 else 16
    while new_cap < need:
        new_cap *= 2
    p = realloc(buf[0], <size_t>new_cap * item)
    if p == NULL:
        return False
    buf[0] = p
    cap[0] = new_cap
    return True


cdef void engine_init(Engine* e, double initial_balance, double leverage, double taker,
                      double maker, double slip, double mmr, double funding_const,
                      int intrabar, double qty_step, double min_qty,
                      double min_notional, bint record) noexcept nogil:
    memset(e, 0, sizeof(Engine))
    e.cfg.initial_balance = initial_balance
    e.cfg.leverage = leverage
    e.cfg.taker = taker
    e.cfg.maker = maker
    e.cfg.slip = slip
    e.cfg.mmr = mmr
    e.cfg.funding_const = funding_const
    e.cfg.intrabar = intrabar
    e.cfg.qty_step = qty_step
    e.cfg.min_qty = min_qty
    e.cfg.min_notional = min_notional
    e.acct.wallet = initial_balance
    position_reset(&e.acct.pos)
    e.acct.pos.leverage = leverage
    e.acct.opened_bar = -1
    e.mkt.last_ts = -1
    e.mkt.bar_index = -1
    e.mkt.last_close = NAN
    e.mkt.last_mark = NAN
    e.curve.owned = True
    e.events.record = record


cdef void engine_free(Engine* e) noexcept nogil:
    free(e.book.orders)
    free(e.book.active)
    free(e.trades.buf)
    free(e.events.buf)
    if e.curve.owned:
        free(e.curve.ts)
        free(e.curve.equity)
        free(e.curve.wallet)
        free(e.curve.qty)
    e.book.orders = NULL
    e.book.active = NULL
    e.trades.buf = NULL
    e.events.buf = NULL
    e.curve.ts = NULL
    e.curve.equity = NULL
    e.curve.wallet = NULL
    e.curve.qty = NULL
    e.book.n_orders = e.book.cap_orders = e.book.n_active = e.book.cap_active = 0
    e.trades.n = e.trades.cap = e.events.n = e.events.cap = e.curve.n = e.curve.cap = 0


# ----------------------------------------------------------------------------- helpers

cdef inline long long _now(Engine* e) noexcept nogil:
    # order timestamps are the open time of the last processed bar (0 before any bar)
    return e.mkt.last_ts if e.mkt.last_ts > 0 else 0


cdef inline double _upnl(Engine* e, double price) noexcept nogil:
    if e.acct.pos.side == 0:
        return 0.0
    return (price - e.acct.pos.entry_price) * e.acct.pos.size * e.acct.pos.side


cdef inline double _mark_or_zero(Engine* e) noexcept nogil:
    return 0.0 if isnan(e.mkt.last_mark) else e.mkt.last_mark


cdef inline double _equity(Engine* e) noexcept nogil:
    # equity = wallet balance + unrealised PnL at the last mark (the 1m close or mark column)
    return e.acct.wallet + _upnl(e, _mark_or_zero(e))


cdef double _reserved_margin(Engine* e) noexcept nogil:
    # resting non reduce-only limit / stop orders reserve leaves_qty x order price / leverage
    cdef double total = 0.0
    cdef long long k
    cdef COrder* o
    cdef double px, leaves
    for k in range(e.book.n_active):
        o = &e.book.orders[e.book.active[k]]
        if is_terminal(o.status) or o.reduce_only or o.otype == OT_MARKET:
            continue
        px = o.price if o.price > 0.0 else o.trigger
        leaves = o.qty - o.filled_qty
        if leaves < 0.0:
            leaves = 0.0
        total += leaves * px / e.cfg.leverage
    return total


cdef inline double _used_margin(Engine* e) noexcept nogil:
    return e.acct.pos.margin + _reserved_margin(e)


cdef inline double _floor_step(double qty, double step) noexcept nogil:
    # quantities are rounded down to qty_step (with a 1e-9 tolerance, as the driver does)
    if step <= 0.0:
        return qty
    return floor(qty / step + 1e-9) * step


cdef inline double _grid(double level, double tick, double units, double scale) noexcept nogil:
    # a level on the tick grid, nearest (rint = half-even): exactly float(fmt_step(level, tick))
    if tick <= 0.0:
        return level
    return rint(level / tick) * units / scale


cdef inline double _round_tick(Engine* e, double level) noexcept nogil:
    # bracket levels set from offsets are on the tick grid, nearest (rint = half-even), exactly
    # float(fmt_step(level, tick)): the integer n * tick_units over the power of ten tick_scale
    return _grid(level, e.cfg.tick, e.cfg.tick_units, e.cfg.tick_scale)


cdef inline double _slipped(Engine* e, double px, int side) noexcept nogil:
    # a taker fill moved against the trader by slippage lands on the tick grid, rounded
    # against the trader too (buy: up, sell: down); without slippage the price is untouched
    cdef double moved
    if e.cfg.slip == 0.0:
        return px
    moved = px * (1 + e.cfg.slip) if side > 0 else px * (1 - e.cfg.slip)
    if e.cfg.tick <= 0.0:
        return moved
    if side > 0:
        return ceil(moved / e.cfg.tick - 1e-9) * e.cfg.tick_units / e.cfg.tick_scale
    return floor(moved / e.cfg.tick + 1e-9) * e.cfg.tick_units / e.cfg.tick_scale


cdef void _set_tick(Engine* e, double tick) noexcept:
    from trade.sim.config import tick_grid
    units, decimals = tick_grid(tick)
    e.cfg.tick = tick if units > 0 else 0.0
    e.cfg.tick_units = units
    e.cfg.tick_scale = 10.0 ** decimals


cdef inline void _snapshot(Engine* e, PositionState* out) noexcept nogil:
    cdef double mark = _mark_or_zero(e)
    out[0] = e.acct.pos
    out.leverage = e.cfg.leverage
    out.maintenance_margin_rate = e.cfg.mmr
    out.mark_price = mark
    out.unrealized_pnl = _upnl(e, mark) if e.acct.pos.side != 0 else 0.0


cdef inline CEvent* _event(Engine* e, int kind, long long ts) noexcept nogil:
    cdef CEvent* ev
    if not _grow(<void**>&e.events.buf, &e.events.cap, e.events.n + 1, sizeof(CEvent)):
        e.fault.code = ERR_NOMEM
        return NULL
    ev = &e.events.buf[e.events.n]
    memset(ev, 0, sizeof(CEvent))
    ev.kind = kind
    ev.ts = ts
    ev.oidx = -1
    e.events.n += 1
    return ev


cdef void _emit_order(Engine* e, long long oi) noexcept nogil:
    cdef CEvent* ev
    cdef COrder* o = &e.book.orders[oi]
    if not e.events.record:
        return
    ev = _event(e, EV_ORDER, o.updated_ts)
    if ev == NULL:
        return
    ev.oidx = oi
    ev.status = o.status
    ev.reason = o.reason
    ev.filled_qty = o.filled_qty
    ev.avg_px = o.avg_px
    ev.cum_fee = o.cum_fee


cdef void _emit_position(Engine* e) noexcept nogil:
    cdef CEvent* ev
    if not e.events.record:
        return
    ev = _event(e, EV_POSITION, _now(e))
    if ev == NULL:
        return
    _snapshot(e, &ev.pos)


cdef long long _next_exec(Engine* e) noexcept nogil:
    e.events.exec_seq += 1
    return e.events.exec_seq


cdef void _emit_fill(Engine* e, long long oi, int side, double qty, double price, double fee,
                     bint maker, long long ts, int exec_type, double closed_pnl) noexcept nogil:
    cdef long long no = _next_exec(e)
    cdef CEvent* ev
    if not e.events.record:
        return
    ev = _event(e, EV_FILL, ts)
    if ev == NULL:
        return
    ev.oidx = oi
    ev.exec_no = no
    ev.side = side
    ev.qty = qty
    ev.price = price
    ev.fee = fee
    ev.maker = maker
    ev.exec_type = exec_type
    ev.closed_pnl = closed_pnl


cdef bint _move(Engine* e, long long oi, int status) noexcept nogil:
    """Every status change goes through the one lifecycle table; an illegal one is a bug."""
    cdef COrder* o = &e.book.orders[oi]
    if not legal_transition(o.status, status):
        e.fault.code = ERR_TRANSITION
        e.fault.a = oi
        e.fault.b = o.status
        e.fault.c = status
        return False
    o.status = status
    o.updated_ts = _now(e)
    _emit_order(e, oi)
    return True


cdef void _compact_active(Engine* e) noexcept nogil:
    cdef long long k, n = 0
    for k in range(e.book.n_active):
        if not is_terminal(e.book.orders[e.book.active[k]].status):
            e.book.active[n] = e.book.active[k]
            n += 1
    e.book.n_active = n


# ----------------------------------------------------------------------------- position

cdef void _flatten(Engine* e, long long ts) noexcept nogil:
    position_reset(&e.acct.pos)
    e.acct.pos.leverage = e.cfg.leverage
    e.acct.pos.updated_ts = ts
    e.acct.best = 0.0
    e.acct.be_activation = 0.0
    e.acct.be_offset = 0.0
    e.acct.be_done = False
    e.acct.trail_arm_price = 0.0
    e.acct.trail_armed = False
    e.acct.entry_fees = 0.0
    e.acct.funding = 0.0
    e.acct.opened_bar = -1
    e.acct.entry_fill_price = 0.0


cdef void _set_liq(Engine* e) noexcept nogil:
    # isolated, linear: liq = entry x (1 -/+ 1/lev +/- mmr); bankruptcy = entry x (1 -/+ 1/lev)
    cdef double entry = e.acct.pos.entry_price, lev = e.cfg.leverage, mmr = e.cfg.mmr
    if e.acct.pos.side > 0:
        e.acct.pos.liq_price = entry * (1 - 1 / lev + mmr)
        e.acct.pos.bust_price = entry * (1 - 1 / lev)
    else:
        e.acct.pos.liq_price = entry * (1 + 1 / lev - mmr)
        e.acct.pos.bust_price = entry * (1 + 1 / lev)


cdef void _close(Engine* e, double qty, double price, long long ts, double fee_rate, int reason,
                 int exec_type, long long oi, int side, bint maker) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef double frac = qty / p.size
    # realised PnL = (exit - entry) x qty x side
    cdef double gross = (price - p.entry_price) * qty * p.side
    cdef double fee = qty * price * fee_rate
    cdef double entry_fee_share = e.acct.entry_fees * frac
    cdef double funding_share = e.acct.funding * frac
    cdef CTrade* t
    if not _grow(<void**>&e.trades.buf, &e.trades.cap, e.trades.n + 1, sizeof(CTrade)):
        e.fault.code = ERR_NOMEM
        return
    t = &e.trades.buf[e.trades.n]
    e.trades.n += 1
    t.side = p.side
    t.reason = reason
    t.entry_ts = p.opened_ts
    t.exit_ts = ts
    t.entry_price = p.entry_price
    t.exit_price = price
    t.qty = qty
    t.gross = gross
    t.fees = entry_fee_share + fee  # entry fee share + exit fee
    t.funding = funding_share
    t.net = gross - entry_fee_share - fee - funding_share
    t.mae = p.mae * frac  # MAE/MFE are shared out by the closed fraction
    t.mfe = p.mfe * frac
    t.leverage = e.cfg.leverage
    e.acct.wallet += gross - fee
    e.acct.entry_fees -= entry_fee_share
    e.acct.funding -= funding_share
    p.realized_pnl += gross
    p.fees_paid += fee
    p.updated_ts = ts
    _emit_fill(e, oi, side, qty, price, fee, maker, ts, exec_type, gross)
    if qty >= p.size - 1e-12 * (p.size if p.size > 1.0 else 1.0):
        _flatten(e, ts)
    else:
        p.size -= qty
        # margin released in proportion: margin = entry x size / leverage
        p.margin = p.entry_price * p.size / e.cfg.leverage
    _emit_position(e)


cdef void _open_or_add(Engine* e, double qty, double price, int side, double fee_rate,
                       long long oi, bint maker) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef COrder* o = &e.book.orders[oi]
    cdef double fee = qty * price * fee_rate
    cdef double trail = 0.0, arm
    cdef long long ts = e.mkt.last_ts
    if p.side == 0:
        p.side = side
        p.size = qty
        p.entry_price = price
        p.opened_ts = ts
        e.acct.opened_bar = e.mkt.bar_index
        e.acct.best = price
        p.mae = 0.0
        p.mfe = 0.0
        p.realized_pnl = 0.0
        p.fees_paid = 0.0
        p.funding_paid = 0.0
        e.acct.entry_fees = 0.0
        e.acct.funding = 0.0
        e.acct.be_done = False
        e.acct.entry_fill_price = price
    else:
        # adding: new entry price = size-weighted average
        p.entry_price = (p.entry_price * p.size + price * qty) / (p.size + qty)
        p.size += qty
    # position margin = entry notional / leverage
    p.margin = p.entry_price * p.size / e.cfg.leverage
    _set_liq(e)
    e.acct.entry_fees += fee
    p.fees_paid += fee
    p.updated_ts = ts
    e.acct.wallet -= fee
    # attached brackets: offsets are fractions of this fill's price and take precedence
    # (levels and the trail distance from offsets are rounded to the tick, as live sends them)
    if o.sl_off > 0.0:
        p.stop_loss = _round_tick(e, price * (1 - o.sl_off * side))
    elif o.sl > 0.0:
        p.stop_loss = o.sl
    if o.tp_off > 0.0:
        p.take_profit = _round_tick(e, price * (1 + o.tp_off * side))
    elif o.tp > 0.0:
        p.take_profit = o.tp
    if o.trail_off > 0.0:
        trail = _round_tick(e, o.trail_off * price)
    elif o.trail > 0.0:
        trail = o.trail
    if trail > 0.0:
        # the trail attached to this fill replaces the position's (distance and activation);
        # a distance that rounds to zero ticks attaches no trail
        p.trailing_distance = trail
        # the activation is a move of this fill's price, on the tick grid like Bybit's activePrice
        arm = _round_tick(e, price * (1 + o.trail_act * side)) if o.trail_act > 0.0 else 0.0
        # armed at the fill unless the best price has yet to reach the activation price
        e.acct.trail_armed = arm <= 0.0 or (e.acct.best >= arm if side > 0 else e.acct.best <= arm)
        e.acct.trail_arm_price = 0.0 if e.acct.trail_armed else arm
        if e.acct.trail_armed:
            # an attached trailing stop without activation starts at best - distance at the fill
            p.trailing_stop = e.acct.best - trail * side
        else:
            p.trailing_stop = 0.0  # not armed: no trailing level until rule 5 arms it
    if o.be_act > 0.0:
        e.acct.be_activation = o.be_act
        e.acct.be_offset = o.be_off
        e.acct.be_done = False
    _emit_fill(e, oi, side, qty, price, fee, maker, ts, X_TRADE, 0.0)
    _emit_position(e)


cdef void _execute(Engine* e, long long oi, double price, bint maker) noexcept nogil:
    cdef COrder* o = &e.book.orders[oi]
    cdef PositionState* p = &e.acct.pos
    cdef double qty = o.qty - o.filled_qty
    cdef int side = o.side
    cdef double fee_rate, close_qty, open_qty, filled
    if qty < 0.0:
        qty = 0.0
    if o.reduce_only:
        if p.side == 0 or p.side == side:
            # a reduce-only order with nothing left to reduce is cancelled, never flips
            o.reason = RJ_RO_CANCEL
            _move(e, oi, ST_CANCELLED)
            return
        # reduce-only is clipped to the position size
        if p.size < qty:
            qty = p.size
    fee_rate = e.cfg.maker if maker else e.cfg.taker
    close_qty = 0.0
    if p.side != 0 and p.side != side:
        close_qty = qty if qty <= p.size else p.size
    open_qty = qty - close_qty
    if close_qty > 0.0:
        # closing part of a larger opposite order is a flip, otherwise a signal exit
        _close(e, close_qty, price, e.mkt.last_ts, fee_rate, R_FLIP if open_qty > 0.0 else R_SIGNAL,
               X_TRADE, oi, side, maker)
    if open_qty > 0.0:
        _open_or_add(e, open_qty, price, side, fee_rate, oi, maker)
    filled = o.filled_qty + qty
    o.avg_px = ((o.avg_px * o.filled_qty) + price * qty) / filled
    o.filled_qty = filled
    o.cum_fee = o.cum_fee + qty * price * fee_rate
    _move(e, oi, ST_FILLED)


# ----------------------------------------------------------------------------- orders

cdef int _rejection(Engine* e, COrder* o) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef bint crosses
    cdef double ref, opening_qty, need, available
    if e.mkt.finished:
        return RJ_FINISHED
    if isnan(e.mkt.last_close):
        return RJ_NO_PRICE
    if o.qty < e.cfg.min_qty:
        return RJ_MIN_QTY
    if o.tif == TIF_POST_ONLY:
        crosses = o.price >= e.mkt.last_close if o.side > 0 else o.price <= e.mkt.last_close
        if crosses:
            # a post-only limit that would cross the last close at placement is rejected
            return RJ_POST_ONLY
    if o.reduce_only:
        if p.side == 0:
            return RJ_RO_FLAT
        if o.side == p.side:
            return RJ_RO_INCREASE
        return RJ_NONE  # a reduce-only order needs no margin
    if o.otype == OT_LIMIT or o.otype == OT_STOP_LIMIT:
        ref = o.price
    elif o.otype == OT_STOP_MARKET:
        ref = o.trigger
    else:
        ref = e.mkt.last_close
    opening_qty = o.qty
    if p.side != 0 and o.side != p.side:
        opening_qty = o.qty - p.size
        if opening_qty < 0.0:
            opening_qty = 0.0
    if opening_qty > 0.0 and o.qty * ref < e.cfg.min_notional:
        return RJ_MIN_NOTIONAL
    # margin of the opening part plus the taker fee on it must fit the available balance
    need = opening_qty * ref / e.cfg.leverage + opening_qty * ref * e.cfg.taker
    available = e.acct.wallet - _used_margin(e)
    if need > available + 1e-12:
        return RJ_BALANCE
    return RJ_NONE


cdef long long engine_submit(Engine* e, COrder* tmpl) noexcept nogil:
    """Place an order; returns its index (its status says whether it was rejected), -1 on OOM."""
    cdef long long oi
    cdef COrder* o
    cdef int reason
    if not _grow(<void**>&e.book.orders, &e.book.cap_orders, e.book.n_orders + 1, sizeof(COrder)):
        e.fault.code = ERR_NOMEM
        return -1
    oi = e.book.n_orders
    e.book.n_orders += 1
    o = &e.book.orders[oi]
    o[0] = tmpl[0]
    o.status = ST_CREATED
    o.reason = RJ_NONE
    o.filled_qty = 0.0
    o.avg_px = 0.0
    o.cum_fee = 0.0
    o.marketable = False
    o.limit_after_trigger = False
    o.created_ts = _now(e)
    o.updated_ts = o.created_ts
    reason = _rejection(e, o)
    if reason != RJ_NONE:
        o.reason = reason
        _move(e, oi, ST_REJECTED)
        return oi
    # an order placed between bars k and k+1 is first eligible on bar k+1
    o.active_from_bar = e.mkt.bar_index + 1
    if o.otype == OT_LIMIT:
        # a limit crossing the last close is marketable on its first eligible bar
        o.marketable = o.price >= e.mkt.last_close if o.side > 0 else o.price <= e.mkt.last_close
    if not _grow(<void**>&e.book.active, &e.book.cap_active, e.book.n_active + 1, sizeof(long long)):
        e.fault.code = ERR_NOMEM
        return -1
    e.book.active[e.book.n_active] = oi
    e.book.n_active += 1
    _move(e, oi, ST_UNTRIGGERED if (o.otype == OT_STOP_MARKET or o.otype == OT_STOP_LIMIT)
          else ST_NEW)
    return oi


cdef void engine_cancel(Engine* e, long long oi) noexcept nogil:
    # cancelling an untriggered conditional order deactivates it
    if e.book.orders[oi].status == ST_UNTRIGGERED:
        _move(e, oi, ST_DEACTIVATED)
    else:
        _move(e, oi, ST_CANCELLED)
    _compact_active(e)


cdef void engine_amend(Engine* e, long long oi, double qty, double price,
                       double trigger) noexcept nogil:
    """Apply an already validated amend (0 = leave as is) and re-run the placement check."""
    cdef COrder* o = &e.book.orders[oi]
    if qty > 0.0:
        o.qty = qty
    if price > 0.0:
        o.price = price
    if trigger > 0.0:
        o.trigger = trigger
    if o.otype == OT_LIMIT:
        o.marketable = o.price >= e.mkt.last_close if o.side > 0 else o.price <= e.mkt.last_close
    _move(e, oi, o.status)


# ----------------------------------------------------------------------------- one 1m bar

cdef void _rule1_market(Engine* e, double o_) noexcept nogil:
    cdef long long k, oi
    cdef COrder* o
    for k in range(e.book.n_active):
        oi = e.book.active[k]
        o = &e.book.orders[oi]
        if o.otype != OT_MARKET or is_terminal(o.status) or o.active_from_bar > e.mkt.bar_index:
            continue
        # market orders fill at the next 1m open, moved against the trader by slippage
        _execute(e, oi, _slipped(e, o_, o.side), False)


cdef void _rule2_stops(Engine* e, double o_, double h, double l) noexcept nogil:
    cdef long long k, oi
    cdef COrder* o
    cdef double trig_px, px
    cdef bint touched, marketable
    for k in range(e.book.n_active):
        oi = e.book.active[k]
        o = &e.book.orders[oi]
        if (o.otype != OT_STOP_MARKET and o.otype != OT_STOP_LIMIT) or o.status != ST_UNTRIGGERED \
                or o.active_from_bar > e.mkt.bar_index:
            continue
        if o.trig_dir == 1:
            touched = h >= o.trigger
            trig_px = o_ if o_ >= o.trigger else o.trigger  # gap: the bar opens beyond the trigger
        else:
            touched = l <= o.trigger
            trig_px = o_ if o_ <= o.trigger else o.trigger
        if not touched:
            continue
        _move(e, oi, ST_TRIGGERED)
        if o.otype == OT_STOP_MARKET:
            # stop-market: trigger price (or the gapped open) plus slippage, taker
            _execute(e, oi, _slipped(e, trig_px, o.side), False)
            continue
        marketable = o.price >= trig_px if o.side > 0 else o.price <= trig_px
        if marketable:
            # a marketable stop-limit fills at once, capped at its limit, taker
            px = _slipped(e, trig_px, o.side)
            if o.side > 0:
                if o.price < px:
                    px = o.price
            else:
                if o.price > px:
                    px = o.price
            _execute(e, oi, px, False)
        else:
            o.limit_after_trigger = True
            o.active_from_bar = e.mkt.bar_index + 1  # rests as a limit from the next bar on
            _move(e, oi, ST_NEW)


cdef void _rule3_limits(Engine* e, double o_, double h, double l) noexcept nogil:
    cdef long long k, oi
    cdef COrder* o
    cdef double px, price
    cdef bint buy, through, open_inside
    for k in range(e.book.n_active):
        oi = e.book.active[k]
        o = &e.book.orders[oi]
        if not (o.otype == OT_LIMIT or o.limit_after_trigger) or o.active_from_bar > e.mkt.bar_index:
            continue
        if o.status != ST_NEW and o.status != ST_PARTIALLY_FILLED:
            continue
        price = o.price
        buy = o.side > 0
        if o.marketable:
            o.marketable = False
            open_inside = o_ <= price if buy else o_ >= price
            if open_inside:
                # a limit marketable at placement fills at the open with slippage, capped, taker
                px = _slipped(e, o_, o.side)
                if buy:
                    if price < px:
                        px = price
                else:
                    if price > px:
                        px = price
                _execute(e, oi, px, False)
                continue
        if buy:
            through = l < price  # a touch (l == price) does not fill: the queue ahead is unknown
            px = o_ if o_ <= price else price  # at the open when the bar opens beyond the limit
        else:
            through = h > price
            px = o_ if o_ >= price else price
        if through:
            _execute(e, oi, px, True)
        elif o.tif == TIF_IOC or o.tif == TIF_FOK:
            _move(e, oi, ST_CANCELLED)  # IOC/FOK: no fill on the first eligible bar


cdef void _exit_at(Engine* e, int kind, double level, double start) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef bint long_ = p.side > 0
    cdef int close_side = -p.side
    cdef double px
    cdef bint beyond
    if kind == R_LIQUIDATION:
        # liquidation closes at the bankruptcy price, forfeiting the margin; no fee
        _close(e, p.size, p.bust_price, e.mkt.last_ts, 0.0, R_LIQUIDATION, X_BUST_TRADE, -1,
               close_side, False)
        return
    if kind == R_TAKE_PROFIT:
        beyond = start >= level if long_ else start <= level
        px = start if beyond else level  # TP: level or the open beyond it, taker, no slippage
        _close(e, p.size, px, e.mkt.last_ts, e.cfg.taker, R_TAKE_PROFIT, X_TAKE_PROFIT, -1,
               close_side, False)
        return
    beyond = start <= level if long_ else start >= level
    px = start if beyond else level  # a gap through the stop fills at the open
    px = _slipped(e, px, close_side)  # the closing side pays the slippage
    _close(e, p.size, px, e.mkt.last_ts, e.cfg.taker, kind,
           X_TRAILING_STOP if kind == R_TRAILING_STOP else X_STOP_LOSS, -1, close_side, False)


cdef inline void _rule4_exits(Engine* e, double o_, double h, double l) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef double start, stop, tr, tp, adv_level = 0.0, liq
    cdef int stop_kind, adv_kind = -1, n_touched
    cdef bint long_, liq_t, stop_t, tp_t, low_first
    if p.side == 0:
        return
    long_ = p.side > 0
    # a position opened on this bar starts its path at the fill price
    start = e.acct.entry_fill_price if e.acct.opened_bar == e.mkt.bar_index else o_
    # the effective stop is the tighter of stop loss and trailing stop (a tie is a stop loss)
    tr = p.trailing_stop if p.trailing_distance > 0.0 else 0.0
    stop = p.stop_loss
    stop_kind = R_STOP_LOSS
    if tr > 0.0:
        if stop <= 0.0 or (tr > stop if long_ else tr < stop):
            stop = tr
            stop_kind = R_TRAILING_STOP
    tp = p.take_profit
    liq = p.liq_price
    if long_:
        liq_t = l <= liq
        stop_t = stop > 0.0 and l <= stop
        tp_t = tp > 0.0 and h >= tp
    else:
        liq_t = h >= liq
        stop_t = stop > 0.0 and h >= stop
        tp_t = tp > 0.0 and l <= tp
    n_touched = <int>liq_t + <int>stop_t + <int>tp_t
    if n_touched == 0:
        return
    # of the adverse levels touched, the one nearer the price fires first; a stop lying beyond
    # the liquidation price never fires (liquidation first; a tie counts as liquidation)
    if liq_t and stop_t:
        if (stop > liq) if long_ else (stop < liq):
            adv_kind = stop_kind
            adv_level = stop
        else:
            adv_kind = R_LIQUIDATION
            adv_level = liq
    elif liq_t:
        adv_kind = R_LIQUIDATION
        adv_level = liq
    elif stop_t:
        adv_kind = stop_kind
        adv_level = stop
    if e.cfg.intrabar == 0 or n_touched == 1:
        # sl_first: when one 1m bar touches both stop and take-profit, the stop wins
        if adv_kind >= 0:
            _exit_at(e, adv_kind, adv_level, start)
        else:
            _exit_at(e, R_TAKE_PROFIT, tp, start)
        return
    # ohlc_path: start -> nearer extreme -> farther extreme -> close; ties go to the low first
    low_first = (start - l) <= (h - start)
    if low_first == long_:
        # the adverse side is met first (down for a long, up for a short)
        if adv_kind >= 0:
            _exit_at(e, adv_kind, adv_level, start)
        else:
            _exit_at(e, R_TAKE_PROFIT, tp, start)
    else:
        if tp_t:
            _exit_at(e, R_TAKE_PROFIT, tp, start)
        else:
            _exit_at(e, adv_kind, adv_level, start)


cdef inline void _rule5_ratchet(Engine* e, double h, double l) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef bint long_
    cdef double cand, excursion, be
    if p.side == 0:
        return
    long_ = p.side > 0
    if long_:
        if h > e.acct.best:
            e.acct.best = h
    elif l < e.acct.best:
        e.acct.best = l
    if p.trailing_distance > 0.0:
        if not e.acct.trail_armed:
            # the trail arms once the best price since entry reached the activation price
            if (e.acct.best >= e.acct.trail_arm_price if long_ else e.acct.best <= e.acct.trail_arm_price):
                e.acct.trail_armed = True
        if e.acct.trail_armed:
            cand = e.acct.best - p.trailing_distance * p.side
            # the trailing stop only moves in the trader's favour; it is checked from the next
            # bar (just armed: it starts at best - distance)
            if p.trailing_stop <= 0.0 or (cand > p.trailing_stop if long_ else
                                          cand < p.trailing_stop):
                p.trailing_stop = cand
    if e.acct.be_activation > 0.0 and not e.acct.be_done:
        excursion = (e.acct.best - p.entry_price) / p.entry_price * p.side
        if excursion >= e.acct.be_activation:
            # the break-even stop is on the tick grid (rounded before the comparison below)
            be = _round_tick(e, p.entry_price * (1 + e.acct.be_offset * p.side))
            # break-even never loosens an existing stop; effective from the next bar
            if p.stop_loss <= 0.0 or (be > p.stop_loss if long_ else be < p.stop_loss):
                p.stop_loss = be
            e.acct.be_done = True


cdef void _rule6_funding(Engine* e, long long ts, double c, double funding_rate) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef double rate, payment
    cdef long long t = ts + BAR_MS
    # funding at 00:00/08:00/16:00 UTC: the bar's close time is a multiple of 8 h
    # (next_fund caches the next multiple so the modulo runs once per period, not per bar)
    if p.side == 0 or t < e.mkt.next_fund:
        return
    if t % FUNDING_PERIOD_MS != 0:
        e.mkt.next_fund = (t / FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        return
    e.mkt.next_fund = t + FUNDING_PERIOD_MS
    rate = e.cfg.funding_const if isnan(funding_rate) else funding_rate
    if rate == 0.0:
        return
    # longs pay a positive rate on the notional at the 1m close; shorts receive it
    payment = p.size * c * rate * p.side
    e.acct.wallet -= payment
    e.acct.funding += payment
    p.funding_paid += payment
    _emit_fill(e, -1, p.side, 0.0, c, payment, False, ts, X_FUNDING, 0.0)


cdef bint _grow_eq(Engine* e, long long need) noexcept nogil:
    cdef long long new_cap = e.curve.cap * 2 if e.curve.cap > 0 else 1024
    cdef void* p
    if not e.curve.owned:
        e.fault.code = ERR_NOMEM  # a batch buffer is sized for every bar up front
        return False
    while new_cap < need:
        new_cap *= 2
    p = realloc(e.curve.ts, <size_t>new_cap * sizeof(long long))
    if p == NULL:
        e.fault.code = ERR_NOMEM
        return False
    e.curve.ts = <long long*>p
    p = realloc(e.curve.equity, <size_t>new_cap * sizeof(double))
    if p == NULL:
        e.fault.code = ERR_NOMEM
        return False
    e.curve.equity = <double*>p
    p = realloc(e.curve.wallet, <size_t>new_cap * sizeof(double))
    if p == NULL:
        e.fault.code = ERR_NOMEM
        return False
    e.curve.wallet = <double*>p
    p = realloc(e.curve.qty, <size_t>new_cap * sizeof(double))
    if p == NULL:
        e.fault.code = ERR_NOMEM
        return False
    e.curve.qty = <double*>p
    e.curve.cap = new_cap
    return True


cdef inline double _mark_core(Engine* e, double h, double l, double c,
                              double mark_price) noexcept nogil:
    """Rule 7 without the recording: last close / mark, MAE / MFE; returns the unrealised PnL."""
    cdef PositionState* p = &e.acct.pos
    cdef double upnl = 0.0, entry, size, x
    e.mkt.last_close = c
    e.mkt.last_mark = c if isnan(mark_price) else mark_price
    if p.side != 0:
        entry = p.entry_price
        size = p.size
        # MAE/MFE follow the 1m lows and highs
        if p.side > 0:
            x = (l - entry) * size
            if x < p.mae:
                p.mae = x
            x = (h - entry) * size
            if x > p.mfe:
                p.mfe = x
        else:
            x = (entry - h) * size
            if x < p.mae:
                p.mae = x
            x = (entry - l) * size
            if x > p.mfe:
                p.mfe = x
        upnl = (e.mkt.last_mark - entry) * size * p.side
    return upnl


cdef inline bint _rule7_mark(Engine* e, long long ts, double h, double l, double c,
                             double mark_price) noexcept nogil:
    cdef double wallet = e.acct.wallet
    cdef double upnl = _mark_core(e, h, l, c, mark_price)
    cdef long long n = e.curve.n
    if n >= e.curve.cap and not _grow_eq(e, n + 1):
        return False
    if e.curve.ts != NULL:
        e.curve.ts[n] = ts
    e.curve.equity[n] = wallet + upnl
    e.curve.wallet[n] = wallet
    e.curve.qty[n] = e.acct.pos.size * e.acct.pos.side
    e.curve.n = n + 1
    return True


cdef inline void engine_bar_open(Engine* e, long long ts, double o) noexcept nogil:
    """First half of one validated 1m bar: the bar starts and rule 1 fills at its open."""
    e.mkt.bar_index += 1
    e.mkt.last_ts = ts
    if e.book.n_active > 0:
        _rule1_market(e, o)


cdef inline void _rules_2_to_6(Engine* e, long long ts, double o, double h, double l, double c,
                               double funding_rate) noexcept nogil:
    """Rules 2-6 of docs/fill_model.md for the bar engine_bar_open started, in that order."""
    # orders placed between the halves are first eligible on the next bar (active_from_bar)
    if e.book.n_active > 0:
        _rule2_stops(e, o, h, l)
        _rule3_limits(e, o, h, l)
        _compact_active(e)
    if e.acct.pos.side != 0:
        _rule4_exits(e, o, h, l)
        _rule5_ratchet(e, h, l)
        if ts + BAR_MS >= e.mkt.next_fund:
            _rule6_funding(e, ts, c, funding_rate)


cdef inline void _bar_rules(Engine* e, long long ts, double o, double h, double l, double c,
                            double funding_rate) noexcept nogil:
    """Rules 1-6 for one validated 1m bar (the batch path records rule 7 itself)."""
    engine_bar_open(e, ts, o)  # rule 1 never changes n_active: only submit and compact do
    _rules_2_to_6(e, ts, o, h, l, c, funding_rate)


cdef inline void engine_bar_rest(Engine* e, long long ts, double o, double h, double l, double c,
                                 double mark_price, double funding_rate) noexcept nogil:
    """Second half of the bar engine_bar_open started: rules 2-7, in that order."""
    _rules_2_to_6(e, ts, o, h, l, c, funding_rate)
    _rule7_mark(e, ts, h, l, c, mark_price)


cdef inline void engine_bar(Engine* e, long long ts, double o, double h, double l, double c,
                     double mark_price, double funding_rate) noexcept nogil:
    """Process one validated 1m bar: rules 1-7 of docs/fill_model.md, in that order."""
    engine_bar_open(e, ts, o)
    engine_bar_rest(e, ts, o, h, l, c, mark_price, funding_rate)


cdef void engine_finish(Engine* e) noexcept nogil:
    """Close an open position at the last close (taker fee, no slippage, end_of_data)."""
    cdef long long k
    if e.mkt.finished:
        return
    if e.acct.pos.side != 0 and e.mkt.last_ts >= 0:
        _close(e, e.acct.pos.size, e.mkt.last_close, e.mkt.last_ts, e.cfg.taker, R_END_OF_DATA, X_TRADE, -1,
               -e.acct.pos.side, False)
    # orders still open at the end are cancelled (untriggered ones deactivated)
    for k in range(e.book.n_active):
        if not is_terminal(e.book.orders[e.book.active[k]].status):
            if e.book.orders[e.book.active[k]].status == ST_UNTRIGGERED:
                _move(e, e.book.active[k], ST_DEACTIVATED)
            else:
                _move(e, e.book.active[k], ST_CANCELLED)
    _compact_active(e)
    e.mkt.finished = True


cdef int check_bar(long long prev_ts, long long ts, double o, double h, double l, double c,
                   double v, double mark, double fr) noexcept nogil:
    """0 when the bar is valid, else the code of the first bad field (see BAR_ERRORS)."""
    if ts <= prev_ts:
        return 1
    if not (isfinite(o) and o > 0.0):
        return 2
    if not (isfinite(h) and h > 0.0):
        return 3
    if not (isfinite(l) and l > 0.0):
        return 4
    if not (isfinite(c) and c > 0.0):
        return 5
    if h < l:
        return 6
    if h < o or h < c:
        return 7
    if l > o or l > c:
        return 8
    if not (isfinite(v) and v >= 0.0):
        return 9
    if not isnan(mark) and not (isfinite(mark) and mark > 0.0):
        return 10
    if not isnan(fr) and not isfinite(fr):
        return 11
    return 0


# the RJ_* enum of sim.pxd by name (trade.sim.rejects.RejectCode mirrors it; a test checks)
REJECT_CODES = {"NONE": RJ_NONE, "FINISHED": RJ_FINISHED, "NO_PRICE": RJ_NO_PRICE,
                "MIN_QTY": RJ_MIN_QTY, "POST_ONLY": RJ_POST_ONLY, "RO_FLAT": RJ_RO_FLAT,
                "RO_INCREASE": RJ_RO_INCREASE, "MIN_NOTIONAL": RJ_MIN_NOTIONAL,
                "BALANCE": RJ_BALANCE, "RO_CANCEL": RJ_RO_CANCEL}

# the OT_/TIF_/X_/R_ enums of sim.pxd by name: trade.core.enums.OrderType, TimeInForce,
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
    o.trail_act = _opt(req.trailing_activation)
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
            p.take_profit = take_profit
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
        _emit_position(&self.e)
        _check_err(&self.e)

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
            _set_liq(&self.e)
        _emit_position(&self.e)
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
        _snapshot(&self.e, &snap)
        return Position.wrap(self.symbol, &snap)

    def balance(self):
        cdef double used = _used_margin(&self.e)
        return _Balance(self.e.acct.wallet, _equity(&self.e), used, self.e.acct.wallet - used,
                        _now(&self.e))

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


# =============================================================================
# The batch runner: a whole run of precomputed exec-timeframe signals in one nogil loop over
# the same engine functions the step API uses (included by sim.pyx). Signal rules: the module
# docstring of trade/sim/signals.py, mirrored from trade/sim/driver.py.

cdef struct FCol:
    # a float signal column: step 1 = one value per row, step 0 = the same value on every row
    const double* p
    long long step

cdef struct BCol:
    # a 0/1 signal column (any non-zero byte is set), stepped like FCol
    const unsigned char* p
    long long step

cdef struct Signals:
    const long long* idx
    long long n
    BCol entry_long, entry_short, exit_long, exit_short
    FCol size_value, sl_pct, tp_pct, trail_pct, be_activation, be_offset, exit_pct
    FCol limit_offset, trail_activation
    int size_mode
    int entry_tif
    bint allow_flip
    long long expire_bars


cdef inline double _nz(double x) noexcept nogil:
    # NaN in a float signal array means 0 (none)
    return 0.0 if isnan(x) else x


cdef inline double _fv(FCol c, long long j) noexcept nogil:
    return c.p[j * c.step]


cdef inline bint _bv(BCol c, long long j) noexcept nogil:
    return c.p[j * c.step] != 0


# ----------------------------------------------------------------------------- row rules
# Steps 1-3 of the signal-row rules (trade/sim/signals.py), written once: the batch loop acts
# on an Engine with them (_act), the event path (trade.sim.rowact, for PlayEngine over any
# adapter, and the reference driver) through the Python entries row_orders / entry_qty /
# entry_order below.

cdef inline void row_orders_c(RowIn* r, RowOut* o) noexcept nogil:
    cdef double pct, qty
    cdef int held = r.held
    cdef double remaining = r.size
    o.cancel_entry = False
    o.exit_qty = 0.0
    o.direction = 0
    o.flip_qty = 0.0
    # 1. a resting entry limit past its expiry (expire_bars 1m bars after placement) is cancelled
    if r.resting and r.expire_bars > 0 and r.bar - r.placed_bar >= r.expire_bars:
        o.cancel_entry = True
    # 2. exits: a reduce-only market order for exit_pct of the position (100 = all, unrounded)
    if held != 0 and ((held > 0 and r.exit_long) or (held < 0 and r.exit_short)):
        pct = _nz(r.exit_pct)
        qty = r.size if pct >= 100 else _floor_step(r.size * pct / 100, r.qty_step)
        if qty > 0:
            o.exit_qty = qty
            remaining = r.size - qty
    # 3. entries see the position net of this row's exit: a full exit leaves it flat
    if remaining <= 0.0:
        held = 0
    if r.entry_long == r.entry_short or (r.resting and not o.cancel_entry):
        return  # both set is ambiguous; one entry order at a time
    if held == (1 if r.entry_long else -1):
        return  # one position per symbol
    if held != 0:
        if not r.allow_flip:
            return
        o.flip_qty = remaining  # the entry also closes the opposite position (a flip)
    o.direction = 1 if r.entry_long else -1


cdef inline double entry_qty_c(int size_mode, double value, double equity, double ref, double sl,
                               double leverage, double taker, double qty_step, double min_qty,
                               double min_notional) noexcept nogil:
    """Quantity of a new entry at reference price `ref` (0 = skip the entry)."""
    cdef double notional, cap, qty
    if size_mode == 0:
        notional = value  # FIXED_USDT
    elif size_mode == 1:
        notional = equity * value / 100 * leverage  # PERCENT_EQUITY
    else:
        if sl <= 0:
            return 0.0  # risk-based sizing needs a stop
        notional = equity * value / 100 / sl
    # notional is capped so that its margin plus the opening taker fee fit in equity
    cap = equity * leverage / (1.0 + leverage * taker)
    if cap < notional:
        notional = cap
    qty = _floor_step(notional / ref, qty_step)
    if qty <= 0 or qty < min_qty or qty * ref < min_notional:
        return 0.0
    return qty


cdef inline void entry_order_c(int direction, double qty, double flip_qty, double ref,
                               double limit_offset, double tick, double units, double scale,
                               int* otype, double* order_qty, double* price) noexcept nogil:
    # a limit entry at ref -/+ offset (on the tick grid, as the exchange requires and live
    # sends it) when there is an offset and no flip; else one market order for the new size
    # plus the opposite position (a flip)
    if limit_offset > 0 and flip_qty == 0:
        otype[0] = OT_LIMIT
        order_qty[0] = qty
        price[0] = _grid(ref * (1 - limit_offset) if direction > 0 else
                         ref * (1 + limit_offset), tick, units, scale)
    else:
        otype[0] = OT_MARKET
        order_qty[0] = qty + flip_qty
        price[0] = 0.0


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


cdef inline bint _resting(Engine* e, long long entry_oi) noexcept nogil:
    # the runner's entry limit is still open (not yet filled, cancelled or rejected)
    cdef int st
    if entry_oi < 0:
        return False
    st = e.book.orders[entry_oi].status
    return not is_terminal(st) and st != ST_CREATED


cdef void _act(Engine* e, Signals* s, long long j, long long i, double ref,
               long long* entry_oi, long long* entry_bar) noexcept nogil:
    """Act on signal row j after 1m bar i (= exec_close_idx[j]) closed at `ref`."""
    cdef PositionState* p = &e.acct.pos
    cdef COrder t
    cdef long long oi
    cdef RowIn r
    cdef RowOut o
    cdef int otype
    cdef double qty, sl, oq, px
    r.held = p.side
    r.size = p.size
    r.resting = _resting(e, entry_oi[0])
    r.bar = i
    r.placed_bar = entry_bar[0]
    r.expire_bars = s.expire_bars
    r.entry_long = _bv(s.entry_long, j)
    r.entry_short = _bv(s.entry_short, j)
    r.exit_long = _bv(s.exit_long, j)
    r.exit_short = _bv(s.exit_short, j)
    r.exit_pct = _fv(s.exit_pct, j)
    r.allow_flip = s.allow_flip
    r.qty_step = e.cfg.qty_step
    row_orders_c(&r, &o)
    if o.cancel_entry:
        engine_cancel(e, entry_oi[0])
    if o.exit_qty > 0:
        memset(&t, 0, sizeof(COrder))
        t.side = -p.side
        t.otype = OT_MARKET
        t.tif = TIF_GTC
        t.trig_dir = 1 if t.side > 0 else 2
        t.reduce_only = True
        t.qty = o.exit_qty
        engine_submit(e, &t)
    if o.direction == 0:
        return
    sl = _nz(_fv(s.sl_pct, j))
    qty = entry_qty_c(s.size_mode, _fv(s.size_value, j), _equity(e), ref, sl, e.cfg.leverage,
                      e.cfg.taker, e.cfg.qty_step, e.cfg.min_qty, e.cfg.min_notional)
    if qty <= 0:
        return
    memset(&t, 0, sizeof(COrder))
    t.side = o.direction
    t.tif = TIF_GTC
    t.trig_dir = 1 if o.direction > 0 else 2
    t.sl_off = sl if sl > 0 else 0.0
    t.tp_off = _nz(_fv(s.tp_pct, j))
    t.trail_off = _nz(_fv(s.trail_pct, j))
    t.be_act = _nz(_fv(s.be_activation, j))
    t.be_off = _nz(_fv(s.be_offset, j))
    # the activation only means something with a trail
    t.trail_act = _nz(_fv(s.trail_activation, j)) if t.trail_off > 0 else 0.0
    entry_order_c(o.direction, qty, o.flip_qty, ref, _nz(_fv(s.limit_offset, j)), e.cfg.tick,
                  e.cfg.tick_units, e.cfg.tick_scale, &otype, &oq, &px)
    t.otype = otype
    t.qty = oq
    t.price = px
    if otype == OT_LIMIT:
        # a limit entry carries the run's entry TIF (IOC/FOK: cancelled when not filled on its
        # first eligible bar; PostOnly: rejected when it would cross, and not retried)
        t.tif = s.entry_tif
        oi = engine_submit(e, &t)
        if oi >= 0 and not is_terminal(e.book.orders[oi].status):
            entry_oi[0] = oi
            entry_bar[0] = i
        return
    # market orders are GTC (the entry TIF is for limit entries only)
    engine_submit(e, &t)


cdef inline long long _next_row(Signals* s, long long j) noexcept nogil:
    # the first row >= j that can act when no entry limit rests: a row with no flag set does
    # nothing (no exit, no entry, and expiry only concerns a resting entry)
    cdef const unsigned char* el = s.entry_long.p
    cdef const unsigned char* es = s.entry_short.p
    cdef const unsigned char* xl = s.exit_long.p
    cdef const unsigned char* xs = s.exit_short.p
    cdef long long a = s.entry_long.step, b = s.entry_short.step
    cdef long long c = s.exit_long.step, d = s.exit_short.step
    cdef unsigned long long w0, w1, w2, w3
    if j >= s.n:
        return s.n
    if a == 0 and b == 0 and c == 0 and d == 0:
        return j if (el[0] | es[0] | xl[0] | xs[0]) else s.n
    if a == 1 and b == 1 and c == 1 and d == 1:
        # eight rows at a time while none is set (the byte loop below finds which one is)
        while j + 8 <= s.n:
            memcpy(&w0, el + j, 8)
            memcpy(&w1, es + j, 8)
            memcpy(&w2, xl + j, 8)
            memcpy(&w3, xs + j, 8)
            if w0 | w1 | w2 | w3:
                break
            j += 8
    while j < s.n:
        if el[j * a] | es[j * b] | xl[j * c] | xs[j * d]:
            return j
        j += 1
    return s.n


cdef inline int _bad_rows(const long long* ts, const double* o, const double* h,
                         const double* l, const double* c, const double* v, long long start,
                         long long stop) noexcept nogil:
    """Non-zero when any row in [start, stop) is bad: branch-free loops the compiler vectorises
    (SSE2). Every comparison is False for NaN, so `x > 0 and x <= big` also rules out NaN and
    inf; a bad row adds 1.0 to `nbad` (exact: at most 4096 rows)."""
    cdef long long i
    cdef long long neg = 0, inc = -1
    cdef double nbad = 0.0
    cdef double big = 1.7976931348623157e308
    cdef long long first = start if start > 0 else 1
    # ts >= 0 everywhere (the sign bits OR-ed), then, all being >= 0, each difference
    # ts[i - 1] - ts[i] is exact and must be < 0 (the sign bits AND-ed)
    for i in range(start - 1 if start > 0 else 0, stop):
        neg |= ts[i]
    for i in range(first, stop):
        inc &= <long long>(<unsigned long long>ts[i - 1] - <unsigned long long>ts[i])
    for i in range(start, stop):
        # 0 < l <= min(o, c) and max(o, c) <= h <= big put all four prices in (0, big]
        nbad += 0.0 if ((l[i] > 0.0) & (h[i] <= big) & (h[i] >= o[i]) & (h[i] >= c[i])
                        & (l[i] <= o[i]) & (l[i] <= c[i])) else 1.0
    if v != NULL:
        for i in range(start, stop):
            nbad += 0.0 if ((v[i] >= 0.0) & (v[i] <= big)) else 1.0
    return <int>(neg < 0) | <int>(first < stop and inc >= 0) | <int>(nbad != 0.0)


cdef long long _validate_bars(const long long* ts, const double* o, const double* h,
                              const double* l, const double* c, const double* v,
                              const double* mark, const double* fr, long long first,
                              long long n, int* code) noexcept nogil:
    """First bad row in [first, n) (its field code in `code`), or -1."""
    cdef long long i, start, stop, prev
    cdef double mk, f
    cdef bint precise
    # a fast branch-free pass per block of rows; the exact per-row check only where it fails
    # (and always when the optional mark / funding columns are present)
    start = first
    while start < n:
        stop = start + 4096 if start + 4096 < n else n
        precise = mark != NULL or fr != NULL or _bad_rows(ts, o, h, l, c, v, start, stop) != 0
        if precise:
            for i in range(start, stop):
                prev = ts[i - 1] if i > 0 else -1
                mk = mark[i] if mark != NULL else NAN
                f = fr[i] if fr != NULL else NAN
                code[0] = check_bar(prev, ts[i], o[i], h[i], l[i], c[i],
                                    v[i] if v != NULL else 0.0, mk, f)
                if code[0]:
                    return i
        start = stop
    return -1


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
        bad = _validate_bars(&ts[0], &o[0], &h[0], &l[0], &c[0], vp, mp, fp, 0, n, &code)
    if bad >= 0:
        raise _bar_error(code, ts[bad], f" at row {bad}")


cdef struct Bars:
    const long long* ts
    const double* o
    const double* h
    const double* l
    const double* c
    const double* v
    const double* mark         # NULL when absent
    const double* fr           # NULL when absent
    long long n


DEF DAY_MS = 86400000

cdef struct Out:
    # what the batch loop records per 1m bar: the full curve, or a summary of it
    bint summary
    double* eq                 # full: equity, wallet balance, signed position qty per bar
    double* wa
    double* qty
    # summary: segments [starts[k], starts[k + 1]) (starts = 0 then the cuts), UTC-day groups
    const long long* cuts
    long long n_cuts, ci, next_cut
    double peak, trough, dd, last_eq
    bint dd_nan
    long long exposed
    long long day_end, cur_day # ms end of the open day group (-1: none open), its day number
    long long* g_day           # per (segment, UTC day) group: day number, segment, closing equity
    long long* g_seg
    double* g_close
    long long n_groups, cap_groups
    double* seg                # per segment: max drawdown, exposed bars, final equity, base


cdef inline void _dd_point(Out* out, double eq) noexcept nogil:
    # drawdown at one point: 1 - equity / running peak (the peak includes this point)
    cdef double d = 1.0 - eq / out.peak
    if d > out.dd:
        out.dd = d
    elif d != d:
        out.dd_nan = True  # numpy's max propagates NaN (a zero peak)


cdef inline void _dd_track(double eq, double* peak, double* trough, double* dd,
                          bint* dnan) noexcept nogil:
    # the running peak, trough and max drawdown (1 - equity / peak) after one more point:
    # with a positive peak the drawdown only grows at a new low (1 - x / peak is monotone)
    cdef double d
    if eq > peak[0]:
        peak[0] = eq
        trough[0] = eq
        if eq > 0.0:
            return
    elif eq < trough[0]:
        trough[0] = eq
    elif peak[0] > 0.0:
        return
    d = 1.0 - eq / peak[0]
    if d > dd[0]:
        dd[0] = d
    elif d != d:
        dnan[0] = True  # numpy's max propagates NaN (a zero peak)


def max_drawdown(const double[::1] values, double base):
    """max over the curve [base, *values] of 1 - value / running peak (the base is the first
    peak): the drawdown rule of the summary mode (_dd_track), in one pass with no temporary.
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
            _dd_track(values[k], &peak, &trough, &dd, &dnan)
    return NAN if dnan else dd


cdef inline void _seg_start(Out* out, double base) noexcept nogil:
    # the running peak starts at the base (initial balance, or the equity before the segment)
    out.peak = base
    out.trough = base
    out.dd = -1.0e308
    out.dd_nan = False
    out.exposed = 0
    out.last_eq = base
    out.seg[out.ci * 4 + 3] = base
    _dd_point(out, base)


cdef inline void _push_group(Out* out) noexcept nogil:
    if out.day_end < 0:
        return
    if out.n_groups < out.cap_groups:
        out.g_day[out.n_groups] = out.cur_day
        out.g_seg[out.n_groups] = out.ci
        out.g_close[out.n_groups] = out.last_eq
    out.n_groups += 1  # > cap_groups is reported as an error by the caller
    out.day_end = -1


cdef inline void _seg_end(Out* out) noexcept nogil:
    _push_group(out)
    out.seg[out.ci * 4] = NAN if out.dd_nan else out.dd
    out.seg[out.ci * 4 + 1] = <double>out.exposed
    out.seg[out.ci * 4 + 2] = out.last_eq


cdef inline void _rec_summary(Out* out, long long k, long long t, double eq,
                              double q) noexcept nogil:
    cdef double base
    if k == out.next_cut:
        base = out.last_eq
        _seg_end(out)
        out.ci += 1
        out.next_cut = out.cuts[out.ci] if out.ci < out.n_cuts else -1
        _seg_start(out, base)
    if t >= out.day_end:
        _push_group(out)
        out.cur_day = t / DAY_MS  # ts >= 0 (validated), so this is the floor
        out.day_end = (out.cur_day + 1) * DAY_MS
    _dd_track(eq, &out.peak, &out.trough, &out.dd, &out.dd_nan)
    if q != 0.0:
        out.exposed += 1
    out.last_eq = eq


cdef inline void _rec(Out* out, long long k, long long t, double eq, double w,
                      double q) noexcept nogil:
    if out.summary:
        _rec_summary(out, k, t, eq, q)
    else:
        out.eq[k] = eq
        out.wa[k] = w
        out.qty[k] = q


cdef inline void _general_bar(Engine* e, Bars* b, Out* out, long long k) noexcept nogil:
    """One 1m bar through every rule (rules 1-7), then recorded."""
    cdef double mk = b.mark[k] if b.mark != NULL else NAN
    cdef double f = b.fr[k] if b.fr != NULL else NAN
    cdef double wallet, upnl
    _bar_rules(e, b.ts[k], b.o[k], b.h[k], b.l[k], b.c[k], f)
    wallet = e.acct.wallet
    upnl = _mark_core(e, b.h[k], b.l[k], b.c[k], mk)
    _rec(out, k, b.ts[k], wallet + upnl, wallet, e.acct.pos.size * e.acct.pos.side)


cdef inline void _sync_bar(Engine* e, Bars* b, long long k) noexcept nogil:
    # the engine state rules 1-7 leave after bar k when nothing happened on it
    cdef double mk = b.mark[k] if b.mark != NULL else NAN
    e.mkt.bar_index = k
    e.mkt.last_ts = b.ts[k]
    e.mkt.last_close = b.c[k]
    e.mkt.last_mark = b.c[k] if isnan(mk) else mk


cdef long long _first_at_or_after(const long long* ts, long long lo, long long hi,
                                  long long t) noexcept nogil:
    # the first row in [lo, hi) with ts >= t (hi if none); ts is strictly increasing
    cdef long long mid
    while lo < hi:
        mid = lo + (hi - lo) / 2
        if ts[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void _flat_run(Engine* e, Bars* b, Out* out, long long i, long long end) noexcept nogil:
    """Bars [i, end) while flat with no open order: no rule can act, so each bar only records
    equity = wallet balance (rule 7 with no position)."""
    cdef double w = e.acct.wallet + 0.0  # wallet + unrealised PnL 0
    cdef double* eq
    cdef double* wa
    cdef double* qt
    cdef long long k, lim
    if i >= end:
        return
    if out.summary:
        # the same value on every bar: only a segment cut or a new UTC day changes the summary
        k = i
        while k < end:
            _rec_summary(out, k, b.ts[k], w, 0.0)
            k += 1
            lim = end if out.next_cut < k or out.next_cut > end else out.next_cut
            k = _first_at_or_after(b.ts, k, lim, out.day_end)
    else:
        eq = out.eq
        wa = out.wa
        qt = out.qty
        for k in range(i, end):
            eq[k] = w
            wa[k] = w
            qt[k] = 0.0
    _sync_bar(e, b, end - 1)


cdef long long _pos_run(Engine* e, Bars* b, Out* out, long long i, long long end) noexcept nogil:
    """Bars from i on while a position is open with fixed SL / TP, no armed trailing stop, no
    pending break-even and no open order: rules 1-3 have nothing to do, and rules 4-6 reduce to
    "no level touched, no funding time" (and, for a trailing stop not yet armed, "not armed by
    this bar": a bar reaching a price bound 1e-9 on the safe side of the activation level
    leaves the run, and the full rule 5 decides exactly). Returns the first bar (< end) where
    that fails,
    unprocessed, or end. Same arithmetic as rules 4-7 (MAE / MFE / best price are taken
    from the run's extreme high and low: x -> (x - entry) x size rounds monotonically, so
    the extreme of the per-bar values is the value at the extreme price)."""
    cdef PositionState* p = &e.acct.pos
    cdef int side = p.side
    cdef double entry = p.entry_price, size = p.size, sl = p.stop_loss, tp = p.take_profit
    cdef double wallet = e.acct.wallet
    cdef double qty = p.size * p.side, adverse, target, hk, lk, mk, eq, arm
    cdef double hmax = -INFINITY, lmin = INFINITY
    cdef long long fund_lim = e.mkt.next_fund - BAR_MS, k = i, t, lim = end
    cdef const double* mark = b.mark
    cdef const long long* ts = b.ts
    cdef const double* h = b.h
    cdef const double* l = b.l
    cdef const double* c = b.c
    cdef bint summary = out.summary
    cdef double peak = out.peak, trough = out.trough, dd = out.dd, last = out.last_eq
    cdef bint dnan = out.dd_nan
    cdef long long day_end = out.day_end
    cdef double* eq_out = out.eq
    cdef double* wa_out = out.wa
    cdef double* qty_out = out.qty
    if summary and i <= out.next_cut < lim:
        lim = out.next_cut  # the cut bar goes through _rec_summary
    if side > 0:
        # long: liquidation at l <= liq, stop at l <= sl, take-profit at h >= tp
        adverse = p.liq_price
        if sl > 0.0 and sl > adverse:
            adverse = sl
        target = tp if tp > 0.0 else INFINITY
        if p.trailing_distance > 0.0:
            # an unarmed trail: a high that arms it leaves the run (the exact rule 5 test)
            arm = e.acct.trail_arm_price
            if arm < target:
                target = arm
    else:
        adverse = p.liq_price
        if sl > 0.0 and sl < adverse:
            adverse = sl
        target = tp if tp > 0.0 else -INFINITY
        if p.trailing_distance > 0.0:
            # an unarmed trail on a short: a low that arms it leaves the run
            arm = e.acct.trail_arm_price
            if arm > target:
                target = arm
    while k < lim:
        hk = h[k]
        lk = l[k]
        if side > 0:
            if lk <= adverse or hk >= target:
                break  # a level is touched: the full rule 4 decides
        elif hk >= adverse or lk <= target:
            break
        t = ts[k]
        if t >= fund_lim:
            break  # ts + 1 min >= next funding time: rule 6 decides
        if hk > hmax:
            hmax = hk
        if lk < lmin:
            lmin = lk
        mk = c[k]
        if mark != NULL and not isnan(mark[k]):
            mk = mark[k]
        eq = wallet + (mk - entry) * size * side
        if summary:
            if t >= day_end:
                # a new UTC day: the open day group closes at the previous bar's equity
                out.last_eq = last
                _push_group(out)
                out.cur_day = t / DAY_MS
                day_end = (out.cur_day + 1) * DAY_MS
                out.day_end = day_end
            _dd_track(eq, &peak, &trough, &dd, &dnan)  # as _rec_summary
            last = eq
        else:
            eq_out[k] = eq
            wa_out[k] = wallet
            qty_out[k] = qty
        k += 1
    if k > i:
        # rule 5: the best price; rule 7: MAE/MFE follow the 1m lows and highs
        if side > 0:
            if hmax > e.acct.best:
                e.acct.best = hmax
            mk = (lmin - entry) * size
            if mk < p.mae:
                p.mae = mk
            mk = (hmax - entry) * size
            if mk > p.mfe:
                p.mfe = mk
        else:
            if lmin < e.acct.best:
                e.acct.best = lmin
            mk = (entry - hmax) * size
            if mk < p.mae:
                p.mae = mk
            mk = (entry - lmin) * size
            if mk > p.mfe:
                p.mfe = mk
        if summary:
            out.peak = peak
            out.trough = trough
            out.dd = dd
            out.dd_nan = dnan
            out.last_eq = last
            out.exposed += k - i  # a position on every one of these bars
        _sync_bar(e, b, k - 1)
    return k


cdef long long _run(Engine* e, Signals* s, Bars* b, Out* out, bint validate,
                    int* code) noexcept nogil:
    """The batch loop over all bars; returns the first bad bar row (code in `code`) or -1."""
    cdef long long blk = 0, stop, bad = -1, i, k, j = 0, next_sig = -1, end
    cdef long long entry_oi = -1, entry_bar = -1
    j = _next_row(s, 0)
    if j < s.n:
        next_sig = s.idx[j]
    while blk < b.n and e.fault.code == ERR_NONE:
        if validate:
            # bars are validated block by block just ahead of their simulation (still in cache)
            stop = blk + 4096 if blk + 4096 < b.n else b.n
            bad = _validate_bars(b.ts, b.o, b.h, b.l, b.c, b.v, b.mark, b.fr, blk, stop, code)
            if bad >= 0:
                return bad
        else:
            stop = b.n
        i = blk
        while i < stop and e.fault.code == ERR_NONE:
            end = next_sig + 1 if 0 <= next_sig < stop else stop
            if e.book.n_active == 0 and e.acct.pos.side == 0:
                _flat_run(e, b, out, i, end)
                i = end
            else:
                k = i
                # holding with fixed levels only (no order, no armed trail, no pending
                # break-even): the idle fast path, which leaves at a bar that may arm the trail
                if e.book.n_active == 0 and (e.acct.pos.trailing_distance <= 0.0 or
                                        not e.acct.trail_armed) and (
                        e.acct.be_activation <= 0.0 or e.acct.be_done):
                    k = _pos_run(e, b, out, i, end)
                if k < end:
                    _general_bar(e, b, out, k)
                    k += 1
                i = k
            if i - 1 == next_sig:
                # after the last 1m bar of exec bar j has closed, act on signal row j
                _act(e, s, j, next_sig, b.c[next_sig], &entry_oi, &entry_bar)
                # while an entry limit rests every row is visited (its expiry is counted at
                # rows); otherwise straight on to the next row that can act
                j = j + 1 if _resting(e, entry_oi) else _next_row(s, j + 1)
                next_sig = s.idx[j] if j < s.n else -1
        blk = stop
    return -1


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
            bad = _run(&e, s, b, out, validate, &code)
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
                     bint validate=True):
    """Run the whole backtest in one nogil loop. Signals must be validated already
    (SignalArrays.validate); this checks their shapes and index range.

    With validate (the default) the bars are validated block by block (4096 rows) just ahead
    of the simulation of that block, while the block is still in cache: a bad row raises
    ValueError naming it before any result exists (the engine is private to this call), so
    nothing is half-applied. validate=False is for bars validated already (ValidatedBars).

    Fills eq_out / wallet_out / qty_out (one row per bar) and returns
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
    return _run_engine(&b, &s, &out, config, validate)


def run_batch_summary_arrays(const long long[::1] ts, const double[::1] o, const double[::1] h,
                             const double[::1] l, const double[::1] c, volume, mark, fr,
                             signals, config, const long long[::1] cuts, long long[::1] g_day,
                             long long[::1] g_seg, double[::1] g_close, double[:, ::1] seg,
                             bint validate=True):
    """run_batch_arrays, recording a summary of the equity curve instead of the curve.

    The bars are cut into segments at the rows `cuts` (strictly increasing, in (0, n)).
    Per segment k (row `seg[k]`): max drawdown of the 1m equity with the segment's base as
    first peak, the number of bars with a position, the last equity, the base (the initial
    balance for the first segment, else the equity of the bar before it). Per (segment, UTC
    day) group, in order: the day number (ts // 86400000), the segment, the equity at the
    group's last bar. Returns (trade-log table, final wallet balance, number of groups).
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
    _seg_start(&out, config.initial_balance)
    table, wallet = _run_engine(&b, &s, &out, config, validate)
    _seg_end(&out)
    if out.n_groups > out.cap_groups:
        raise ValueError(f"{out.n_groups} day groups do not fit in {out.cap_groups}")
    return table, wallet, out.n_groups
