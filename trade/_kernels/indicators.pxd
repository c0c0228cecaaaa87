# Incremental indicator kernels: O(1)-per-bar state machines (CCI and ALMA are
# O(length): their definitions need the whole window each bar).
#
# Every indicator is a subclass of Kernel whose `step` consumes one closed bar
# and writes `n_out` doubles; the batch runner (`run_batch`) and the
# incremental `update` call the very same `step`, so both agree bit for bit.

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

# Exponential average, TA-Lib seeding: SMA of the first n values, then k-weighted.
cdef struct Ema:
    double k
    int n
    long long count
    double sum
    double value

# Wilder smoothing (RSI/ATR): SMA seed, then (prev*(n-1) + x)/n.
cdef struct Wilder:
    int n
    long long count
    double sum
    double value

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
