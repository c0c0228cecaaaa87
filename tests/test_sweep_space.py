"""Parameter spaces: spec parsing, grid / random enumeration, constraints, variant ids."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core import InputError
from trade.sweep import Constraint, Dimension, Space, parse_dimension, variant_id
from trade.sweep.windows import WalkForward, holdout_start

BASE = {"features": {"ema_fast": {"params": {"length": 9}},
                     "ema_slow": {"params": {"length": 21}}},
        "risk": {"stop_loss_pct": 4.0}}
FAST = "features.ema_fast.params.length"
SLOW = "features.ema_slow.params.length"


def test_parse_specs() -> None:
    assert parse_dimension(f"{FAST}=range:5:20:5").values == (5, 10, 15, 20)
    assert parse_dimension("risk.stop_loss_pct=range:0.5:1.5:0.5").values == (0.5, 1.0, 1.5)
    d = parse_dimension("x.y=values:1, 2.5,abc,true")
    assert d.values == (1, 2.5, "abc", True)
    assert d.arrow_kind() == "str"
    i = parse_dimension(f"{FAST}=int:5..50")
    assert (i.kind, i.low, i.high) == ("int", 5.0, 50.0)
    f = parse_dimension("risk.stop_loss_pct=float:0.1..3:log")
    assert f.kind == "float" and f.log


@pytest.mark.parametrize("bad", ["nopath", "a.b=range:1:2", "a.b=range:5:1:1", "a.b=int:1.5..3",
                                 "a.b=values:", "a.b=weird:1", "a.b=float:x..2", "a..b=values:1",
                                 "a.b=range:1:5:0"])
def test_bad_specs_name_the_parameter(bad: str) -> None:
    with pytest.raises(InputError):
        parse_dimension(bad)


def test_grid_with_constraint_is_the_filtered_product() -> None:
    dims = (parse_dimension(f"{FAST}=range:5:30:5"), parse_dimension(f"{SLOW}=range:10:40:10"),
            parse_dimension("risk.stop_loss_pct=values:1,2"))
    space = Space(dims, (Constraint.parse(f"{FAST} < {SLOW}"),), BASE)
    got = [tuple(p.values()) for p in space.grid()]
    want = [c for c in itertools.product((5, 10, 15, 20, 25, 30), (10, 20, 30, 40), (1, 2))
            if c[0] < c[1]]
    assert got == want
    assert space.grid_size() == 48


def test_constraint_uses_base_values_and_arithmetic() -> None:
    space = Space((parse_dimension(f"{FAST}=range:5:30:5"),),
                  (Constraint.parse(f"2 * {FAST} <= {SLOW} and not {FAST} == 10"),), BASE)
    assert [p[FAST] for p in space.grid()] == [5]  # 2*5 <= 21, 10 excluded, 15 too big


@pytest.mark.parametrize("expr", ["__import__('os').system('x')", "a.b < c()", "[1] == [1]",
                                  "lambda: 1", "a.b if c else d"])
def test_constraint_refuses_code(expr: str) -> None:
    with pytest.raises(InputError):
        Constraint.parse(expr)


def test_constraint_on_unknown_path_is_refused() -> None:
    with pytest.raises(InputError, match=r"features\.nope"):
        Space((parse_dimension(f"{FAST}=values:1"),), (Constraint.parse("features.nope < 3"),),
              BASE)


def test_grid_of_ranges_is_refused() -> None:
    space = Space((parse_dimension(f"{FAST}=int:5..50"),), (), BASE)
    with pytest.raises(InputError, match="random or bayes"):
        list(space.grid())


@settings(max_examples=25, deadline=None)
@given(lo=st.integers(2, 30), width=st.integers(0, 40), budget=st.integers(1, 30),
       seed=st.integers(0, 10_000))
def test_random_points_are_distinct_admissible_and_seeded(lo: int, width: int, budget: int,
                                                          seed: int) -> None:
    space = Space((Dimension(FAST, "int", low=lo, high=lo + width),
                   Dimension("risk.stop_loss_pct", "float", low=0.5, high=3.0)),
                  (Constraint.parse(f"{FAST} < {SLOW}"),), BASE)
    pts = list(space.random(budget, seed))
    assert pts == list(space.random(budget, seed))
    assert len({variant_id(p) for p in pts}) == len(pts)
    assert len(pts) <= budget
    for p in pts:
        assert lo <= p[FAST] <= min(lo + width, 20)
        assert 0.5 <= p["risk.stop_loss_pct"] <= 3.0
    if lo < 21:
        assert pts  # an admissible point exists, so random search finds some


def test_random_on_small_grid_returns_the_grid() -> None:
    space = Space((parse_dimension(f"{FAST}=values:3,4,5"),), (), BASE)
    assert list(space.random(10, 1)) == list(space.grid())


def test_variant_id_is_stable_and_canonical() -> None:
    a = variant_id({FAST: 30, "risk.stop_loss_pct": 2})
    assert a == variant_id({"risk.stop_loss_pct": 2.0, FAST: 30.0})
    assert a != variant_id({FAST: 31, "risk.stop_loss_pct": 2})
    assert len(a) == 16


DAY = 86_400_000


@settings(max_examples=40, deadline=None)
@given(train=st.integers(1, 40), test=st.integers(1, 20), step=st.integers(1, 20),
       total=st.integers(2, 200), anchored=st.booleans())
def test_walk_forward_windows(train: int, test: int, step: int, total: int,
                              anchored: bool) -> None:
    spec = f"train={train}d,test={test}d,step={step}d,{'anchored' if anchored else 'rolling'}"
    wf = WalkForward.parse(spec)
    start = 1_700_000_000_000
    if train + test > total:
        with pytest.raises(InputError):
            wf.windows(start, start + total * DAY)
        return
    ws = wf.windows(start, start + total * DAY)
    assert len(ws) == (total - train - test) // step + 1
    for k, w in enumerate(ws):
        assert w.train_end == w.test_start  # test follows train, no overlap
        assert w.train_start < w.train_end <= w.test_start < w.test_end <= start + total * DAY
        assert w.test_end - w.test_start == test * DAY
        assert w.test_start == start + (train + k * step) * DAY
        if anchored:
            assert w.train_start == start
        else:
            assert w.train_end - w.train_start == train * DAY


def test_holdout_split() -> None:
    start = 1_700_000_000_000
    end = start + 100 * DAY
    assert holdout_start("20%", start, end) == start + 80 * DAY
    assert holdout_start("10d", start, end) == start + 90 * DAY
    for bad in ("0%", "100%", "200d", "abc"):
        with pytest.raises(InputError):
            holdout_start(bad, start, end)
