# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The batch runner: a whole run of precomputed exec-timeframe signals in one nogil loop over
the same fill rules the step API uses. Signal rules: the module docstring of
trade/sim/signals.py."""

from libc.math cimport floor, isnan, NAN, INFINITY
from libc.limits cimport LLONG_MAX
from libc.stdlib cimport free
from libc.string cimport memcpy, memset

from trade._kernels.position cimport PositionState
from trade._kernels.lifecycle cimport is_terminal, ST_CREATED, ST_REJECTED
from trade._kernels.engine cimport *
from trade._kernels.ledger cimport used_margin, reserved_margin, pending_margin
from trade._kernels.book cimport engine_submit, engine_cancel
from trade._kernels.fills cimport bar_rules, mark_core, check_bar

# ----------------------------------------------------------------------------- row rules
# Steps 1-3 of the signal-row rules (trade/sim/signals.py), written once: the batch loop acts
# on an Engine with them (_act), the event path (trade.sim.rowact, for PlayEngine over any
# adapter, and the reference driver) through the Python entries row_orders / entry_qty /
# entry_order below.

cdef void row_orders_c(RowIn* r, RowOut* o) noexcept nogil:
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
        pct = nz(r.exit_pct)
        qty = r.size if pct >= 100 else floor_step(r.size * pct / 100, r.qty_step)
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


cdef double entry_qty_c(int size_mode, double value, double equity, double ref, double sl,
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
    qty = floor_step(notional / ref, qty_step)
    if qty <= 0 or qty < min_qty or qty * ref < min_notional:
        return 0.0
    return qty


cdef void entry_order_c(int direction, double qty, double flip_qty, double ref,
                        double limit_offset, double tick, double units, double scale,
                        int* otype, double* order_qty, double* price) noexcept nogil:
    # a limit entry at ref -/+ offset (on the tick grid, as the exchange requires and live
    # sends it) when there is an offset and no flip; else one market order for the new size
    # plus the opposite position (a flip)
    if limit_offset > 0 and flip_qty == 0:
        otype[0] = OT_LIMIT
        order_qty[0] = qty
        price[0] = on_grid(ref * (1 - limit_offset) if direction > 0 else
                         ref * (1 + limit_offset), tick, units, scale)
    else:
        otype[0] = OT_MARKET
        order_qty[0] = qty + flip_qty
        price[0] = 0.0


cdef inline bint _resting(Engine* e, long long entry_oi) noexcept nogil:
    # the runner's entry limit is still open (not yet filled, cancelled or rejected)
    cdef int st
    if entry_oi < 0:
        return False
    st = e.book.orders[entry_oi].status
    return not is_terminal(st) and st != ST_CREATED


cdef inline void _count_entry(Engine* e, Out* out, long long oi) noexcept nogil:
    # every entry order the signals place is an attempt; one the venue refuses, a rejection
    out.r_attempts += 1
    if oi >= 0 and e.book.orders[oi].status == ST_REJECTED:
        out.r_rejects += 1


cdef void _act(Engine* e, Signals* s, Out* out, long long j, long long i, double ref,
               long long* entry_oi, long long* entry_bar, double alloc,
               Runner* runner) noexcept nogil:
    """Act on signal row j after 1m bar i (= exec_close_idx[j]) closed at `ref`; entries are
    sized on `alloc` x the account's equity (a portfolio member's share; 1 alone)."""
    cdef PositionState* p = &e.acct.pos
    cdef COrder t
    cdef long long oi
    cdef RowIn r
    cdef RowOut o
    cdef int otype, k
    cdef double qty, sl, oq, px
    r.held = p.side
    r.size = p.size
    r.resting = _resting(e, entry_oi[0])
    r.bar = i
    r.placed_bar = entry_bar[0]
    r.expire_bars = s.expire_bars
    r.entry_long = bv(s.entry_long, j)
    r.entry_short = bv(s.entry_short, j)
    r.exit_long = bv(s.exit_long, j)
    r.exit_short = bv(s.exit_short, j)
    r.exit_pct = fv(s.exit_pct, j)
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
    if runner.peers != NULL:
        # an entry in a portfolio: the other members catch up to this minute, and this one
        # sees the rest of the account in its sizing and its margin check
        _share(runner.peers, runner.n_peers, runner.self_k, runner.b.ts[i])
    sl = nz(fv(s.sl_pct, j))
    # the account's equity: this member's and the rest of the portfolio's (0 alone)
    qty = entry_qty_c(s.size_mode, fv(s.size_value, j),
                      (equity_at_mark(e) + e.others.wallet + e.others.upnl) * alloc, ref, sl,
                      e.cfg.leverage,
                      e.cfg.taker, e.cfg.qty_step, e.cfg.min_qty, e.cfg.min_notional)
    if qty <= 0:
        return
    memset(&t, 0, sizeof(COrder))
    t.side = o.direction
    t.tif = TIF_GTC
    t.trig_dir = 1 if o.direction > 0 else 2
    t.sl_off = sl if sl > 0 else 0.0
    t.tp_off = nz(fv(s.tp_pct, j))
    t.trail_off = nz(fv(s.trail_pct, j))
    t.be_act = nz(fv(s.be_activation, j))
    t.be_off = nz(fv(s.be_offset, j))
    # the activation only means something with a trail
    t.trail_act = nz(fv(s.trail_activation, j)) if t.trail_off > 0 else 0.0
    # the run's split take-profits (they replace the single one) and limit / mark brackets
    t.n_lv = s.n_lv
    for k in range(s.n_lv):
        t.lv_pct[k] = s.lv_pct[k]
        t.lv_frac[k] = s.lv_frac[k]
    if s.n_lv > 0:
        t.tp_off = 0.0
    t.tp_limit = s.tp_limit
    t.sl_limit = s.sl_limit
    t.tp_mark = s.tp_mark
    t.sl_mark = s.sl_mark
    entry_order_c(o.direction, qty, o.flip_qty, ref, nz(fv(s.limit_offset, j)), e.cfg.tick,
                  e.cfg.tick_units, e.cfg.tick_scale, &otype, &oq, &px)
    t.otype = otype
    t.qty = oq
    t.price = px
    if otype == OT_LIMIT:
        # a limit entry carries the run's entry TIF (IOC/FOK: cancelled when not filled on its
        # first eligible bar; PostOnly: rejected when it would cross, and not retried)
        t.tif = s.entry_tif
        oi = engine_submit(e, &t)
        _count_entry(e, out, oi)
        if oi >= 0 and not is_terminal(e.book.orders[oi].status):
            entry_oi[0] = oi
            entry_bar[0] = i
        return
    # market orders are GTC (the entry TIF is for limit entries only)
    _count_entry(e, out, engine_submit(e, &t))


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


cdef long long validate_rows(const long long* ts, const double* o, const double* h,
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


cdef inline void _dd_point(Out* out, double eq) noexcept nogil:
    # drawdown at one point: 1 - equity / running peak (the peak includes this point)
    cdef double d = 1.0 - eq / out.peak
    if d > out.dd:
        out.dd = d
    elif d != d:
        out.dd_nan = True  # numpy's max propagates NaN (a zero peak)


cdef void dd_track(double eq, double* peak, double* trough, double* dd,
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


cdef void risk_reset(Out* out) noexcept nogil:
    out.r_ratio = INFINITY
    out.r_dist = INFINITY
    out.r_expo = 0.0
    out.r_calls = 0
    out.r_attempts = 0
    out.r_rejects = 0


cdef void risk_write(Out* out) noexcept nogil:
    cdef double* r
    if out.risk == NULL:
        return
    r = &out.risk[out.ci * 6]
    r[0] = out.r_ratio
    r[1] = <double>out.r_calls
    r[2] = out.r_dist
    r[3] = out.r_expo
    r[4] = <double>out.r_attempts
    r[5] = <double>out.r_rejects


cdef inline double _liq_dist(int side, double liq, double lo, double hi) noexcept nogil:
    # the adverse extreme's distance from the liquidation price, in % of the extreme (written
    # so that it is monotone in the extreme: the idle fast path takes it at the run's extreme)
    if side > 0:
        return 100.0 - 100.0 * liq / lo
    return 100.0 * liq / hi - 100.0


cdef inline void _risk_point(Out* out, double eq, double used, double size, double mark,
                             int side, double liq, double lo, double hi) noexcept nogil:
    # one bar ending with a position: the margin figures of trade.sim.margin.MarginTracker
    cdef double x
    if used > 0.0:
        x = eq / used
        if x < out.r_ratio:
            out.r_ratio = x
    if eq < used:
        out.r_calls += 1  # a margin-call bar: equity below the margin in use
    x = _liq_dist(side, liq, lo, hi)
    if x < out.r_dist:
        out.r_dist = x
    if eq > 0.0:
        x = size * mark / eq * 100.0
        if x > out.r_expo:
            out.r_expo = x


cdef inline void _risk_expo(Out* out, double wallet, double entry, double size, int side,
                            double mk) noexcept nogil:
    # gross exposure at mark mk, with the equity as the idle path computes it bar by bar
    cdef double eq = wallet + (mk - entry) * size * side
    cdef double x
    if eq > 0.0:
        x = size * mk / eq * 100.0
        if x > out.r_expo:
            out.r_expo = x


cdef void seg_start(Out* out, double base) noexcept nogil:
    # the running peak starts at the base (initial balance, or the equity before the segment)
    out.peak = base
    out.trough = base
    out.dd = -1.0e308
    out.dd_nan = False
    out.exposed = 0
    out.last_eq = base
    out.seg[out.ci * 4 + 3] = base
    risk_reset(out)
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


cdef void seg_end(Out* out) noexcept nogil:
    _push_group(out)
    out.seg[out.ci * 4] = NAN if out.dd_nan else out.dd
    out.seg[out.ci * 4 + 1] = <double>out.exposed
    out.seg[out.ci * 4 + 2] = out.last_eq
    risk_write(out)


cdef inline void _rec_summary(Out* out, long long k, long long t, double eq,
                              double q) noexcept nogil:
    cdef double base
    if k == out.next_cut:
        base = out.last_eq
        seg_end(out)
        out.ci += 1
        out.next_cut = out.cuts[out.ci] if out.ci < out.n_cuts else -1
        seg_start(out, base)
    if t >= out.day_end:
        _push_group(out)
        out.cur_day = t / DAY_MS  # ts >= 0 (validated), so this is the floor
        out.day_end = (out.cur_day + 1) * DAY_MS
    dd_track(eq, &out.peak, &out.trough, &out.dd, &out.dd_nan)
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


cdef inline void general_bar(Engine* e, Bars* b, Out* out, long long k) noexcept nogil:
    """One 1m bar through every rule (rules 1-7), then recorded."""
    cdef double mk = b.mark[k] if b.mark != NULL else NAN
    cdef double f = b.fr[k] if b.fr != NULL else NAN
    cdef double wallet, upnl, eq
    cdef PositionState* p = &e.acct.pos
    bar_rules(e, b.ts[k], b.o[k], b.h[k], b.l[k], b.c[k], mk, f)
    wallet = e.acct.wallet
    upnl = mark_core(e, b.h[k], b.l[k], b.c[k], mk)
    eq = wallet + upnl
    _rec(out, k, b.ts[k], eq, wallet, p.size * p.side)
    if p.side != 0:
        _risk_point(out, eq, p.margin + reserved_margin(e), p.size, e.mkt.last_mark, p.side,
                    p.liq_price, b.l[k], b.h[k])


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
    # margin figures (trade.sim.margin): no order rests here, so the used margin is the
    # position's; each figure is monotone in the mark, the equity or the adverse extreme, so
    # the run's extremes give its value (equity below margin is counted bar by bar)
    cdef double used = p.margin, eqlo = INFINITY, mklo = INFINITY, mkhi = -INFINITY
    cdef long long calls = 0
    cdef long long fund_lim = e.mkt.next_fund - BAR_MS, k = i, t, lim = end
    cdef const double* mark = b.mark
    cdef const long long* ts = b.ts
    cdef const double* h = b.h
    cdef const double* l = b.l
    cdef const double* c = b.c
    cdef bint summary = out.summary
    # Partial mode: a mark-price bracket may fire on the bar's mark (leave the run there too)
    cdef bint by_mark = e.acct.cx and (e.acct.tp_mark or e.acct.sl_mark)
    cdef int q
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
        for q in range(e.acct.n_lv):
            # take-profit levels: the nearest one reached leaves the run
            if e.acct.lv_px[q] < target:
                target = e.acct.lv_px[q]
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
        for q in range(e.acct.n_lv):
            if e.acct.lv_px[q] > target:
                target = e.acct.lv_px[q]
    while k < lim:
        hk = h[k]
        lk = l[k]
        if side > 0:
            if lk <= adverse or hk >= target:
                break  # a level is touched: the full rule 4 decides
        elif hk >= adverse or lk <= target:
            break
        if by_mark:
            mk = c[k]
            if mark != NULL and not isnan(mark[k]):
                mk = mark[k]
            if (mk <= adverse or mk >= target) if side > 0 else (mk >= adverse or mk <= target):
                break  # a mark-price level may fire: the full rule 4 decides
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
        if eq < used:
            calls += 1
        if eq < eqlo:
            eqlo = eq
        if mk < mklo:
            mklo = mk
        if mk > mkhi:
            mkhi = mk
        if summary:
            if t >= day_end:
                # a new UTC day: the open day group closes at the previous bar's equity
                out.last_eq = last
                _push_group(out)
                out.cur_day = t / DAY_MS
                day_end = (out.cur_day + 1) * DAY_MS
                out.day_end = day_end
            dd_track(eq, &peak, &trough, &dd, &dnan)  # as _rec_summary
            last = eq
        else:
            eq_out[k] = eq
            wa_out[k] = wallet
            qty_out[k] = qty
        k += 1
    if k > i:
        # rule 5: the best price; rule 7: MAE/MFE at the run's extreme low and high
        if side > 0:
            if hmax > e.acct.best:
                e.acct.best = hmax
        elif lmin < e.acct.best:
            e.acct.best = lmin
        excursions(p, lmin, hmax)
        for q in range(e.acct.n_lv):
            if e.acct.lv_st[q] == LV_FRESH:
                e.acct.lv_st[q] = LV_REST  # a limit placed marketable had its first bar
        if summary:
            out.peak = peak
            out.trough = trough
            out.dd = dd
            out.dd_nan = dnan
            out.last_eq = last
            out.exposed += k - i  # a position on every one of these bars
        out.r_calls += calls
        if used > 0.0 and eqlo / used < out.r_ratio:
            out.r_ratio = eqlo / used
        mk = _liq_dist(side, p.liq_price, lmin, hmax)
        if mk < out.r_dist:
            out.r_dist = mk
        # exposure = size x mark / equity: taken at both extreme marks (its direction depends
        # on the leverage)
        _risk_expo(out, wallet, entry, size, side, mklo)
        _risk_expo(out, wallet, entry, size, side, mkhi)
        _sync_bar(e, b, k - 1)
    return k


cdef void runner_init(Runner* r, Engine* e, Signals* s, Bars* b, Out* out, bint validate,
                      double alloc) noexcept nogil:
    r.e = e
    r.s = s
    r.b = b
    r.out = out
    r.i = 0
    r.j = _next_row(s, 0)
    r.next_sig = s.idx[r.j] if r.j < s.n else -1
    r.entry_oi = -1
    r.entry_bar = -1
    r.checked = 0 if validate else b.n
    r.alloc = alloc
    r.peers = NULL
    r.n_peers = 0
    r.self_k = 0
    r.bad = -1
    r.code = 0


cdef inline bint runner_pending(Runner* r) noexcept nogil:
    # the bar signal row j acts after has been processed and the row not yet acted on
    return r.next_sig >= 0 and r.i - 1 == r.next_sig


cdef long long runner_advance(Runner* r, long long t_max, int* code) noexcept nogil:
    """Bars from r.i on while their ts <= t_max, stopping right after the bar a signal row
    acts after (runner_pending). Returns the first bad bar row (code in `code`) or -1."""
    cdef Engine* e = r.e
    cdef Bars* b = r.b
    cdef Out* out = r.out
    cdef long long stop, bad, end, k, i = r.i
    while i < b.n and e.fault.code == ERR_NONE:
        if i >= r.checked:
            # bars are validated block by block just ahead of their simulation (in cache)
            stop = r.checked + 4096 if r.checked + 4096 < b.n else b.n
            bad = validate_rows(b.ts, b.o, b.h, b.l, b.c, b.v, b.mark, b.fr, r.checked, stop,
                                code)
            if bad >= 0:
                r.i = i
                return bad
            r.checked = stop
        if b.ts[i] > t_max:
            break
        end = r.next_sig + 1 if 0 <= r.next_sig < r.checked else r.checked
        if b.ts[end - 1] > t_max:
            end = _first_at_or_after(b.ts, i, end, t_max + 1)  # a portfolio's time step
        if e.book.n_active == 0 and e.acct.pos.side == 0:
            _flat_run(e, b, out, i, end)
            i = end
        else:
            k = i
            # holding with fixed levels only (no order, no armed trail, no pending
            # break-even): the idle fast path, which leaves at a bar that may arm the trail
            if e.book.n_active == 0 and (e.acct.pos.trailing_distance <= 0.0 or
                                         not e.acct.trail_armed) and (
                    e.acct.be_activation <= 0.0 or e.acct.be_done) and not e.acct.sl_rest:
                k = _pos_run(e, b, out, i, end)
            if k < end:
                general_bar(e, b, out, k)
                k += 1
            i = k
        if i - 1 == r.next_sig:
            break  # after the last 1m bar of exec bar j has closed, row j acts
    r.i = i
    return -1


cdef void runner_act(Runner* r) noexcept nogil:
    """Act on the pending signal row, then move to the next row that can act."""
    cdef Engine* e = r.e
    cdef Signals* s = r.s
    _act(e, s, r.out, r.j, r.next_sig, r.b.c[r.next_sig], &r.entry_oi, &r.entry_bar, r.alloc,
         r)
    # while an entry limit rests every row is visited (its expiry is counted at rows);
    # otherwise straight on to the next row that can act
    r.j = r.j + 1 if _resting(e, r.entry_oi) else _next_row(s, r.j + 1)
    r.next_sig = s.idx[r.j] if r.j < s.n else -1


cdef long long run_loop(Engine* e, Signals* s, Bars* b, Out* out, bint validate,
                        int* code) noexcept nogil:
    """The batch loop over all bars; returns the first bad bar row (code in `code`) or -1."""
    cdef Runner r
    cdef long long bad
    runner_init(&r, e, s, b, out, validate, 1.0)
    while True:
        bad = runner_advance(&r, LLONG_MAX, code)
        if bad >= 0:
            return bad
        if not runner_pending(&r):
            return -1  # the end of the bars (or a fault, raised by the caller)
        runner_act(&r)


cdef void _share(Runner* rs, long long m, long long k, long long t) noexcept nogil:
    # member k sees the rest of the account at minute t: the others catch up to t (each alone,
    # on its own fast paths; one with a signal row at t stops before acting on it), then
    # their wallet changes, margin in use (with what their unfilled market orders will take)
    # and unrealised PnL are summed in member order (the reference portfolio sums the same)
    cdef long long q
    cdef Engine* o
    cdef double w = 0.0, used = 0.0, upnl = 0.0
    for q in range(m):
        if q == k:
            continue
        if rs[q].bad < 0:
            rs[q].bad = runner_advance(&rs[q], t, &rs[q].code)
        o = rs[q].e
        w += o.acct.wallet - o.cfg.initial_balance
        used += used_margin(o) + pending_margin(o)
        upnl += upnl_at(o, mark_or_zero(o))
    rs[k].e.others.wallet = w
    rs[k].e.others.used = used
    rs[k].e.others.upnl = upnl


cdef bint _stopped(Runner* rs, long long m, int* code, long long* bad_member,
                   long long* bad) noexcept nogil:
    # a member met a bad bar (reported) or a fault (raised by the caller)
    cdef long long k
    for k in range(m):
        if rs[k].bad >= 0:
            bad_member[0] = k
            bad[0] = rs[k].bad
            code[0] = rs[k].code
            return True
        if rs[k].e.fault.code != ERR_NONE:
            return True
    return False


cdef long long run_portfolio(Runner* rs, long long m, int* code,
                             long long* bad_member) noexcept nogil:
    """Several members on one wallet, in time order. At the earliest time some member's
    signal row acts, the members whose rows act then do so in member order; one that places
    an entry first brings the others up to that minute and sees the rest of the account
    (_share). Members only meet at an entry's sizing and margin check (isolated margin: a
    position's liquidation is its own), so between those moments each member runs on alone,
    on its own fast paths. Returns the first bad bar row (its member in `bad_member`, code in
    `code`) or -1."""
    cdef long long k, t, tmin, bad = -1
    for k in range(m):
        rs[k].peers = rs
        rs[k].n_peers = m
        rs[k].self_k = k
    while True:
        tmin = LLONG_MAX
        for k in range(m):
            if rs[k].next_sig >= 0:
                t = rs[k].b.ts[rs[k].next_sig]
                if t < tmin:
                    tmin = t
        if tmin == LLONG_MAX:
            for k in range(m):
                if rs[k].bad < 0:
                    rs[k].bad = runner_advance(&rs[k], LLONG_MAX, &rs[k].code)
            _stopped(rs, m, code, bad_member, &bad)
            return bad
        for k in range(m):
            if rs[k].next_sig < 0 or rs[k].b.ts[rs[k].next_sig] != tmin:
                continue
            rs[k].bad = runner_advance(&rs[k], tmin, &rs[k].code)
            if _stopped(rs, m, code, bad_member, &bad):
                return bad
            if runner_pending(&rs[k]):
                runner_act(&rs[k])
            if _stopped(rs, m, code, bad_member, &bad):
                return bad
