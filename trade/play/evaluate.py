"""Two evaluators of one ConditionPlan that agree bar for bar.

* `evaluate_vectorized(plan, series)` evaluates over whole exec-bar arrays
  (backtests, sweeps).
* `IncrementalEvaluator(plan).update(values)` evaluates one bar at a time
  (paper, demo, live), keeping only the history the plan needs.

Shared semantics (each written once per evaluator where it is decided):
a non-finite operand (NaN, inf, warm-up, offset beyond history) makes the
comparison false; division or modulo by zero gives NaN, hence false; windows
count the child's truth on the last `bars` bars.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from trade.play.ir import (
    All,
    AnyOf,
    Between,
    Compare,
    ConditionPlan,
    Const,
    Cross,
    Expr,
    In,
    Literal_,
    Near,
    Node,
    Not,
    Ref,
    Setup,
    Window,
)

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


# ====================================================================== vectorised


def evaluate_vectorized(
    plan: ConditionPlan, series: Mapping[str, npt.ArrayLike], *, n: int | None = None
) -> Bool:
    """Truth of a compiled condition on every exec bar, over whole arrays.

    Parameters
    ----------
    plan : ConditionPlan
        The compiled condition.
    series : Mapping[str, array_like]
        Each name in `plan.series` -> one value per exec bar (higher timeframes already
        aligned).
    n : int, optional
        The number of bars; needed only when the plan reads no series.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    ValueError
        A series the plan reads is missing, the series lengths differ, or the plan reads
        no series and `n` is not given.
    """
    arrays: dict[str, F64] = {}
    for name in sorted(plan.series):
        if name not in series:
            raise ValueError(f"condition needs series '{name}', which was not provided")
        arrays[name] = np.asarray(series[name], dtype=np.float64)
    lengths = {len(a) for a in arrays.values()}
    if n is not None:
        lengths.add(n)
    if len(lengths) > 1:
        raise ValueError(f"series lengths differ: {sorted(lengths)}")
    if not lengths:
        raise ValueError("condition reads no series; pass n=<number of bars>")
    return _VecEval(arrays, lengths.pop()).node(plan.root)


def _shift(a: F64, k: int) -> F64:
    if k == 0:
        return a
    out = np.full(len(a), np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _rolling_sum(b: Bool, bars: int) -> npt.NDArray[np.int64]:
    c = np.concatenate(([0], np.cumsum(b, dtype=np.int64)))
    idx = np.arange(1, len(b) + 1)
    return c[idx] - c[np.maximum(idx - bars, 0)]


class _VecEval:
    def __init__(self, arrays: dict[str, F64], n: int) -> None:
        self.arrays = arrays
        self.n = n

    def expr(self, e: Expr, shift: int) -> F64:
        if isinstance(e, Const):
            return np.full(self.n, e.value)
        if isinstance(e, Ref):
            # value `offset + shift` bars ago; before the first bar it is missing (NaN)
            return _shift(self.arrays[e.name], e.offset + shift)
        a = self.expr(e.left, shift)
        b = self.expr(e.right, shift)
        with np.errstate(all="ignore"):
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "*":
                return a * b
            if e.op == "/":
                # division by zero makes the value missing, hence the condition false
                return np.where(b == 0.0, np.nan, a / b)
            return np.where(b == 0.0, np.nan, np.mod(a, b))

    def node(self, nd: Node) -> Bool:
        n = self.n
        if isinstance(nd, Literal_):
            return np.full(n, nd.value, dtype=bool)
        if isinstance(nd, Compare):
            a, b = self.expr(nd.lhs, 0), self.expr(nd.rhs, 0)
            ok = np.isfinite(a) & np.isfinite(b)  # missing operand -> false
            res: Bool = ok & _CMP[nd.op](a, b)
            return res
        if isinstance(nd, Cross):
            a, b = self.expr(nd.lhs, 0), self.expr(nd.rhs, 0)
            pa, pb = self.expr(nd.lhs, 1), self.expr(nd.rhs, 1)
            ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(pa) & np.isfinite(pb)
            if nd.direction == "above":
                return ok & (pa <= pb) & (a > b)
            return ok & (pa >= pb) & (a < b)
        if isinstance(nd, Between):
            x, lo, hi = self.expr(nd.x, 0), self.expr(nd.lo, 0), self.expr(nd.hi, 0)
            ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
            return ok & (lo <= x) & (x <= hi)
        if isinstance(nd, Near):
            a, b, t = self.expr(nd.lhs, 0), self.expr(nd.rhs, 0), self.expr(nd.tol, 0)
            ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(t)
            with np.errstate(all="ignore"):
                limit = np.abs(b) * (t / 100.0) if nd.kind == "pct" else t
                near: Bool = ok & (np.abs(a - b) <= limit)
                return near
        if isinstance(nd, In):
            x = self.expr(nd.x, 0)
            hit = np.zeros(n, dtype=bool)
            for v in nd.values:
                hit |= x == v
            return hit & np.isfinite(x)
        if isinstance(nd, All):
            out = np.ones(n, dtype=bool)
            for c in nd.children:
                out &= self.node(c)
            return out
        if isinstance(nd, AnyOf):
            out = np.zeros(n, dtype=bool)
            for c in nd.children:
                out |= self.node(c)
            return out
        if isinstance(nd, Not):
            return ~self.node(nd.child)
        if isinstance(nd, Setup):
            return self.node(nd.child)
        assert isinstance(nd, Window)
        s = _rolling_sum(self.node(nd.child), nd.bars)
        if nd.kind == "holds":
            # true on each of the last `bars` bars; false while fewer bars exist
            held: Bool = (s == nd.bars) & (np.arange(n) >= nd.bars - 1)
            return held
        if nd.kind == "occurred":
            return s > 0
        return s >= nd.min_true


_CMP: dict[str, Callable[[F64, F64], Bool]] = {
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


# ====================================================================== incremental

_nan = float("nan")


def _finite(*xs: float) -> bool:
    return all(np.isfinite(x) for x in xs)


class IncrementalEvaluator:
    """Evaluate a plan one exec bar at a time; O(window) memory per node.

    `update(values)` appends one bar (values for every name in `plan.series`;
    missing names count as NaN) and returns the plan's truth on it.
    `peek(values)` answers the same question without committing the bar (for the
    1m sub-exec evaluation of conditions that read `last_price`).
    """

    def __init__(self, plan: ConditionPlan) -> None:
        self.plan = plan
        depth = plan.history + 1
        self._buffers: dict[str, deque[float]] = {
            name: deque(maxlen=depth) for name in sorted(plan.series)
        }
        self._windows: list[deque[bool]] = []
        self._fn = self._node(plan.root)
        self.bars = 0

    # ---------------------------------------------------------------- public
    def update(self, values: Mapping[str, float]) -> bool:
        for name, buf in self._buffers.items():
            buf.append(float(values.get(name, _nan)))
        self.bars += 1
        return self._fn()

    def peek(self, values: Mapping[str, float]) -> bool:
        saved_buffers = {k: (list(b), b.maxlen) for k, b in self._buffers.items()}
        saved_windows = [(list(w), w.maxlen) for w in self._windows]
        try:
            return self.update(values)
        finally:
            for k, (items, maxlen) in saved_buffers.items():
                self._buffers[k] = deque(items, maxlen=maxlen)
            for w, (items_w, maxlen_w) in zip(self._windows, saved_windows, strict=True):
                w.clear()
                w.extend(items_w)
                assert w.maxlen == maxlen_w
            self.bars -= 1

    # ---------------------------------------------------------------- builders
    def _expr(self, e: Expr, shift: int) -> Callable[[], float]:
        if isinstance(e, Const):
            v = e.value
            return lambda: v
        if isinstance(e, Ref):
            k = e.offset + shift
            name = e.name

            def ref() -> float:
                buf = self._buffers[name]
                # value `k` bars ago; not enough history -> missing (NaN)
                return buf[-1 - k] if len(buf) > k else _nan

            return ref
        left, right, op = self._expr(e.left, shift), self._expr(e.right, shift), e.op

        def arith() -> float:
            a, b = np.float64(left()), np.float64(right())
            with np.errstate(all="ignore"):
                if op == "+":
                    return float(a + b)
                if op == "-":
                    return float(a - b)
                if op == "*":
                    return float(a * b)
                if b == 0.0:
                    return _nan  # division by zero makes the value missing
                return float(a / b) if op == "/" else float(np.mod(a, b))

        return arith

    def _node(self, nd: Node) -> Callable[[], bool]:
        if isinstance(nd, Literal_):
            v = nd.value
            return lambda: v
        if isinstance(nd, Compare):
            a, b, cmp = self._expr(nd.lhs, 0), self._expr(nd.rhs, 0), _SCMP[nd.op]

            def compare() -> bool:
                x, y = a(), b()
                return _finite(x, y) and cmp(x, y)  # missing operand -> false

            return compare
        if isinstance(nd, Cross):
            a, b = self._expr(nd.lhs, 0), self._expr(nd.rhs, 0)
            pa, pb = self._expr(nd.lhs, 1), self._expr(nd.rhs, 1)
            above = nd.direction == "above"

            def cross() -> bool:
                x, y, px, py = a(), b(), pa(), pb()
                if not _finite(x, y, px, py):
                    return False
                return (px <= py and x > y) if above else (px >= py and x < y)

            return cross
        if isinstance(nd, Between):
            fx, flo, fhi = self._expr(nd.x, 0), self._expr(nd.lo, 0), self._expr(nd.hi, 0)

            def between() -> bool:
                x, lo, hi = fx(), flo(), fhi()
                return _finite(x, lo, hi) and lo <= x <= hi

            return between
        if isinstance(nd, Near):
            fa, fb, ft = self._expr(nd.lhs, 0), self._expr(nd.rhs, 0), self._expr(nd.tol, 0)
            pct = nd.kind == "pct"

            def near() -> bool:
                a, b, t = np.float64(fa()), np.float64(fb()), np.float64(ft())
                if not _finite(a, b, t):
                    return False
                with np.errstate(all="ignore"):
                    limit = abs(b) * (t / 100.0) if pct else t
                    return bool(abs(a - b) <= limit)

            return near
        if isinstance(nd, In):
            fx, vals = self._expr(nd.x, 0), nd.values

            def in_() -> bool:
                x = fx()
                return _finite(x) and x in vals

            return in_
        if isinstance(nd, All | AnyOf):
            kids = [self._node(c) for c in nd.children]
            is_all = isinstance(nd, All)

            def logic() -> bool:
                results = [k() for k in kids]  # every child runs: windows must see each bar
                return all(results) if is_all else any(results)

            return logic
        if isinstance(nd, Not):
            kid = self._node(nd.child)
            return lambda: not kid()
        if isinstance(nd, Setup):
            return self._node(nd.child)
        assert isinstance(nd, Window)
        kid = self._node(nd.child)
        hist: deque[bool] = deque(maxlen=nd.bars)
        self._windows.append(hist)
        kind, bars, min_true = nd.kind, nd.bars, nd.min_true

        def window() -> bool:
            hist.append(kid())
            if kind == "holds":
                # false until `bars` bars exist
                return len(hist) == bars and all(hist)
            if kind == "occurred":
                return any(hist)
            return sum(hist) >= min_true

        return window


_SCMP: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
