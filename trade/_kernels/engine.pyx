# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The engine's state: allocation, growth of its buffers, the event log (engine.pxd)."""

from libc.math cimport NAN
from libc.stdlib cimport realloc, free
from libc.string cimport memset

from trade._kernels.position cimport position_reset
from trade._kernels.engine cimport *

# ----------------------------------------------------------------------------- buffers

cdef bint grow_buf(void** buf, long long* cap, long long need, size_t item) noexcept nogil:
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


cdef inline CEvent* _event(Engine* e, int kind, long long ts) noexcept nogil:
    cdef CEvent* ev
    if not grow_buf(<void**>&e.events.buf, &e.events.cap, e.events.n + 1, sizeof(CEvent)):
        e.fault.code = ERR_NOMEM
        return NULL
    ev = &e.events.buf[e.events.n]
    memset(ev, 0, sizeof(CEvent))
    ev.kind = kind
    ev.ts = ts
    ev.oidx = -1
    e.events.n += 1
    return ev


cdef void emit_order(Engine* e, long long oi) noexcept nogil:
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


cdef void emit_position(Engine* e) noexcept nogil:
    cdef CEvent* ev
    if not e.events.record:
        return
    ev = _event(e, EV_POSITION, now_ts(e))
    if ev == NULL:
        return
    snapshot(e, &ev.pos)


cdef long long next_exec(Engine* e) noexcept nogil:
    e.events.exec_seq += 1
    return e.events.exec_seq


cdef void emit_fill(Engine* e, long long oi, int side, double qty, double price, double fee,
                    bint maker, long long ts, int exec_type, double closed_pnl) noexcept nogil:
    cdef long long no = next_exec(e)
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


cdef bint grow_curve(Engine* e, long long need) noexcept nogil:
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
