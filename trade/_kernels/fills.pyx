# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The fill rules of docs/fill_model.md: one validated 1m bar through rules 1-7, in order,
and the end of data. The arithmetic mirrors trade/sim/reference.py operation by operation."""

from libc.math cimport isnan, isfinite

from trade._kernels.position cimport PositionState
from trade._kernels.lifecycle cimport (
    is_terminal, ST_NEW, ST_FILLED, ST_CANCELLED, ST_UNTRIGGERED, ST_TRIGGERED, ST_DEACTIVATED,
    ST_PARTIALLY_FILLED,
)
from trade._kernels.engine cimport *
from trade._kernels.ledger cimport close_part, open_or_add, flatten, set_liq
from trade._kernels.book cimport move_order, compact_active

cdef void execute_order(Engine* e, long long oi, double price, bint maker) noexcept nogil:
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
            move_order(e, oi, ST_CANCELLED)
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
        close_part(e, close_qty, price, e.mkt.last_ts, fee_rate,
                   R_FLIP if open_qty > 0.0 else R_SIGNAL, X_TRADE, oi, side, maker)
    if open_qty > 0.0:
        open_or_add(e, open_qty, price, side, fee_rate, oi, maker)
    filled = o.filled_qty + qty
    o.avg_px = ((o.avg_px * o.filled_qty) + price * qty) / filled
    o.filled_qty = filled
    o.cum_fee = o.cum_fee + qty * price * fee_rate
    move_order(e, oi, ST_FILLED)


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
        execute_order(e, oi, slipped(e, o_, o.side), False)


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
        move_order(e, oi, ST_TRIGGERED)
        if o.otype == OT_STOP_MARKET:
            # stop-market: trigger price (or the gapped open) plus slippage, taker
            execute_order(e, oi, slipped(e, trig_px, o.side), False)
            continue
        marketable = o.price >= trig_px if o.side > 0 else o.price <= trig_px
        if marketable:
            # a marketable stop-limit fills at once, capped at its limit, taker
            px = slipped(e, trig_px, o.side)
            if o.side > 0:
                if o.price < px:
                    px = o.price
            else:
                if o.price > px:
                    px = o.price
            execute_order(e, oi, px, False)
        else:
            o.limit_after_trigger = True
            o.active_from_bar = e.mkt.bar_index + 1  # rests as a limit from the next bar on
            move_order(e, oi, ST_NEW)


cdef void _rule3_limits(Engine* e, double o_, double h, double l) noexcept nogil:
    cdef long long k, oi
    cdef COrder* o
    cdef double px, price
    cdef bint buy, through, open_inside
    for k in range(e.book.n_active):
        oi = e.book.active[k]
        o = &e.book.orders[oi]
        if (not (o.otype == OT_LIMIT or o.limit_after_trigger)
                or o.active_from_bar > e.mkt.bar_index):
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
                px = slipped(e, o_, o.side)
                if buy:
                    if price < px:
                        px = price
                else:
                    if price > px:
                        px = price
                execute_order(e, oi, px, False)
                continue
        if buy:
            through = l < price  # a touch (l == price) does not fill: the queue ahead is unknown
            px = o_ if o_ <= price else price  # at the open when the bar opens beyond the limit
        else:
            through = h > price
            px = o_ if o_ >= price else price
        if through:
            execute_order(e, oi, px, True)
        elif o.tif == TIF_IOC or o.tif == TIF_FOK:
            move_order(e, oi, ST_CANCELLED)  # IOC/FOK: no fill on the first eligible bar


cdef void _exit_at(Engine* e, int kind, double level, double start) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef bint long_ = p.side > 0
    cdef int close_side = -p.side
    cdef double px
    cdef bint beyond
    if kind == R_LIQUIDATION:
        # liquidation closes at the bankruptcy price, forfeiting the margin; no fee
        close_part(e, p.size, p.bust_price, e.mkt.last_ts, 0.0, R_LIQUIDATION, X_BUST_TRADE, -1,
                   close_side, False)
        return
    if kind == R_TAKE_PROFIT:
        beyond = start >= level if long_ else start <= level
        px = start if beyond else level  # TP: level or the open beyond it, taker, no slippage
        close_part(e, p.size, px, e.mkt.last_ts, e.cfg.taker, R_TAKE_PROFIT, X_TAKE_PROFIT, -1,
                   close_side, False)
        return
    beyond = start <= level if long_ else start >= level
    px = start if beyond else level  # a gap through the stop fills at the open
    px = slipped(e, px, close_side)  # the closing side pays the slippage
    close_part(e, p.size, px, e.mkt.last_ts, e.cfg.taker, kind,
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


# ----------------------------------------------------------------------------- Partial mode
# Rule 4 with split take-profits, limit and mark-price brackets (docs/fill_model.md rule 4,
# A-D). Prices compare in the position's favour with `side` (+1 long, -1 short).

cdef inline bint _reached(int side, double x, double level) noexcept nogil:
    # x is at or beyond level in the position's favour (long: x >= level)
    return x >= level if side > 0 else x <= level


cdef inline bint _past(int side, double x, double level) noexcept nogil:
    # x is strictly beyond level in the position's favour (long: x > level)
    return x > level if side > 0 else x < level


cdef void _fill_level(Engine* e, int k, double px, bint maker) noexcept nogil:
    # level k fills: its qty (a qty above the position's size closes it), one partial close
    cdef PositionState* p = &e.acct.pos
    cdef double q = e.acct.lv_qty[k]
    cdef int close_side = -p.side
    cdef int j
    if q > p.size:
        q = p.size
    for j in range(k, e.acct.n_lv - 1):
        e.acct.lv_px[j] = e.acct.lv_px[j + 1]
        e.acct.lv_qty[j] = e.acct.lv_qty[j + 1]
        e.acct.lv_st[j] = e.acct.lv_st[j + 1]
    e.acct.n_lv -= 1
    close_part(e, q, px, e.mkt.last_ts, e.cfg.maker if maker else e.cfg.taker, R_TAKE_PROFIT,
               X_TAKE_PROFIT, -1, close_side, maker)


cdef void _stop_limit_fill(Engine* e, double px) noexcept nogil:
    # C: the limit stop fills: the whole position at px, maker fee, no slippage
    cdef PositionState* p = &e.acct.pos
    close_part(e, p.size, px, e.mkt.last_ts, e.cfg.maker, R_STOP_LOSS, X_STOP_LOSS, -1, -p.side,
               True)


cdef inline double _capped(int side, double px, double level) noexcept nogil:
    # a marketable limit closing the position: no worse than its price (long: max(px, T))
    return px if _past(side, px, level) else level


cdef void _levels_path(Engine* e, double start, double h, double l) noexcept nogil:
    """The favourable leg of the bar's path: a resting limit stop, then the take-profit
    levels nearest first (one bar may fill several)."""
    cdef PositionState* p = &e.acct.pos
    cdef int side = p.side
    cdef double fav = h if side > 0 else l
    cdef double lv
    cdef int k = 0, st
    if e.acct.sl_rest:
        if _past(side, fav, e.acct.sl_rest_px):
            # C: a resting limit stop trades once the price goes back through it, maker
            _stop_limit_fill(e, e.acct.sl_rest_px)
            return
    while k < e.acct.n_lv and p.side != 0:
        lv = e.acct.lv_px[k]
        st = e.acct.lv_st[k]
        if st == LV_WAIT:
            if e.acct.tp_mark or not _reached(side, fav, lv):
                k += 1  # D: a mark-price level is not checked on the path
                continue
            if not e.acct.tp_limit:
                # A: a market level fills at its price, or at the start when the bar opened
                # beyond it; taker fee, no slippage
                _fill_level(e, k, start if _reached(side, start, lv) else lv, False)
                continue
            if _reached(side, start, lv):
                # B: opened at/beyond it: placed at the open, marketable: taker, slipped,
                # no worse than its price
                _fill_level(e, k, _capped(side, slipped(e, start, -side), lv), False)
                continue
            if _past(side, fav, lv):
                # B: reached, then traded through: fills at its price, maker
                _fill_level(e, k, lv, True)
                continue
            e.acct.lv_st[k] = LV_REST  # B: a touch triggers it; a touch does not fill
            k += 1
            continue
        if st == LV_FRESH and _reached(side, start, lv):
            # B+D: placed marketable at a mark trigger: on its first bar an open at/beyond it
            # fills at once, taker, slipped, no worse than its price
            _fill_level(e, k, _capped(side, slipped(e, start, -side), lv), False)
            continue
        if _past(side, fav, lv):
            # B: a resting limit (rule 3): at its price, or at the open beyond it, maker
            _fill_level(e, k, start if _reached(side, start, lv) else lv, True)
            continue
        e.acct.lv_st[k] = LV_REST
        k += 1


cdef void _adverse_leg(Engine* e, double start, double c, bint liq_t, bint sl_t, double sl,
                      bint tr_t, double tr) noexcept nogil:
    """The adverse leg of the bar's path in Partial mode: of the liquidation price, the stop
    loss (when checked on the path) and the trailing stop it reaches, the nearest acts first."""
    cdef PositionState* p = &e.acct.pos
    cdef int side = p.side
    cdef double liq = p.liq_price
    if liq_t:
        # a stop at or beyond the liquidation price never fires (a tie is a liquidation)
        sl_t = sl_t and _past(side, sl, liq)
        tr_t = tr_t and _past(side, tr, liq)
    if tr_t and (not sl_t or _past(side, tr, sl)):
        # the trail reached first: always a last-price market stop (4b), whatever sl_limit says
        _exit_at(e, R_TRAILING_STOP, tr, start)
        return
    if sl_t:
        if not e.acct.sl_limit:
            _exit_at(e, R_STOP_LOSS, sl, start)  # 4b: a market stop loss (a tie beats the trail)
            return
        # C: the stop loss places a reduce-only limit at its level: triggered inside the bar it
        # fills there (maker) only when nothing further down the leg fires and the close is back
        # on the position's side of it; a bar that opened beyond it rests it. It may never fill.
        if not tr_t and not liq_t and not _reached(-side, start, sl) and _past(side, c, sl):
            _stop_limit_fill(e, sl)
            return
        e.acct.sl_rest = True
        e.acct.sl_rest_px = sl
    if tr_t:
        # C: a limit stop placed or resting does not stop the trail: it fires further down
        _exit_at(e, R_TRAILING_STOP, tr, start)
    elif liq_t:
        _exit_at(e, R_LIQUIDATION, liq, start)  # liquidation still applies under a limit stop


cdef void _rule4_partial(Engine* e, double o_, double h, double l, double c) noexcept nogil:
    """Rule 4 a-c in Partial mode (rule 4, A-C)."""
    cdef PositionState* p = &e.acct.pos
    cdef double start, sl, tr, adv
    cdef int side = p.side, k
    cdef bint long_ = side > 0, liq_t, sl_t, tr_t, low_first
    start = e.acct.entry_fill_price if e.acct.opened_bar == e.mkt.bar_index else o_
    if e.acct.sl_rest and _past(side, start, e.acct.sl_rest_px):
        # C: a resting limit stop: the bar opens back beyond it: fills at the open, maker
        _stop_limit_fill(e, start)
        return
    adv = l if long_ else h
    liq_t = _reached(-side, adv, p.liq_price)
    # the trailing stop is always on the path (Bybit's trail: last price, market)
    tr = p.trailing_stop if p.trailing_distance > 0.0 else 0.0
    tr_t = tr > 0.0 and _reached(-side, adv, tr)
    # D: a mark-price stop loss is not checked on the path; C: a resting limit stop is no trigger
    sl = p.stop_loss
    sl_t = (sl > 0.0 and not e.acct.sl_mark and not e.acct.sl_rest
            and _reached(-side, adv, sl))
    if not (liq_t or sl_t or tr_t):
        _levels_path(e, start, h, l)
    elif e.cfg.intrabar == 0:
        # A: sl_first: in a bar that touches a stop (or liquidation) no level fills
        _adverse_leg(e, start, c, liq_t, sl_t, sl, tr_t, tr)
    else:
        # ohlc_path: start -> nearer extreme -> farther extreme; ties go to the low first
        low_first = (start - l) <= (h - start)
        if low_first == long_:
            _adverse_leg(e, start, c, liq_t, sl_t, sl, tr_t, tr)
        else:
            _levels_path(e, start, h, l)
            if p.side != 0:
                _adverse_leg(e, start, c, liq_t, sl_t, sl, tr_t, tr)
    if p.side != 0:
        # a limit placed marketable had its first bar
        for k in range(e.acct.n_lv):
            if e.acct.lv_st[k] == LV_FRESH:
                e.acct.lv_st[k] = LV_REST


cdef void _rule4_mark(Engine* e, double c, double mark_price) noexcept nogil:
    """Rule 4 d (D): mark-price triggers, checked once per 1m bar against the bar's mark."""
    cdef PositionState* p = &e.acct.pos
    cdef int side = p.side, k = 0
    cdef double m = c if isnan(mark_price) else mark_price
    cdef double stop, lv
    if e.acct.sl_mark and not e.acct.sl_rest:
        # D: the mark checks the stop loss only (the trail is on the path, by the last price)
        stop = p.stop_loss
        if stop > 0.0 and _reached(-side, m, stop):
            if e.acct.sl_limit:
                # C+D: the mark trigger places the limit at the stop: it rests (next bar on)
                e.acct.sl_rest = True
                e.acct.sl_rest_px = stop
            else:
                # D: a mark-price stop fills at the bar's close, slipped, taker
                close_part(e, p.size, slipped(e, c, -side), e.mkt.last_ts, e.cfg.taker,
                           R_STOP_LOSS, X_STOP_LOSS, -1, -side, False)
            return
    if not e.acct.tp_mark:
        return
    while k < e.acct.n_lv and p.side != 0:
        lv = e.acct.lv_px[k]
        if e.acct.lv_st[k] != LV_WAIT or not _reached(side, m, lv):
            k += 1
            continue
        if e.acct.tp_limit:
            # D+B: the limit is placed now: marketable when the close is at/beyond it
            e.acct.lv_st[k] = LV_FRESH if _reached(side, c, lv) else LV_REST
            k += 1
            continue
        # D: a mark-price take-profit fills at the bar's close, taker, no slippage
        _fill_level(e, k, c, False)


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
            if (e.acct.best >= e.acct.trail_arm_price if long_
                    else e.acct.best <= e.acct.trail_arm_price):
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
            be = round_tick(e, p.entry_price * (1 + e.acct.be_offset * p.side))
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
    emit_fill(e, -1, p.side, 0.0, c, payment, False, ts, X_FUNDING, 0.0)


cdef double mark_core(Engine* e, double h, double l, double c,
                      double mark_price) noexcept nogil:
    """Rule 7 without the recording: last close / mark, MAE / MFE; returns the unrealised PnL."""
    cdef PositionState* p = &e.acct.pos
    cdef double upnl = 0.0
    e.mkt.last_close = c
    e.mkt.last_mark = c if isnan(mark_price) else mark_price
    if p.side != 0:
        excursions(p, l, h)
        upnl = (e.mkt.last_mark - p.entry_price) * p.size * p.side
    return upnl


cdef inline bint _rule7_mark(Engine* e, long long ts, double h, double l, double c,
                             double mark_price) noexcept nogil:
    cdef double wallet = e.acct.wallet
    cdef double upnl = mark_core(e, h, l, c, mark_price)
    cdef long long n = e.curve.n
    if n >= e.curve.cap and not grow_curve(e, n + 1):
        return False
    if e.curve.ts != NULL:
        e.curve.ts[n] = ts
    e.curve.equity[n] = wallet + upnl
    e.curve.wallet[n] = wallet
    e.curve.qty[n] = e.acct.pos.size * e.acct.pos.side
    e.curve.n = n + 1
    return True


cdef void engine_bar_open(Engine* e, long long ts, double o) noexcept nogil:
    """First half of one validated 1m bar: the bar starts and rule 1 fills at its open."""
    e.mkt.bar_index += 1
    e.mkt.last_ts = ts
    if e.book.n_active > 0:
        _rule1_market(e, o)


cdef inline void _rules_2_to_6(Engine* e, long long ts, double o, double h, double l, double c,
                               double mark_price, double funding_rate) noexcept nogil:
    """Rules 2-6 of docs/fill_model.md for the bar engine_bar_open started, in that order."""
    # orders placed between the halves are first eligible on the next bar (active_from_bar)
    if e.book.n_active > 0:
        _rule2_stops(e, o, h, l)
        _rule3_limits(e, o, h, l)
        compact_active(e)
    if e.acct.pos.side != 0:
        if e.acct.cx:
            _rule4_partial(e, o, h, l, c)
            # D: mark-price triggers after the path rules, before funding and the mark
            if e.acct.pos.side != 0 and (e.acct.tp_mark or e.acct.sl_mark):
                _rule4_mark(e, c, mark_price)
        else:
            _rule4_exits(e, o, h, l)
        _rule5_ratchet(e, h, l)
        if ts + BAR_MS >= e.mkt.next_fund:
            _rule6_funding(e, ts, c, funding_rate)


cdef void bar_rules(Engine* e, long long ts, double o, double h, double l, double c,
                    double mark_price, double funding_rate) noexcept nogil:
    """Rules 1-6 for one validated 1m bar (the batch path records rule 7 itself)."""
    engine_bar_open(e, ts, o)  # rule 1 never changes n_active: only submit and compact do
    _rules_2_to_6(e, ts, o, h, l, c, mark_price, funding_rate)


cdef void engine_bar_rest(Engine* e, long long ts, double o, double h, double l, double c,
                          double mark_price, double funding_rate) noexcept nogil:
    """Second half of the bar engine_bar_open started: rules 2-7, in that order."""
    _rules_2_to_6(e, ts, o, h, l, c, mark_price, funding_rate)
    _rule7_mark(e, ts, h, l, c, mark_price)


cdef void engine_bar(Engine* e, long long ts, double o, double h, double l, double c,
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
        close_part(e, e.acct.pos.size, e.mkt.last_close, e.mkt.last_ts, e.cfg.taker,
                   R_END_OF_DATA, X_TRADE, -1, -e.acct.pos.side, False)
    # orders still open at the end are cancelled (untriggered ones deactivated)
    for k in range(e.book.n_active):
        if not is_terminal(e.book.orders[e.book.active[k]].status):
            if e.book.orders[e.book.active[k]].status == ST_UNTRIGGERED:
                move_order(e, e.book.active[k], ST_DEACTIVATED)
            else:
                move_order(e, e.book.active[k], ST_CANCELLED)
    compact_active(e)
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
