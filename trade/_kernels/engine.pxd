# The simulation engine's state (docs/fill_model.md): the codes, the order / trade / event
# records and the Engine struct, small inline helpers every part uses, and the functions of
# engine.pyx (allocation, buffer growth, the event log). Parts: engine (state), ledger
# (position arithmetic), book (the account's orders), fills (the 1m bar rules), batch (the
# batch runner), sim (the Python-facing wrappers).

from libc.math cimport ceil, floor, rint, isnan

from trade._kernels.position cimport PositionState

cdef enum:
    # times in ms
    BAR_MS = 60000
    FUNDING_PERIOD_MS = 28800000
    DAY_MS = 86400000

cdef enum:
    OT_MARKET = 0
    OT_LIMIT = 1
    OT_STOP_MARKET = 2
    OT_STOP_LIMIT = 3

cdef enum:
    TIF_GTC = 0
    TIF_IOC = 1
    TIF_FOK = 2
    TIF_POST_ONLY = 3

cdef enum:
    # exit reasons (index into EXIT_REASONS of trade.sim.results)
    R_SIGNAL = 0
    R_STOP_LOSS = 1
    R_TAKE_PROFIT = 2
    R_TRAILING_STOP = 3
    R_LIQUIDATION = 4
    R_FLIP = 5
    R_END_OF_DATA = 6

cdef enum:
    # exec types (values of trade.core.ExecType)
    X_TRADE = 0
    X_FUNDING = 1
    X_BUST_TRADE = 2
    X_STOP_LOSS = 3
    X_TAKE_PROFIT = 4
    X_TRAILING_STOP = 5

cdef enum:
    # reject / cancel reason codes of an order
    RJ_NONE = 0
    RJ_FINISHED = 1
    RJ_NO_PRICE = 2
    RJ_MIN_QTY = 3
    RJ_POST_ONLY = 4
    RJ_RO_FLAT = 5
    RJ_RO_INCREASE = 6
    RJ_MIN_NOTIONAL = 7
    RJ_BALANCE = 8
    RJ_RO_CANCEL = 9

cdef enum:
    # split take-profits a position carries at most (trade.core.models.MAX_TP_LEVELS)
    MAX_LV = 16

cdef enum:
    # state of a take-profit level (docs/fill_model.md rule 4, A-B)
    LV_WAIT = 0               # waiting for its trigger
    LV_REST = 1               # a limit take-profit triggered and resting at its price
    LV_FRESH = 2              # a limit placed marketable at a mark trigger: its first bar

cdef enum:
    EV_ORDER = 0
    EV_FILL = 1
    EV_POSITION = 2

cdef enum:
    ERR_NONE = 0
    ERR_TRANSITION = 1
    ERR_NOMEM = 2

cdef struct COrder:
    int side                  # +1 buy, -1 sell
    int otype                 # OT_*
    int tif                   # TIF_*
    int status                # ST_* (kernels/lifecycle.pxd)
    int trig_dir              # 1 rise, 2 fall
    int reason                # RJ_*
    bint reduce_only
    bint marketable           # a limit that crossed the last close at placement (first bar only)
    bint limit_after_trigger  # a triggered stop-limit now resting as a limit
    long long active_from_bar # first bar index on which it may fill
    double qty
    double price              # 0 = none
    double trigger            # 0 = none
    double sl, tp, trail, sl_off, tp_off, trail_off, be_act, be_off  # 0 = none
    double trail_act          # trailing activation, fraction of the entry price (0 = armed at once)
    int n_lv                  # split take-profits: (fraction of the fill price, fraction of
    double lv_pct[16]         # what the earlier levels leave), applied at the opening fill
    double lv_frac[16]
    bint tp_limit, sl_limit, tp_mark, sl_mark  # limit / mark-price brackets (rule 4, B-D)
    double filled_qty, avg_px, cum_fee
    long long created_ts, updated_ts

cdef struct CTrade:
    int side
    int reason
    long long entry_ts, exit_ts
    double entry_price, exit_price, qty, gross, fees, funding, net, mae, mfe, leverage

cdef struct CEvent:
    int kind
    long long ts
    long long oidx            # order index, -1 for attached exits / funding / liquidation
    int status, reason
    double filled_qty, avg_px, cum_fee
    long long exec_no
    int side, maker, exec_type
    double qty, price, fee, closed_pnl
    PositionState pos

cdef struct EngineConfig:
    # fixed when the engine is made (SimConfig and the instrument)
    double initial_balance, leverage, taker, maker, slip, mmr, funding_const
    double qty_step, min_qty, min_notional
    double tick, tick_units, tick_scale  # price grid: tick = tick_units / tick_scale (0 = none)
    int intrabar

cdef struct Account:
    # the wallet and the one position with its bracket state
    double wallet
    PositionState pos
    double best               # most favourable price since entry
    double be_activation, be_offset
    bint be_done
    double trail_arm_price    # price whose reach arms the trailing stop (0 = armed when set)
    bint trail_armed          # an unarmed trailing stop neither ratchets nor triggers
    double entry_fees         # opening fees not yet attributed to a closed trade
    double funding            # funding not yet attributed to a closed trade
    long long opened_bar
    double entry_fill_price
    # Partial mode (rule 4, A-D): split take-profit levels, nearest first, each a fixed qty
    # (INFINITY: the whole position), limit / mark-price brackets and a resting limit stop
    bint cx                   # any of them: rule 4 takes the partial path
    bint tp_limit, sl_limit, tp_mark, sl_mark
    int n_lv
    double lv_px[16]
    double lv_qty[16]
    int lv_st[16]             # LV_*
    bint sl_rest              # a limit stop loss triggered and resting at sl_rest_px (never the trail)
    double sl_rest_px

cdef struct Market:
    # the last processed 1m bar
    long long last_ts, bar_index
    long long next_fund        # next close time that may be a funding time (a cache)
    double last_close, last_mark
    bint finished

cdef struct OrderBook:
    # the account's orders (index = order number - 1) and the open ones in submission order
    COrder* orders
    long long n_orders, cap_orders
    long long* active
    long long n_active, cap_active

cdef struct TradeLog:
    CTrade* buf
    long long n, cap

cdef struct EquityCurve:
    # one point per 1m bar (ts may be NULL in batch mode, where the input ts column is reused)
    long long* ts
    double* equity
    double* wallet
    double* qty
    long long n, cap
    bint owned                 # False: batch buffers sized for every bar up front

cdef struct EventLog:
    # adapter events (step mode only: record) and the execution counter (always)
    bint record
    CEvent* buf
    long long n, cap
    long long exec_seq

cdef struct Fault:
    # an error found inside a nogil section, raised after it (ERR_*)
    int code
    long long a, b, c

cdef struct Others:
    # the rest of a portfolio's account, as this member's orders see it (all 0 alone): the
    # other members' wallet changes, margin in use and unrealised PnL
    double wallet, used, upnl

cdef struct Engine:
    EngineConfig cfg
    Account acct
    Market mkt
    OrderBook book
    TradeLog trades
    EquityCurve curve
    EventLog events
    Fault fault
    Others others

cdef bint grow_buf(void** buf, long long* cap, long long need, size_t item) noexcept nogil
cdef void engine_init(Engine* e, double initial_balance, double leverage, double taker,
                      double maker, double slip, double mmr, double funding_const,
                      int intrabar, double qty_step, double min_qty,
                      double min_notional, bint record) noexcept nogil
cdef void engine_free(Engine* e) noexcept nogil
cdef void emit_order(Engine* e, long long oi) noexcept nogil
cdef void emit_position(Engine* e) noexcept nogil
cdef long long next_exec(Engine* e) noexcept nogil
cdef void emit_fill(Engine* e, long long oi, int side, double qty, double price, double fee,
                    bint maker, long long ts, int exec_type, double closed_pnl) noexcept nogil
cdef bint grow_curve(Engine* e, long long need) noexcept nogil

# ----------------------------------------------------------------------------- helpers

cdef inline long long now_ts(Engine* e) noexcept nogil:
    # order timestamps are the open time of the last processed bar (0 before any bar)
    return e.mkt.last_ts if e.mkt.last_ts > 0 else 0


cdef inline double upnl_at(Engine* e, double price) noexcept nogil:
    if e.acct.pos.side == 0:
        return 0.0
    return (price - e.acct.pos.entry_price) * e.acct.pos.size * e.acct.pos.side


cdef inline double mark_or_zero(Engine* e) noexcept nogil:
    return 0.0 if isnan(e.mkt.last_mark) else e.mkt.last_mark


cdef inline double equity_at_mark(Engine* e) noexcept nogil:
    # equity = wallet balance + unrealised PnL at the last mark (the 1m close or mark column)
    return e.acct.wallet + upnl_at(e, mark_or_zero(e))


cdef inline double floor_step(double qty, double step) noexcept nogil:
    # quantities are rounded down to qty_step (with a 1e-9 tolerance, as the driver does)
    if step <= 0.0:
        return qty
    return floor(qty / step + 1e-9) * step


cdef inline double on_grid(double level, double tick, double units, double scale) noexcept nogil:
    # a level on the tick grid, nearest (rint = half-even): exactly float(fmt_step(level, tick))
    if tick <= 0.0:
        return level
    return rint(level / tick) * units / scale


cdef inline double round_tick(Engine* e, double level) noexcept nogil:
    # bracket levels set from offsets are on the tick grid, nearest (rint = half-even), exactly
    # float(fmt_step(level, tick)): the integer n * tick_units over the power of ten tick_scale
    return on_grid(level, e.cfg.tick, e.cfg.tick_units, e.cfg.tick_scale)


cdef inline double slipped(Engine* e, double px, int side) noexcept nogil:
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


cdef inline void snapshot(Engine* e, PositionState* out) noexcept nogil:
    cdef double mark = mark_or_zero(e)
    out[0] = e.acct.pos
    out.leverage = e.cfg.leverage
    out.maintenance_margin_rate = e.cfg.mmr
    out.mark_price = mark
    out.unrealized_pnl = upnl_at(e, mark) if e.acct.pos.side != 0 else 0.0


cdef inline double nz(double x) noexcept nogil:
    # NaN in a float signal array means 0 (none)
    return 0.0 if isnan(x) else x


cdef inline void excursions(PositionState* p, double lo, double hi) noexcept nogil:
    # MAE / MFE follow the 1m lows and highs: the worst and best PnL of the position at the
    # bar's extremes (x -> (x - entry) x size rounds monotonically, so a run's extremes give
    # the same values as each bar's)
    cdef double x
    if p.side > 0:
        x = (lo - p.entry_price) * p.size
        if x < p.mae:
            p.mae = x
        x = (hi - p.entry_price) * p.size
        if x > p.mfe:
            p.mfe = x
    else:
        x = (p.entry_price - hi) * p.size
        if x < p.mae:
            p.mae = x
        x = (p.entry_price - lo) * p.size
        if x > p.mfe:
            p.mfe = x
