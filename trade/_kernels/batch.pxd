# The batch runner: a whole run of precomputed exec-timeframe signals in one nogil loop over the
# fill rules (fills.pxd), with the signal-row rules written once (row_orders_c and friends).

from libc.math cimport isnan

from trade._kernels.engine cimport Engine

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
    # the Play's split take-profits and limit / mark brackets: run constants (rule 4, A-D)
    int n_lv
    double lv_pct[16]
    double lv_frac[16]
    bint tp_limit, sl_limit, tp_mark, sl_mark



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
    # margin stress of the open segment (trade.sim.margin): min equity / used margin, bars with
    # equity < used margin, min distance of the adverse extreme from liquidation (%), max
    # position value / equity (%), entry orders placed and rejected; written per segment
    double r_ratio, r_dist, r_expo
    long long r_calls, r_attempts, r_rejects
    double* risk               # per segment: the six figures in MARGIN_FIELDS order (NULL: none)


cdef inline double fv(FCol c, long long j) noexcept nogil:
    return c.p[j * c.step]


cdef inline bint bv(BCol c, long long j) noexcept nogil:
    return c.p[j * c.step] != 0


cdef void row_orders_c(RowIn* r, RowOut* o) noexcept nogil
cdef double entry_qty_c(int size_mode, double value, double equity, double ref, double sl,
                        double leverage, double taker, double qty_step, double min_qty,
                        double min_notional) noexcept nogil
cdef void entry_order_c(int direction, double qty, double flip_qty, double ref,
                        double limit_offset, double tick, double units, double scale,
                        int* otype, double* order_qty, double* price) noexcept nogil
cdef long long validate_rows(const long long* ts, const double* o, const double* h,
                             const double* l, const double* c, const double* v,
                             const double* mark, const double* fr, long long first,
                             long long n, int* code) noexcept nogil
cdef void dd_track(double eq, double* peak, double* trough, double* dd,
                   bint* dnan) noexcept nogil
cdef struct Runner:
    # one member's batch loop, resumable: where it stands in its bars and signal rows
    Engine* e
    Signals* s
    Bars* b
    Out* out
    long long i                # the next bar to process
    long long j, next_sig      # the next signal row and the bar it acts after (-1: none)
    long long entry_oi, entry_bar  # the resting entry limit (-1: none) and its row's bar
    long long checked          # bars [0, checked) are validated
    double alloc               # the share of the account's equity entries are sized on
    Runner* peers              # the portfolio's runners, this one among them (NULL alone)
    long long n_peers, self_k  # how many, and which one is this
    long long bad              # the first bad bar row met (-1: none), its code
    int code

cdef void runner_init(Runner* r, Engine* e, Signals* s, Bars* b, Out* out, bint validate,
                      double alloc) noexcept nogil
# several members on one wallet (a portfolio), in time order; -1 or the first bad bar row
cdef long long run_portfolio(Runner* rs, long long m, int* code,
                             long long* bad_member) noexcept nogil
cdef long long run_loop(Engine* e, Signals* s, Bars* b, Out* out, bint validate,
                        int* code) noexcept nogil
cdef void seg_start(Out* out, double base) noexcept nogil
cdef void seg_end(Out* out) noexcept nogil
# the margin figures of the open segment start afresh / are written to row out.ci of out.risk
cdef void risk_reset(Out* out) noexcept nogil
cdef void risk_write(Out* out) noexcept nogil
