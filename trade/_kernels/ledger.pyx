# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Ledger and position arithmetic: margin, liquidation and bankruptcy prices, opening,
adding to and closing the position (each close writes a trade)."""

from libc.math cimport INFINITY

from trade._kernels.position cimport PositionState, position_reset
from trade._kernels.lifecycle cimport is_terminal
from trade._kernels.engine cimport *

cdef double reserved_margin(Engine* e) noexcept nogil:
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


cdef double pending_margin(Engine* e) noexcept nogil:
    # market orders not yet filled (they fill at the next bar's open) will take the margin and
    # taker fee of their opening part at about the last close: what another portfolio member's
    # order must leave room for (a single run never has one pending at its own next order)
    cdef double total = 0.0, opening, ref = e.mkt.last_close
    cdef long long k
    cdef COrder* o
    cdef PositionState* p = &e.acct.pos
    for k in range(e.book.n_active):
        o = &e.book.orders[e.book.active[k]]
        if is_terminal(o.status) or o.reduce_only or o.otype != OT_MARKET:
            continue
        opening = o.qty - o.filled_qty
        if p.side != 0 and o.side != p.side:
            opening = opening - p.size
        if opening > 0.0:
            total += opening * ref / e.cfg.leverage + opening * ref * e.cfg.taker
    return total


cdef double used_margin(Engine* e) noexcept nogil:
    return e.acct.pos.margin + reserved_margin(e)


# ----------------------------------------------------------------------------- position

cdef void flatten(Engine* e, long long ts) noexcept nogil:
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
    # the position's split take-profits and limit / mark settings vanish with it
    e.acct.cx = False
    e.acct.tp_limit = False
    e.acct.sl_limit = False
    e.acct.tp_mark = False
    e.acct.sl_mark = False
    e.acct.n_lv = 0
    e.acct.sl_rest = False
    e.acct.sl_rest_px = 0.0


cdef void add_level(Engine* e, double px, double qty) noexcept nogil:
    # a take-profit level, kept nearest first (a long's lowest price first); after the levels
    # at the same price (their order of placement); a full table drops the new one
    cdef int side = e.acct.pos.side
    cdef int k = e.acct.n_lv, j
    if k >= MAX_LV:
        return
    while k > 0 and (e.acct.lv_px[k - 1] > px if side > 0 else e.acct.lv_px[k - 1] < px):
        k -= 1
    j = e.acct.n_lv
    while j > k:
        e.acct.lv_px[j] = e.acct.lv_px[j - 1]
        e.acct.lv_qty[j] = e.acct.lv_qty[j - 1]
        e.acct.lv_st[j] = e.acct.lv_st[j - 1]
        j -= 1
    e.acct.lv_px[k] = px
    e.acct.lv_qty[k] = qty
    e.acct.lv_st[k] = LV_WAIT
    e.acct.n_lv += 1


cdef void partial_sync(Engine* e) noexcept nogil:
    # Partial mode whenever a level or a limit / mark bracket is set; in it a Full-mode
    # take-profit becomes one level for the whole position when there is none yet (else it
    # is dropped: the levels stay), and Position.take_profit reads 0
    cdef PositionState* p = &e.acct.pos
    e.acct.cx = (e.acct.n_lv > 0 or e.acct.tp_limit or e.acct.sl_limit or e.acct.tp_mark
                 or e.acct.sl_mark)
    if not e.acct.sl_limit:
        e.acct.sl_rest = False
    if e.acct.cx and p.take_profit > 0.0:
        if e.acct.n_lv == 0:
            add_level(e, p.take_profit, INFINITY)
        p.take_profit = 0.0


cdef void set_liq(Engine* e) noexcept nogil:
    # isolated, linear: liq = entry x (1 -/+ 1/lev +/- mmr); bankruptcy = entry x (1 -/+ 1/lev)
    cdef double entry = e.acct.pos.entry_price, lev = e.cfg.leverage, mmr = e.cfg.mmr
    if e.acct.pos.side > 0:
        e.acct.pos.liq_price = entry * (1 - 1 / lev + mmr)
        e.acct.pos.bust_price = entry * (1 - 1 / lev)
    else:
        e.acct.pos.liq_price = entry * (1 + 1 / lev - mmr)
        e.acct.pos.bust_price = entry * (1 + 1 / lev)


cdef void close_part(Engine* e, double qty, double price, long long ts, double fee_rate, int reason,
                     int exec_type, long long oi, int side, bint maker) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef double frac = qty / p.size
    # realised PnL = (exit - entry) x qty x side
    cdef double gross = (price - p.entry_price) * qty * p.side
    cdef double fee = qty * price * fee_rate
    cdef double entry_fee_share = e.acct.entry_fees * frac
    cdef double funding_share = e.acct.funding * frac
    cdef CTrade* t
    if not grow_buf(<void**>&e.trades.buf, &e.trades.cap, e.trades.n + 1, sizeof(CTrade)):
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
    emit_fill(e, oi, side, qty, price, fee, maker, ts, exec_type, gross)
    if qty >= p.size - 1e-12 * (p.size if p.size > 1.0 else 1.0):
        flatten(e, ts)
    else:
        p.size -= qty
        # margin released in proportion: margin = entry x size / leverage
        p.margin = p.entry_price * p.size / e.cfg.leverage
    emit_position(e)


cdef void open_or_add(Engine* e, double qty, double price, int side, double fee_rate,
                      long long oi, bint maker) noexcept nogil:
    cdef PositionState* p = &e.acct.pos
    cdef COrder* o = &e.book.orders[oi]
    cdef double fee = qty * price * fee_rate
    cdef double trail = 0.0, arm, rem, q
    cdef long long ts = e.mkt.last_ts
    cdef bint opening = p.side == 0
    cdef int i
    if opening:
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
    set_liq(e)
    e.acct.entry_fees += fee
    p.fees_paid += fee
    p.updated_ts = ts
    e.acct.wallet -= fee
    # attached brackets: offsets are fractions of this fill's price and take precedence
    # (levels and the trail distance from offsets are rounded to the tick, as live sends them)
    if o.sl_off > 0.0:
        p.stop_loss = round_tick(e, price * (1 - o.sl_off * side))
    elif o.sl > 0.0:
        p.stop_loss = o.sl
    if o.tp_off > 0.0:
        p.take_profit = round_tick(e, price * (1 + o.tp_off * side))
    elif o.tp > 0.0:
        p.take_profit = o.tp
    if o.trail_off > 0.0:
        trail = round_tick(e, o.trail_off * price)
    elif o.trail > 0.0:
        trail = o.trail
    if trail > 0.0:
        # the trail attached to this fill replaces the position's (distance and activation);
        # a distance that rounds to zero ticks attaches no trail
        p.trailing_distance = trail
        # the activation is a move of this fill's price, on the tick grid like Bybit's activePrice
        arm = round_tick(e, price * (1 + o.trail_act * side)) if o.trail_act > 0.0 else 0.0
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
    if opening and (o.n_lv > 0 or o.tp_limit or o.sl_limit or o.tp_mark or o.sl_mark):
        # the opening order's split take-profits and limit / mark settings become the
        # position's (an order adding to it keeps the position's levels: fixed prices and qty)
        e.acct.tp_limit = o.tp_limit
        e.acct.sl_limit = o.sl_limit
        e.acct.tp_mark = o.tp_mark
        e.acct.sl_mark = o.sl_mark
        if o.n_lv > 0:
            p.take_profit = 0.0  # split take-profits replace the single one
            rem = p.size
            for i in range(o.n_lv):
                # A: level i at fill x (1 + side x pct_i) on the tick grid, for size_i of what
                # the earlier levels leave (rounded down to the qty step); the last takes the rest
                if i == o.n_lv - 1:
                    q = rem
                else:
                    q = floor_step(rem * o.lv_frac[i], e.cfg.qty_step)
                if q <= 0.0:
                    continue
                add_level(e, round_tick(e, price * (1 + o.lv_pct[i] * side)), q)
                rem -= q
    if e.acct.cx or e.acct.n_lv > 0 or e.acct.tp_limit or e.acct.sl_limit or e.acct.tp_mark \
            or e.acct.sl_mark:
        partial_sync(e)
    emit_fill(e, oi, side, qty, price, fee, maker, ts, X_TRADE, 0.0)
    emit_position(e)
