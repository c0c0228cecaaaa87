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
from typing import Any

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
    return VectorEvaluator(series).evaluate(plan, n=n)


class VectorEvaluator:
    """`evaluate_vectorized` of several plans over the same series, sharing the work they
    have in common (each series' array and its finite mask are computed once)."""

    def __init__(self, series: Mapping[str, npt.ArrayLike]) -> None:
        self.series = series
        self._arrays: dict[str, F64] = {}
        self._finite: dict[str, Bool] = {}

    def array(self, name: str) -> F64:
        a = self._arrays.get(name)
        if a is None:
            a = np.asarray(self.series[name], dtype=np.float64)
            self._arrays[name] = a
        return a

    def finite(self, name: str) -> Bool:
        f = self._finite.get(name)
        if f is None:
            f = np.isfinite(self.array(name))
            self._finite[name] = f
        return f

    def evaluate(self, plan: ConditionPlan, *, n: int | None = None) -> Bool:
        """As `evaluate_vectorized(plan, series, n=n)`."""
        lengths: set[int] = set()
        for name in sorted(plan.series):
            if name not in self.series:
                raise ValueError(f"condition needs series '{name}', which was not provided")
            lengths.add(len(self.array(name)))
        if n is not None:
            lengths.add(n)
        if len(lengths) > 1:
            raise ValueError(f"series lengths differ: {sorted(lengths)}")
        if not lengths:
            raise ValueError("condition reads no series; pass n=<number of bars>")
        return _VecEval(self, lengths.pop()).node(plan.root)


class _Vals:
    """An expression's values on the bars [start, n) (before `start` they are missing);
    a constant is one value (a 1-item array, as np.full would hold it) for every bar."""

    __slots__ = ("const", "fin", "start", "v")

    def __init__(self, start: int, v: npt.NDArray[Any], const: bool = False,
                 fin: Bool | None = None) -> None:
        self.start = start
        self.v = v
        self.const = const
        self.fin = fin  # np.isfinite(v), when already known

    def tail(self, s: int) -> npt.NDArray[Any]:
        """The values on bars [s, n), s >= start (a constant as is: it broadcasts)."""
        return self.v if self.const or s == self.start else self.v[s - self.start:]

    def finite(self, s: int) -> Bool:
        if self.fin is None:
            self.fin = np.isfinite(self.v)
        return self.fin if self.const or s == self.start else self.fin[s - self.start:]


def _start(*vals: _Vals) -> int:
    return max((x.start for x in vals if not x.const), default=0)


def _finite_all(s: int, *vals: _Vals) -> Bool:
    """Every operand finite on the bars [s, n) (a missing operand makes the node false)."""
    ok: Bool | None = None
    for x in vals:
        f = x.finite(s)
        if ok is None:
            ok = f
        else:
            ok = np.logical_and(ok, f)
    assert ok is not None
    return ok


def _rolling_sum(b: Bool, bars: int) -> npt.NDArray[np.int64]:
    c = np.concatenate(([0], np.cumsum(b, dtype=np.int64)))
    idx = np.arange(1, len(b) + 1)
    return c[idx] - c[np.maximum(idx - bars, 0)]


class _VecEval:
    def __init__(self, ctx: VectorEvaluator, n: int) -> None:
        self.ctx = ctx
        self.n = n

    def expr(self, e: Expr) -> _Vals:
        n = self.n
        if isinstance(e, Const):
            return _Vals(0, np.full(1, e.value), const=True)
        if isinstance(e, Ref):
            # value `offset` bars ago; before the first bar it is missing
            k = min(e.offset, n)
            a = self.ctx.array(e.name)
            return _Vals(k, a[: n - k], fin=self.ctx.finite(e.name)[: n - k])
        x, y = self.expr(e.left), self.expr(e.right)
        s = _start(x, y)
        a, b = x.tail(s), y.tail(s)
        with np.errstate(all="ignore"):
            if e.op == "+":
                r = a + b
            elif e.op == "-":
                r = a - b
            elif e.op == "*":
                r = a * b
            elif e.op == "/":
                # division by zero makes the value missing, hence the condition false
                r = np.where(b == 0.0, np.nan, a / b)
            else:
                r = np.where(b == 0.0, np.nan, np.mod(a, b))
        return _Vals(s, r, const=x.const and y.const)

    def _place(self, s: int, tail: Bool) -> Bool:
        """A full-length truth array: false before bar `s`, `tail` from it on."""
        out = np.empty(self.n, dtype=bool)
        out[:s] = False
        out[s:] = tail
        return out

    def node(self, nd: Node) -> Bool:
        n = self.n
        if isinstance(nd, Literal_):
            return np.full(n, nd.value, dtype=bool)
        if isinstance(nd, Compare):
            x, y = self.expr(nd.lhs), self.expr(nd.rhs)
            s = _start(x, y)
            if x.const and y.const:
                return self._place(s, _finite_all(s, x, y) & _CMP[nd.op](x.v, y.v))
            out = np.empty(n, dtype=bool)
            out[:s] = False
            o = out[s:]
            _CMP[nd.op](x.tail(s), y.tail(s), out=o)
            o &= x.finite(s)  # missing operand -> false
            o &= y.finite(s)
            return out
        if isinstance(nd, Cross):
            x, y = self.expr(nd.lhs), self.expr(nd.rhs)
            if x.const and y.const:
                return np.zeros(n, dtype=bool)  # a constant never crosses
            s = _start(x, y)
            out = np.zeros(n, dtype=bool)
            if n - s < 2:
                return out  # the previous bar is missing
            fin = _finite_all(s, x, y)
            # above: lhs <= rhs on the previous bar and lhs > rhs (= not lhs <= rhs, both
            # finite) on this one; below likewise with >= and <
            rel = (np.less_equal if nd.direction == "above" else np.greater_equal)(
                x.tail(s), y.tail(s))
            o = out[s + 1:]
            np.greater(rel[:-1], rel[1:], out=o)
            o &= fin[1:]
            o &= fin[:-1]
            return out
        if isinstance(nd, Between):
            x, lo, hi = self.expr(nd.x), self.expr(nd.lo), self.expr(nd.hi)
            s = _start(x, lo, hi)
            tx, tlo, thi = x.tail(s), lo.tail(s), hi.tail(s)
            return self._place(s, _finite_all(s, x, lo, hi) & (tlo <= tx) & (tx <= thi))
        if isinstance(nd, Near):
            x, y, t = self.expr(nd.lhs), self.expr(nd.rhs), self.expr(nd.tol)
            s = _start(x, y, t)
            a, b, tol = x.tail(s), y.tail(s), t.tail(s)
            with np.errstate(all="ignore"):
                limit = np.abs(b) * (tol / 100.0) if nd.kind == "pct" else tol
                near: Bool = _finite_all(s, x, y, t) & (np.abs(a - b) <= limit)
            return self._place(s, near)
        if isinstance(nd, In):
            x = self.expr(nd.x)
            s = _start(x)
            tx = x.tail(s)
            hit = np.zeros(len(tx), dtype=bool)
            for v in nd.values:
                hit |= tx == v
            return self._place(s, hit & x.finite(s))
        if isinstance(nd, All):
            if not nd.children:
                return np.ones(n, dtype=bool)
            out = self.node(nd.children[0])  # each node's result is a fresh array
            for c in nd.children[1:]:
                out &= self.node(c)
            return out
        if isinstance(nd, AnyOf):
            if not nd.children:
                return np.zeros(n, dtype=bool)
            out = self.node(nd.children[0])
            for c in nd.children[1:]:
                out |= self.node(c)
            return out
        if isinstance(nd, Not):
            r = self.node(nd.child)
            return np.logical_not(r, out=r)
        if isinstance(nd, Setup):
            return self.node(nd.child)
        assert isinstance(nd, Window)
        s_ = _rolling_sum(self.node(nd.child), nd.bars)
        if nd.kind == "holds":
            # true on each of the last `bars` bars; false while fewer bars exist
            held: Bool = (s_ == nd.bars) & (np.arange(n) >= nd.bars - 1)
            return held
        if nd.kind == "occurred":
            return s_ > 0
        return s_ >= nd.min_true


_CMP: dict[str, np.ufunc] = {
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
