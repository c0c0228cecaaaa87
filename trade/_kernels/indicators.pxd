# Incremental indicator kernels: O(1)-per-bar state machines (CCI and ALMA are
# O(length): their definitions need the whole window each bar).
#
# Every indicator is a subclass of Kernel whose `step` consumes one closed bar
# and writes `n_out` doubles. `update` calls `step`; `run` (batch) calls `batch`,
# a typed loop over whole arrays that indicators override with one reading only
# their inputs, built from the same inline per-bar functions as their `step` (so
# both agree bit for bit); the default `batch` declines and `run` calls `step`.

# The last `n` values of a series (ring buffer).
cdef struct Ring:
    double* buf
    int n
    int pos            # next write slot
    long long count    # values pushed so far

# TA-Lib-ordered simple moving average.
cdef struct Sma:
    Ring r
    double sum         # sum of the newest n-1 values (TA-Lib keeps the total this way)

# The "seed with an SMA, then smooth" machine shared by every EMA and Wilder average:
# NaN until n values, then the mean of the first n, then each value smoothed in as
# v = a*v' + b*x (EMA: a = 1 - k, b = k; Wilder: a = (n-1)/n, b = 1/n) taken two bars at a
# time: v = a2*v'' + (a*w' + w), w = b*x, a2 = a*a (the first value after the seed:
# a*v' + w). Two bars back, the chain splits into two independent ones (odd and even
# bars) that a batch loop runs side by side.
cdef struct Smooth:
    int n
    long long count
    double sum
    double value
    double k           # EMA weight
    double a           # Wilder: (n-1)/n, 1/n, a*a
    double b
    double a2
    double prev        # Wilder: the value one bar before `value`
    double wp          # Wilder: b*x of the last value smoothed in
    bint wilder

# True range over a series of bars (the previous close is kept) smoothed by Wilder (ATR).
cdef struct Atr:
    Smooth w
    double pc          # previous close (NaN before the first bar)

# TA-Lib-ordered weighted moving average (weights 1..n, newest heaviest).
cdef struct Wma:
    Ring r
    double wsum
    double sub
    double trailing
    double divider

# Sliding-window max (or min) by a monotonic deque; ties keep the newest index.
cdef struct MinMax:
    double* val
    long long* idx
    int n
    int head
    int size
    long long t        # index of the last value pushed (0-based)
    bint is_max


cdef class Kernel:
    cdef readonly int n_out
    cdef void* _mem[64]
    cdef int _nmem
    cdef int src            # input selector for single-series indicators
    cdef long long nbar     # bars consumed so far
    cdef double* _alloc(self, Py_ssize_t n) except NULL
    cdef void _ring(self, Ring* r, int n) except *
    cdef void _sma(self, Sma* s, int n) except *
    cdef void _wma(self, Wma* w, int n) except *
    cdef void _mm(self, MinMax* m, int n, bint is_max) except *
    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil
    cdef void _fill(self, const double[::1] ts, const double[::1] o, const double[::1] h,
                    const double[::1] l, const double[::1] c, const double[::1] v,
                    double** out) except *
    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil
