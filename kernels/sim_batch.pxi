# The batch runner: a whole run of precomputed exec-timeframe signals in one nogil loop over
# the same engine functions the step API uses (included by sim.pyx). Signal rules: the module
# docstring of trade/sim/signals.py, mirrored from trade/sim/driver.py.

cdef struct Signals:
    const long long* idx
    long long n
    const unsigned char* entry_long
    const unsigned char* entry_short
    const unsigned char* exit_long
    const unsigned char* exit_short
    const double* size_value
    const double* sl_pct
    const double* tp_pct
    const double* trail_pct
    const double* be_activation
    const double* be_offset
    const double* exit_pct
    const double* limit_offset
    int size_mode
    bint allow_flip
    long long expire_bars


cdef inline double _nz(double x) noexcept nogil:
    # NaN in a float signal array means 0 (none)
    return 0.0 if isnan(x) else x


cdef void _act(Engine* e, Signals* s, long long j, long long i, double ref,
               long long* entry_oi, long long* entry_bar) noexcept nogil:
    """Act on signal row j after 1m bar i (= exec_close_idx[j]) closed at `ref`."""
    cdef PositionState* p = &e.pos
    cdef COrder t
    cdef long long oi
    cdef int st, direction
    cdef bint resting = False, want_long, want_short
    cdef double pct, qty, flip_qty, equity, sl, value, notional, offset, cap
    if entry_oi[0] >= 0:
        st = e.orders[entry_oi[0]].status
        resting = not is_terminal(st) and st != ST_CREATED
    # 1. a resting entry limit past its expiry (expire_bars 1m bars after placement) is cancelled
    if resting and s.expire_bars > 0 and i - entry_bar[0] >= s.expire_bars:
        engine_cancel(e, entry_oi[0])
        resting = False
    # 2. exits: a reduce-only market order for exit_pct of the position (100 = all, unrounded)
    if p.side != 0 and ((p.side > 0 and s.exit_long[j]) or (p.side < 0 and s.exit_short[j])):
        pct = _nz(s.exit_pct[j])
        qty = p.size if pct >= 100 else _floor_step(p.size * pct / 100, e.qty_step)
        if qty > 0:
            memset(&t, 0, sizeof(COrder))
            t.side = -p.side
            t.otype = OT_MARKET
            t.tif = TIF_GTC
            t.trig_dir = 1 if t.side > 0 else 2
            t.reduce_only = True
            t.qty = qty
            engine_submit(e, &t)
    # 3. entries (the position is read as it stands: an exit just queued has not filled yet)
    want_long = s.entry_long[j] != 0
    want_short = s.entry_short[j] != 0
    if want_long == want_short or resting:
        return  # both set is ambiguous; one entry order at a time
    direction = 1 if want_long else -1
    flip_qty = 0.0
    if p.side == direction:
        return  # one position per symbol
    if p.side == -direction:
        if not s.allow_flip:
            return
        flip_qty = p.size
    equity = _equity(e)
    sl = _nz(s.sl_pct[j])
    value = s.size_value[j]
    if s.size_mode == 0:
        notional = value  # FIXED_USDT
    elif s.size_mode == 1:
        notional = equity * value / 100 * e.leverage  # PERCENT_EQUITY
    else:
        if sl <= 0:
            return  # risk-based sizing needs a stop
        notional = equity * value / 100 / sl
    cap = equity * e.leverage
    if cap < notional:
        notional = cap
    qty = _floor_step(notional / ref, e.qty_step)
    if qty <= 0 or qty < e.min_qty or qty * ref < e.min_notional:
        return
    offset = _nz(s.limit_offset[j])
    memset(&t, 0, sizeof(COrder))
    t.side = direction
    t.tif = TIF_GTC
    t.trig_dir = 1 if direction > 0 else 2
    t.sl_off = sl if sl > 0 else 0.0
    t.tp_off = _nz(s.tp_pct[j])
    t.trail_off = _nz(s.trail_pct[j])
    t.be_act = _nz(s.be_activation[j])
    t.be_off = _nz(s.be_offset[j])
    if offset > 0 and flip_qty == 0:
        t.otype = OT_LIMIT
        t.price = ref * (1 - offset) if direction > 0 else ref * (1 + offset)
        t.qty = qty
        oi = engine_submit(e, &t)
        if oi >= 0 and not is_terminal(e.orders[oi].status):
            entry_oi[0] = oi
            entry_bar[0] = i
        return
    # flat: open; opposite (allow_flip): one market order for position size + new size
    t.otype = OT_MARKET
    t.qty = qty + flip_qty
    engine_submit(e, &t)


cdef long long _validate_bars(const long long* ts, const double* o, const double* h,
                              const double* l, const double* c, const double* v,
                              const double* mark, const double* fr, long long n,
                              int* code) noexcept nogil:
    cdef long long i, prev = -1
    cdef double mk, f
    for i in range(n):
        mk = mark[i] if mark != NULL else NAN
        f = fr[i] if fr != NULL else NAN
        code[0] = check_bar(prev, ts[i], o[i], h[i], l[i], c[i], v[i] if v != NULL else 0.0,
                            mk, f)
        if code[0]:
            return i
        prev = ts[i]
    return -1


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
        bad = _validate_bars(&ts[0], &o[0], &h[0], &l[0], &c[0], vp, mp, fp, n, &code)
    if bad >= 0:
        raise _bar_error(code, ts[bad], f" at row {bad}")


def run_batch_arrays(const long long[::1] ts, const double[::1] o, const double[::1] h,
                     const double[::1] l, const double[::1] c, mark, fr, signals, config,
                     double[::1] eq_out, double[::1] wallet_out, double[::1] qty_out):
    """Run the whole backtest in one nogil loop. Inputs must be validated already
    (validate_bar_arrays, SignalArrays.validate): this only checks shapes.

    Fills eq_out / wallet_out / qty_out (one row per bar) and returns
    (trade-log table, final wallet balance).
    """
    cdef long long n = ts.shape[0]
    cdef Engine e
    cdef Signals s
    cdef const double[::1] m_v, f_v
    cdef const double* mp = NULL
    cdef const double* fp = NULL
    cdef const long long[::1] idx_v = signals.exec_close_idx
    cdef const unsigned char[::1] el = signals.entry_long, es = signals.entry_short
    cdef const unsigned char[::1] xl = signals.exit_long, xs = signals.exit_short
    cdef const double[::1] sv = signals.size_value, slp = signals.sl_pct, tpp = signals.tp_pct
    cdef const double[::1] trp = signals.trail_pct, bea = signals.be_activation
    cdef const double[::1] beo = signals.be_offset, xp = signals.exit_pct
    cdef const double[::1] lo = signals.entry_limit_offset
    cdef long long i, j = 0, next_sig = -1, entry_oi = -1, entry_bar = -1
    cdef double mk, f
    for name, arr in (("open", o), ("high", h), ("low", l), ("close", c), ("eq_out", eq_out),
                      ("wallet_out", wallet_out), ("qty_out", qty_out)):
        if arr.shape[0] != n:
            raise ValueError(f"array {name} has {arr.shape[0]} rows, expected {n}")
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
    s.n = idx_v.shape[0]
    for name, arr in (("entry_long", el), ("entry_short", es), ("exit_long", xl),
                      ("exit_short", xs), ("size_value", sv), ("sl_pct", slp), ("tp_pct", tpp),
                      ("trail_pct", trp), ("be_activation", bea), ("be_offset", beo),
                      ("exit_pct", xp), ("entry_limit_offset", lo)):
        if arr.shape[0] != s.n:
            raise ValueError(f"signal array {name} has {arr.shape[0]} rows, expected {s.n}")
    if s.n and (idx_v[0] < 0 or idx_v[s.n - 1] >= n):
        raise ValueError(f"exec_close_idx out of range [0, {n})")
    for j in range(1, s.n):
        if idx_v[j] <= idx_v[j - 1]:
            raise ValueError(f"exec_close_idx not strictly increasing at row {j}")
    j = 0
    if s.n:
        s.idx = &idx_v[0]
        s.entry_long = &el[0]
        s.entry_short = &es[0]
        s.exit_long = &xl[0]
        s.exit_short = &xs[0]
        s.size_value = &sv[0]
        s.sl_pct = &slp[0]
        s.tp_pct = &tpp[0]
        s.trail_pct = &trp[0]
        s.be_activation = &bea[0]
        s.be_offset = &beo[0]
        s.exit_pct = &xp[0]
        s.limit_offset = &lo[0]
        next_sig = idx_v[0]
    s.size_mode = int(signals.size_mode)
    s.allow_flip = bool(signals.allow_flip)
    s.expire_bars = int(signals.expire_bars)

    engine_init(&e, config.initial_balance, config.leverage, config.taker_fee,
                config.maker_fee, config.slippage, config.maintenance_margin_rate,
                config.funding_rate, int(config.intrabar), config.qty_step, config.min_qty,
                config.min_notional, False)
    # the equity curve is written straight into the caller's arrays (the ts column is reused)
    e.eq_owned = False
    e.cap_eq = n
    if n:
        e.eq_equity = &eq_out[0]
        e.eq_wallet = &wallet_out[0]
        e.eq_qty = &qty_out[0]
    try:
        with nogil:
            for i in range(n):
                mk = mp[i] if mp != NULL else NAN
                f = fp[i] if fp != NULL else NAN
                engine_bar(&e, ts[i], o[i], h[i], l[i], c[i], mk, f)
                if i == next_sig:
                    # after the last 1m bar of exec bar j has closed, act on signal row j
                    _act(&e, &s, j, i, c[i], &entry_oi, &entry_bar)
                    j += 1
                    next_sig = s.idx[j] if j < s.n else -1
                if e.err != ERR_NONE:
                    break
            if e.err == ERR_NONE:
                engine_finish(&e)
        _check_err(&e)
        table = _trades_to_table(e.trades, e.n_trades, config.symbol)
        return table, e.wallet
    finally:
        engine_free(&e)
