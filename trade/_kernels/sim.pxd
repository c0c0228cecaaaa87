# The compiled simulation kernel (docs/fill_model.md): C engine state + nogil rule functions,
# shared by the step API (SimExchange) and the batch runner (run_batch_arrays).

from trade._kernels.position cimport PositionState

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

cdef struct Engine:
    EngineConfig cfg
    Account acct
    Market mkt
    OrderBook book
    TradeLog trades
    EquityCurve curve
    EventLog events
    Fault fault


cdef struct RowIn:
    # one signal row against the venue's state (the input of the row rules)
    int held                  # position side: +1, -1, 0
    double size               # position size
    bint resting              # the runner's entry limit rests
    long long bar, placed_bar, expire_bars
    bint entry_long, entry_short, exit_long, exit_short
    double exit_pct
    bint allow_flip
    double qty_step

cdef struct RowOut:
    # what the row does: cancel the entry limit, a reduce-only exit, an entry (and its flip)
    bint cancel_entry
    double exit_qty           # 0 = no exit order
    int direction             # 0 = no entry
    double flip_qty           # the opposite position the entry order also closes


cdef class SimExchange:
    cdef Engine e
    cdef readonly object config
    cdef readonly str symbol
    cdef list _requests
    cdef bint _split_open
    cdef long long _split_ts
    cdef double _split_px
    cdef object _order(self, long long oi)
    cdef long long _index(self, str order_id) except -1
    cdef long long _open_index(self, str order_id) except -1
