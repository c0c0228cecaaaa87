"""Conditions: the vectorised and incremental evaluators agree bar for bar; exact semantics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.play import (
    ActionEvaluator,
    ConditionPlan,
    IncrementalEvaluator,
    PlayError,
    compile_actions,
    evaluate_actions,
    evaluate_vectorized,
    simple_context,
)
from trade.play.ir import (
    All,
    AnyOf,
    Arith,
    Between,
    Compare,
    Const,
    Cross,
    Expr,
    In,
    Literal_,
    Near,
    Node,
    Not,
    Ref,
    Window,
)

NAN = math.nan
NAMES = ("close", "ema", "rsi", "trend.direction", "last_price")


def plan_of(raw: Any, *, exec_ms: int = 60_000, setups: dict[str, Any] | None = None
            ) -> ConditionPlan:
    ctx = simple_context(["ema", "rsi", "bb.upper", "bb.lower", "trend.direction"],
                         discrete=["trend.direction"], exec_interval_ms=exec_ms, setups=setups)
    node = ctx.compile(raw, ("cond",))
    if ctx.issues:
        raise PlayError(ctx.issues)
    return ConditionPlan.of(node)


def incremental(plan: ConditionPlan, series: dict[str, np.ndarray]) -> list[bool]:
    ev = IncrementalEvaluator(plan)
    n = len(next(iter(series.values())))
    return [ev.update({k: float(v[i]) for k, v in series.items()}) for i in range(n)]


def both(raw: Any, series: dict[str, list[float]], **kw: Any) -> list[bool]:
    plan = plan_of(raw, **kw)
    arrays = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    vec = evaluate_vectorized(plan, arrays).tolist()
    assert vec == incremental(plan, arrays)
    return vec


# ---------------------------------------------------------------- exact semantics


def test_cross_above_and_below() -> None:
    a = [1, 2, 3, 1, 4, NAN, 5]
    b = [2, 2, 2, 2, 2, 2, 2]
    assert both(["close", "cross_above", "ema"], {"close": a, "ema": b}) == [
        False, False, True, False, True, False, False]
    assert both(["close", "cross_below", "ema"], {"close": a, "ema": b}) == [
        False, False, False, True, False, False, False]


def test_missing_values_and_division_by_zero_are_false() -> None:
    close = [1.0, NAN, 3.0, 4.0, math.inf]
    ema = [0.0, 1.0, 0.0, 2.0, 1.0]
    assert both([["close", "/", "ema"], ">", 0], {"close": close, "ema": ema}) == [
        False, False, False, True, False]
    # `!=` on a missing value is false too (a missing value is never compared)
    assert both(["trend.direction", "!=", 1], {"trend.direction": [NAN, 1, 0, -1]}) == [
        False, False, True, True]
    assert both([["close", "%", "ema"], ">=", 0], {"close": close, "ema": ema}) == [
        False, False, False, True, False]


def test_previous_bar_offsets() -> None:
    close = [1.0, 2.0, 2.0, 1.0, 5.0]
    assert both(["close", ">", "close[1]"], {"close": close}) == [False, True, False, False, True]
    assert both([{"feature_id": "close", "offset": 2}, "<", "close"], {"close": close}) == [
        False, False, True, False, True]
    plan = plan_of(["close[3]", ">", "ema"])
    assert plan.history == 3 and plan.lookback == 3 and plan.series == {"close", "ema"}


def test_between_near_in_arith() -> None:
    rsi = [29.0, 30.0, 45.0, 45.5, NAN]
    assert both(["rsi", "between", [30, 45]], {"rsi": rsi}) == [False, True, True, False, False]
    close = [100.0, 101.0, 102.0, 99.0]
    ema = [100.0, 100.0, 100.0, 100.0]
    assert both(["close", "near_pct", "ema", 1], {"close": close, "ema": ema}) == [
        True, True, False, True]
    assert both(["close", "near_abs", "ema", 1.5], {"close": close, "ema": ema}) == [
        True, True, False, True]
    assert both(["trend.direction", "in", [1, 0]], {"trend.direction": [1, -1, 0, NAN]}) == [
        True, False, True, False]
    assert both([{"-": ["close", "ema"]}, ">", {"*": [0.5, 3]}], {"close": close, "ema": ema}) == [
        False, False, True, False]


def test_logic_and_windows() -> None:
    x = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    s = {"close": x}
    assert both({"holds_for": {"bars": 3, "expr": [["close", ">", 0]]}}, s) == [
        False, False, False, False, False, True, False, False, False]
    assert both({"occurred_within": {"bars": 2, "expr": [["close", "<", 1]]}}, s) == [
        False, False, True, True, False, False, True, True, True]
    assert both({"count_true": {"bars": 4, "min_true": 3, "expr": [["close", ">", 0]]}}, s) == [
        False, False, False, True, True, True, True, False, False]
    assert both({"not": {"any": [["close", ">", 0], ["close", "<", 0]]}}, s) == [
        x_ == 0 for x_ in x]
    # a bare list means all
    assert both([["close", ">", 0], ["close[1]", ">", 0]], s) == [
        False, True, False, False, True, True, False, False, False]


def test_duration_windows_convert_to_exec_bars() -> None:
    plan = plan_of({"holds_for_duration": {"duration": "1h", "expr": [["close", ">", 0]]}},
                   exec_ms=15 * 60_000)
    assert isinstance(plan.root, Window) and plan.root.bars == 4
    assert plan.root.duration_ms == 3_600_000 and plan.lookback == 3
    plan = plan_of({"occurred_within_duration": {"duration": "50m", "expr": [["close", ">", 0]]}},
                   exec_ms=15 * 60_000)
    assert isinstance(plan.root, Window) and plan.root.bars == 4  # ceil(50 / 15)


def test_setups_are_included() -> None:
    setups = {"up": [["close", ">", "ema"]], "strong": {"all": [{"setup": "up"}, ["rsi", ">", 50]]}}
    s = {"close": [1.0, 3.0, 3.0], "ema": [2.0, 2.0, 2.0], "rsi": [60.0, 40.0, 60.0]}
    assert both({"setup": "strong"}, s, setups=setups) == [False, False, True]


def test_intrabar_flag() -> None:
    assert plan_of(["last_price", "cross_above", "ema"]).intrabar
    assert not plan_of(["close", "cross_above", "ema"]).intrabar


def test_missing_series_is_a_clear_error() -> None:
    plan = plan_of(["close", ">", "ema"])
    with pytest.raises(ValueError, match="condition needs series 'ema'"):
        evaluate_vectorized(plan, {"close": np.ones(3)})
    with pytest.raises(ValueError, match="series lengths differ"):
        evaluate_vectorized(plan, {"close": np.ones(3), "ema": np.ones(4)})


def test_peek_does_not_commit() -> None:
    plan = plan_of({"count_true": {"bars": 3, "min_true": 2, "expr": [["close", "cross_above",
                                                                       "ema"]]}})
    ev, ref = IncrementalEvaluator(plan), IncrementalEvaluator(plan)
    rng = np.random.default_rng(5)
    for _ in range(60):
        v = {"close": float(rng.integers(0, 4)), "ema": 2.0}
        ev.peek({"close": float(rng.integers(0, 4)), "ema": 2.0})
        assert ev.peek(v) == ref.update(v) == ev.update(v)


# ---------------------------------------------------------------- property test

VALUES = st.sampled_from([NAN, -2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
DISCRETE = st.sampled_from([NAN, -1.0, 0.0, 1.0])
CONT = ("close", "ema", "rsi", "last_price")


def exprs() -> st.SearchStrategy[Expr]:
    base = st.one_of(
        st.builds(Const, st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0])),
        st.builds(Ref, st.sampled_from(CONT), st.integers(0, 3)),
    )
    return st.recursive(
        base,
        lambda inner: st.builds(Arith, st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
        max_leaves=4,
    )


def nodes() -> st.SearchStrategy[Node]:
    e = exprs()
    disc = st.builds(Ref, st.just("trend.direction"), st.integers(0, 2), st.just(True))
    leaf = st.one_of(
        st.builds(Compare, st.sampled_from([">", "<", ">=", "<="]), e, e),
        st.builds(Compare, st.sampled_from(["==", "!="]), disc,
                  st.builds(Const, st.sampled_from([-1.0, 0.0, 1.0]))),
        st.builds(Cross, st.sampled_from(["above", "below"]), e, e),
        st.builds(Between, e, e, e),
        st.builds(Near, st.sampled_from(["pct", "abs"]), e, e,
                  st.builds(Const, st.sampled_from([0.0, 1.0, 50.0]))),
        st.builds(In, disc, st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=1, max_size=2)
                  .map(tuple)),
        st.builds(Literal_, st.booleans()),
    )

    def extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        def window(kind: str, bars: int, child: Node, m: int) -> Node:
            return Window(kind, bars, child, min(m, bars))  # type: ignore[arg-type]

        return st.one_of(
            st.builds(All, st.lists(inner, min_size=1, max_size=3).map(tuple)),
            st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
            st.builds(Not, inner),
            st.builds(window, st.sampled_from(["holds", "occurred", "count"]),
                      st.integers(1, 5), inner, st.integers(1, 5)),
        )

    return st.recursive(leaf, extend, max_leaves=6)


@st.composite
def series_st(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 40))
    out = {k: np.array(draw(st.lists(VALUES, min_size=n, max_size=n))) for k in CONT}
    out["trend.direction"] = np.array(draw(st.lists(DISCRETE, min_size=n, max_size=n)))
    return out


@settings(max_examples=150, deadline=None)
@given(node=nodes(), series=series_st())
def test_vectorised_equals_incremental(node: Node, series: dict[str, np.ndarray]) -> None:
    plan = ConditionPlan.of(node)
    vec = evaluate_vectorized(plan, series, n=len(series["close"]))
    assert vec.dtype == bool
    assert vec.tolist() == incremental(plan, series)


# ---------------------------------------------------------------- actions


def actions_of(raw: Any, **kw: Any):  # type: ignore[no-untyped-def]
    ctx = simple_context(["ema", "rsi"])
    compiled = compile_actions(raw, ctx, **kw)
    assert not ctx.issues, ctx.issues
    return compiled


def check_actions(compiled: Any, series: dict[str, np.ndarray]) -> Any:
    sig = evaluate_actions(compiled, series)
    ev = ActionEvaluator(compiled)
    n = len(next(iter(series.values())))
    for i in range(n):
        d = ev.update({k: float(v[i]) for k, v in series.items()})
        assert (d.entry_long, d.entry_short, d.exit_long, d.exit_short) == (
            sig.entry_long[i], sig.entry_short[i], sig.exit_long[i], sig.exit_short[i]), i
        assert (d.exit_long_pct, d.exit_short_pct) == (sig.exit_long_pct[i],
                                                      sig.exit_short_pct[i])
    return sig


CASES = [
    {"id": "entry", "cases": [
        {"when": [["rsi", "<", 30]], "emit": [{"action": "entry_long"}]},
        {"when": [["rsi", "<", 50]], "emit": [{"action": "entry_short"}]},
    ], "else": {"emit": [{"action": "exit_all", "percent": 25}]}},
    {"id": "exits", "cases": [
        {"when": [["close", "cross_below", "ema"]], "emit": [{"action": "exit_long",
                                                              "percent": 50}]},
    ]},
]


def test_cases_first_match_else_and_policy() -> None:
    rsi = np.array([20.0, 40.0, 60.0, 25.0, NAN])
    close = np.array([3.0, 1.0, 3.0, 1.0, 1.0])
    ema = np.full(5, 2.0)
    s = {"rsi": rsi, "close": close, "ema": ema}
    sig = check_actions(actions_of(CASES, mode="long_short", exit_mode="signal"), s)
    assert sig.entry_long.tolist() == [True, False, False, True, False]
    # rsi 20 also satisfies the second case, but the first match wins
    assert sig.entry_short.tolist() == [False, True, False, False, False]
    assert sig.exit_long.tolist() == [False, True, True, True, True]
    assert sig.exit_long_pct.tolist() == [0.0, 50.0, 25.0, 50.0, 25.0]
    assert sig.exit_short.tolist() == [False, False, True, False, True]
    long_only = check_actions(actions_of(CASES, mode="long_only", exit_mode="signal"), s)
    assert not long_only.entry_short.any()
    assert long_only.entry_long.tolist() == sig.entry_long.tolist()
    short_only = check_actions(actions_of(CASES, mode="short_only", exit_mode="signal"), s)
    assert not short_only.entry_long.any()
    sl_tp = check_actions(actions_of(CASES, mode="long_short", exit_mode="sl_tp_only"), s)
    assert not sl_tp.exit_long.any() and not sl_tp.exit_short.any()


def test_mapping_actions_and_intrabar() -> None:
    raw = {"entry_long": [["last_price", "cross_above", "ema"]],
           "exit_long": {"when": [["rsi", ">", 70]], "percent": 40}}
    compiled = actions_of(raw)
    assert compiled.intrabar and compiled.intrabar_actions == {"entry_long"}
    assert compiled.intrabar_series == {"last_price"}
    rng = np.random.default_rng(1)
    s = {"last_price": rng.integers(0, 4, 50).astype(float), "ema": np.full(50, 2.0),
         "rsi": rng.uniform(50, 90, 50)}
    sig = check_actions(compiled, s)
    assert sig.entry_long.any() and sig.exit_long.any()
    assert set(sig.exit_long_pct[sig.exit_long]) == {40.0}


@settings(max_examples=40, deadline=None)
@given(series=series_st(), mode=st.sampled_from(["long_only", "short_only", "long_short"]))
def test_actions_vectorised_equals_incremental(series: dict[str, np.ndarray], mode: str) -> None:
    s = {k: series[k] for k in ("close", "ema", "rsi")}
    raw = [*CASES, {"cases": [{"when": {"holds_for": {"bars": 2, "expr": [["close", ">", 1]]}},
                               "emit": ["exit_short"]}]}]
    check_actions(actions_of(raw, mode=mode), s)


# ---------------------------------------------------------------- wider values, shared work

WIDE = st.sampled_from([NAN, math.inf, -math.inf, -0.0, 0.0, 1.0, -1.0, 2.0, 1e308, -1e308,
                        5e-324])


@st.composite
def wide_series_st(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(0, 12))
    out = {k: np.array(draw(st.lists(WIDE, min_size=n, max_size=n)), dtype=float) for k in CONT}
    out["trend.direction"] = np.array(draw(st.lists(DISCRETE, min_size=n, max_size=n)),
                                      dtype=float)
    return out


def wide_nodes() -> st.SearchStrategy[Node]:
    """Offsets past the history, infinite and overflowing operands, constant-only operands."""
    e = st.recursive(
        st.one_of(st.builds(Const, st.sampled_from([NAN, math.inf, -0.0, 1.0, 1e308])),
                  st.builds(Ref, st.sampled_from(CONT), st.integers(0, 14))),
        lambda inner: st.builds(Arith, st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
        max_leaves=3,
    )
    leaf = st.one_of(
        st.builds(Compare, st.sampled_from([">", "<", ">=", "<=", "==", "!="]), e, e),
        st.builds(Cross, st.sampled_from(["above", "below"]), e, e),
        st.builds(Between, e, e, e),
        st.builds(Near, st.sampled_from(["pct", "abs"]), e, e, e),
        st.builds(In, st.builds(Ref, st.just("trend.direction"), st.integers(0, 3)),
                  st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=1, max_size=2)
                  .map(tuple)),
    )
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(All, st.lists(inner, min_size=0, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(inner, min_size=0, max_size=3).map(tuple)),
        st.builds(Not, inner)), max_leaves=4)


@settings(max_examples=300, deadline=None)
@given(node=wide_nodes(), series=wide_series_st())
def test_vectorised_equals_incremental_wide(node: Node, series: dict[str, np.ndarray]) -> None:
    """The vectorised evaluator (operands compared on their common bars, crosses from one
    comparison shifted by a bar) answers as the bar-by-bar one on every bar."""
    plan = ConditionPlan.of(node)
    n = len(series["close"])
    vec = evaluate_vectorized(plan, series, n=n)
    assert vec.dtype == bool and vec.shape == (n,)
    assert vec.tolist() == (incremental(plan, series) if n else [])


EMITS = st.sampled_from(["entry_long", "entry_short", "exit_long", "exit_short", "exit_all",
                         "no_action"])


@st.composite
def action_blocks(draw: st.DrawFn) -> list[dict[str, Any]]:
    conds = st.sampled_from([[["rsi", "<", 1]], [["rsi", ">", 0]],
                             [["close", "cross_above", "ema"]], [["close", "cross_below", "ema"]],
                             [["close", ">=", "ema"]]])
    emit = st.builds(lambda a, p: {"action": a, "percent": p} if a.startswith("exit") else
                     {"action": a}, EMITS, st.sampled_from([10, 50, 100]))
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        cases = [{"when": draw(conds), "emit": draw(st.lists(emit, min_size=1, max_size=2))}
                 for _ in range(draw(st.integers(1, 3)))]
        block: dict[str, Any] = {"cases": cases}
        if draw(st.booleans()):
            block["else"] = {"emit": draw(st.lists(emit, min_size=1, max_size=2))}
        blocks.append(block)
    return blocks


@settings(max_examples=150, deadline=None)
@given(blocks=action_blocks(), series=series_st(),
       mode=st.sampled_from(["long_only", "short_only", "long_short"]),
       exit_mode=st.sampled_from(["signal", "sl_tp_only", "first_hit"]))
def test_actions_vectorised_equals_incremental_any_blocks(
        blocks: list[dict[str, Any]], series: dict[str, np.ndarray], mode: str,
        exit_mode: str) -> None:
    """Case blocks in any shape (one action hit by several cases, exits with different
    percents, else branches) under every policy: evaluate_actions == ActionEvaluator, and
    every signal is an array of its own."""
    s = {k: series[k] for k in ("close", "ema", "rsi")}
    sig = check_actions(actions_of(blocks, mode=mode, exit_mode=exit_mode), s)
    arrays = [sig.entry_long, sig.entry_short, sig.exit_long, sig.exit_short,
              sig.exit_long_pct, sig.exit_short_pct]
    assert len({id(a) for a in arrays}) == 6
    assert all(not np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:])


@pytest.mark.parametrize(("direction", "close"), [("above", [-math.inf, 3.0]),
                                                  ("below", [math.inf, 1.0]),
                                                  ("above", [1.0, math.inf]),
                                                  ("below", [3.0, -math.inf])])
def test_cross_needs_both_bars_finite(direction: str, close: list[float]) -> None:
    """An infinite operand on either bar of a cross makes it false (the previous bar's
    comparison alone would hold)."""
    plan = ConditionPlan.of(Cross(direction, Ref("close"), Ref("ema")))  # type: ignore[arg-type]
    s = {"close": np.array(close), "ema": np.array([2.0, 2.0])}
    assert evaluate_vectorized(plan, s).tolist() == incremental(plan, s) == [False, False]


@pytest.mark.parametrize("direction", ["above", "below"])
@pytest.mark.parametrize("const_side", ["lhs", "rhs"])
def test_cross_with_a_constant(direction: str, const_side: str) -> None:
    """A constant on one side of a cross (it is the same on the previous bar); an infinite or
    missing value on the other side's previous or current bar makes it false."""
    close = np.array([1.0, 3.0, 1.0, math.inf, 1.0, 3.0, NAN, 1.0, 3.0, 1.0])
    lhs, rhs = (Const(2.0), Ref("close")) if const_side == "lhs" else (Ref("close"), Const(2.0))
    plan = ConditionPlan.of(Cross(direction, lhs, rhs))  # type: ignore[arg-type]
    s = {"close": close}
    got = evaluate_vectorized(plan, s).tolist()
    assert got == incremental(plan, s)
    assert any(got)  # some crosses survive the finiteness check
