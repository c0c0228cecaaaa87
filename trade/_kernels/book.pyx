# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The account's own order book: placement checks (rejections), submit, cancel, amend,
and every status change through the lifecycle table."""

from libc.math cimport isnan

from trade._kernels.position cimport PositionState
from trade._kernels.lifecycle cimport (
    legal_transition, is_terminal, ST_CREATED, ST_NEW, ST_CANCELLED, ST_REJECTED, ST_UNTRIGGERED,
    ST_DEACTIVATED,
)
from trade._kernels.engine cimport *
from trade._kernels.ledger cimport used_margin

cdef bint move_order(Engine* e, long long oi, int status) noexcept nogil:
    """Every status change goes through the one lifecycle table; an illegal one is a bug."""
    cdef COrder* o = &e.book.orders[oi]
    if not legal_transition(o.status, status):
        e.fault.code = ERR_TRANSITION
        e.fault.a = oi
        e.fault.b = o.status
        e.fault.c = status
        return False
    o.status = status
    o.updated_ts = now_ts(e)
    emit_order(e, oi)
    return True


cdef void compact_active(Engine* e) noexcept nogil:
    cdef long long k, n = 0
    for k in range(e.book.n_active):
        if not is_terminal(e.book.orders[e.book.active[k]].status):
            e.book.active[n] = e.book.active[k]
            n += 1
    e.book.n_active = n


# ----------------------------------------------------------------------------- orders

cdef int rejection_of(Engine* e, COrder* o) noexcept nogil:
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
    # one wallet for a portfolio: the other members' balance and margin count (0 alone)
    available = (e.acct.wallet + e.others.wallet) - (used_margin(e) + e.others.used)
    if need > available + 1e-12:
        return RJ_BALANCE
    return RJ_NONE


cdef long long engine_submit(Engine* e, COrder* tmpl) noexcept nogil:
    """Place an order; returns its index (its status says whether it was rejected), -1 on OOM."""
    cdef long long oi
    cdef COrder* o
    cdef int reason
    if not grow_buf(<void**>&e.book.orders, &e.book.cap_orders, e.book.n_orders + 1,
                    sizeof(COrder)):
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
    o.created_ts = now_ts(e)
    o.updated_ts = o.created_ts
    reason = rejection_of(e, o)
    if reason != RJ_NONE:
        o.reason = reason
        move_order(e, oi, ST_REJECTED)
        return oi
    # an order placed between bars k and k+1 is first eligible on bar k+1
    o.active_from_bar = e.mkt.bar_index + 1
    if o.otype == OT_LIMIT:
        # a limit crossing the last close is marketable on its first eligible bar
        o.marketable = o.price >= e.mkt.last_close if o.side > 0 else o.price <= e.mkt.last_close
    if not grow_buf(<void**>&e.book.active, &e.book.cap_active, e.book.n_active + 1,
                    sizeof(long long)):
        e.fault.code = ERR_NOMEM
        return -1
    e.book.active[e.book.n_active] = oi
    e.book.n_active += 1
    move_order(e, oi, ST_UNTRIGGERED if (o.otype == OT_STOP_MARKET or o.otype == OT_STOP_LIMIT)
          else ST_NEW)
    return oi


cdef void engine_cancel(Engine* e, long long oi) noexcept nogil:
    # cancelling an untriggered conditional order deactivates it
    if e.book.orders[oi].status == ST_UNTRIGGERED:
        move_order(e, oi, ST_DEACTIVATED)
    else:
        move_order(e, oi, ST_CANCELLED)
    compact_active(e)


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
    move_order(e, oi, o.status)
