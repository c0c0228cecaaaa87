# cython: boundscheck=False, wraparound=False, initializedcheck=False
# Incremental indicator kernels (see indicators.pxd). Conventions follow TA-Lib
# wherever TA-Lib has the indicator, including its seeding and its zero guards,
# so results agree with it; tests/test_indicators_oracle.py checks each one.
# Bounds checks are off: every index is into a ring/deque of a size fixed at
# construction, and the property tests drive windows from empty to full.

from libc.math cimport NAN, INFINITY, fabs, sqrt, exp, log, floor, isnan
from libc.stdlib cimport calloc, malloc, free

import numpy as np

cdef enum:
    MAX_OUT = 64
    PAIR_BLOCK = 512    # bars per optimistic block of a batch loop (even)
    CHUNK = 8192        # bars per chunk of a batch that runs several passes (in cache)

# source selector codes (trade.indicators maps names to these)
SOURCES = {"close": 0, "open": 1, "high": 2, "low": 3, "volume": 4,
           "hl2": 5, "hlc3": 6, "ohlc4": 7}

cdef inline bint TA_IS_ZERO(double x) noexcept nogil:
    return -0.00000000000001 < x < 0.00000000000001

cdef inline double pick(int src, double o, double h, double l, double c, double v) noexcept nogil:
    if src == 0:
        return c
    if src == 1:
        return o
    if src == 2:
        return h
    if src == 3:
        return l
    if src == 4:
        return v
    if src == 5:
        return (h + l) / 2.0
    if src == 6:
        return (h + l + c) / 3.0
    return (o + h + l + c) / 4.0

cdef const double* series(int src, Py_ssize_t n, const double* o, const double* h,
                          const double* l, const double* c, const double* v,
                          double** tmp) noexcept nogil:
    """`pick` over whole arrays: a bar field itself, or the derived price written to a
    new *tmp (the caller frees it); NULL when that allocation fails."""
    cdef Py_ssize_t i
    if src == 0:
        return c
    if src == 1:
        return o
    if src == 2:
        return h
    if src == 3:
        return l
    if src == 4:
        return v
    tmp[0] = <double*>malloc(n * sizeof(double))
    if tmp[0] == NULL:
        return NULL
    for i in range(n):
        tmp[0][i] = pick(src, o[i], h[i], l[i], c[i], v[i])
    return tmp[0]

# ---------------------------------------------------------------- ring buffer

cdef inline double ring_push(Ring* r, double x) noexcept nogil:
    """Append x; return the value that left the window (NaN while not yet full)."""
    cdef double old = NAN
    if r.count >= r.n:
        old = r.buf[r.pos]
    r.buf[r.pos] = x
    r.pos += 1
    if r.pos == r.n:
        r.pos = 0
    r.count += 1
    return old

cdef inline double ring_ago(Ring* r, int k) noexcept nogil:
    """The value pushed k updates ago (0 = newest); caller ensures k < min(count, n)."""
    cdef int i = r.pos - 1 - k
    if i < 0:
        i += r.n
    return r.buf[i]

cdef inline void ring_refill(Ring* r, const double* x, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """The ring as pushing x[a..b-1] would leave it: only the last r.n values matter."""
    cdef Py_ssize_t k = b - a if b - a < r.n else r.n
    cdef Py_ssize_t skip = b - a - k, i
    r.count += skip
    r.pos = <int>((r.pos + skip) % r.n)
    for i in range(b - k, b):
        ring_push(r, x[i])

cdef inline bint ring_full(Ring* r) noexcept nogil:
    return r.count >= r.n

# ---------------------------------------------------------------------- SMA

cdef inline double sma_total(Sma* s, double x) noexcept nogil:
    """The window sum after x (NaN while the window fills); NaN input (an upstream warm-up)
    leaves the state untouched."""
    if isnan(x):
        return NAN
    ring_push(&s.r, x)
    s.sum += x
    if s.r.count < s.r.n:
        return NAN
    cdef double out = s.sum
    s.sum -= ring_ago(&s.r, s.r.n - 1)   # TA-Lib order: add newest, emit, drop the window's oldest
    return out

cdef inline double sma_update(Sma* s, double x) noexcept nogil:
    # the mean of the window: its sum (taken before the oldest value is dropped) over n
    return sma_total(s, x) / s.r.n

cdef inline void sma_run(Sma* s, const double* x, double* out, Py_ssize_t n,
                         bint mean) noexcept nogil:
    """out[i] = sma_update(s, x[i]) (mean; else sma_total) for every i. Once the window's
    older values lie in x (after n-1 values in a row that are not NaN), blocks of bars
    read them there: the same operations without the ring; a block that meets a NaN (its
    sum turns NaN) is redone bar by bar, and the ring is refilled once per block."""
    cdef Py_ssize_t i = 0, e, j, w = s.r.n, run = 0
    cdef double sm, dw = s.r.n
    while i < n:
        if run >= w - 1:
            e = i + PAIR_BLOCK if n - i > PAIR_BLOCK else n
            sm = s.sum
            for j in range(i, e):
                sm += x[j]
                out[j] = sm / dw if mean else sm
                sm -= x[j - w + 1]
            if not isnan(sm):            # a NaN value leaves the sum NaN for good
                s.sum = sm
                ring_refill(&s.r, x, i, e)
                run += e - i
                i = e
                continue
        else:
            e = i + 1
        for j in range(i, e):
            out[j] = sma_update(s, x[j]) if mean else sma_total(s, x[j])
            run = 0 if isnan(x[j]) else run + 1
        i = e

# ------------------------------------------------ EMA / Wilder (one smoother)

cdef inline void smooth_init(Smooth* s, int n, double k, bint wilder) noexcept nogil:
    """An EMA (weight k) or Wilder average (k = 1/n): v = a*v' + b*x, a = 1 - k, b = k,
    taken two bars at a time (see Smooth)."""
    s.n = n
    s.k = k
    s.a = (n - 1.0) / n if wilder else 1.0 - k
    s.b = 1.0 / n if wilder else k
    s.a2 = s.a * s.a
    s.wilder = wilder
    s.count = 0
    s.sum = 0.0
    s.value = NAN
    s.prev = NAN
    s.wp = NAN

cdef inline void ema_init(Smooth* s, int n) noexcept nogil:
    smooth_init(s, n, 2.0 / (n + 1.0), False)

cdef inline void wilder_init(Smooth* s, int n) noexcept nogil:
    smooth_init(s, n, 0.0, True)

cdef inline double smooth_update(Smooth* s, double x) noexcept nogil:
    # NaN input (an upstream warm-up) leaves the state untouched
    if isnan(x):
        return NAN
    return smooth_add(s, x)

cdef inline double smooth_add(Smooth* s, double x) noexcept nogil:
    """smooth_update of an x known not to be NaN."""
    if s.count >= s.n:                 # seeded: smooth x in
        return smooth_seeded(s, x)
    s.count += 1
    s.sum += x
    if s.count < s.n:
        return NAN
    s.value = s.sum / s.n              # seed: SMA of the first n values (TA-Lib)
    return s.value

cdef inline double smooth_seeded(Smooth* s, double x) noexcept nogil:
    """smooth_add once seeded (count >= n; x not NaN): two bars back once it can."""
    cdef double w = x * s.b, v
    if s.count == s.n:                 # the seed is the only value so far: one bar back
        v = s.value * s.a + w
    else:
        v = wilder2(s.prev, s.wp, w, s.a, s.a2)
    s.count += 1
    s.prev = s.value
    s.value = v
    s.wp = w
    return v

cdef inline double wilder2(double v2, double wp, double w, double a, double a2) noexcept nogil:
    """The smoothed value from the one two bars back (v2) and the last two inputs times b
    (EMA and Wilder alike)."""
    return v2 * a2 + (wp * a + w)

cdef inline bint wilder_paired(Smooth* s) noexcept nogil:
    """True once the state holds two values (prev and value): a paired loop may run."""
    return s.count > s.n

cdef inline double ema_seeded(Smooth* s, double x) noexcept nogil:
    """smooth_seeded (kept by name for the EMA loops that know their smoother is seeded)."""
    return smooth_seeded(s, x)

cdef inline double ema_seeded_update(Smooth* s, double x) noexcept nogil:
    """smooth_update of a seeded EMA."""
    return NAN if isnan(x) else smooth_seeded(s, x)

cdef inline bint smooth_pairs(Smooth* s, const double* x, double* out, Py_ssize_t i,
                              Py_ssize_t e) noexcept nogil:
    """smooth_update over x[i..e-1] (e - i even, wilder_paired) as two chains, odd and
    even bars. False when a NaN value (which smooth_update skips) turned a chain NaN:
    out[i:e] and *s to be redone bar by bar."""
    cdef double va = s.prev, vb = s.value, wp = s.wp, a = s.a, b = s.b, a2 = s.a2, w0, w1
    cdef Py_ssize_t j
    for j in range(i, e, 2):
        w0 = x[j] * b
        w1 = x[j + 1] * b
        va = wilder2(va, wp, w0, a, a2)
        vb = wilder2(vb, w0, w1, a, a2)
        wp = w1
        out[j] = va
        out[j + 1] = vb
    if isnan(va + vb):
        return False
    s.prev = va
    s.value = vb
    s.wp = wp
    s.count += e - i
    return True

cdef inline void smooth_pair(Smooth* s, double x0, double x1, double* y0,
                             double* y1) noexcept nogil:
    """Two more values into a wilder_paired smoother, as two smooth_seeded calls leave it
    (no NaN test: a caller's block checks its chains once at the end)."""
    cdef double w0 = x0 * s.b, w1 = x1 * s.b
    s.prev = wilder2(s.prev, s.wp, w0, s.a, s.a2)
    s.value = wilder2(s.value, w0, w1, s.a, s.a2)
    s.wp = w1
    s.count += 2
    y0[0] = s.prev
    y1[0] = s.value

cdef inline void smooth_run(Smooth* s, const double* x, double* out,
                            Py_ssize_t n) noexcept nogil:
    """out[i] = smooth_update(s, x[i]) for every i: bar by bar until two seeded values
    exist, then smooth_pairs in blocks (a block that meets a NaN is redone bar by bar)."""
    cdef Py_ssize_t i = 0, e, j
    cdef Smooth keep
    while i < n:
        if n - i >= 2 and wilder_paired(s):
            e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
            keep = s[0]
            if smooth_pairs(s, x, out, i, e):
                i = e
                continue
            s[0] = keep
        else:
            e = i + 1
        for j in range(i, e):
            out[j] = smooth_update(s, x[j])
        i = e

# ---------------------------------------------------------------------- WMA

cdef inline double wma_update(Wma* w, double x) noexcept nogil:
    if isnan(x):
        return NAN
    ring_push(&w.r, x)
    cdef int n = w.r.n
    if w.r.count < n:
        w.sub += x
        w.wsum += x * w.r.count
        return NAN
    w.sub += x
    w.sub -= w.trailing
    w.wsum += x * n
    w.trailing = ring_ago(&w.r, n - 1)
    cdef double out = w.wsum / w.divider
    w.wsum -= w.sub
    return out

cdef void wma_run(Wma* w, const double* x, double* out, Py_ssize_t n) noexcept nogil:
    """out[i] = wma_update(w, x[i]) for every i. Once the window is full and its values
    lie in x (n values in a row that are not NaN), blocks of bars read the value leaving
    it there: the same operations without the ring; a block that meets a NaN (its sums
    turn NaN) is redone bar by bar, and the ring is refilled once per block."""
    cdef Py_ssize_t i = 0, e, j, m = w.r.n, run = 0
    cdef double sub, wsum, dn = w.r.n, div = w.divider, xj
    while i < n:
        if run >= m and w.r.count >= m:
            e = i + PAIR_BLOCK if n - i > PAIR_BLOCK else n
            sub = w.sub
            wsum = w.wsum
            for j in range(i, e):
                xj = x[j]
                sub += xj
                sub -= x[j - m]                  # the trailing value, x[j-n]
                wsum += xj * dn
                out[j] = wsum / div
                wsum -= sub
            if not isnan(sub + wsum):            # a NaN value leaves the sums NaN
                w.sub = sub
                w.wsum = wsum
                w.trailing = x[e - m]
                ring_refill(&w.r, x, i, e)
                run += e - i
                i = e
                continue
        else:
            e = i + 1
        for j in range(i, e):
            out[j] = wma_update(w, x[j])
            run = 0 if isnan(x[j]) else run + 1
        i = e

# ------------------------------------------------------------ sliding max/min

cdef inline double mm_push(MinMax* m, double x) noexcept nogil:
    """Push x; return the window's max (or min). Ties keep the newest index."""
    cdef int back
    m.t += 1
    # drop the front once it is older than the window (before appending: capacity n)
    # (slots wrap by one subtraction: head < n and size <= n; no integer division)
    while m.size > 0 and m.idx[m.head] <= m.t - m.n:
        m.head += 1
        if m.head == m.n:
            m.head = 0
        m.size -= 1
    while m.size > 0:
        back = m.head + m.size - 1
        if back >= m.n:
            back -= m.n
        if (m.is_max and m.val[back] <= x) or ((not m.is_max) and m.val[back] >= x):
            m.size -= 1
        else:
            break
    back = m.head + m.size
    if back >= m.n:
        back -= m.n
    m.val[back] = x
    m.idx[back] = m.t
    m.size += 1
    return m.val[m.head]

cdef void mm_rebuild(MinMax* m, const double* x, Py_ssize_t e, long long t0) noexcept nogil:
    """The deque as mm_push leaves it after x[0..e-1] (e >= m.n, no NaN in the window):
    it depends only on the window's values."""
    m.head = 0
    m.size = 0
    m.t = t0 + e - m.n
    cdef Py_ssize_t k
    for k in range(e - m.n, e):
        mm_push(m, x[k])

cdef inline double keep_newer(double older, double newer, bint is_max) noexcept nogil:
    """The extreme of two values, the newer on a tie (as mm_push; one maxsd/minsd)."""
    if is_max:
        return older if older > newer else newer
    return older if older < newer else newer

cdef inline void mm_blocks(const double* x, double* out, double* suf, Py_ssize_t w,
                           Py_ssize_t a, Py_ssize_t f, bint is_max) noexcept nogil:
    """out[i] = the extreme of x[i-w+1..i] for a <= i < f (a a multiple of w, >= w; no
    NaN in x[0..f-1]) by van Herk / Gil-Werman: in blocks of w bars, a window's extreme
    is that of the previous block's suffix (suf, w values) and its own block's prefix."""
    cdef Py_ssize_t b = a, e, k, i
    cdef double pre
    while b < f:
        suf[w - 1] = x[b - 1]
        for k in range(w - 2, -1, -1):
            suf[k] = keep_newer(x[b - w + k], suf[k + 1], is_max)
        e = b + w if b + w < f else f
        pre = x[b]
        for i in range(b, e):
            k = i - b                             # window: suf[k+1:] then x[b..i]
            pre = keep_newer(pre, x[i], is_max) if k > 0 else pre
            out[i] = pre if k == w - 1 else keep_newer(suf[k + 1], pre, is_max)
        b = e

cdef inline Py_ssize_t mm_blocks4(const double* x, double* out, double* suf, Py_ssize_t w,
                                  Py_ssize_t a, Py_ssize_t f, bint is_max) noexcept nogil:
    """mm_blocks over groups of four whole blocks (w >= 2, suf: 4*w values) while they fit
    before f, the four blocks' suffix and prefix scans interleaved (four independent
    max/min chains instead of one); the same values, bar for bar. x[0..a-1] must hold no
    NaN; a group that does (found by summing its values) stops the run, its outputs to be
    rewritten by the caller. Returns where it stopped (a multiple of w, the start of the
    group with a NaN if any), for mm_blocks and the deque to finish."""
    cdef Py_ssize_t b = a, k
    cdef double* s0 = suf
    cdef double* s1 = suf + w
    cdef double* s2 = suf + 2 * w
    cdef double* s3 = suf + 3 * w
    cdef const double* x0
    cdef const double* x1
    cdef const double* x2
    cdef const double* x3
    cdef double p0, p1, p2, p3, c0, c1, c2, c3
    cdef const double* xm
    while b + 4 * w <= f:
        xm = x + (b - w)                  # block g starts at x_g; its suffix is of the
        x0 = xm + w                       # block before (xm for x0, x0 for x1, ...)
        x1 = x0 + w
        x2 = x1 + w
        x3 = x2 + w
        s0[w - 1] = xm[w - 1]
        s1[w - 1] = x0[w - 1]
        s2[w - 1] = x1[w - 1]
        s3[w - 1] = x2[w - 1]
        for k in range(w - 2, -1, -1):
            s0[k] = keep_newer(xm[k], s0[k + 1], is_max)
            s1[k] = keep_newer(x0[k], s1[k + 1], is_max)
            s2[k] = keep_newer(x1[k], s2[k + 1], is_max)
            s3[k] = keep_newer(x2[k], s3[k + 1], is_max)
        p0 = x0[0]
        p1 = x1[0]
        p2 = x2[0]
        p3 = x3[0]
        c0 = p0                           # NaN check sums of the four blocks
        c1 = p1
        c2 = p2
        c3 = p3
        out[b] = keep_newer(s0[1], p0, is_max)
        out[b + w] = keep_newer(s1[1], p1, is_max)
        out[b + 2 * w] = keep_newer(s2[1], p2, is_max)
        out[b + 3 * w] = keep_newer(s3[1], p3, is_max)
        for k in range(1, w - 1):
            p0 = keep_newer(p0, x0[k], is_max)
            p1 = keep_newer(p1, x1[k], is_max)
            p2 = keep_newer(p2, x2[k], is_max)
            p3 = keep_newer(p3, x3[k], is_max)
            c0 += x0[k]
            c1 += x1[k]
            c2 += x2[k]
            c3 += x3[k]
            out[b + k] = keep_newer(s0[k + 1], p0, is_max)
            out[b + w + k] = keep_newer(s1[k + 1], p1, is_max)
            out[b + 2 * w + k] = keep_newer(s2[k + 1], p2, is_max)
            out[b + 3 * w + k] = keep_newer(s3[k + 1], p3, is_max)
        k = w - 1                         # the window is the block itself
        out[b + k] = keep_newer(p0, x0[k], is_max)
        out[b + w + k] = keep_newer(p1, x1[k], is_max)
        out[b + 2 * w + k] = keep_newer(p2, x2[k], is_max)
        out[b + 3 * w + k] = keep_newer(p3, x3[k], is_max)
        if isnan((c0 + x0[k]) + (c1 + x1[k]) + (c2 + x2[k]) + (c3 + x3[k])):
            break
        b += 4 * w
    return b

cdef void mm_run(MinMax* m, const double* x, double* out, Py_ssize_t n) noexcept nogil:
    """out[i] = mm_push(m, x[i]) for every i. Once the window lies wholly in x, and up
    to the first NaN (whose deque order a scan does not follow), mm_blocks gives the
    same values without the deque's data-dependent pops; the deque, rebuilt from the
    window, takes the rest."""
    cdef long long t0 = m.t
    cdef Py_ssize_t w = m.n, i = 0, f, b
    cdef double* suf
    while i < n and i < w:
        if isnan(x[i]):
            break
        out[i] = mm_push(m, x[i])
        i += 1
    if i == w and i < n:
        suf = <double*>malloc(4 * w * sizeof(double))
        if suf != NULL:
            # groups of four blocks up to the group with the first NaN, then single
            # blocks up to that NaN; one call per direction, so the comparison is a
            # constant after inlining
            b = w
            if w >= 2:
                b = (mm_blocks4(x, out, suf, w, w, n, True) if m.is_max
                     else mm_blocks4(x, out, suf, w, w, n, False))
            f = b
            while f < n and not isnan(x[f]):
                f += 1
            if m.is_max:
                mm_blocks(x, out, suf, w, b, f, True)
            else:
                mm_blocks(x, out, suf, w, b, f, False)
            free(suf)
            mm_rebuild(m, x, f, t0)
            i = f
    for i in range(i, n):
        out[i] = mm_push(m, x[i])

cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* willr_of over a span, ll[j] = willr_of(hh[j], ll[j], c[j]): two bars per SSE2
       instruction (the compiler turns the scalar form's zero test into a branch and
       will not vectorize it). Same operations per value, so the same bits. */
    static inline void trade_willr_span(const double* hh, double* ll, const double* c,
                                        Py_ssize_t m) {
        Py_ssize_t j = 0;
    #if defined(__SSE2__)
        const __m128d zero = _mm_setzero_pd(), one = _mm_set1_pd(1.0);
        const __m128d k = _mm_set1_pd(-100.0);
        for (; j + 2 <= m; j += 2) {
            __m128d h = _mm_loadu_pd(hh + j), l = _mm_loadu_pd(ll + j);
            __m128d cc = _mm_loadu_pd(c + j);
            __m128d d = _mm_sub_pd(h, l);
            __m128d nz = _mm_cmpneq_pd(d, zero);           /* d != 0.0 (NaN: true) */
            __m128d dv = _mm_or_pd(_mm_and_pd(nz, d), _mm_andnot_pd(nz, one));
            __m128d r = _mm_mul_pd(_mm_div_pd(_mm_sub_pd(h, cc), dv), k);
            _mm_storeu_pd(ll + j, _mm_and_pd(nz, r));       /* d == 0: +0.0 */
        }
    #endif
        for (; j < m; j++) {
            double d = hh[j] - ll[j];
            double r = ((hh[j] - c[j]) / (d != 0.0 ? d : 1.0)) * -100.0;
            ll[j] = d != 0.0 ? r : 0.0;
        }
    }

    /* atr_pairs' loop over bars i..e-1 (e - i even): lane 0 the even bars' Wilder chain,
       lane 1 the odd bars', each value by the same operations as true_range, wilder2 and
       natr_of (the max of `if a > tr: tr = a` is maxpd(a, tr)). st holds va, vb, wp, pc
       in and out, then a check value that is NaN when any close, range or value was. */
    static inline void trade_atr_pairs(const double* h, const double* l, const double* c,
                                       double* out, Py_ssize_t i, Py_ssize_t e, int natr,
                                       double a, double b, double a2, double* st) {
        Py_ssize_t j;
    #if defined(__SSE2__)
        const __m128d sign = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
        const __m128d A = _mm_set1_pd(a), B = _mm_set1_pd(b), A2 = _mm_set1_pd(a2);
        const __m128d hund = _mm_set1_pd(100.0);
        const __m128d lo = _mm_set1_pd(-0.00000000000001), hi = _mm_set1_pd(0.00000000000001);
        __m128d V = _mm_set_pd(st[1], st[0]);        /* lane 0: va, lane 1: vb */
        __m128d W = _mm_set_pd(st[2], 0.0);          /* lane 1: the last w */
        __m128d C = _mm_set_pd(st[3], 0.0);          /* lane 1: the previous close */
        __m128d chk = _mm_setzero_pd();
        for (j = i; j < e; j += 2) {
            __m128d H = _mm_loadu_pd(h + j), L = _mm_loadu_pd(l + j);
            __m128d Cn = _mm_loadu_pd(c + j);
            __m128d PC = _mm_shuffle_pd(C, Cn, 1);   /* c[j-1], c[j] */
            __m128d tr = _mm_sub_pd(H, L);
            __m128d ah = _mm_and_pd(_mm_sub_pd(H, PC), sign);
            __m128d al = _mm_and_pd(_mm_sub_pd(L, PC), sign);
            tr = _mm_max_pd(ah, tr);
            tr = _mm_max_pd(al, tr);
            __m128d Wn = _mm_mul_pd(tr, B);
            __m128d WP = _mm_shuffle_pd(W, Wn, 1);   /* w[j-1], w[j] */
            __m128d U = _mm_add_pd(_mm_mul_pd(WP, A), Wn);
            V = _mm_add_pd(_mm_mul_pd(V, A2), U);
            chk = _mm_add_pd(chk, Cn);
            if (natr) {
                __m128d z = _mm_and_pd(_mm_cmpgt_pd(Cn, lo), _mm_cmplt_pd(Cn, hi));
                __m128d r = _mm_mul_pd(_mm_div_pd(V, Cn), hund);
                _mm_storeu_pd(out + j, _mm_andnot_pd(z, r));
            } else {
                _mm_storeu_pd(out + j, V);
            }
            W = Wn;
            C = Cn;
        }
        _mm_storel_pd(st + 0, V);
        _mm_storeh_pd(st + 1, V);
        _mm_storeh_pd(st + 2, W);
        _mm_storeh_pd(st + 3, C);
        st[4] = (st[0] + st[1]) + (_mm_cvtsd_f64(chk) + _mm_cvtsd_f64(_mm_unpackhi_pd(chk, chk)));
    #else
        double va = st[0], vb = st[1], wp = st[2], pc = st[3], chk = 0.0;
        for (j = i; j < e; j += 2) {
            double v2[2], w[2], cc[2];
            int k;
            cc[0] = c[j];
            cc[1] = c[j + 1];
            for (k = 0; k < 2; k++) {
                double p = k ? cc[0] : pc, hh = h[j + k], ll = l[j + k];
                double tr = hh - ll, x = fabs(hh - p), y = fabs(ll - p);
                if (x > tr) tr = x;
                if (y > tr) tr = y;
                w[k] = tr * b;
            }
            va = va * a2 + (wp * a + w[0]);
            vb = vb * a2 + (w[0] * a + w[1]);
            v2[0] = va;
            v2[1] = vb;
            for (k = 0; k < 2; k++) {
                if (natr)
                    out[j + k] = (-0.00000000000001 < cc[k] && cc[k] < 0.00000000000001)
                                 ? 0.0 : (v2[k] / cc[k]) * 100.0;
                else
                    out[j + k] = v2[k];
            }
            chk += cc[0] + cc[1];
            wp = w[1];
            pc = cc[1];
        }
        st[0] = va;
        st[1] = vb;
        st[2] = wp;
        st[3] = pc;
        st[4] = va + vb + chk;
    #endif
    }
    """
    void __builtin_prefetch(const void* p) noexcept nogil
    void atr_pairs_c "trade_atr_pairs"(const double* h, const double* l, const double* c,
                                       double* out, Py_ssize_t i, Py_ssize_t e, int natr,
                                       double a, double b, double a2, double* st) noexcept nogil
    void willr_span "trade_willr_span"(const double* hh, double* ll, const double* c,
                                       Py_ssize_t m) noexcept nogil

cdef inline void prefetch_span(const double* x, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Ask for x[a..b-1] in cache ahead of a loop that reads it later (one 64-byte line per
    8 values)."""
    cdef Py_ssize_t i
    for i in range(a, b, 8):
        __builtin_prefetch(x + i)

cdef inline Py_ssize_t hl_chunk(MinMax* m, Py_ssize_t n) noexcept nogil:
    """Bars per chunk for a batch that runs a window's max and min and then combines
    them (the three arrays of a chunk stay in cache; a window long against the chunk,
    whose deque work mm_run repeats per call, takes the batch in one piece). >= 1."""
    cdef Py_ssize_t ch = CHUNK if m.n <= CHUNK // 8 else n
    return ch if ch < n else (n if n > 0 else 1)

cdef inline Py_ssize_t mm_first_full(MinMax* m) noexcept nogil:
    """Index, in the next batch, of the first bar whose window is full (mm_full)."""
    return m.n - 2 - m.t

cdef inline long long mm_front_idx(MinMax* m) noexcept nogil:
    return m.idx[m.head]

cdef inline bint mm_full(MinMax* m) noexcept nogil:
    return m.t + 1 >= m.n


# ===================================================================== Kernel

cdef class Kernel:
    """Base of all indicator kernels. Subclasses set n_out and override step."""

    def __cinit__(self, *args, **kwargs):
        self._nmem = 0
        self.nbar = 0
        self.src = 0

    def __dealloc__(self):
        cdef int i
        for i in range(self._nmem):
            free(self._mem[i])

    cdef double* _alloc(self, Py_ssize_t n) except NULL:
        if self._nmem >= 64:
            raise MemoryError("too many buffers in one kernel")
        cdef void* p = calloc(n if n > 0 else 1, sizeof(double))
        if p == NULL:
            raise MemoryError()
        self._mem[self._nmem] = p
        self._nmem += 1
        return <double*>p

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        pass

    def update(self, double ts, double o, double h, double l, double c, double v):
        """Consume one closed bar; return one float per output."""
        cdef double buf[MAX_OUT]
        cdef int i
        for i in range(self.n_out):
            buf[i] = NAN
        self.step(ts, o, h, l, c, v, buf)
        self.nbar += 1
        return tuple([buf[i] for i in range(self.n_out)])

    def run(self, const double[::1] ts, const double[::1] o, const double[::1] h,
            const double[::1] l, const double[::1] c, const double[::1] v):
        """Batch form over whole arrays; returns (n_out, n) float64, equal bit for bit
        to `update` over the same bars (the indicator's `batch` loop, else `step`)."""
        out_arr = np.empty((self.n_out, c.shape[0]), dtype=np.float64)
        cdef double[:, ::1] out = out_arr
        cdef double* cols[MAX_OUT]
        cdef int j
        if c.shape[0] > 0:
            for j in range(self.n_out):
                cols[j] = &out[j, 0]
        self._fill(ts, o, h, l, c, v, cols)
        return out_arr

    def run_columns(self, const double[::1] ts, const double[::1] o, const double[::1] h,
                     const double[::1] l, const double[::1] c, const double[::1] v):
        """`run` as a tuple of n_out separate 1-D arrays (trade.indicators.compute's form:
        several arrays of one column each are reused by the allocator, one block of them
        all is mapped afresh on every call once it is large)."""
        cols_arr = [np.empty(c.shape[0], dtype=np.float64) for _ in range(self.n_out)]
        cdef double* cols[MAX_OUT]
        cdef double[::1] col
        cdef int j
        if c.shape[0] > 0:
            for j in range(self.n_out):
                col = cols_arr[j]
                cols[j] = &col[0]
        self._fill(ts, o, h, l, c, v, cols)
        return tuple(cols_arr)

    cdef void _fill(self, const double[::1] ts, const double[::1] o, const double[::1] h,
                    const double[::1] l, const double[::1] c, const double[::1] v,
                    double** out) except *:
        cdef Py_ssize_t n = c.shape[0], i
        cdef int j, m = self.n_out
        cdef double buf[MAX_OUT]
        if not (ts.shape[0] == n and o.shape[0] == n and h.shape[0] == n
                and l.shape[0] == n and v.shape[0] == n):
            raise ValueError("all bar arrays must have the same length")
        if n == 0:
            return
        with nogil:
            if self.batch(n, &ts[0], &o[0], &h[0], &l[0], &c[0], &v[0], out):
                self.nbar += n
            else:
                for i in range(n):
                    for j in range(m):
                        buf[j] = NAN
                    self.step(ts[i], o[i], h[i], l[i], c[i], v[i], buf)
                    self.nbar += 1
                    for j in range(m):
                        out[j][i] = buf[j]

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        """Fill out[j][i] (every output j, every bar i) and advance the state as n calls
        of `step` would; False (nothing done) when the indicator has no own loop."""
        return False

    cdef void _ring(self, Ring* r, int n) except *:
        r.buf = self._alloc(n)
        r.n = n
        r.pos = 0
        r.count = 0

    cdef void _sma(self, Sma* s, int n) except *:
        self._ring(&s.r, n)
        s.sum = 0.0

    cdef void _wma(self, Wma* w, int n) except *:
        self._ring(&w.r, n)
        w.wsum = 0.0
        w.sub = 0.0
        w.trailing = 0.0
        w.divider = (n * (n + 1)) >> 1

    cdef void _mm(self, MinMax* m, int n, bint is_max) except *:
        m.val = self._alloc(n)
        m.idx = <long long*>self._alloc(n)
        m.n = n
        m.head = 0
        m.size = 0
        m.t = -1
        m.is_max = is_max


# ============================================================ moving averages

cdef class KSma(Kernel):
    cdef Sma s

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        self._sma(&self.s, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = sma_update(&self.s, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Sma s = self.s                  # state in registers for the loop
        sma_run(&s, x, out[0], n, True)
        self.s = s
        free(tmp)
        return True


cdef class KEma(Kernel):
    cdef Smooth e

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        ema_init(&self.e, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = smooth_update(&self.e, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        smooth_run(&self.e, x, out[0], n)
        free(tmp)
        return True


cdef class KWma(Kernel):
    cdef Wma w

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        self._wma(&self.w, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = wma_update(&self.w, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Wma w = self.w
        wma_run(&w, x, out[0], n)
        self.w = w
        free(tmp)
        return True


cdef inline double dema_bar(Smooth* e1, Smooth* e2, double x) noexcept nogil:
    cdef double a = smooth_update(e1, x)
    cdef double b = smooth_update(e2, a)      # EMA of the EMA, seeded once the first is valid
    return (2.0 * a) - b


cdef class KDema(Kernel):
    cdef Smooth e1, e2

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        ema_init(&self.e1, length)
        ema_init(&self.e2, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = dema_bar(&self.e1, &self.e2, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Smooth e1 = self.e1, e2 = self.e2, k1, k2
        cdef double* o0 = out[0]
        cdef double a0, a1, b0, b1
        cdef Py_ssize_t e, j
        i = 0
        while i < n:
            # pairs of bars in blocks once both EMAs hold two values (a block that meets
            # a NaN, which turns the chains NaN, is redone bar by bar)
            if n - i >= 2 and wilder_paired(&e1) and wilder_paired(&e2):
                e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
                k1 = e1
                k2 = e2
                for j in range(i, e, 2):
                    smooth_pair(&e1, x[j], x[j + 1], &a0, &a1)
                    smooth_pair(&e2, a0, a1, &b0, &b1)
                    o0[j] = (2.0 * a0) - b0
                    o0[j + 1] = (2.0 * a1) - b1
                if not isnan(e2.prev + e2.value):
                    i = e
                    continue
                e1 = k1
                e2 = k2
            else:
                e = i + 1
            for j in range(i, e):
                o0[j] = dema_bar(&e1, &e2, x[j])
            i = e
        self.e1 = e1
        self.e2 = e2
        free(tmp)
        return True


cdef inline double tema_bar(Smooth* e1, Smooth* e2, Smooth* e3, double x) noexcept nogil:
    cdef double a = smooth_update(e1, x)
    cdef double b = smooth_update(e2, a)
    return tema_of(a, b, smooth_update(e3, b))

cdef inline double tema_of(double a, double b, double d) noexcept nogil:
    return d + ((3.0 * a) - (3.0 * b))       # TA-Lib: e3 + 3*e1 - 3*e2


cdef class KTema(Kernel):
    cdef Smooth e1, e2, e3

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        ema_init(&self.e1, length)
        ema_init(&self.e2, length)
        ema_init(&self.e3, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = tema_bar(&self.e1, &self.e2, &self.e3, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Smooth e1 = self.e1, e2 = self.e2, e3 = self.e3, k1, k2, k3
        cdef double* o0 = out[0]
        cdef double a0, a1, b0, b1, d0, d1
        cdef Py_ssize_t e, j
        i = 0
        while i < n:
            # pairs of bars in blocks once the three EMAs hold two values each (a block
            # that meets a NaN, which turns the chains NaN, is redone bar by bar)
            if (n - i >= 2 and wilder_paired(&e1) and wilder_paired(&e2)
                    and wilder_paired(&e3)):
                e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
                k1 = e1
                k2 = e2
                k3 = e3
                for j in range(i, e, 2):
                    smooth_pair(&e1, x[j], x[j + 1], &a0, &a1)
                    smooth_pair(&e2, a0, a1, &b0, &b1)
                    smooth_pair(&e3, b0, b1, &d0, &d1)
                    o0[j] = tema_of(a0, b0, d0)
                    o0[j + 1] = tema_of(a1, b1, d1)
                if not isnan(e3.prev + e3.value):
                    i = e
                    continue
                e1 = k1
                e2 = k2
                e3 = k3
            else:
                e = i + 1
            for j in range(i, e):
                o0[j] = tema_bar(&e1, &e2, &e3, x[j])
            i = e
        self.e1 = e1
        self.e2 = e2
        self.e3 = e3
        free(tmp)
        return True


cdef inline bint trima_block(Sma* s1, Sma* s2, const double* x, double* out, double* buf,
                             Py_ssize_t i, Py_ssize_t e, double f) noexcept nogil:
    """out[j] = sma_total(s2, sma_total(s1, x[j])) * f for i <= j < e, given the inner
    window's older values in x[i-n1+1..i-1] and a full outer window: both sums in
    registers, the inner totals kept in buf (the outer ring's values first, oldest
    first) for the outer window to drop. False, nothing kept, when a NaN turns a sum
    NaN; else the rings are refilled."""
    cdef Py_ssize_t w1 = s1.r.n, w2 = s2.r.n, j, k
    cdef double a = s1.sum, b = s2.sum, t
    for k in range(w2 - 1):
        buf[k] = ring_ago(&s2.r, <int>(w2 - 2 - k))
    for j in range(i, e):
        a += x[j]
        t = a
        a -= x[j - w1 + 1]
        k = j - i
        buf[w2 - 1 + k] = t
        b += t
        out[j] = b * f
        b -= buf[k]
    if isnan(a) or isnan(b):
        return False
    s1.sum = a
    s2.sum = b
    ring_refill(&s1.r, x, i, e)
    ring_refill(&s2.r, buf, w2 - 1, w2 - 1 + e - i)
    return True


cdef class KTrima(Kernel):
    """TA-Lib TRIMA: an SMA of an SMA, as TA-Lib takes it: the window sum of the window
    sums, times 1/(n1*n2) (one multiplication a bar, no division)."""
    cdef Sma s1, s2
    cdef double f

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        cdef int n1, n2
        if length % 2 == 1:
            n1 = (length + 1) // 2          # odd: SMA((n+1)/2) of SMA((n+1)/2)
            n2 = n1
        else:
            n1 = length // 2                # even: SMA(n/2+1) of SMA(n/2)
            n2 = length // 2 + 1
        self._sma(&self.s1, n1)
        self._sma(&self.s2, n2)
        self.f = 1.0 / (<double>n1 * n2)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = sma_total(&self.s2, sma_total(&self.s1, pick(self.src, o, h, l, c, v))) * self.f

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Sma s1 = self.s1, s2 = self.s2
        cdef double f = self.f
        cdef double* o0 = out[0]
        cdef Py_ssize_t w1 = s1.r.n, w2 = s2.r.n, run = 0, e, j
        cdef double* buf = <double*>malloc((w2 - 1 + PAIR_BLOCK) * sizeof(double))
        if buf == NULL:
            free(tmp)
            return False
        i = 0
        while i < n:
            # blocks once the inner window's older values lie in x and the outer one is
            # full (a block that meets a NaN is redone bar by bar)
            if run >= w1 - 1 and s2.r.count >= w2 - 1:
                e = i + PAIR_BLOCK if n - i > PAIR_BLOCK else n
                if trima_block(&s1, &s2, x, o0, buf, i, e, f):
                    run += e - i
                    i = e
                    continue
            else:
                e = i + 1
            for j in range(i, e):
                o0[j] = sma_total(&s2, sma_total(&s1, x[j])) * f
                run = 0 if isnan(x[j]) else run + 1
            i = e
        free(buf)
        self.s1 = s1
        self.s2 = s2
        free(tmp)
        return True


cdef struct Kama:
    Ring r
    int n
    double sum_roc1
    double prev
    double const_max
    double const_diff

cdef inline double kama_bar(Kama* k, double x) noexcept nogil:
    cdef double old = ring_push(&k.r, x)
    cdef long long cnt = k.r.count
    cdef double er, sc, period_roc
    if cnt >= 2:
        k.sum_roc1 += fabs(x - ring_ago(&k.r, 1))
    if cnt > k.n + 1:
        # drop the oldest |diff| of the window (between old and the next value)
        k.sum_roc1 -= fabs(old - ring_ago(&k.r, k.n))
    if cnt < k.n + 1:
        return NAN
    if cnt == k.n + 1:
        k.prev = ring_ago(&k.r, 1)      # TA-Lib seeds KAMA with the previous close
    period_roc = x - ring_ago(&k.r, k.n)
    er = kama_er(period_roc, k.sum_roc1)
    sc = (er * k.const_diff) + k.const_max
    sc *= sc
    k.prev = ((x - k.prev) * sc) + k.prev
    return k.prev


cdef inline double kama_er(double period_roc, double sum_roc1) noexcept nogil:
    # efficiency ratio 1 when the path is no longer than the net move (TA-Lib's guard)
    if sum_roc1 <= period_roc or TA_IS_ZERO(sum_roc1):
        return 1.0
    return fabs(period_roc / sum_roc1)

cdef inline double kama_bar_pt(Kama* k, double x) noexcept nogil:
    """kama_bar by pandas-ta's rules (TRADE's KAMA): the first value, at bar n - 1, is
    the mean of the first n values; the efficiency ratio is |net move| / path, 0 on a
    path of length 0 (no TA-Lib guard)."""
    cdef double old = ring_push(&k.r, x)
    cdef long long cnt = k.r.count
    cdef double er, sc, period_roc, seed = 0.0
    cdef int j
    if cnt >= 2:
        k.sum_roc1 += fabs(x - ring_ago(&k.r, 1))
    if cnt > k.n + 1:
        k.sum_roc1 -= fabs(old - ring_ago(&k.r, k.n))
    if cnt < k.n:
        return NAN
    if cnt == k.n:                       # seed: the mean of the first n values
        for j in range(k.n - 1, -1, -1):
            seed += ring_ago(&k.r, j)
        k.prev = seed / k.n
        return k.prev
    period_roc = x - ring_ago(&k.r, k.n)
    er = 0.0 if k.sum_roc1 == 0.0 else fabs(period_roc) / k.sum_roc1
    sc = (er * k.const_diff) + k.const_max
    sc *= sc
    k.prev = ((x - k.prev) * sc) + k.prev
    return k.prev


cdef void kama_run_pt(Kama* k, const double* x, double* out, Py_ssize_t n) noexcept nogil:
    """out[i] = kama_bar_pt(k, x[i]) for every i (out of line: KKama.batch's default loop
    keeps its own code)."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = kama_bar_pt(k, x[i])


cdef inline void kama_span(Kama* k, const double* x, double* out, Py_ssize_t a,
                           Py_ssize_t b) noexcept nogil:
    """out[i] = kama_bar(k, x[i]) for a <= i < b, given a >= n+1 and a seeded state (the
    window read from x itself, not the ring; the caller refills the ring)."""
    cdef Py_ssize_t i, w = k.n
    cdef double s = k.sum_roc1, prev = k.prev, cmax = k.const_max, cdiff = k.const_diff
    cdef double xi, period_roc, sc
    for i in range(a, b):
        xi = x[i]
        s += fabs(xi - x[i - 1])
        s -= fabs(x[i - w - 1] - x[i - w])
        period_roc = xi - x[i - w]
        sc = (kama_er(period_roc, s) * cdiff) + cmax
        sc *= sc
        prev = ((xi - prev) * sc) + prev
        out[i] = prev
    k.sum_roc1 = s
    k.prev = prev


cdef class KKama(Kernel):
    cdef Kama k
    cdef bint pt      # style 1: pandas-ta's seed and ratio (kama_bar_pt)

    def __init__(self, int length, int fast=2, int slow=30, int src=0, int style=0):
        self.n_out = 1
        self.src = src
        self.pt = style == 1
        self.k.n = length
        self._ring(&self.k.r, length + 1)
        self.k.sum_roc1 = 0.0
        self.k.prev = NAN
        self.k.const_max = 2.0 / (slow + 1.0)
        self.k.const_diff = 2.0 / (fast + 1.0) - self.k.const_max

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = pick(self.src, o, h, l, c, v)
        out[0] = kama_bar_pt(&self.k, x) if self.pt else kama_bar(&self.k, x)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Kama k = self.k
        cdef double* o0 = out[0]
        cdef int w = k.n
        if self.pt:
            kama_run_pt(&k, x, o0, n)
            self.k = k
            free(tmp)
            return True
        i = 0
        # bar by bar until the window's values all lie in x (and TA-Lib's seed is past)
        while i < n and (i < w + 1 or k.r.count < w + 1):
            o0[i] = kama_bar(&k, x[i])
            i += 1
        if i < n:
            kama_span(&k, x, o0, i, n)
            ring_refill(&k.r, x, i, n)
        self.k = k
        free(tmp)
        return True


cdef class KAlma(Kernel):
    cdef Ring r
    cdef double* w
    cdef double wsum

    def __init__(self, int length, double offset=0.85, double sigma=6.0, int src=0,
                 bint floor_centre=False):
        self.n_out = 1
        self.src = src
        self._ring(&self.r, length)
        self.w = self._alloc(length)
        cdef double s = length / sigma
        cdef double m = (length - 1) * offset
        if floor_centre:                     # pandas-ta's (TRADE's): a whole bar
            m = floor(m)
        cdef int i
        self.wsum = 0.0
        for i in range(length):
            self.w[i] = exp(-1 * (i - m) * (i - m) / (2 * s * s))   # Gaussian weight, i=0 oldest
            self.wsum += self.w[i]

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        ring_push(&self.r, pick(self.src, o, h, l, c, v))
        if not ring_full(&self.r):
            return
        cdef int n = self.r.n, i
        cdef double acc = 0.0
        for i in range(n):
            acc += ring_ago(&self.r, n - 1 - i) * self.w[i]
        out[0] = acc / self.wsum


cdef class KZlma(Kernel):
    cdef Ring r
    cdef int lag
    cdef Smooth e

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        self.lag = (length - 1) // 2
        self._ring(&self.r, self.lag + 1)
        ema_init(&self.e, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = pick(self.src, o, h, l, c, v)
        ring_push(&self.r, x)
        if not ring_full(&self.r):
            return
        # de-lagged input x + (x - x[lag]), then an EMA of it
        out[0] = smooth_update(&self.e, x + (x - ring_ago(&self.r, self.lag)))


cdef class KHma(Kernel):
    cdef Wma half, full, root

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        self._wma(&self.half, length // 2)
        self._wma(&self.full, length)
        self._wma(&self.root, <int>sqrt(<double>length))

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = pick(self.src, o, h, l, c, v)
        cdef double a = wma_update(&self.half, x)
        cdef double b = wma_update(&self.full, x)
        out[0] = wma_update(&self.root, 2.0 * a - b)   # WMA(2*WMA(n/2) - WMA(n), sqrt n)


cdef struct Linreg:
    Ring r
    int n
    double sum_y
    double sum_xy
    double sum_x
    double divisor

cdef inline double linreg_push(Linreg* g, double y) noexcept nogil:
    # x = age in bars (0 = newest), as TA-Lib; ageing every value adds sum_y to sum_xy
    cdef double old = ring_push(&g.r, y)
    if g.r.count > g.n:
        g.sum_y -= old
        g.sum_xy -= (g.n - 1) * old      # the leaving value had age n-1
    g.sum_xy += g.sum_y
    g.sum_y += y
    if g.r.count < g.n:
        return NAN
    cdef double m = (g.n * g.sum_xy - g.sum_x * g.sum_y) / g.divisor
    cdef double b = (g.sum_y - m * g.sum_x) / g.n
    return b + m * (g.n - 1)


cdef class KLinreg(Kernel):
    """Least-squares line over the window, value at the newest bar (TA-Lib LINEARREG)."""
    cdef Linreg g

    def __init__(self, int length, int src=0):
        self.n_out = 1
        self.src = src
        self.g.n = length
        self._ring(&self.g.r, length)
        self.g.sum_y = 0.0
        self.g.sum_xy = 0.0
        self.g.sum_x = length * (length - 1) * 0.5
        cdef double sum_x_sqr = length * (length - 1) * (2.0 * length - 1) / 6.0
        self.g.divisor = self.g.sum_x * self.g.sum_x - length * sum_x_sqr

    cdef double _push(self, double y) noexcept nogil:
        return linreg_push(&self.g, y)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = self._push(pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Linreg g = self.g
        cdef double* o0 = out[0]
        for i in range(n):
            o0[i] = linreg_push(&g, x[i])
        self.g = g
        free(tmp)
        return True


# ----------------------------------------------------------------- VWAP

cdef inline long long days_to_month(long long z) noexcept nogil:
    """Days since 1970-01-01 -> months since year 0 (H. Hinnant's civil_from_days)."""
    z += 719468
    cdef long long era = (z if z >= 0 else z - 146096) // 146097
    cdef long long doe = z - era * 146097
    cdef long long yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef long long y = yoe + era * 400
    cdef long long doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef long long mp = (5 * doy + 2) // 153
    cdef long long m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y * 12 + m - 1


cdef class KVwap(Kernel):
    cdef int anchor       # 0 day, 1 week (Monday 00:00 UTC), 2 month, 3 fixed period
    cdef long long session
    cdef double cum_pv, cum_v, period_ms

    def __init__(self, int anchor=0, double period_ms=0.0):
        self.n_out = 1
        self.anchor = anchor
        self.period_ms = period_ms
        self.session = -(1 << 62)
        self.cum_pv = 0.0
        self.cum_v = 0.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef long long day = <long long>floor(ts / 86400000.0)   # ts: ms since epoch, UTC
        cdef long long sess
        if self.anchor == 0:
            sess = day
        elif self.anchor == 1:
            sess = (day + 3) // 7            # 1970-01-01 was a Thursday: weeks start Monday
        elif self.anchor == 3:
            sess = <long long>floor(ts / self.period_ms)   # UTC buckets of a fixed period
        else:
            sess = days_to_month(day)
        if sess != self.session:             # a new session resets the running sums
            self.session = sess
            self.cum_pv = 0.0
            self.cum_v = 0.0
        self.cum_pv += ((h + l + c) / 3.0) * v
        self.cum_v += v
        # no volume yet in this session: VWAP is undefined
        out[0] = self.cum_pv / self.cum_v if self.cum_v > 0 else NAN


# ============================================================== oscillators

cdef inline double rsi_bar(Smooth* gain, Smooth* loss, double* prev, bint cmo,
                           double x, double flat) noexcept nogil:
    """RSI (or CMO) of one more value; prev holds the previous value; `flat` while the
    average gain and loss are both 0."""
    if isnan(x):
        return NAN
    if isnan(prev[0]):
        prev[0] = x
        return NAN
    cdef double d = x - prev[0]
    prev[0] = x
    cdef double g = smooth_add(gain, up_move(d))      # never NaN: no check
    cdef double lo = smooth_add(loss, down_move(d))
    if isnan(g):
        return NAN
    return rsi_of(g, lo, cmo, flat)

cdef inline double up_move(double d) noexcept nogil:
    return d if d > 0 else 0.0

cdef inline double down_move(double d) noexcept nogil:
    return -d if d < 0 else 0.0

cdef inline double rsi_of(double g, double lo, bint cmo, double flat) noexcept nogil:
    cdef double tot = g + lo
    if TA_IS_ZERO(tot):                  # no movement at all: TA-Lib 0, TRADE 50
        return flat
    if cmo:
        return 100.0 * ((g - lo) / tot)
    return 100.0 * (g / tot)

cdef inline bint rsi_pairs(Smooth* gain, Smooth* loss, double* prev, const double* x,
                           double* out, Py_ssize_t i, Py_ssize_t e, bint cmo,
                           double flat) noexcept nogil:
    """rsi_bar over x[i..e-1] (e - i even; both smoothers wilder_paired, prev not NaN) as
    two chains per smoother, odd and even bars. False when a NaN value met on the way
    (which rsi_bar skips) leaves out[i:e] and the state to be redone bar by bar."""
    cdef double ga = gain.prev, gb = gain.value, gwp = gain.wp
    cdef double la = loss.prev, lb = loss.value, lwp = loss.wp
    cdef double a = gain.a, b = gain.b, a2 = gain.a2, px = prev[0], chk = 0.0
    cdef double x0, x1, d0, d1, gw0, gw1, lw0, lw1
    cdef Py_ssize_t j
    for j in range(i, e, 2):
        x0 = x[j]
        x1 = x[j + 1]
        chk += x0 + x1                   # NaN value: NaN check sum
        d0 = x0 - px
        d1 = x1 - x0
        px = x1
        gw0 = up_move(d0) * b
        gw1 = up_move(d1) * b
        lw0 = down_move(d0) * b
        lw1 = down_move(d1) * b
        ga = wilder2(ga, gwp, gw0, a, a2)
        gb = wilder2(gb, gw0, gw1, a, a2)
        la = wilder2(la, lwp, lw0, a, a2)
        lb = wilder2(lb, lw0, lw1, a, a2)
        gwp = gw1
        lwp = lw1
        out[j] = rsi_of(ga, la, cmo, flat)
        out[j + 1] = rsi_of(gb, lb, cmo, flat)
    if isnan(chk + ga + gb + la + lb):
        return False
    gain.prev = ga
    gain.value = gb
    gain.wp = gwp
    gain.count += e - i
    loss.prev = la
    loss.value = lb
    loss.wp = lwp
    loss.count += e - i
    prev[0] = px
    return True


cdef class KRsi(Kernel):
    cdef Smooth gain, loss
    cdef double prev
    cdef int cmo      # 1: Chande momentum oscillator (same smoothing, other ratio)
    cdef double flat  # the value while there has been no move (TA-Lib 0, TRADE's RSI 50)

    def __init__(self, int length, int src=0, int cmo=0, double flat=0.0):
        self.n_out = 1
        self.src = src
        self.cmo = cmo
        self.flat = flat
        wilder_init(&self.gain, length)
        wilder_init(&self.loss, length)
        self.prev = NAN

    cdef double _push(self, double x) noexcept nogil:
        return rsi_bar(&self.gain, &self.loss, &self.prev, self.cmo, x, self.flat)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = self._push(pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i = 0, e, j
        if x == NULL:
            return False
        cdef Smooth gain = self.gain, loss = self.loss, kg, kl
        cdef double prev = self.prev, kp, flat = self.flat
        cdef bint cmo = self.cmo, done
        cdef double* o0 = out[0]
        while i < n:
            # bar by bar until both smoothers hold two values, then blocks of pairs
            # (a block that meets a NaN is redone bar by bar)
            if n - i >= 2 and wilder_paired(&gain) and not isnan(prev):
                e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
                kg = gain
                kl = loss
                kp = prev
                if cmo:
                    done = rsi_pairs(&gain, &loss, &prev, x, o0, i, e, True, flat)
                else:
                    done = rsi_pairs(&gain, &loss, &prev, x, o0, i, e, False, flat)
                if done:
                    i = e
                    continue
                gain = kg
                loss = kl
                prev = kp
            else:
                e = i + 1
            for j in range(i, e):
                o0[j] = rsi_bar(&gain, &loss, &prev, cmo, x[j], flat)
            i = e
        self.gain = gain
        self.loss = loss
        self.prev = prev
        free(tmp)
        return True


cdef inline double stoch_k(double x, double hi, double lo, double flat) noexcept nogil:
    cdef double diff = (hi - lo) / 100.0
    if diff != 0.0:
        return (x - lo) / diff
    return flat                              # flat window: TA-Lib 0, TRADE 50


cdef class KStoch(Kernel):
    cdef MinMax hi, lo
    cdef Sma ks, ds
    cdef double flat

    def __init__(self, int k_length, int k_smooth, int d_length, double flat_k=0.0):
        self.n_out = 2
        self.flat = flat_k
        self._mm(&self.hi, k_length, True)
        self._mm(&self.lo, k_length, False)
        self._sma(&self.ks, k_smooth)
        self._sma(&self.ds, d_length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double hh = mm_push(&self.hi, h)
        cdef double ll = mm_push(&self.lo, l)
        cdef double fk = NAN
        if mm_full(&self.hi):
            fk = stoch_k(c, hh, ll, self.flat)
        out[0] = sma_update(&self.ks, fk)
        out[1] = sma_update(&self.ds, out[0])

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef Sma ks = self.ks, ds = self.ds
        cdef double* o0 = out[0]
        cdef double* o1 = out[1]
        cdef double fk, k, flat = self.flat
        cdef Py_ssize_t i, ff = mm_first_full(&self.hi)
        mm_run(&self.hi, h, o0, n)               # highest high, then lowest low, per bar
        mm_run(&self.lo, l, o1, n)
        for i in range(n):
            fk = stoch_k(c[i], o0[i], o1[i], flat) if i >= ff else NAN
            k = sma_update(&ks, fk)
            o0[i] = k
            o1[i] = sma_update(&ds, k)
        self.ks = ks
        self.ds = ds
        return True


cdef class KStochRsi(Kernel):
    cdef KRsi rsi
    cdef MinMax hi, lo
    cdef Sma ks, ds
    cdef double flat

    def __init__(self, int rsi_length, int stoch_length, int k_smooth, int d_length, int src=0,
                 double flat_k=0.0):
        self.n_out = 2
        self.flat = flat_k
        self.src = src
        self.rsi = KRsi(rsi_length)
        self._mm(&self.hi, stoch_length, True)
        self._mm(&self.lo, stoch_length, False)
        self._sma(&self.ks, k_smooth)
        self._sma(&self.ds, d_length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double r = self.rsi._push(pick(self.src, o, h, l, c, v))
        cdef double hh, ll, fk = NAN
        if not isnan(r):
            hh = mm_push(&self.hi, r)
            ll = mm_push(&self.lo, r)
            if mm_full(&self.hi):
                fk = stoch_k(r, hh, ll, self.flat)
        out[0] = sma_update(&self.ks, fk)
        out[1] = sma_update(&self.ds, out[0])


cdef class KCci(Kernel):
    cdef Ring r

    def __init__(self, int length):
        self.n_out = 1
        self._ring(&self.r, length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double tp = (h + l + c) / 3.0
        ring_push(&self.r, tp)
        if not ring_full(&self.r):
            return
        cdef int n = self.r.n, i
        cdef double avg = 0.0, dev = 0.0
        for i in range(n):                   # O(n): mean deviation needs the whole window
            avg += self.r.buf[i]
        avg /= n
        for i in range(n):
            dev += fabs(self.r.buf[i] - avg)
        cdef double num = tp - avg
        if num != 0.0 and dev != 0.0:        # TA-Lib: 0 when either is zero
            out[0] = num / (0.015 * (dev / n))
        else:
            out[0] = 0.0


cdef inline double willr_bar(MinMax* hi, MinMax* lo, double h, double l,
                             double c, double flat) noexcept nogil:
    cdef double hh = mm_push(hi, h)
    cdef double ll = mm_push(lo, l)
    return willr_of(hh, ll, c, flat) if mm_full(hi) else NAN

cdef inline double willr_of(double hh, double ll, double c, double flat) noexcept nogil:
    # one division (on a nonzero divisor); willr_span is this over a span, vectorized
    # (flat 0 only)
    cdef double diff = hh - ll
    cdef double r = ((hh - c) / (diff if diff != 0.0 else 1.0)) * -100.0
    return r if diff != 0.0 else flat          # flat window: 0 (TA-Lib), -50 (TRADE)


cdef class KWillr(Kernel):
    cdef MinMax hi, lo
    cdef double flat

    def __init__(self, int length, double flat=0.0):
        self.n_out = 1
        self.flat = flat
        self._mm(&self.hi, length, True)
        self._mm(&self.lo, length, False)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = willr_bar(&self.hi, &self.lo, h, l, c, self.flat)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef Py_ssize_t ch = hl_chunk(&self.hi, n), ff = mm_first_full(&self.hi)
        cdef Py_ssize_t b = 0, e, i, j
        cdef double* o0 = out[0]
        cdef double flat = self.flat
        cdef double* hh = <double*>malloc(ch * sizeof(double))
        if hh == NULL:
            return False
        while b < n:                 # per chunk: highest high, lowest low, then %R
            e = b + ch if n - b > ch else n
            prefetch_span(c, b, e)   # the closes on their way while the extremes run
            mm_run(&self.hi, h + b, hh, e - b)
            mm_run(&self.lo, l + b, o0 + b, e - b)
            i = b
            while i < e and i < ff:
                o0[i] = NAN
                i += 1
            if flat == 0.0:
                willr_span(hh + (i - b), o0 + i, c + i, e - i)
            else:
                for j in range(i, e):
                    o0[j] = willr_of(hh[j - b], o0[j], c[j], flat)
            b = e
        free(hh)
        return True


cdef struct Mfi:
    Ring pos
    Ring neg
    double pos_sum
    double neg_sum
    double prev
    int n

cdef inline double mfi_bar(Mfi* m, double h, double l, double c, double v) noexcept nogil:
    cdef double tp = (h + l + c) / 3.0
    if isnan(m.prev):
        m.prev = tp
        return NAN
    cdef double d = tp - m.prev
    m.prev = tp
    cdef double money = tp * v
    cdef double p = money if d > 0 else 0.0      # unchanged price: flow counts nowhere
    cdef double q = money if d < 0 else 0.0
    if ring_full(&m.pos):
        m.pos_sum -= ring_ago(&m.pos, m.n - 1)
        m.neg_sum -= ring_ago(&m.neg, m.n - 1)
    ring_push(&m.pos, p)
    ring_push(&m.neg, q)
    m.pos_sum += p
    m.neg_sum += q
    if not ring_full(&m.pos):
        return NAN
    cdef double tot = m.pos_sum + m.neg_sum
    return 0.0 if tot < 1.0 else 100.0 * (m.pos_sum / tot)   # TA-Lib's guard: total < 1 -> 0


cdef double mfi_bar_mid(Mfi* m, int* nz, double h, double l, double c,
                        double v) noexcept nogil:
    """mfi_bar with TRADE's guards (flat: mid): 50 with no flow in the window, 100 with no
    negative flow, 0 with no positive one, else the ratio however small the flow. The
    flows of each side that are not 0 are counted (nz[0] positive, nz[1] negative), so a
    running-sum residue cannot stand in for a flow. Out of line: mfi_bar's loop keeps
    its own code."""
    cdef double tp = (h + l + c) / 3.0
    if isnan(m.prev):
        m.prev = tp
        return NAN
    cdef double d = tp - m.prev
    m.prev = tp
    cdef double money = tp * v
    cdef double p = money if d > 0 else 0.0
    cdef double q = money if d < 0 else 0.0
    cdef double op, oq
    if ring_full(&m.pos):
        op = ring_ago(&m.pos, m.n - 1)
        oq = ring_ago(&m.neg, m.n - 1)
        m.pos_sum -= op
        m.neg_sum -= oq
        nz[0] -= op != 0.0
        nz[1] -= oq != 0.0
    ring_push(&m.pos, p)
    ring_push(&m.neg, q)
    m.pos_sum += p
    m.neg_sum += q
    nz[0] += p != 0.0
    nz[1] += q != 0.0
    if not ring_full(&m.pos):
        return NAN
    cdef double tot = m.pos_sum + m.neg_sum
    if isnan(tot):
        return tot
    if nz[1] == 0:
        return 100.0 if nz[0] > 0 else 50.0
    if nz[0] == 0:
        return 0.0
    return 100.0 * (m.pos_sum / tot)


cdef class KMfi(Kernel):
    cdef Mfi m
    cdef bint mid
    cdef int nz[2]      # mid: nonzero positive / negative flows in the window

    def __init__(self, int length, bint mid=False):
        self.n_out = 1
        self.mid = mid
        self.nz[0] = 0
        self.nz[1] = 0
        self.m.n = length
        self._ring(&self.m.pos, length)
        self._ring(&self.m.neg, length)
        self.m.pos_sum = 0.0
        self.m.neg_sum = 0.0
        self.m.prev = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = (mfi_bar_mid(&self.m, self.nz, h, l, c, v) if self.mid
                  else mfi_bar(&self.m, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef Mfi m = self.m
        cdef double* o0 = out[0]
        cdef Py_ssize_t i
        if self.mid:
            for i in range(n):
                o0[i] = mfi_bar_mid(&m, self.nz, h[i], l[i], c[i], v[i])
        else:
            for i in range(n):
                o0[i] = mfi_bar(&m, h[i], l[i], c[i], v[i])
        self.m = m
        return True


cdef inline double roc_of(double x, double base, int mode) noexcept nogil:
    if mode == 1:
        return x - base
    return ((x / base) - 1.0) * 100.0 if base != 0.0 else 0.0   # TA-Lib: 0 on a zero base

cdef inline double roc_bar(Ring* r, int mode, double x) noexcept nogil:
    ring_push(r, x)
    if not ring_full(r):
        return NAN
    return roc_of(x, ring_ago(r, r.n - 1), mode)


cdef class KRoc(Kernel):
    cdef Ring r
    cdef int mode     # 0 ROC percent, 1 momentum (difference)

    def __init__(self, int length, int mode=0, int src=0):
        self.n_out = 1
        self.src = src
        self.mode = mode
        self._ring(&self.r, length + 1)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = roc_bar(&self.r, self.mode, pick(self.src, o, h, l, c, v))

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Ring r = self.r
        cdef int mode = self.mode
        cdef Py_ssize_t lag = r.n - 1, head = min(lag, n)
        cdef double* o0 = out[0]
        for i in range(head):                 # the base may be in the ring (earlier bars)
            o0[i] = roc_bar(&r, mode, x[i])
        if n > head:
            # the base lies in x: the same formula, no ring traffic (vectorises)
            if mode == 1:
                for i in range(head, n):
                    o0[i] = roc_of(x[i], x[i - lag], 1)
            else:
                for i in range(head, n):
                    o0[i] = roc_of(x[i], x[i - lag], 0)
            ring_refill(&r, x, head, n)
        self.r = r
        free(tmp)
        return True


cdef inline double macd_line(double f, double s, bint ppo) noexcept nogil:
    if ppo:
        return ((f - s) / s) * 100.0 if not TA_IS_ZERO(s) else 0.0
    return f - s

cdef inline void macd_bar(Smooth* fast, Smooth* slow, Smooth* sig, bint fast_on, bint ppo,
                          double x, double** out, Py_ssize_t i) noexcept nogil:
    """MACD/PPO of one more value into out[0..2][i] (NaN in warm-up)."""
    cdef double s = smooth_update(slow, x)
    cdef double f = NAN
    if fast_on:                           # MACD: fast EMA starts `slow - fast` bars late (TA-Lib)
        f = smooth_update(fast, x)
    if isnan(s):
        out[0][i] = NAN
        out[1][i] = NAN
        out[2][i] = NAN
        return
    cdef double m = macd_line(f, s, ppo)
    cdef double sg = smooth_update(sig, m)
    out[0][i] = m
    out[1][i] = sg
    out[2][i] = m - sg


cdef class KMacd(Kernel):
    """MACD/PPO. TA-Lib's MACD aligns the fast EMA with the slow one: it is seeded with
    the SMA of the `fast` values that end where the slow EMA's seed ends. TA-Lib's PPO
    (matype EMA) does not: its fast EMA is seeded from the first bar."""
    cdef Smooth fast, slow, sig
    cdef int offset, ppo

    def __init__(self, int fast, int slow, int signal, int ppo=0, int src=0):
        self.n_out = 3
        self.src = src
        self.ppo = ppo
        if slow < fast:                       # TA-Lib swaps them
            fast, slow = slow, fast
        self.offset = 0 if ppo else slow - fast
        ema_init(&self.fast, fast)
        ema_init(&self.slow, slow)
        ema_init(&self.sig, signal)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double* cols[3]
        cols[0] = out
        cols[1] = out + 1
        cols[2] = out + 2
        macd_bar(&self.fast, &self.slow, &self.sig, self.nbar >= self.offset, self.ppo,
                 pick(self.src, o, h, l, c, v), cols, 0)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Smooth fast = self.fast, slow = self.slow, sig = self.sig, kf, ks, kg
        cdef long long start = self.offset - self.nbar      # first bar of the fast EMA
        cdef bint ppo = self.ppo
        cdef double s0, s1, f0, f1, m0, m1, g0, g1
        cdef double* o0 = out[0]
        cdef double* o1 = out[1]
        cdef double* o2 = out[2]
        cdef Py_ssize_t e, j
        i = 0
        while i < n:
            # pairs of bars in blocks once the fast EMA runs and the three EMAs hold two
            # values each (a block that meets a NaN, which turns the chains NaN, is redone
            # bar by bar)
            if (n - i >= 2 and i >= start and wilder_paired(&fast) and wilder_paired(&slow)
                    and wilder_paired(&sig)):
                e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
                kf = fast
                ks = slow
                kg = sig
                for j in range(i, e, 2):
                    smooth_pair(&slow, x[j], x[j + 1], &s0, &s1)
                    smooth_pair(&fast, x[j], x[j + 1], &f0, &f1)
                    m0 = macd_line(f0, s0, ppo)
                    m1 = macd_line(f1, s1, ppo)
                    smooth_pair(&sig, m0, m1, &g0, &g1)
                    o0[j] = m0
                    o0[j + 1] = m1
                    o1[j] = g0
                    o1[j + 1] = g1
                    o2[j] = m0 - g0
                    o2[j + 1] = m1 - g1
                if not isnan(sig.prev + sig.value + slow.prev + slow.value):
                    i = e
                    continue
                fast = kf
                slow = ks
                sig = kg
            else:
                e = i + 1
            for j in range(i, e):
                macd_bar(&fast, &slow, &sig, j >= start, ppo, x[j], out, j)
            i = e
        self.fast = fast
        self.slow = slow
        self.sig = sig
        free(tmp)
        return True


cdef class KTrix(Kernel):
    cdef Smooth e1, e2, e3, sig
    cdef double prev

    def __init__(self, int length, int src=0, int signal=9):
        self.n_out = 2
        self.src = src
        ema_init(&self.sig, signal)
        ema_init(&self.e1, length)
        ema_init(&self.e2, length)
        ema_init(&self.e3, length)
        self.prev = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = smooth_update(&self.e3, smooth_update(&self.e2, smooth_update(
            &self.e1, pick(self.src, o, h, l, c, v))))
        if isnan(x):
            return
        if not isnan(self.prev):
            # one-bar rate of change of the triple EMA, in percent
            out[0] = ((x / self.prev) - 1.0) * 100.0 if self.prev != 0.0 else 0.0
            out[1] = smooth_update(&self.sig, out[0])   # signal: EMA of TRIX (pandas-ta)
        self.prev = x


cdef class KTsi(Kernel):
    cdef Smooth m1, m2, a1, a2, sig
    cdef double prev, last

    def __init__(self, int long_length, int short_length, int signal, int src=0):
        self.n_out = 2
        self.src = src
        ema_init(&self.m1, long_length)
        ema_init(&self.a1, long_length)
        ema_init(&self.m2, short_length)
        ema_init(&self.a2, short_length)
        ema_init(&self.sig, signal)
        self.prev = NAN
        self.last = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = pick(self.src, o, h, l, c, v)
        if isnan(self.prev):
            self.prev = x
            return
        cdef double d = x - self.prev
        self.prev = x
        cdef double num = smooth_update(&self.m2, smooth_update(&self.m1, d))
        cdef double den = smooth_update(&self.a2, smooth_update(&self.a1, fabs(d)))
        if isnan(num):
            return
        if den != 0.0:
            self.last = 100.0 * (num / den)
        # den == 0 (no movement over the window): keep the previous value (talipp)
        out[0] = self.last
        out[1] = smooth_update(&self.sig, self.last)


cdef class KFisher(Kernel):
    cdef MinMax hi, lo
    cdef double value, fish

    def __init__(self, int length):
        self.n_out = 2
        self._mm(&self.hi, length, True)
        self._mm(&self.lo, length, False)
        self.value = 0.0
        self.fish = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = (h + l) / 2.0
        cdef double hh = mm_push(&self.hi, x)
        cdef double ll = mm_push(&self.lo, x)
        if not mm_full(&self.hi):
            return
        cdef double rng = hh - ll
        if rng < 0.001:                      # Ehlers/TradingView floor on the range
            rng = 0.001
        cdef double val = 0.66 * ((x - ll) / rng - 0.5) + 0.67 * self.value
        if val > 0.99:                       # clamp so the log stays finite
            val = 0.999
        elif val < -0.99:
            val = -0.999
        self.value = val
        cdef double prev = self.fish
        cdef double prev0 = 0.0 if isnan(prev) else prev
        self.fish = 0.5 * log((1.0 + val) / (1.0 - val)) + 0.5 * prev0
        out[0] = self.fish
        out[1] = prev                        # signal: the previous bar's fisher


# ============================================================ trend / volatility

cdef inline void dm_split(double h, double l, double ph, double pl, double* plus,
                          double* minus) noexcept nogil:
    """Wilder's directional movement of a bar against the previous one (TA-Lib's rule)."""
    cdef double up = h - ph, down = pl - l
    # +DM when the up-move dominates, -DM when the down-move dominates, else neither
    plus[0] = up if (up > 0 and up > down) else 0.0
    minus[0] = down if (down > 0 and up < down) else 0.0


cdef inline double true_range(double h, double l, double pc) noexcept nogil:
    cdef double tr = h - l
    cdef double a = fabs(h - pc)
    cdef double b = fabs(l - pc)
    if a > tr:
        tr = a
    if b > tr:
        tr = b
    return tr


cdef inline double atr_push(Atr* a, double h, double l, double c) noexcept nogil:
    # the first bar has no previous close: no true range (TA-Lib TRANGE)
    cdef double tr = NAN if isnan(a.pc) else true_range(h, l, a.pc)
    a.pc = c
    return smooth_update(&a.w, tr)

cdef inline double natr_of(double a, double c) noexcept nogil:
    return (a / c) * 100.0 if not TA_IS_ZERO(c) else 0.0     # ATR in percent of the close

cdef inline bint atr_pairs(Atr* at, const double* h, const double* l, const double* c,
                           double* out, Py_ssize_t i, Py_ssize_t e, bint natr) noexcept nogil:
    """atr_push (then natr_of when natr) over bars i..e-1 (e - i even; wilder_paired and a
    previous close that is not NaN) as two chains, odd and even bars, side by side.
    False when a NaN met on the way (a NaN high, low or close, whose bars atr_push skips)
    leaves out[i:e] and *at to be redone bar by bar; else *at is as atr_push leaves it."""
    cdef Smooth* s = &at.w
    cdef double st[5]
    st[0] = s.prev
    st[1] = s.value
    st[2] = s.wp
    st[3] = at.pc
    atr_pairs_c(h, l, c, out, i, e, natr, s.a, s.b, s.a2, st)   # NaN high or low: NaN range
    if isnan(st[4]):                                             # ... NaN close: NaN check
        return False
    s.prev = st[0]
    s.value = st[1]
    s.wp = st[2]
    s.count += e - i
    at.pc = st[3]
    return True

cdef void atr_run(Atr* at, const double* h, const double* l, const double* c, double* out,
                  Py_ssize_t n, bint natr) noexcept nogil:
    """out[i] = atr_push(at, ...) (NATR: natr_of of it where not NaN) for every bar: bar by
    bar until two seeded values exist, then atr_pairs in blocks (a block that meets a NaN
    is redone bar by bar)."""
    cdef Py_ssize_t i = 0, e, j
    cdef Atr keep
    cdef double x
    while i < n:
        if n - i >= 2 and wilder_paired(&at.w) and not isnan(at.pc):
            e = i + (PAIR_BLOCK if n - i >= PAIR_BLOCK else ((n - i) & ~1))
            keep = at[0]
            # one call per flag value, so the flag is a constant in each inlined copy
            if (atr_pairs(at, h, l, c, out, i, e, True) if natr
                    else atr_pairs(at, h, l, c, out, i, e, False)):
                i = e
                continue
            at[0] = keep
        else:
            e = i + 1
        for j in range(i, e):
            x = atr_push(at, h[j], l[j], c[j])
            out[j] = natr_of(x, c[j]) if natr and not isnan(x) else x
        i = e


cdef class KAtr(Kernel):
    cdef Atr a
    cdef int normalized
    cdef bint first_range   # TRADE's seed: the first bar's high - low is a true range

    def __init__(self, int length, int normalized=0, bint first_range=False):
        self.n_out = 1
        self.normalized = normalized
        self.first_range = first_range
        wilder_init(&self.a.w, length)
        self.a.pc = NAN

    cdef double _push(self, double h, double l, double c) noexcept nogil:
        return atr_push(&self.a, h, l, c)

    cdef double _first(self, double h, double l, double c) noexcept nogil:
        """The first bar under first_range: its high - low enters the seed (the mean of the
        first `length` ranges, so the ATR starts one bar earlier than TA-Lib's)."""
        self.a.pc = c
        return smooth_update(&self.a.w, h - l)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double a = (self._first(h, l, c) if self.first_range and self.nbar == 0
                         else self._push(h, l, c))
        out[0] = natr_of(a, c) if self.normalized and not isnan(a) else a

    cdef void _first_then_run(self, Py_ssize_t n, const double* h, const double* l,
                              const double* c, double* out) noexcept nogil:
        """batch from the first bar under first_range: that bar, then atr_run."""
        cdef double x = self._first(h[0], l[0], c[0])
        out[0] = natr_of(x, c[0]) if self.normalized and not isnan(x) else x
        cdef Atr a = self.a
        atr_run(&a, h + 1, l + 1, c + 1, out + 1, n - 1, self.normalized != 0)
        self.a = a

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        if self.first_range and self.nbar == 0:
            self._first_then_run(n, h, l, c, out[0])
            return True
        cdef Atr a = self.a
        atr_run(&a, h, l, c, out[0], n, self.normalized != 0)
        self.a = a
        return True


cdef class KAdx(Kernel):
    """TA-Lib ADX/PLUS_DI/MINUS_DI: Wilder sums of DM and TR seeded with n-1 bars.
    style 1 (pandas-ta's adx without TA-Lib, TRADE's): see _step_pt."""
    cdef int n
    cdef double ph, pl, pc, pdm, mdm, tr, sum_dx, adx
    cdef long long k
    cdef Ring hist
    cdef bint pt
    cdef Atr atr

    def __init__(self, int length, int style=0):
        self.n_out = 4
        self.n = length
        self._ring(&self.hist, length)
        self.pdm = 0.0
        self.mdm = 0.0
        self.tr = 0.0
        self.sum_dx = 0.0
        self.adx = NAN
        self.k = 0
        self.pt = style == 1
        wilder_init(&self.atr.w, length)
        self.atr.pc = NAN

    cdef void _step_pt(self, double h, double l, double c, double* out) noexcept nogil:
        """pandas-ta's form: +DM / -DM (TA-Lib's rule) each smoothed from bar 1 by an EMA
        of weight 1/n seeded with its first value; DI = 100 * smoothed DM / ATR (Wilder,
        TA-Lib's seed: from bar n); DX = 100 |+DI - -DI| / (+DI + -DI), 0 when both are 0;
        ADX = the same EMA of DX seeded with the first DX (so from bar n). A bar whose ATR
        is 0 has no DI and leaves ADX as it was."""
        cdef double pd, md, a, pdi, mdi, s, dx, b = self.atr.w.b
        a = atr_push(&self.atr, h, l, c)
        if self.nbar == 0:
            self.ph = h
            self.pl = l
            return
        dm_split(h, l, self.ph, self.pl, &pd, &md)
        self.ph = h
        self.pl = l
        if self.nbar == 1:
            self.pdm = pd
            self.mdm = md
        else:
            self.pdm = self.pdm * self.atr.w.a + pd * b
            self.mdm = self.mdm * self.atr.w.a + md * b
        if isnan(a):
            return
        if a > 0:
            pdi = 100.0 * (self.pdm / a)
            mdi = 100.0 * (self.mdm / a)
            s = pdi + mdi
            dx = 100.0 * (fabs(pdi - mdi) / s) if s > 0 else 0.0
            self.adx = dx if isnan(self.adx) else self.adx * self.atr.w.a + dx * b
            ring_push(&self.hist, self.adx)
            out[1] = pdi
            out[2] = mdi
        out[0] = self.adx
        if ring_full(&self.hist):            # ADXR: mean of ADX now and n-1 values ago
            out[3] = (ring_ago(&self.hist, 0) + ring_ago(&self.hist, self.n - 1)) / 2.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double pd, md, trv, pdi, mdi, s, dx
        cdef int n = self.n
        if self.pt:
            self._step_pt(h, l, c, out)
            return
        if self.nbar == 0:
            self.ph = h
            self.pl = l
            self.pc = c
            return
        self.k += 1
        dm_split(h, l, self.ph, self.pl, &pd, &md)
        trv = true_range(h, l, self.pc)
        self.ph = h
        self.pl = l
        self.pc = c
        if self.k >= n:
            self.pdm -= self.pdm / n
            self.mdm -= self.mdm / n
        if md > 0:
            self.mdm += md
        elif pd > 0:
            self.pdm += pd
        if self.k < n:
            self.tr += trv
            return
        self.tr = self.tr - (self.tr / n) + trv
        pdi = 0.0
        mdi = 0.0
        dx = NAN
        if not TA_IS_ZERO(self.tr):
            pdi = 100.0 * (self.pdm / self.tr)
            mdi = 100.0 * (self.mdm / self.tr)
            s = mdi + pdi
            if not TA_IS_ZERO(s):
                dx = 100.0 * (fabs(mdi - pdi) / s)
        out[1] = pdi
        out[2] = mdi
        if self.k < 2 * n - 1:
            if not isnan(dx):
                self.sum_dx += dx
        elif self.k == 2 * n - 1:
            if not isnan(dx):
                self.sum_dx += dx
            self.adx = self.sum_dx / n           # first ADX: mean of the first n DX
        elif not isnan(dx):                      # an undefined DX leaves ADX unchanged (TA-Lib)
            self.adx = ((self.adx * (n - 1)) + dx) / n
        out[0] = self.adx
        if not isnan(self.adx):
            ring_push(&self.hist, self.adx)
            if ring_full(&self.hist):            # ADXR: mean of ADX now and n-1 bars ago
                out[3] = (self.adx + ring_ago(&self.hist, n - 1)) / 2.0


cdef inline void aroon_bar(MinMax* hi, MinMax* lo, int n, double factor, double h,
                           double l, double** out, Py_ssize_t i) noexcept nogil:
    """Aroon up, down and oscillator of one more bar into out[0..2][i]."""
    mm_push(hi, h)
    mm_push(lo, l)
    if not mm_full(hi):
        out[0][i] = NAN
        out[1][i] = NAN
        out[2][i] = NAN
        return
    cdef long long t = hi.t
    cdef long long hi_i = mm_front_idx(hi)   # ties: the most recent extreme (TA-Lib)
    cdef long long lo_i = mm_front_idx(lo)
    out[0][i] = factor * (n - (t - hi_i))
    out[1][i] = factor * (n - (t - lo_i))
    out[2][i] = factor * (hi_i - lo_i)             # TA-Lib AROONOSC's form


cdef class KAroon(Kernel):
    cdef MinMax hi, lo
    cdef int n
    cdef double factor

    def __init__(self, int length):
        self.n_out = 3
        self.n = length
        self.factor = 100.0 / length
        self._mm(&self.hi, length + 1, True)     # window of n+1 bars, as TA-Lib
        self._mm(&self.lo, length + 1, False)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double* cols[3]
        cols[0] = out
        cols[1] = out + 1
        cols[2] = out + 2
        aroon_bar(&self.hi, &self.lo, self.n, self.factor, h, l, cols, 0)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef MinMax hi = self.hi, lo = self.lo
        cdef Py_ssize_t i
        for i in range(n):
            aroon_bar(&hi, &lo, self.n, self.factor, h[i], l[i], out, i)
        self.hi = hi
        self.lo = lo
        return True


cdef struct St:
    double mult
    double upper
    double lower
    double pc
    int direction

cdef inline void st_bar(St* s, Atr* atr, double h, double l, double c, double** out,
                        Py_ssize_t i) noexcept nogil:
    """Supertrend of one more bar into out[k][i], k = value, direction, long, short."""
    st_band(s, atr_push(atr, h, l, c), h, l, c, out, i)

cdef inline void st_band(St* s, double a, double h, double l, double c, double** out,
                         Py_ssize_t i) noexcept nogil:
    """st_bar given the bar's ATR a (out[0][i] may hold a: it is read first)."""
    cdef double pc = s.pc
    cdef double val = NAN, dirn = NAN, lng = NAN, sht = NAN
    s.pc = c
    cdef double mid, up, lo, bu, bl
    if not isnan(a):
        mid = (h + l) / 2.0
        bu = mid + s.mult * a
        bl = mid - s.mult * a
        if s.direction == 0:              # first valid bar: bands as computed, long bias
            s.upper = bu
            s.lower = bl
            s.direction = 1
        else:
            # a band only tightens, unless the previous close was already beyond it
            # (two selects on the old band each, which compile to minsd/maxsd and a mask)
            up = bu if bu < s.upper else s.upper
            lo = bl if bl > s.lower else s.lower
            s.upper = bu if pc > s.upper else up
            s.lower = bl if pc < s.lower else lo
            if s.direction == -1 and c > s.upper:
                s.direction = 1           # close above the upper band flips to long
            elif s.direction == 1 and c < s.lower:
                s.direction = -1          # close below the lower band flips to short
        dirn = s.direction
        if s.direction == 1:              # long: the trailing line while long, else NaN
            val = s.lower
            lng = val
        else:
            val = s.upper
            sht = val
    out[0][i] = val                       # each output written once
    out[1][i] = dirn
    out[2][i] = lng
    out[3][i] = sht

cdef inline void st_band_pt(St* s, double a, double h, double l, double c, double** out,
                            Py_ssize_t i) noexcept nogil:
    """st_band by pandas-ta's rules (TRADE's supertrend): the close is compared with the
    previous bar's final bands; on a close beyond either of them both bands restart from
    this bar's basic bands, else only the band of the current side is held (it may not
    loosen) and the other one is this bar's basic band."""
    cdef double val = NAN, dirn = NAN, lng = NAN, sht = NAN
    s.pc = c
    cdef double mid, bu, bl
    if not isnan(a):
        mid = (h + l) / 2.0
        bu = mid + s.mult * a
        bl = mid - s.mult * a
        if s.direction == 0:              # first valid bar: bands as computed, long bias
            s.direction = 1
        elif c > s.upper:
            s.direction = 1
        elif c < s.lower:
            s.direction = -1
        elif s.direction == 1:
            if bl < s.lower:
                bl = s.lower
        elif bu > s.upper:
            bu = s.upper
        s.upper = bu
        s.lower = bl
        dirn = s.direction
        if s.direction == 1:
            val = bl
            lng = val
        else:
            val = bu
            sht = val
    out[0][i] = val
    out[1][i] = dirn
    out[2][i] = lng
    out[3][i] = sht


cdef class KSupertrend(Kernel):
    cdef KAtr atr
    cdef St s
    cdef bint pandas_ta

    def __init__(self, int length, double mult, int style=0):
        self.n_out = 4
        self.pandas_ta = style == 1
        self.atr = KAtr(length)
        self.s.mult = mult
        self.s.upper = NAN
        self.s.lower = NAN
        self.s.pc = NAN
        self.s.direction = 0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double* cols[4]
        cdef int k
        for k in range(4):
            cols[k] = out + k
        if self.pandas_ta:
            st_band_pt(&self.s, atr_push(&self.atr.a, h, l, c), h, l, c, cols, 0)
        else:
            st_bar(&self.s, &self.atr.a, h, l, c, cols, 0)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef St s = self.s
        cdef Atr a = self.atr.a
        cdef Py_ssize_t i, b = 0, e
        cdef double* o0 = out[0]
        while b < n:                            # per block: its ATR in out[0], then bands
            e = b + PAIR_BLOCK if n - b > PAIR_BLOCK else n
            atr_run(&a, h + b, l + b, c + b, o0 + b, e - b, False)
            if self.pandas_ta:
                for i in range(b, e):
                    st_band_pt(&s, o0[i], h[i], l[i], c[i], out, i)
            else:
                for i in range(b, e):
                    st_band(&s, o0[i], h[i], l[i], c[i], out, i)
            b = e
        self.s = s
        self.atr.a = a
        return True


cdef class KPsar(Kernel):
    """TA-Lib SAR line by line; direction is the side the reported SAR belongs to.
    style 1: pandas-ta's psar (TRADE's), see _step_pt."""
    cdef double accel, maximum, af, ep, sar, new_high, new_low, init
    cdef int is_long, prev_side
    cdef bint pt

    def __init__(self, double accel, double maximum, double init=-1.0, int style=0):
        self.n_out = 6
        self.pt = style == 1
        if accel > maximum:
            accel = maximum
        if init < 0:
            init = accel                         # TA-Lib SAR: the start factor is the step
        if init > maximum:
            init = maximum
        self.accel = accel
        self.maximum = maximum
        self.init = init
        self.af = init

    cdef void _step_pt(self, double h, double l, double c, double* out) noexcept nogil:
        """pandas-ta's rules: the SAR starts at the first close; the side is short when
        the second bar's high and low are both below the first's, else long, with the
        first bar's extreme as EP. Each bar: SAR += af (EP - SAR); the bar reverses when
        its low (long) / high (short) is beyond that SAR; a new extreme moves EP and af;
        the SAR is kept outside the previous bar's range only; on a reversal the SAR is
        the EP, af restarts and EP is this bar's extreme."""
        cdef double ns
        cdef bint rev
        if self.nbar == 0:
            self.sar = c
            self.new_high = h
            self.new_low = l
            return
        if self.nbar == 1:
            self.is_long = 0 if (h < self.new_high and l < self.new_low) else 1
            self.ep = self.new_high if self.is_long else self.new_low
        ns = self.sar + self.af * (self.ep - self.sar)
        if self.is_long:
            rev = l < ns
            if h > self.ep:
                self.ep = h
                self.af = self.af + self.accel
                if self.af > self.maximum:
                    self.af = self.maximum
            if ns > self.new_low:
                ns = self.new_low
        else:
            rev = h > ns
            if l < self.ep:
                self.ep = l
                self.af = self.af + self.accel
                if self.af > self.maximum:
                    self.af = self.maximum
            if ns < self.new_high:
                ns = self.new_high
        if rev:
            ns = self.ep
            self.af = self.init
            self.is_long = 0 if self.is_long else 1
            self.ep = h if self.is_long else l
        self.sar = ns
        self.new_high = h
        self.new_low = l
        out[0] = ns
        out[1] = 1.0 if self.is_long else -1.0
        if self.is_long:
            out[2] = ns
        else:
            out[3] = ns
        out[4] = self.af
        out[5] = 1.0 if rev else 0.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double prev_high, prev_low, dp, dm
        if self.pt:
            self._step_pt(h, l, c, out)
            return
        if self.nbar == 0:
            self.new_high = h
            self.new_low = l
            return
        if self.nbar == 1:
            dp = h - self.new_high
            dm = self.new_low - l
            # initial side from the first -DM: short if the bar moved down more than up
            self.is_long = 0 if (dm > 0 and dp < dm) else 1
            if self.is_long:
                self.ep = h
                self.sar = self.new_low
            else:
                self.ep = l
                self.sar = self.new_high
            self.new_high = h
            self.new_low = l
        prev_low = self.new_low
        prev_high = self.new_high
        self.new_low = l
        self.new_high = h
        if self.is_long:
            if l <= self.sar:                    # penetrated: switch to short at the EP
                self.is_long = 0
                self.sar = self.ep
                if self.sar < prev_high:
                    self.sar = prev_high
                if self.sar < h:
                    self.sar = h
                out[0] = self.sar
                self.af = self.init
                self.ep = l
                self.sar = self.sar + self.af * (self.ep - self.sar)
                if self.sar < prev_high:
                    self.sar = prev_high
                if self.sar < h:
                    self.sar = h
            else:
                out[0] = self.sar
                if h > self.ep:
                    self.ep = h
                    self.af += self.accel
                    if self.af > self.maximum:
                        self.af = self.maximum
                self.sar = self.sar + self.af * (self.ep - self.sar)
                if self.sar > prev_low:
                    self.sar = prev_low
                if self.sar > l:
                    self.sar = l
        else:
            if h >= self.sar:                    # penetrated: switch to long at the EP
                self.is_long = 1
                self.sar = self.ep
                if self.sar > prev_low:
                    self.sar = prev_low
                if self.sar > l:
                    self.sar = l
                out[0] = self.sar
                self.af = self.init
                self.ep = h
                self.sar = self.sar + self.af * (self.ep - self.sar)
                if self.sar > prev_low:
                    self.sar = prev_low
                if self.sar > l:
                    self.sar = l
            else:
                out[0] = self.sar
                if l < self.ep:
                    self.ep = l
                    self.af += self.accel
                    if self.af > self.maximum:
                        self.af = self.maximum
                self.sar = self.sar + self.af * (self.ep - self.sar)
                if self.sar < prev_high:
                    self.sar = prev_high
                if self.sar < h:
                    self.sar = h
        out[1] = 1.0 if self.is_long else -1.0
        if self.is_long:
            out[2] = out[0]
        else:
            out[3] = out[0]
        out[4] = self.af
        # reversal: 1 on the bar the side flipped (0 otherwise)
        out[5] = 1.0 if (self.prev_side != 0 and self.prev_side != <int>out[1]) else 0.0
        self.prev_side = <int>out[1]


cdef class KVortex(Kernel):
    cdef Ring vp, vm, tr
    cdef double sp, sm, st, ph, pl, pc
    cdef int n

    def __init__(self, int length):
        self.n_out = 2
        self.n = length
        self._ring(&self.vp, length)
        self._ring(&self.vm, length)
        self._ring(&self.tr, length)
        self.sp = 0.0
        self.sm = 0.0
        self.st = 0.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        if self.nbar == 0:
            self.ph = h
            self.pl = l
            self.pc = c
            return
        cdef double a = fabs(h - self.pl)        # VM+ = |high - previous low|
        cdef double b = fabs(l - self.ph)        # VM- = |low - previous high|
        cdef double t = true_range(h, l, self.pc)
        self.ph = h
        self.pl = l
        self.pc = c
        cdef double oa = ring_push(&self.vp, a)
        cdef double ob = ring_push(&self.vm, b)
        cdef double ot = ring_push(&self.tr, t)
        self.sp += a
        self.sm += b
        self.st += t
        if not isnan(oa):
            self.sp -= oa
            self.sm -= ob
            self.st -= ot
        if not ring_full(&self.tr):
            return
        out[0] = self.sp / self.st if self.st != 0.0 else 0.0
        out[1] = self.sm / self.st if self.st != 0.0 else 0.0


cdef struct Bb:
    Sma ma
    Ring sq           # squares of the window's values
    double sum2
    double mult
    bint sample
    bint pct

cdef inline double bb_std(Bb* b, double x, double mean) noexcept nogil:
    """Feed x (after the SMA); return the population stddev of the window."""
    cdef double x2 = x * x
    ring_push(&b.sq, x2)
    b.sum2 += x2
    if isnan(mean):
        return NAN
    cdef int n = b.sq.n
    cdef double mean2 = b.sum2 / n
    b.sum2 -= ring_ago(&b.sq, n - 1)
    mean2 -= mean * mean
    if b.sample:
        mean2 = mean2 * n / (n - 1.0)        # sample variance (ddof 1)
    return sqrt(mean2) if mean2 >= 0.00000000000001 else 0.0   # TA-Lib: <= 0 (or ~0) -> 0

cdef inline void bb_bar(Bb* b, double x, double** out, Py_ssize_t i) noexcept nogil:
    """Bands of one more value into out[k][i], k = upper, middle, lower, bandwidth,
    percent_b (NaN in warm-up)."""
    cdef double m = sma_update(&b.ma, x)
    cdef double sd = bb_std(b, x, m)
    cdef int k
    if isnan(m):
        for k in range(5):
            out[k][i] = NAN
        return
    cdef double d = sd * b.mult
    cdef double up = m + d, lo = m - d
    cdef double bw = (up - lo) / m if m != 0.0 else 0.0
    if b.pct:
        bw *= 100.0
    out[0][i] = up
    out[1][i] = m
    out[2][i] = lo
    out[3][i] = bw
    # zero width means every close in the window equals the middle: 0.5
    out[4][i] = (x - lo) / (up - lo) if up != lo else 0.5


cdef class KBbands(Kernel):
    """TA-Lib BBANDS with an SMA: population stddev from the running sum of squares."""
    cdef Bb b

    def __init__(self, int length, double mult, int src=0, bint sample=False, bint pct=False):
        self.n_out = 5
        self.src = src
        self.b.mult = mult
        # pandas-ta's (TRADE's) form: sample deviation, bandwidth in percent
        self.b.sample = sample and length > 1
        self.b.pct = pct
        self._sma(&self.b.ma, length)
        self._ring(&self.b.sq, length)
        self.b.sum2 = 0.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double* cols[5]
        cdef int k
        for k in range(5):
            cols[k] = out + k
        bb_bar(&self.b, pick(self.src, o, h, l, c, v), cols, 0)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Bb b = self.b
        for i in range(n):
            bb_bar(&b, x[i], out, i)
        self.b = b
        free(tmp)
        return True


cdef class KKeltner(Kernel):
    """EMA(close, length) +- mult * band. style 0: the band is Wilder's ATR over
    atr_length (TA-Lib's seed); style 1 (pandas-ta's kc, TRADE's): an EMA of the true
    range over `length`, seeded with the mean of the first `length` true ranges (from
    the second bar), atr_length unused. Same loop, only the band's smoother differs."""
    cdef Smooth mid
    cdef KAtr atr
    cdef double mult

    def __init__(self, int length, double mult, int atr_length, int style=0):
        self.n_out = 3
        self.mult = mult
        ema_init(&self.mid, length)
        if style == 1:
            self.atr = KAtr(length)
            ema_init(&self.atr.a.w, length)
        else:
            self.atr = KAtr(atr_length)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double m = smooth_update(&self.mid, c)
        cdef double a = self.atr._push(h, l, c)
        if isnan(m) or isnan(a):
            return
        out[0] = m + self.mult * a
        out[1] = m
        out[2] = m - self.mult * a


cdef class KDonchian(Kernel):
    cdef MinMax hi, lo

    def __init__(self, int length, int lower_length=0):
        self.n_out = 3
        self._mm(&self.hi, length, True)
        self._mm(&self.lo, lower_length if lower_length > 0 else length, False)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double hh = mm_push(&self.hi, h)
        cdef double ll = mm_push(&self.lo, l)
        if not (mm_full(&self.hi) and mm_full(&self.lo)):
            return
        out[0] = hh
        out[1] = (hh + ll) / 2.0
        out[2] = ll


cdef class KSqueeze(Kernel):
    """LazyBear squeeze: Bollinger inside Keltner (SMA +- mult*SMA(true range)),
    momentum = linreg(close - mean(mean(highest, lowest), SMA(close)), kc_length)."""
    cdef KBbands bb
    cdef Sma kc_mid, kc_rng
    cdef MinMax hi, lo
    cdef KLinreg lr
    cdef double kc_mult, pc

    def __init__(self, int bb_length, double bb_mult, int kc_length, double kc_mult):
        self.n_out = 4
        self.bb = KBbands(bb_length, bb_mult)
        self._sma(&self.kc_mid, kc_length)
        self._sma(&self.kc_rng, kc_length)
        self._mm(&self.hi, kc_length, True)
        self._mm(&self.lo, kc_length, False)
        self.lr = KLinreg(kc_length)
        self.kc_mult = kc_mult
        self.pc = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double buf[5]
        buf[0] = NAN
        buf[2] = NAN
        self.bb.step(ts, o, h, l, c, v, buf)
        cdef double tr = NAN if isnan(self.pc) else true_range(h, l, self.pc)
        self.pc = c
        cdef double mid = sma_update(&self.kc_mid, c)
        cdef double rng = sma_update(&self.kc_rng, tr)
        cdef double hh = mm_push(&self.hi, h)
        cdef double ll = mm_push(&self.lo, l)
        if not isnan(buf[0]) and not isnan(rng):
            # on (1) while the Bollinger bands sit inside the Keltner channel
            out[0] = 1.0 if (buf[2] > mid - self.kc_mult * rng
                             and buf[0] < mid + self.kc_mult * rng) else 0.0
            # off (1) while both bands sit outside it; no_sqz when neither holds (pandas-ta)
            out[2] = 1.0 if (buf[2] < mid - self.kc_mult * rng
                             and buf[0] > mid + self.kc_mult * rng) else 0.0
            out[3] = 1.0 if (out[0] == 0.0 and out[2] == 0.0) else 0.0
        if not isnan(mid):
            out[1] = self.lr._push(c - ((hh + ll) / 2.0 + mid) / 2.0)


# =================================================================== volume

cdef inline double obv_next(double obv, double prev, double c, double v,
                            bint first) noexcept nogil:
    if first:
        return v                          # TA-Lib starts OBV at the first volume
    if c > prev:
        return obv + v
    if c < prev:
        return obv - v
    return obv


cdef class KObv(Kernel):
    cdef double obv, prev

    def __init__(self):
        self.n_out = 1

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        self.obv = obv_next(self.obv, self.prev, c, v, self.nbar == 0)
        self.prev = c
        out[0] = self.obv

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double obv = self.obv, prev = self.prev
        cdef double* o0 = out[0]
        cdef Py_ssize_t i
        for i in range(n):
            obv = obv_next(obv, prev, c[i], v[i], self.nbar + i == 0)
            prev = c[i]
            o0[i] = obv
        self.obv = obv
        self.prev = prev
        return True


cdef class KCmf(Kernel):
    cdef Ring mf, vol
    cdef double smf, sv

    def __init__(self, int length):
        self.n_out = 1
        self._ring(&self.mf, length)
        self._ring(&self.vol, length)
        self.smf = 0.0
        self.sv = 0.0

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        # money-flow multiplier; a bar with no range contributes nothing
        cdef double m = (((c - l) - (h - c)) / (h - l)) * v if h != l else 0.0
        cdef double om = ring_push(&self.mf, m)
        cdef double ov = ring_push(&self.vol, v)
        self.smf += m
        self.sv += v
        if not isnan(om):
            self.smf -= om
            self.sv -= ov
        if not ring_full(&self.mf):
            return
        out[0] = self.smf / self.sv if self.sv != 0.0 else 0.0


# ========================================================= rolling min / max

cdef class KRolling(Kernel):
    """Lowest / highest source value over the last `length` bars. With `partial` (TRADE's
    rolling_window) a value from the first bar on, over the bars so far; without it (TA-Lib
    MIN / MAX) NaN until the window is full."""
    cdef MinMax m
    cdef bint partial

    def __init__(self, int length, bint is_max, int src, bint partial=False):
        self.n_out = 1
        self.src = src
        self.partial = partial
        self._mm(&self.m, length, is_max)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = mm_push(&self.m, pick(self.src, o, h, l, c, v))
        if self.partial or mm_full(&self.m):
            out[0] = x

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef double* tmp = NULL
        cdef const double* x = series(self.src, n, o, h, l, c, v, &tmp)
        cdef Py_ssize_t i
        if x == NULL:
            return False
        cdef Py_ssize_t ff = mm_first_full(&self.m)
        cdef double* o0 = out[0]
        mm_run(&self.m, x, o0, n)
        if not self.partial:
            for i in range(min(ff, n)):
                o0[i] = NAN
        free(tmp)
        return True


# ================================================================ structure

cdef class KSwing(Kernel):
    """Pivot highs/lows. A bar p is a pivot high when its high is strictly above the
    `left` highs before it and not below the `right` highs after it (mirror for lows).
    It is reported at bar p+right, once those bars have closed, never earlier.
    Outputs carry the latest confirmed pivot (level and bar index), counters, the
    confirmed-this-bar flags and the latest high/low pair (see trade.indicators.registry)."""
    cdef int left, right
    cdef Ring rh, rl
    cdef MinMax lh, ll, rmaxh, rminl
    cdef double last_high, last_low, last_high_idx, last_low_idx
    cdef bint new_high, new_low     # set on the bar a pivot is confirmed
    cdef long long version, high_version, low_version, pair_version
    cdef int last_type, pair_direction
    cdef double pair_high, pair_low
    cdef bint equal_right

    def __init__(self, int left, int right, bint equal_right=False):
        self.n_out = 14
        self.left = left
        self.right = right
        self.equal_right = equal_right
        self._ring(&self.rh, right + 2)
        self._ring(&self.rl, right + 2)
        self._mm(&self.lh, left, True)
        self._mm(&self.ll, left, False)
        self._mm(&self.rmaxh, right, True)
        self._mm(&self.rminl, right, False)
        self.last_high = NAN
        self.last_low = NAN
        self.last_high_idx = NAN
        self.last_low_idx = NAN
        self.pair_high = NAN
        self.pair_low = NAN

    cdef void _pivot(self, int kind) noexcept nogil:
        # a pivot of the other kind than the last one completes a high/low pair:
        # low then high is a bullish leg (+1), high then low a bearish one (-1)
        self.version += 1
        if self.last_type != 0 and self.last_type != kind:
            self.pair_high = self.last_high
            self.pair_low = self.last_low
            self.pair_direction = kind
            self.pair_version += 1
        self.last_type = kind

    cdef void _push(self, double h, double l) noexcept nogil:
        cdef long long i = self.nbar
        cdef double rmax, rmin, ch, cl
        cdef double lmax = NAN, lmin = NAN
        self.new_high = False
        self.new_low = False
        ring_push(&self.rh, h)
        ring_push(&self.rl, l)
        rmax = mm_push(&self.rmaxh, h)           # max high over (p, i]
        rmin = mm_push(&self.rminl, l)
        if i >= self.right + 1:
            # feed the left windows with bar p-1 = i-right-1 (delayed)
            lmax = mm_push(&self.lh, ring_ago(&self.rh, self.right + 1))
            lmin = mm_push(&self.ll, ring_ago(&self.rl, self.right + 1))
        if i < self.left + self.right:
            return
        ch = ring_ago(&self.rh, self.right)       # candidate bar p = i - right
        cl = ring_ago(&self.rl, self.right)
        # TRADE's rule: strictly beyond every bar of the window; with equal_right a later
        # equal high (a double top) still leaves the first one a pivot
        if ch > lmax and (ch > rmax or (self.equal_right and ch == rmax)):
            self.last_high = ch
            self.last_high_idx = <double>(i - self.right)
            self.new_high = True
            self.high_version += 1
            self._pivot(1)
        if cl < lmin and (cl < rmin or (self.equal_right and cl == rmin)):
            self.last_low = cl
            self.last_low_idx = <double>(i - self.right)
            self.new_low = True
            self.low_version += 1
            self._pivot(-1)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        self._push(h, l)
        out[0] = self.last_high
        out[1] = self.last_low
        out[2] = self.last_high_idx
        out[3] = self.last_low_idx
        out[4] = <double>self.version
        out[5] = <double>self.high_version
        out[6] = <double>self.low_version
        out[7] = 1.0 if self.new_high else 0.0
        out[8] = 1.0 if self.new_low else 0.0
        out[9] = self.pair_high
        out[10] = self.pair_low
        out[11] = <double>self.pair_direction
        out[12] = <double>self.pair_version
        out[13] = <double>self.last_type


cdef inline int sign3(double a, double b) noexcept nogil:
    return 1 if a > b else (-1 if a < b else 0)


cdef inline int wave_rule(bint hh, bint lh, bint hl, bint ll) noexcept nogil:
    # TRADE's reading of a high wave's and a low wave's comparisons, first match wins
    if hh and hl:
        return 1
    if lh and ll:
        return -1
    if hh and not ll:
        return 1
    if lh and not hl:
        return -1
    if hl and not lh:
        return 1
    if ll and not hh:
        return -1
    return 0


# a completed wave (pivot to opposite pivot) as bits: the end is a high (bullish wave), and
# how its end compares with the previous pivot of the same kind
cdef enum:
    W_BULL = 1
    W_HH = 2
    W_LH = 4
    W_HL = 8
    W_LL = 16


cdef class KTrend(Kernel):
    """Trend from swing pivots. method 0 (waves, TRADE's): pivots form alternating waves
    (low to high bullish, high to low bearish; a second pivot of the pending kind only
    moves the pending end further out); each wave's end is compared with the previous pivot
    of its kind (HH/LH, HL/LL), the last `wave_history` waves are kept, and the newest two
    decide the direction (wave_rule), one wave alone its own direction. strength 2 when the
    wave pair before agrees too, 1 otherwise (0 with one wave or none); wave_count = the
    agreeing pairs (1 with one wave). method 1 (pivots): +1 after a higher high and a
    higher low, -1 after a lower high and a lower low, else 0; strength = how many
    consecutive pivots (highs before lows on the same bar) agreed. bars_in_trend counts
    every bar since the direction last changed (0 on the bar it changed)."""
    cdef KSwing sw
    cdef double ph, pl
    cdef int hdir, ldir, run, direction, wave_dir, method, whist
    cdef long long since, version
    # waves method
    cdef int pend_kind, strength, wave_count, nwaves, wpos
    cdef double pend_level
    cdef bint last_hh, last_hl, last_lh, last_ll, changed
    cdef double* waves

    def __init__(self, int left, int right, bint equal_right=False, int method=0,
                 int wave_history=4):
        self.n_out = 10
        self.sw = KSwing(left, right, equal_right)
        self.method = method
        self.whist = wave_history if wave_history > 0 else 1
        self.waves = self._alloc(self.whist)
        self.ph = NAN
        self.pl = NAN
        self.pend_level = NAN

    cdef void _event(self, int s) noexcept nogil:
        if s == 0:
            self.run = 0                          # an equal pivot breaks the run
        elif (self.run > 0) == (s > 0) and self.run != 0:
            self.run += s
        else:
            self.run = s

    cdef inline int _wave(self, int back) noexcept nogil:
        # the wave `back` places before the newest (0 = newest)
        return <int>self.waves[(self.wpos - 1 - back + 2 * self.whist) % self.whist]

    cdef int _pair_dir(self, int newer, int older) noexcept nogil:
        cdef int hw, lw
        if newer & W_BULL:
            hw = newer
            lw = older
        else:
            hw = older
            lw = newer
        return wave_rule((hw & W_HH) != 0, (hw & W_LH) != 0, (lw & W_HL) != 0,
                         (lw & W_LL) != 0)

    cdef void _classify(self) noexcept nogil:
        cdef int d, cons, i, newest, before, hw, lw
        cdef int n = self.nwaves if self.nwaves < self.whist else self.whist
        if n == 1:
            d = 1 if self._wave(0) & W_BULL else -1
            self.strength = 0
            self.wave_count = 1
        else:
            newest = self._wave(0)
            before = self._wave(1)
            # the newest wave gives one side's comparison, the one before it the other's
            # (only when it is of the other kind, as waves alternate)
            if newest & W_BULL:
                hw = newest
                lw = before if not (before & W_BULL) else 0
            else:
                lw = newest
                hw = before if before & W_BULL else 0
            d = wave_rule((hw & W_HH) != 0, (hw & W_LH) != 0, (lw & W_HL) != 0,
                          (lw & W_LL) != 0)
            if d == 0:
                self.strength = 0
                self.wave_count = 0
            else:
                cons = 1
                i = n - 3                         # older pairs, stepping two waves back
                while i >= 0:
                    if self._pair_dir(self._wave(n - 1 - (i + 1)), self._wave(n - 1 - i)) != d:
                        break
                    cons += 1
                    i -= 2
                self.strength = 2 if cons >= 2 else 1
                self.wave_count = cons
        if d != self.direction:
            self.direction = d
            self.version += 1
            self.changed = True

    cdef void _pivot(self, int kind, double level) noexcept nogil:
        cdef int w
        if self.pend_kind == 0:
            self.pend_kind = kind
            self.pend_level = level
            return
        if kind == self.pend_kind:                # the pending end moves further out only
            if (kind == 1 and level >= self.pend_level) or (kind == -1 and level <= self.pend_level):
                self.pend_level = level
            return
        w = W_BULL if kind == 1 else 0
        if kind == 1 and not isnan(self.ph):
            if level > self.ph:
                w |= W_HH
            elif level < self.ph:
                w |= W_LH
            self.last_hh = (w & W_HH) != 0
            self.last_lh = (w & W_LH) != 0
        elif kind == -1 and not isnan(self.pl):
            if level < self.pl:
                w |= W_LL
            elif level > self.pl:
                w |= W_HL
            self.last_ll = (w & W_LL) != 0
            self.last_hl = (w & W_HL) != 0
        self.waves[self.wpos] = <double>w
        self.wpos = (self.wpos + 1) % self.whist
        self.nwaves += 1
        self.wave_dir = kind
        self.pend_kind = kind
        self.pend_level = level
        self._classify()

    cdef void _step_waves(self, double* out) noexcept nogil:
        self.changed = False
        if self.sw.new_high:
            self._pivot(1, self.sw.last_high)
        if self.sw.new_low:
            self._pivot(-1, self.sw.last_low)
        if self.sw.new_high:
            self.ph = self.sw.last_high
        if self.sw.new_low:
            self.pl = self.sw.last_low
        if self.changed:
            self.since = 0
        else:
            self.since += 1
        out[0] = self.direction
        out[1] = <double>self.strength
        out[2] = <double>self.since
        out[3] = <double>self.wave_count
        out[4] = <double>self.wave_dir
        out[5] = 1.0 if self.last_hh else 0.0
        out[6] = 1.0 if self.last_hl else 0.0
        out[7] = 1.0 if self.last_lh else 0.0
        out[8] = 1.0 if self.last_ll else 0.0
        out[9] = <double>self.version

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef int before = self.direction
        self.sw._push(h, l)
        self.sw.nbar += 1
        if self.method == 0:
            self._step_waves(out)
            return
        if self.sw.new_high:
            if not isnan(self.ph):
                self.hdir = sign3(self.sw.last_high, self.ph)
                self._event(self.hdir)
            self.ph = self.sw.last_high
            self.wave_dir = 1                     # the leg into a high went up
        if self.sw.new_low:
            if not isnan(self.pl):
                self.ldir = sign3(self.sw.last_low, self.pl)
                self._event(self.ldir)
            self.pl = self.sw.last_low
            self.wave_dir = -1
        if self.hdir == 1 and self.ldir == 1:
            self.direction = 1
        elif self.hdir == -1 and self.ldir == -1:
            self.direction = -1
        else:
            self.direction = 0
        if self.direction != before:
            self.version += 1
            self.since = 0
        else:
            self.since += 1
        out[0] = self.direction
        out[1] = fabs(<double>self.run) if self.direction != 0 else 0.0
        out[2] = <double>self.since
        out[3] = fabs(<double>self.run)
        out[4] = <double>self.wave_dir
        out[5] = 1.0 if self.hdir == 1 else 0.0
        out[6] = 1.0 if self.ldir == 1 else 0.0
        out[7] = 1.0 if self.hdir == -1 else 0.0
        out[8] = 1.0 if self.ldir == -1 else 0.0
        out[9] = <double>self.version


cdef class KMarketStructure(Kernel):
    """Breaks of swing levels by the close (or, with close_break off, by the high/low), TRADE's
    state machine: with a bias, a break against it is checked first and is a change of
    character (choch = +1 up / -1 down, the bias turns); else a break with it is a break of
    structure (bos). With no bias yet the first break up (else down) is a bos and sets it. At
    most one event per bar. A BOS breaks the latest swing level on its side; it then waits
    for a newly confirmed pivot there (hi / lo, TRADE's break_level_high/low).

    Which level a CHoCH breaks (anchor_mode):
    1 (TRADE's, "bos"): the anchor, the latest opposing swing at the moment of the last BOS,
      and also (our fix of TRADE's detector, which clears it) at the moment of the last
      CHoCH, so the bias can turn back without waiting for a new BOS;
    0 ("latest", trade's earlier rule and TRADE's before the anchor): the latest unbroken
      swing level on the side against the bias, as for a BOS.
    `level` carries the most recently broken level. The remaining outputs are TRADE's names
    for the same events: flags of this bar, the sticky direction of the last BOS/CHoCH, their
    bars and levels, the BOS levels being watched and an event counter."""
    cdef KSwing sw
    cdef double hi, lo, level, bos_idx, bos_level, choch_idx, choch_level
    cdef double last_h, last_l, anchor
    cdef int bias, bos_dir, choch_dir, anchor_mode
    cdef bint close_break
    cdef long long version

    def __init__(self, int left, int right, bint close_break=False, bint equal_right=False,
                 int anchor_mode=0):
        self.n_out = 15
        self.sw = KSwing(left, right, equal_right)
        self.close_break = close_break
        self.anchor_mode = anchor_mode
        self.hi = NAN
        self.lo = NAN
        self.last_h = NAN
        self.last_l = NAN
        self.anchor = NAN
        self.level = NAN
        self.bos_idx = NAN
        self.bos_level = NAN
        self.choch_idx = NAN
        self.choch_level = NAN

    cdef void _mark(self, int d, bint is_bos, double lvl, double* out) noexcept nogil:
        if is_bos:
            self.bos_dir = d
            self.bos_idx = <double>self.nbar
            self.bos_level = lvl
            out[0] = <double>d
        else:
            self.choch_dir = d
            self.choch_idx = <double>self.nbar
            self.choch_level = lvl
            out[1] = <double>d
        self.bias = d
        self.level = lvl
        if d == 1:
            self.hi = NAN
            if self.anchor_mode == 1:
                # the opposing swing now is what a CHoCH must break next (TRADE sets it on a
                # BOS only; on a CHoCH it clears it, so the bias could not turn back)
                if not isnan(self.last_l):
                    self.anchor = self.last_l
                elif not is_bos:
                    self.anchor = NAN
        else:
            self.lo = NAN
            if self.anchor_mode == 1:
                if not isnan(self.last_h):
                    self.anchor = self.last_h
                elif not is_bos:
                    self.anchor = NAN
        self.version += 1

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double up = c if self.close_break else h
        cdef double dn = c if self.close_break else l
        cdef bint up_break, dn_break, up_choch, dn_choch
        self.sw._push(h, l)
        self.sw.nbar += 1
        if self.sw.new_high:
            self.hi = self.sw.last_high           # a newly confirmed pivot replaces the level
            self.last_h = self.sw.last_high
        if self.sw.new_low:
            self.lo = self.sw.last_low
            self.last_l = self.sw.last_low
        out[0] = 0.0
        out[1] = 0.0
        up_break = not isnan(self.hi) and up > self.hi
        dn_break = not isnan(self.lo) and dn < self.lo
        if self.anchor_mode == 1:
            up_choch = not isnan(self.anchor) and up > self.anchor
            dn_choch = not isnan(self.anchor) and dn < self.anchor
        else:
            up_choch = up_break
            dn_choch = dn_break
        if self.bias == 1:
            if dn_choch:
                self._mark(-1, False, self.anchor if self.anchor_mode == 1 else self.lo, out)
            elif up_break:
                self._mark(1, True, self.hi, out)
        elif self.bias == -1:
            if up_choch:
                self._mark(1, False, self.anchor if self.anchor_mode == 1 else self.hi, out)
            elif dn_break:
                self._mark(-1, True, self.lo, out)
        elif up_break:
            self._mark(1, True, self.hi, out)
        elif dn_break:
            self._mark(-1, True, self.lo, out)
        out[2] = self.level
        out[3] = <double>self.bias
        out[4] = 1.0 if out[0] != 0.0 else 0.0
        out[5] = 1.0 if out[1] != 0.0 else 0.0
        out[6] = <double>self.bos_dir
        out[7] = <double>self.choch_dir
        out[8] = self.bos_idx
        out[9] = self.bos_level
        out[10] = self.choch_idx
        out[11] = self.choch_level
        out[12] = self.hi
        out[13] = self.lo
        out[14] = <double>self.version


# ======================================================= added for TRADE's dialect

cdef inline double midprice_of(double hh, double ll) noexcept nogil:
    return (hh + ll) / 2.0

cdef inline double midprice_bar(MinMax* hi, MinMax* lo, double h, double l) noexcept nogil:
    cdef double hh = mm_push(hi, h)
    cdef double ll = mm_push(lo, l)
    return midprice_of(hh, ll) if mm_full(hi) else NAN


cdef class KMidprice(Kernel):
    """TA-Lib MIDPRICE: (highest high + lowest low) / 2 over the window."""
    cdef MinMax hi, lo

    def __init__(self, int length):
        self.n_out = 1
        self._mm(&self.hi, length, True)
        self._mm(&self.lo, length, False)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        out[0] = midprice_bar(&self.hi, &self.lo, h, l)

    cdef bint batch(self, Py_ssize_t n, const double* ts, const double* o, const double* h,
                    const double* l, const double* c, const double* v,
                    double** out) noexcept nogil:
        cdef Py_ssize_t ch = hl_chunk(&self.hi, n), ff = mm_first_full(&self.hi)
        cdef Py_ssize_t b = 0, e, i
        cdef double* o0 = out[0]
        cdef double* hh = <double*>malloc(ch * sizeof(double))
        if hh == NULL:
            return False
        while b < n:                 # per chunk: highest high, lowest low, then the mid
            e = b + ch if n - b > ch else n
            mm_run(&self.hi, h + b, hh, e - b)
            mm_run(&self.lo, l + b, o0 + b, e - b)
            i = b
            while i < e and i < ff:
                o0[i] = NAN
                i += 1
            for i in range(i, e):
                o0[i] = midprice_of(hh[i - b], o0[i])
            b = e
        free(hh)
        return True


cdef class KDm(Kernel):
    """TA-Lib PLUS_DM / MINUS_DM: Wilder sums of directional movement, seeded with the
    sum of the first length-1 moves (length 1: the raw move)."""
    cdef int n
    cdef double ph, pl, pdm, mdm
    cdef long long k

    def __init__(self, int length):
        self.n_out = 2
        self.n = length

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double ap, am
        if self.nbar == 0:
            self.ph = h
            self.pl = l
            return
        self.k += 1
        dm_split(h, l, self.ph, self.pl, &ap, &am)
        self.ph = h
        self.pl = l
        if self.n == 1:
            out[0] = ap
            out[1] = am
            return
        if self.k >= self.n:
            self.pdm = self.pdm - self.pdm / self.n + ap
            self.mdm = self.mdm - self.mdm / self.n + am
        else:
            self.pdm += ap
            self.mdm += am
        if self.k >= self.n - 1:
            out[0] = self.pdm
            out[1] = self.mdm


cdef class KUo(Kernel):
    """TA-Lib ULTOSC: 100 * (4*A(fast) + 2*A(medium) + A(slow)) / 7, A(n) = sum of buying
    pressure / sum of true range over n bars; a window with zero range adds nothing."""
    cdef Ring bp, tr
    cdef int n1, n2, n3
    cdef double pc

    def __init__(self, int fast, int medium, int slow):
        self.n_out = 1
        self.n1 = fast
        self.n2 = medium
        self.n3 = slow
        cdef int m = fast if fast > medium else medium
        m = m if m > slow else slow
        self._ring(&self.bp, m)
        self._ring(&self.tr, m)
        self.pc = NAN

    cdef double _avg(self, int n) noexcept nogil:
        cdef double a = 0.0, b = 0.0
        cdef int i
        for i in range(n):
            a += ring_ago(&self.bp, i)
            b += ring_ago(&self.tr, i)
        return a / b if not TA_IS_ZERO(b) else NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        if isnan(self.pc):
            self.pc = c
            return
        cdef double lo = l if l < self.pc else self.pc
        cdef double hi = h if h > self.pc else self.pc
        self.pc = c
        ring_push(&self.bp, c - lo)
        ring_push(&self.tr, hi - lo)
        if not ring_full(&self.bp):
            return
        cdef double s = 0.0, a
        a = self._avg(self.n1)
        if not isnan(a):
            s += 4.0 * a
        a = self._avg(self.n2)
        if not isnan(a):
            s += 2.0 * a
        a = self._avg(self.n3)
        if not isnan(a):
            s += a
        out[0] = 100.0 * (s / 7.0)


cdef class KKvo(Kernel):
    """Klinger volume oscillator in pandas-ta's form: signed volume = volume times the
    sign of the hlc3 change (the first bar counts as up); kvo = EMA(fast) - EMA(slow) of
    it, signal = EMA(signal) of kvo; EMAs seeded with the SMA of their first values."""
    cdef Smooth f, s, sig
    cdef double prev

    def __init__(self, int fast, int slow, int signal):
        self.n_out = 2
        ema_init(&self.f, fast)
        ema_init(&self.s, slow)
        ema_init(&self.sig, signal)
        self.prev = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double x = (h + l + c) / 3.0
        cdef double sgn = 1.0
        if not isnan(self.prev):
            sgn = 1.0 if x > self.prev else (-1.0 if x < self.prev else 0.0)
        self.prev = x
        cdef double a = smooth_update(&self.f, sgn * v)
        cdef double b = smooth_update(&self.s, sgn * v)
        if isnan(a) or isnan(b):
            return
        out[0] = a - b
        out[1] = smooth_update(&self.sig, out[0])


cdef long long NO_SESSION = -(1 << 62)


cdef class KSessionLevels(Kernel):
    """Previous and running UTC-day highs/lows and the previous ISO week's (TRADE's
    session_levels). A bar belongs to the day/week of its open time; on the first bar of a
    new day the running levels become the previous ones."""
    cdef long long day, week
    cdef double dh, dl, pdh, pdl, wh, wl, pwh, pwl

    def __init__(self):
        self.n_out = 6
        self.day = NO_SESSION
        self.week = NO_SESSION
        self.dh = NAN
        self.dl = NAN
        self.pdh = NAN
        self.pdl = NAN
        self.wh = NAN
        self.wl = NAN
        self.pwh = NAN
        self.pwl = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef long long d = <long long>floor(ts / 86400000.0)
        cdef long long w = (d + 3) // 7          # weeks start on Monday (1970-01-01: Thursday)
        if d != self.day:
            if self.day != NO_SESSION:
                self.pdh = self.dh
                self.pdl = self.dl
            self.day = d
            self.dh = h
            self.dl = l
        else:
            self.dh = h if h > self.dh else self.dh
            self.dl = l if l < self.dl else self.dl
        if w != self.week:
            if self.week != NO_SESSION:
                self.pwh = self.wh
                self.pwl = self.wl
            self.week = w
            self.wh = h
            self.wl = l
        else:
            self.wh = h if h > self.wh else self.wh
            self.wl = l if l < self.wl else self.wl
        out[0] = self.pdh
        out[1] = self.pdl
        out[2] = self.dh
        out[3] = self.dl
        out[4] = self.pwh
        out[5] = self.pwl


cdef class KAnchoredVwap(Kernel):
    """VWAP of hlc3 restarted on swing events (TRADE's anchored_vwap): source 0 a swing
    high, 1 a swing low, 2 either, 3 a completed pair ending on a high, 4 on a low, 5 any
    completed pair. The restart happens on the bar the event is confirmed and includes it;
    bars_since_anchor counts that bar as 1 (before any event: bars since the first)."""
    cdef KSwing sw
    cdef int source
    cdef long long hv, lv, pv, since
    cdef double cum_pv, cum_v

    def __init__(self, int source, int left, int right):
        self.n_out = 2
        self.source = source
        self.sw = KSwing(left, right)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef bint reset = False
        self.sw._push(h, l)
        self.sw.nbar += 1
        if self.source <= 2:
            if self.source != 1 and self.sw.high_version > self.hv:
                reset = True
            if self.source != 0 and self.sw.low_version > self.lv:
                reset = True
        elif self.sw.pair_version > self.pv:
            if self.source == 5:
                reset = True
            elif self.source == 3 and self.sw.pair_direction == 1:
                reset = True                     # low -> high: the pair ends on a high
            elif self.source == 4 and self.sw.pair_direction == -1:
                reset = True
        self.hv = self.sw.high_version
        self.lv = self.sw.low_version
        self.pv = self.sw.pair_version
        if reset:
            self.cum_pv = 0.0
            self.cum_v = 0.0
            self.since = 0
        self.since += 1
        self.cum_pv += ((h + l + c) / 3.0) * v
        self.cum_v += v
        out[0] = self.cum_pv / self.cum_v if self.cum_v > 0 else NAN
        out[1] = <double>self.since


cdef class KVolumeProfile(Kernel):
    """Volume by price over the last `lookback` bars (TRADE's volume_profile): the window's
    [lowest low, highest high] split into `buckets` equal buckets, each bar's volume spread
    over the buckets its range covers in proportion to the overlap (a bar with no range puts
    it in its bucket). poc = centre of the fullest bucket (the lowest on a tie); the value
    area grows from it, one bucket at a time toward the fuller neighbour (upward on a tie),
    until it holds `va_pct` of the volume: vah / val are its edges. With `anchored`, the
    window also restarts on every completed swing pair (TRADE's anchored_volume_profile).
    O(lookback x buckets) per bar."""
    cdef Ring rh, rl, rv
    cdef int lookback, nb
    cdef double va
    cdef double* vol
    cdef bint anchored
    cdef KSwing sw
    cdef long long pv, since

    def __init__(self, int buckets, int lookback, double va_pct, bint anchored=False,
                 int left=5, int right=5):
        self.n_out = 7 if anchored else 6         # bars_since_anchor only when anchored
        self.nb = buckets
        self.lookback = lookback
        self.va = va_pct
        self._ring(&self.rh, lookback)
        self._ring(&self.rl, lookback)
        self._ring(&self.rv, lookback)
        self.vol = self._alloc(buckets)
        self.anchored = anchored
        self.sw = KSwing(left, right)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef int i, j, k, n, lo_b, hi_b
        cdef double lo, hi, width, bl, bh, a, b, share, total = 0.0, best = -1.0, acc
        if self.anchored:
            self.sw._push(h, l)
            self.sw.nbar += 1
            if self.sw.pair_version > self.pv:
                self.since = 0                   # a completed pair restarts the profile
            self.pv = self.sw.pair_version
        self.since += 1
        ring_push(&self.rh, h)
        ring_push(&self.rl, l)
        ring_push(&self.rv, v)
        n = <int>(self.rh.count if self.rh.count < self.lookback else self.lookback)
        if self.anchored:
            if self.since < n:
                n = <int>self.since
        elif n < self.lookback:
            return
        lo = ring_ago(&self.rl, 0)
        hi = ring_ago(&self.rh, 0)
        for k in range(1, n):
            a = ring_ago(&self.rl, k)
            b = ring_ago(&self.rh, k)
            lo = a if a < lo else lo
            hi = b if b > hi else hi
        for j in range(self.nb):
            self.vol[j] = 0.0
        width = (hi - lo) / self.nb
        for k in range(n):
            a = ring_ago(&self.rl, k)
            b = ring_ago(&self.rh, k)
            v = ring_ago(&self.rv, k)
            total += v
            if width <= 0.0:
                self.vol[0] += v
                continue
            lo_b = <int>floor((a - lo) / width)
            hi_b = <int>floor((b - lo) / width)
            lo_b = 0 if lo_b < 0 else (self.nb - 1 if lo_b >= self.nb else lo_b)
            hi_b = 0 if hi_b < 0 else (self.nb - 1 if hi_b >= self.nb else hi_b)
            if b <= a or lo_b == hi_b:
                self.vol[lo_b] += v
                continue
            for j in range(lo_b, hi_b + 1):
                bl = lo + j * width
                bh = bl + width
                share = (bh if bh < b else b) - (bl if bl > a else a)
                if share > 0.0:
                    self.vol[j] += v * (share / (b - a))
        k = 0
        for j in range(self.nb):
            if self.vol[j] > best:
                best = self.vol[j]
                k = j
        lo_b = k
        hi_b = k
        acc = self.vol[k]
        while acc < self.va * total and (lo_b > 0 or hi_b < self.nb - 1):
            a = self.vol[lo_b - 1] if lo_b > 0 else -1.0
            b = self.vol[hi_b + 1] if hi_b < self.nb - 1 else -1.0
            if b >= a:
                hi_b += 1
                acc += b
            else:
                lo_b -= 1
                acc += a
        width = width if width > 0.0 else 0.0
        out[0] = lo + (k + 0.5) * width
        out[1] = lo + (hi_b + 1) * width
        out[2] = lo + lo_b * width
        out[3] = best
        out[4] = 1.0 if c > out[0] else 0.0
        out[5] = 1.0 if (out[2] <= c <= out[1]) else 0.0
        if self.anchored:
            out[6] = <double>self.since


# ================================================= TRADE's structure detectors

cdef class KFibonacci(Kernel):
    """Fibonacci levels from swing anchors (TRADE's fibonacci). Anchor modes: 0 paired (the
    latest completed high/low pair, refreshed when a pair completes), 1 unpaired (the latest
    swing high and low once both exist, refreshed when either pivot changes), 2 trend (the
    latest pair while the trend has a direction, frozen while it is 0; refreshed on a trend
    or pair change; the trend's direction is the anchor's, for extension too).
    level = high - ratio * range for mode 0 retracement; 1 extension (a bullish anchor
    projects above the high: high + ratio * range; a bearish one below the low: low -
    ratio * range); 2 extension_up (high + ratio * range); 3 extension_down (low - ratio *
    range). Outputs: one level per ratio, anchor_high, anchor_low, range, anchor_direction
    (+1 bullish, -1 bearish, 0 none), anchor_trend_direction."""
    cdef KTrend tr
    cdef double* ratios
    cdef int nlev, mode, anchor
    cdef double hi, lo, adir, tdir
    cdef long long last_pv, last_tv, last_hi_idx, last_lo_idx

    def __init__(self, levels, int mode, int anchor, int left, int right):
        self.nlev = len(levels)
        self.n_out = self.nlev + 5
        self.ratios = self._alloc(self.nlev)
        for i, r in enumerate(levels):
            self.ratios[i] = float(r)
        self.mode = mode
        self.anchor = anchor
        self.tr = KTrend(left, right)
        self.hi = NAN
        self.lo = NAN
        self.last_pv = -1
        self.last_tv = -1
        self.last_hi_idx = -2
        self.last_lo_idx = -2

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double tbuf[10]
        cdef long long hi_i, lo_i
        cdef int i
        cdef double rng, x, r
        self.tr.step(ts, o, h, l, c, v, tbuf)
        self.tr.nbar += 1
        if self.anchor == 0:
            if self.tr.sw.pair_version != self.last_pv:     # a completed pair re-anchors
                self.last_pv = self.tr.sw.pair_version
                self.hi = self.tr.sw.pair_high
                self.lo = self.tr.sw.pair_low
                self.adir = <double>self.tr.sw.pair_direction
        elif self.anchor == 1:
            hi_i = -1 if isnan(self.tr.sw.last_high_idx) else <long long>self.tr.sw.last_high_idx
            lo_i = -1 if isnan(self.tr.sw.last_low_idx) else <long long>self.tr.sw.last_low_idx
            if hi_i != self.last_hi_idx or lo_i != self.last_lo_idx:
                self.last_hi_idx = hi_i
                self.last_lo_idx = lo_i
                if not (isnan(self.tr.sw.last_high) or isnan(self.tr.sw.last_low)):
                    self.hi = self.tr.sw.last_high   # once both a high and a low exist
                    self.lo = self.tr.sw.last_low
        else:
            if self.tr.version != self.last_tv or self.tr.sw.pair_version != self.last_pv:
                self.last_tv = self.tr.version
                self.last_pv = self.tr.sw.pair_version
                if self.tr.direction != 0 and not (isnan(self.tr.sw.pair_high)
                                                   or isnan(self.tr.sw.pair_low)):
                    self.hi = self.tr.sw.pair_high  # ranging keeps the last anchors
                    self.lo = self.tr.sw.pair_low
                    self.adir = <double>self.tr.direction   # the trend names the anchor
                    self.tdir = <double>self.tr.direction
        rng = self.hi - self.lo
        for i in range(self.nlev):
            r = self.ratios[i]
            if self.mode == 0:
                x = self.hi - r * rng
            elif self.mode == 2 or (self.mode == 1 and self.adir >= 0):
                x = self.hi + r * rng
            else:
                x = self.lo - r * rng
            out[i] = x
        out[self.nlev] = self.hi
        out[self.nlev + 1] = self.lo
        out[self.nlev + 2] = rng
        out[self.nlev + 3] = self.adir
        out[self.nlev + 4] = self.tdir


cdef class KPremiumDiscount(Kernel):
    """ICT premium/discount of the close within the latest swing pair (TRADE's
    premium_discount): equilibrium = the pair's midpoint, premium_level / discount_level =
    75 % / 25 % of the way up; zone = +1 premium (close >= premium_level), -1 discount
    (close <= discount_level), 2 equilibrium (between, or a pair with no range), 0 none (no
    pair yet); depth_pct = (close - low) / range clamped to [0, 1]; version counts zone
    changes."""
    cdef KSwing sw
    cdef int zone
    cdef long long version

    def __init__(self, int left, int right):
        self.n_out = 6
        self.sw = KSwing(left, right)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double hi, lo, span, d
        cdef int z = 0
        self.sw._push(h, l)
        self.sw.nbar += 1
        hi = self.sw.pair_high
        lo = self.sw.pair_low
        if not (isnan(hi) or isnan(lo)):
            span = hi - lo
            if span <= 0:
                out[0] = hi
                out[1] = hi
                out[2] = lo
                out[4] = 0.5
                z = 2
            else:
                out[0] = lo + 0.5 * span
                out[1] = lo + 0.75 * span
                out[2] = lo + 0.25 * span
                z = 1 if c >= out[1] else (-1 if c <= out[2] else 2)
                d = (c - lo) / span
                out[4] = 0.0 if d < 0.0 else (1.0 if d > 1.0 else d)
        if z != self.zone:
            self.version += 1
            self.zone = z
        out[3] = <double>z
        out[5] = <double>self.version


cdef class KDisplacement(Kernel):
    """An impulsive candle (TRADE's displacement): body >= body_atr_min x ATR and wicks <=
    wick_ratio_max x body. direction +1 up / -1 down on such a bar (else 0); body_atr_ratio
    and wick_ratio of every bar with an ATR (NaN while it warms up; a doji: 0 and infinity);
    last_idx / last_direction of the latest one; version counts them. ATR: Wilder over
    atr_length (the Play's atr feature)."""
    cdef KAtr atr
    cdef double body_min, wick_max, last_idx, last_dir
    cdef long long version

    def __init__(self, int atr_length, double body_atr_min, double wick_ratio_max):
        self.n_out = 7
        self.atr = KAtr(atr_length)
        self.body_min = body_atr_min
        self.wick_max = wick_ratio_max
        self.last_idx = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double a = self.atr._push(h, l, c)
        cdef double body = fabs(c - o)
        cdef double top = c if c > o else o
        cdef double bot = o if c > o else c
        cdef double wicks = (h - top) + (bot - l)
        cdef bint hit = False
        out[0] = 0.0
        out[1] = 0.0
        if not isnan(a) and a > 0:                   # both ratios need an ATR (TRADE's)
            out[2] = body / a
            out[3] = wicks / body if body > 0 else INFINITY   # a doji: infinite wicks
        if not isnan(a) and a > 0 and body > 0:
            hit = body / a >= self.body_min and wicks / body <= self.wick_max
        if hit:
            out[0] = 1.0
            out[1] = 1.0 if c > o else -1.0
            self.last_idx = <double>self.nbar
            self.last_dir = out[1]
            self.version += 1
        out[4] = self.last_idx
        out[5] = self.last_dir
        out[6] = <double>self.version


cdef class KLiquidityZones(Kernel):
    """Pools of resting liquidity at clustered swing highs/lows (TRADE's liquidity_zones).
    Each new swing pivot joins the last `history` pivots of its side; when at least
    `min_touches` of them (itself included) lie within tolerance_atr x ATR of it, their mean
    is a zone (an active zone of that side within the tolerance is updated instead; at most
    `max_active` per side, the oldest dropped). A high zone is swept when a bar's high
    exceeds it by sweep_atr x ATR (sweep_direction +1: bearish), a low zone when the low
    undercuts it (-1: bullish); swept zones are removed. Without an ATR nothing forms or
    sweeps. nearest_* = the active zone of each side closest to the close."""
    cdef KSwing sw
    cdef KAtr atr
    cdef double tol, sweep
    cdef int min_touches, max_active, hist
    cdef double* sh         # swing-high history (ring of `hist`)
    cdef double* sl
    cdef int nsh, psh, nsl, psl
    cdef double* zl         # zones: level, touches, side (+1 high / -1 low), age stamp
    cdef double* zt
    cdef double* zs
    cdef double* za
    cdef int nz
    cdef double hi_idx, lo_idx, stamp
    cdef long long version

    def __init__(self, int left, int right, int atr_length, double tolerance_atr,
                 double sweep_atr, int min_touches, int max_active, int history):
        self.n_out = 9
        self.sw = KSwing(left, right)
        self.atr = KAtr(atr_length)
        self.tol = tolerance_atr
        self.sweep = sweep_atr
        self.min_touches = min_touches
        self.max_active = max_active
        self.hist = history
        self.sh = self._alloc(history)
        self.sl = self._alloc(history)
        self.zl = self._alloc(2 * max_active + 2)
        self.zt = self._alloc(2 * max_active + 2)
        self.zs = self._alloc(2 * max_active + 2)
        self.za = self._alloc(2 * max_active + 2)
        self.hi_idx = NAN
        self.lo_idx = NAN

    cdef void _drop(self, int i) noexcept nogil:
        cdef int j
        for j in range(i, self.nz - 1):
            self.zl[j] = self.zl[j + 1]
            self.zt[j] = self.zt[j + 1]
            self.zs[j] = self.zs[j + 1]
            self.za[j] = self.za[j + 1]
        self.nz -= 1

    cdef bint _form(self, double side, double a) noexcept nogil:
        cdef double* buf = self.sh if side > 0 else self.sl
        cdef int n = self.nsh if side > 0 else self.nsl
        cdef int pos = self.psh if side > 0 else self.psl
        cdef int i, k, cnt = 1, oldest = -1
        cdef double newest, total, level, tol = self.tol * a
        if n < self.min_touches:
            return False
        newest = buf[(pos - 1 + self.hist) % self.hist]
        total = newest
        for k in range(1, n):                    # the other pivots of the history, oldest first
            i = (pos - 1 - (n - k) + 2 * self.hist) % self.hist
            if fabs(buf[i] - newest) <= tol:
                total += buf[i]
                cnt += 1
        if cnt < self.min_touches:
            return False
        level = total / cnt
        for i in range(self.nz):
            if self.zs[i] == side and fabs(self.zl[i] - level) <= tol:
                self.zl[i] = level               # an existing zone there is refreshed
                self.zt[i] = cnt
                return False
        self.zl[self.nz] = level
        self.zt[self.nz] = cnt
        self.zs[self.nz] = side
        self.za[self.nz] = self.stamp
        self.stamp += 1
        self.nz += 1
        self.version += 1
        cnt = 0
        for i in range(self.nz):
            if self.zs[i] == side:
                cnt += 1
        while cnt > self.max_active:
            for i in range(self.nz):             # the oldest zone of this side goes
                if self.zs[i] == side:
                    self._drop(i)
                    cnt -= 1
                    break
        return True

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double a = self.atr._push(h, l, c)
        cdef double dist, best_h = INFINITY, best_l = INFINITY
        cdef bint new_zone = False
        cdef int i
        self.sw._push(h, l)
        self.sw.nbar += 1
        out[0] = 0.0
        out[1] = 0.0
        out[2] = 0.0
        out[3] = NAN
        if not isnan(a) and a > 0:
            # a pivot not yet recorded (also one confirmed while the ATR was warming up)
            if not isnan(self.sw.last_high_idx) and self.sw.last_high_idx != self.hi_idx:
                self.hi_idx = self.sw.last_high_idx
                self.sh[self.psh] = self.sw.last_high
                self.psh = (self.psh + 1) % self.hist
                self.nsh = self.nsh + 1 if self.nsh < self.hist else self.hist
                new_zone = self._form(1.0, a) or new_zone
            if not isnan(self.sw.last_low_idx) and self.sw.last_low_idx != self.lo_idx:
                self.lo_idx = self.sw.last_low_idx
                self.sl[self.psl] = self.sw.last_low
                self.psl = (self.psl + 1) % self.hist
                self.nsl = self.nsl + 1 if self.nsl < self.hist else self.hist
                new_zone = self._form(-1.0, a) or new_zone
            i = 0
            while i < self.nz:
                if ((self.zs[i] > 0 and h > self.zl[i] + self.sweep * a)
                        or (self.zs[i] < 0 and l < self.zl[i] - self.sweep * a)):
                    out[1] = 1.0
                    out[2] = self.zs[i]          # +1 highs swept (bearish), -1 lows (bullish)
                    out[3] = self.zl[i]
                    self.version += 1
                    self._drop(i)
                    continue
                i += 1
        out[0] = 1.0 if new_zone else 0.0
        out[4] = NAN
        out[5] = NAN
        out[6] = 0.0
        out[7] = 0.0
        for i in range(self.nz):
            dist = fabs(self.zl[i] - c)
            if self.zs[i] > 0 and dist < best_h:
                best_h = dist
                out[4] = self.zl[i]
                out[6] = self.zt[i]
            elif self.zs[i] < 0 and dist < best_l:
                best_l = dist
                out[5] = self.zl[i]
                out[7] = self.zt[i]
        out[8] = <double>self.version


cdef class KZone(Kernel):
    """One demand (below a swing low) or supply (above a swing high) zone, width_atr x ATR
    wide (0 while the ATR warms up) (TRADE's zone). A new pivot of its side opens a new
    active zone; a close beyond its far edge breaks it. state: 0 none, 1 active, 2 broken;
    version counts those changes."""
    cdef KSwing sw
    cdef KAtr atr
    cdef bint supply
    cdef double width, upper, lower, anchor, last_idx
    cdef int state
    cdef long long version

    def __init__(self, int left, int right, bint supply, double width_atr, int atr_length):
        self.n_out = 5
        self.sw = KSwing(left, right)
        self.atr = KAtr(atr_length)
        self.supply = supply
        self.width = width_atr
        self.upper = NAN
        self.lower = NAN
        self.anchor = NAN
        self.last_idx = NAN

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double a = self.atr._push(h, l, c)
        cdef double idx, level, w
        self.sw._push(h, l)
        self.sw.nbar += 1
        idx = self.sw.last_high_idx if self.supply else self.sw.last_low_idx
        if not isnan(idx) and idx != self.last_idx:   # a new pivot of its side: a new zone
            self.last_idx = idx
            level = self.sw.last_high if self.supply else self.sw.last_low
            w = 0.0 if isnan(a) else a * self.width
            if self.supply:
                self.lower = level
                self.upper = level + w
            else:
                self.lower = level - w
                self.upper = level
            self.state = 1
            self.anchor = idx
            self.version += 1
        if self.state == 1 and ((not self.supply and c < self.lower)
                                or (self.supply and c > self.upper)):
            self.state = 2                           # closed beyond the far edge: broken
            self.version += 1
        out[0] = <double>self.state
        out[1] = self.upper
        out[2] = self.lower
        out[3] = self.anchor
        out[4] = <double>self.version


cdef inline void _nearest_active_zones(const double* st, const double* up, const double* lo,
                                       const double* dr, int n, double c,
                                       double* out, const double* fill=NULL,
                                       double* fill_out=NULL) noexcept nogil:
    """Of the active zones (st == 1), the bullish (dr > 0) and bearish ones whose midpoint is
    nearest the close: out[4], out[5] = bullish upper, lower; out[6], out[7] = bearish;
    out[8], out[9] = how many of each are active (shared by FVG, order and breaker blocks).
    With `fill` (FVG): fill_out[0], fill_out[1] = how much of the nearest bullish / bearish
    zone has been filled, in percent (NaN without one)."""
    cdef double mid, dist, best_b = INFINITY, best_s = INFINITY
    cdef int j, nb = 0, ns = 0
    if fill_out != NULL:
        fill_out[0] = NAN
        fill_out[1] = NAN
    for j in range(n):
        if st[j] != 1.0:
            continue
        mid = (up[j] + lo[j]) / 2.0
        dist = fabs(c - mid)
        if dr[j] > 0:
            nb += 1
            if dist < best_b:  # strictly nearer: of two equally near, the older one stays
                best_b = dist
                out[4] = up[j]
                out[5] = lo[j]
                if fill_out != NULL:
                    fill_out[0] = fill[j] * 100.0
        else:
            ns += 1
            if dist < best_s:
                best_s = dist
                out[6] = up[j]
                out[7] = lo[j]
                if fill_out != NULL:
                    fill_out[1] = fill[j] * 100.0
    out[8] = <double>nb
    out[9] = <double>ns


cdef class KFairValueGap(Kernel):
    """Three-candle imbalances (TRADE's fair_value_gap): bullish when the third bar's low is
    above the first's high (gap [high1, low3]), bearish when its high is below the first's
    low. Gaps under min_gap_atr x ATR are ignored (with min_gap_atr > 0). A gap is mitigated
    once price has filled half of it, invalidated by a close beyond its far edge; the newest
    `max_active` gaps are kept. nearest_* = the active gap of each side whose midpoint is
    closest to the close; nearest_*_fill_pct = how much of it has been filled (0..100, the
    deepest retrace into it so far)."""
    cdef KAtr atr
    cdef double min_gap
    cdef int cap, n
    cdef double* up
    cdef double* lo
    cdef double* dr
    cdef double* st          # 1 active, 2 mitigated, 3 invalidated
    cdef double* fill
    cdef double h1, l1, h2, l2
    cdef long long version

    def __init__(self, int atr_length, double min_gap_atr, int max_active):
        self.n_out = 14
        self.atr = KAtr(atr_length)
        self.min_gap = min_gap_atr
        self.cap = max_active
        self.up = self._alloc(max_active + 1)
        self.lo = self._alloc(max_active + 1)
        self.dr = self._alloc(max_active + 1)
        self.st = self._alloc(max_active + 1)
        self.fill = self._alloc(max_active + 1)
        self.h1 = NAN
        self.l1 = NAN
        self.h2 = NAN
        self.l2 = NAN

    cdef bint _passes(self, double gap, double a) noexcept nogil:
        if self.min_gap <= 0:
            return True
        return (not isnan(a)) and a > 0 and gap >= self.min_gap * a

    cdef void _new(self, double d, double upper, double lower) noexcept nogil:
        cdef int j
        for j in range(self.n, 0, -1):               # newest first
            self.up[j] = self.up[j - 1]
            self.lo[j] = self.lo[j - 1]
            self.dr[j] = self.dr[j - 1]
            self.st[j] = self.st[j - 1]
            self.fill[j] = self.fill[j - 1]
        self.up[0] = upper
        self.lo[0] = lower
        self.dr[0] = d
        self.st[0] = 1.0
        self.fill[0] = 0.0
        self.n += 1
        self.version += 1

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double a = self.atr._push(h, l, c)
        cdef double rng, f, mid, dist, best_b = INFINITY, best_s = INFINITY
        cdef int j, nb = 0, ns = 0
        out[0] = 0.0
        out[1] = 0.0
        out[2] = NAN
        out[3] = NAN
        out[10] = 0.0
        if not isnan(self.h1):
            if l > self.h1 and self._passes(l - self.h1, a):
                self._new(1.0, l, self.h1)
                out[0] = 1.0
                out[1] = 1.0
                out[2] = l
                out[3] = self.h1
            elif h < self.l1 and self._passes(self.l1 - h, a):
                self._new(-1.0, self.l1, h)
                out[0] = 1.0
                out[1] = -1.0
                out[2] = self.l1
                out[3] = h
        self.h1 = self.h2
        self.l1 = self.l2
        self.h2 = h
        self.l2 = l
        for j in range(self.n):
            if self.st[j] != 1.0:
                continue
            rng = self.up[j] - self.lo[j]
            if rng <= 0:
                continue
            if self.dr[j] > 0:
                if l <= self.up[j]:
                    f = (self.up[j] - l) / rng
                    f = 1.0 if f > 1.0 else f
                    self.fill[j] = f if f > self.fill[j] else self.fill[j]
                    if self.fill[j] >= 0.5:
                        self.st[j] = 2.0
                        out[10] = 1.0
                if c < self.lo[j]:
                    self.st[j] = 3.0
            else:
                if h >= self.lo[j]:
                    f = (h - self.lo[j]) / rng
                    f = 1.0 if f > 1.0 else f
                    self.fill[j] = f if f > self.fill[j] else self.fill[j]
                    if self.fill[j] >= 0.5:
                        self.st[j] = 2.0
                        out[10] = 1.0
                if c > self.up[j]:
                    self.st[j] = 3.0
        if self.n > self.cap:
            self.n = self.cap                        # the oldest beyond max_active go
        for j in range(4, 8):
            out[j] = NAN
        _nearest_active_zones(self.st, self.up, self.lo, self.dr, self.n, c, out,
                              self.fill, out + 12)
        out[11] = <double>self.version


cdef class KDerivedZone(Kernel):
    """Zones around Fibonacci levels of the latest swing anchors, in K slots, newest first
    (TRADE's derived_zone). When the source swing changes (a completed pair with
    use_paired_source, else any pivot) one zone per ratio is created: centre = high - r x
    range (retracement) or high + r x range (extension), width_pct x centre wide; the newest
    `max_active` are kept. Each bar an active zone is `inside` (and touched, counted) when the
    close is within it, and broken when the close leaves it by more than break_tolerance_pct
    (from the bar after its creation on: a new zone is often far from the price).
    Per slot: lower, upper, state (0 none, 1 active, 2 broken), touched_this_bar, inside,
    touch_count, age_bars, anchor_idx (the bar that created it), last_touch_age (bars since
    its last touch, -1 never); then active_count, any_active, any_touched, any_inside,
    first_active_lower, first_active_upper, first_active_idx (its slot), newest_active_idx
    (the same slot: slots are newest first), source_version (the swing version last seen)."""
    cdef KSwing sw
    cdef double* ratios
    cdef int nlev, k, n, mode
    cdef bint paired
    cdef double width, tol
    cdef double* zl
    cdef double* zu
    cdef double* zs
    cdef double* zt
    cdef double* zi
    cdef double* zc
    cdef double* za
    cdef double* zlt         # bar of the last touch (-1: never)
    cdef long long last_ver

    def __init__(self, levels, int mode, int max_active, double width_pct, bint paired,
                 double break_tol, int left, int right):
        self.nlev = len(levels)
        self.ratios = self._alloc(self.nlev)
        for i, r in enumerate(levels):
            self.ratios[i] = float(r)
        self.k = max_active
        self.n_out = 9 * max_active + 9
        self.mode = mode
        self.paired = paired
        self.width = width_pct
        self.tol = break_tol
        self.sw = KSwing(left, right)
        cap = max_active + self.nlev
        self.zl = self._alloc(cap)
        self.zu = self._alloc(cap)
        self.zs = self._alloc(cap)
        self.zt = self._alloc(cap)
        self.zi = self._alloc(cap)
        self.zc = self._alloc(cap)
        self.za = self._alloc(cap)
        self.zlt = self._alloc(cap)

    cdef void _push_zone(self, double lower, double upper) noexcept nogil:
        cdef int j
        for j in range(self.n, 0, -1):               # newest first
            self.zl[j] = self.zl[j - 1]
            self.zu[j] = self.zu[j - 1]
            self.zs[j] = self.zs[j - 1]
            self.zt[j] = self.zt[j - 1]
            self.zi[j] = self.zi[j - 1]
            self.zc[j] = self.zc[j - 1]
            self.za[j] = self.za[j - 1]
            self.zlt[j] = self.zlt[j - 1]
        self.zl[0] = lower
        self.zu[0] = upper
        self.zs[0] = 1.0
        self.zt[0] = 0.0
        self.zi[0] = 0.0
        self.zc[0] = 0.0
        self.za[0] = <double>self.nbar
        self.zlt[0] = -1.0
        self.n += 1

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef long long ver
        cdef double hi, lo, rng, centre, w
        cdef int i, j, base, active = 0, first_j = -1
        cdef bint any_t = False, any_i = False
        self.sw._push(h, l)
        self.sw.nbar += 1
        ver = self.sw.pair_version if self.paired else self.sw.version
        if ver != self.last_ver:
            self.last_ver = ver
            hi = self.sw.pair_high if self.paired else self.sw.last_high
            lo = self.sw.pair_low if self.paired else self.sw.last_low
            rng = hi - lo
            if not (isnan(hi) or isnan(lo)) and rng > 0:
                for i in range(self.nlev):
                    centre = hi - rng * self.ratios[i] if self.mode == 0 else \
                        hi + rng * self.ratios[i]
                    w = centre * self.width
                    self._push_zone(centre - w / 2.0, centre + w / 2.0)
                if self.n > self.k:
                    self.n = self.k                  # the oldest beyond max_active go
        for j in range(self.n):
            self.zt[j] = 0.0
            if self.zs[j] != 1.0:
                self.zi[j] = 0.0
                continue
            if self.zl[j] <= c <= self.zu[j]:        # inside: touched this bar
                self.zt[j] = 1.0
                self.zc[j] += 1.0
                self.zi[j] = 1.0
                self.zlt[j] = <double>self.nbar
            else:
                self.zi[j] = 0.0
            if self.za[j] < <double>self.nbar and (c < self.zl[j] * (1.0 - self.tol)
                                                   or c > self.zu[j] * (1.0 + self.tol)):
                self.zs[j] = 2.0                     # closed beyond it, later: broken
        for j in range(self.k):
            base = 9 * j
            if j < self.n:
                out[base] = self.zl[j]
                out[base + 1] = self.zu[j]
                out[base + 2] = self.zs[j]
                out[base + 3] = self.zt[j]
                out[base + 4] = self.zi[j]
                out[base + 5] = self.zc[j]
                out[base + 6] = <double>self.nbar - self.za[j]
                out[base + 7] = self.za[j]
                out[base + 8] = (-1.0 if self.zlt[j] < 0.0
                                 else <double>self.nbar - self.zlt[j])
            else:
                out[base] = NAN
                out[base + 1] = NAN
                out[base + 2] = 0.0
                out[base + 3] = 0.0
                out[base + 4] = 0.0
                out[base + 5] = 0.0
                out[base + 6] = -1.0
                out[base + 7] = NAN
                out[base + 8] = -1.0
        base = 9 * self.k
        out[base + 4] = NAN
        out[base + 5] = NAN
        for j in range(self.n):
            if self.zs[j] == 1.0:
                active += 1
                any_t = any_t or self.zt[j] == 1.0
                any_i = any_i or self.zi[j] == 1.0
                if first_j < 0:
                    out[base + 4] = self.zl[j]
                    out[base + 5] = self.zu[j]
                    first_j = j
        out[base] = <double>active
        out[base + 1] = 1.0 if active > 0 else 0.0
        out[base + 2] = 1.0 if any_t else 0.0
        out[base + 3] = 1.0 if any_i else 0.0
        out[base + 6] = NAN if first_j < 0 else <double>first_j
        out[base + 7] = out[base + 6]
        out[base + 8] = <double>self.last_ver


cdef class KOrderBlock(Kernel):
    """The last opposing candle before a displacement (TRADE's order_block): on a bullish
    displacement (body >= body_atr_min x ATR, wicks <= wick_ratio_max x body) the latest
    bearish candle among the previous lookback + 2 becomes a bullish block (its body, or its
    whole range without use_body), mirror for bearish. From the next bar a block is
    invalidated by a close beyond its far edge, else mitigated when price returns into it;
    the newest `max_active` blocks are kept. Outputs as fair_value_gap's, plus
    any_invalidated_this_bar and the last invalidated block's direction and edges.
    `breaker` (used by KBreakerBlock) receives every invalidated block."""
    cdef KAtr atr
    cdef bint use_body
    cdef double body_min, wick_max
    cdef int cap, n, hist, nh, ph
    cdef double* ho
    cdef double* hc
    cdef double* hh
    cdef double* hl
    cdef double* up
    cdef double* lo
    cdef double* dr
    cdef double* st          # 1 active, 2 mitigated, 3 invalidated
    cdef double* an
    cdef long long version
    cdef int inv_n           # blocks invalidated on this bar (for the breaker)
    cdef double* inv_up
    cdef double* inv_lo
    cdef double* inv_dr

    def __init__(self, int atr_length, bint use_body, double body_atr_min,
                 double wick_ratio_max, int max_active, int lookback):
        self.n_out = 16
        self.atr = KAtr(atr_length)
        self.use_body = use_body
        self.body_min = body_atr_min
        self.wick_max = wick_ratio_max
        self.cap = max_active
        self.hist = lookback + 2
        self.ho = self._alloc(self.hist)
        self.hc = self._alloc(self.hist)
        self.hh = self._alloc(self.hist)
        self.hl = self._alloc(self.hist)
        self.up = self._alloc(max_active + 1)
        self.lo = self._alloc(max_active + 1)
        self.dr = self._alloc(max_active + 1)
        self.st = self._alloc(max_active + 1)
        self.an = self._alloc(max_active + 1)
        self.inv_up = self._alloc(max_active + 1)
        self.inv_lo = self._alloc(max_active + 1)
        self.inv_dr = self._alloc(max_active + 1)

    cdef void _new(self, double d, double upper, double lower) noexcept nogil:
        cdef int j
        for j in range(self.n, 0, -1):               # newest first
            self.up[j] = self.up[j - 1]
            self.lo[j] = self.lo[j - 1]
            self.dr[j] = self.dr[j - 1]
            self.st[j] = self.st[j - 1]
            self.an[j] = self.an[j - 1]
        self.up[0] = upper
        self.lo[0] = lower
        self.dr[0] = d
        self.st[0] = 1.0
        self.an[0] = <double>self.nbar
        self.n += 1
        self.version += 1

    cdef void _push(self, double o, double h, double l, double c, double* out) noexcept nogil:
        cdef double a = self.atr._push(h, l, c)
        cdef double body = fabs(c - o)
        cdef double top = c if c > o else o
        cdef double bot = o if c > o else c
        cdef double d = 0.0, upper, lower, mid, dist, best_b = INFINITY, best_s = INFINITY
        cdef int i, k, j, nb = 0, ns = 0
        for j in range(16):
            out[j] = NAN
        out[0] = 0.0
        out[1] = 0.0
        out[10] = 0.0
        out[11] = 0.0
        out[12] = 0.0
        self.inv_n = 0
        if not isnan(a) and a > 0 and body > 0:      # is this bar a displacement?
            if body / a >= self.body_min and ((h - top) + (bot - l)) / body <= self.wick_max:
                d = 1.0 if c > o else -1.0
        if d != 0.0:
            for k in range(self.nh):                 # the latest opposing candle
                i = (self.ph - 1 - k + self.hist) % self.hist
                if (d > 0 and self.hc[i] < self.ho[i]) or (d < 0 and self.hc[i] > self.ho[i]):
                    if self.use_body:
                        lower = self.hc[i] if self.hc[i] < self.ho[i] else self.ho[i]
                        upper = self.hc[i] if self.hc[i] > self.ho[i] else self.ho[i]
                    else:
                        lower = self.hl[i]
                        upper = self.hh[i]
                    if upper > lower:                # a doji makes no block
                        self._new(d, upper, lower)
                        out[0] = 1.0
                        out[1] = d
                        out[2] = upper
                        out[3] = lower
                    break
        self.ho[self.ph] = o
        self.hc[self.ph] = c
        self.hh[self.ph] = h
        self.hl[self.ph] = l
        self.ph = (self.ph + 1) % self.hist
        self.nh = self.nh + 1 if self.nh < self.hist else self.hist
        for j in range(self.n):
            if self.st[j] != 1.0 or self.an[j] == <double>self.nbar:
                continue                             # not on its own bar
            if self.dr[j] > 0:
                if c < self.lo[j]:
                    self.st[j] = 3.0
                elif l <= self.up[j]:
                    self.st[j] = 2.0
                    out[10] = 1.0
            else:
                if c > self.up[j]:
                    self.st[j] = 3.0
                elif h >= self.lo[j]:
                    self.st[j] = 2.0
                    out[10] = 1.0
            if self.st[j] == 3.0:
                out[11] = 1.0
                out[12] = self.dr[j]
                out[13] = self.up[j]
                out[14] = self.lo[j]
                self.inv_up[self.inv_n] = self.up[j]
                self.inv_lo[self.inv_n] = self.lo[j]
                self.inv_dr[self.inv_n] = self.dr[j]
                self.inv_n += 1
        if self.n > self.cap:
            self.n = self.cap                        # the oldest beyond max_active go
        _nearest_active_zones(self.st, self.up, self.lo, self.dr, self.n, c, out)
        out[15] = <double>self.version

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        self._push(o, h, l, c, out)


cdef class KBreakerBlock(Kernel):
    """Order blocks that failed, flipped (TRADE's breaker_block): on a bar where an order
    block is invalidated and the market structure makes a CHoCH, the last block invalidated
    there becomes a breaker of the opposite direction (a bullish block turns into bearish
    resistance). Breakers are then invalidated / mitigated like order blocks; the newest
    `max_active` are kept. Outputs as fair_value_gap's."""
    cdef KOrderBlock ob
    cdef KMarketStructure ms
    cdef int cap, n
    cdef double* up
    cdef double* lo
    cdef double* dr
    cdef double* st
    cdef double* an
    cdef long long version

    def __init__(self, int atr_length, bint use_body, double body_atr_min,
                 double wick_ratio_max, int lookback, int max_active, int left, int right,
                 bint close_break):
        self.n_out = 12
        self.ob = KOrderBlock(atr_length, use_body, body_atr_min, wick_ratio_max, max_active,
                              lookback)
        self.ms = KMarketStructure(left, right, close_break)
        self.cap = max_active
        self.up = self._alloc(max_active + 1)
        self.lo = self._alloc(max_active + 1)
        self.dr = self._alloc(max_active + 1)
        self.st = self._alloc(max_active + 1)
        self.an = self._alloc(max_active + 1)

    cdef void step(self, double ts, double o, double h, double l, double c, double v,
                   double* out) noexcept nogil:
        cdef double ob_out[16]
        cdef double ms_out[15]
        cdef double d, mid, dist, best_b = INFINITY, best_s = INFINITY
        cdef int j, nb = 0, ns = 0
        self.ob._push(o, h, l, c, ob_out)
        self.ob.nbar += 1
        self.ms.step(ts, o, h, l, c, v, ms_out)
        self.ms.nbar += 1
        for j in range(12):
            out[j] = NAN
        out[0] = 0.0
        out[1] = 0.0
        out[10] = 0.0
        if ob_out[11] == 1.0 and ms_out[5] == 1.0 and ob_out[12] != 0.0:
            d = -ob_out[12]                          # the failed block flips polarity
            if ob_out[13] > ob_out[14]:
                for j in range(self.n, 0, -1):
                    self.up[j] = self.up[j - 1]
                    self.lo[j] = self.lo[j - 1]
                    self.dr[j] = self.dr[j - 1]
                    self.st[j] = self.st[j - 1]
                    self.an[j] = self.an[j - 1]
                self.up[0] = ob_out[13]
                self.lo[0] = ob_out[14]
                self.dr[0] = d
                self.st[0] = 1.0
                self.an[0] = <double>self.nbar
                self.n += 1
                self.version += 1
                out[0] = 1.0
                out[1] = d
                out[2] = ob_out[13]
                out[3] = ob_out[14]
        for j in range(self.n):
            if self.st[j] != 1.0 or self.an[j] == <double>self.nbar:
                continue
            if self.dr[j] > 0:
                if c < self.lo[j]:
                    self.st[j] = 3.0
                elif l <= self.up[j]:
                    self.st[j] = 2.0
                    out[10] = 1.0
            else:
                if c > self.up[j]:
                    self.st[j] = 3.0
                elif h >= self.lo[j]:
                    self.st[j] = 2.0
                    out[10] = 1.0
        if self.n > self.cap:
            self.n = self.cap
        _nearest_active_zones(self.st, self.up, self.lo, self.dr, self.n, c, out)
        out[11] = <double>self.version
