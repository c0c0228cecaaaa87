"""Honest sweep statistics: the walk-forward efficiency is annualised out-of-sample over
annualised in-sample return, defined only when the in-sample return is positive (sign cases,
lower-is-better ranking metrics); the deflated Sharpe ratio counts every variant that ran as
a trial (no-trade ones with a Sharpe ratio of 0), eligibility only choosing the best."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.sweep import deflated_sharpe, pbo_cscv, summarize
from trade.sweep.analysis import annualised, wf_efficiency
from trade.sweep.windows import Window

DAY = 86_400_000
WINDOWS = (Window(0, 60 * DAY, 60 * DAY, 90 * DAY), Window(30 * DAY, 90 * DAY, 90 * DAY,
                                                              120 * DAY))

finite = st.floats(-5, 5, allow_nan=False)


@given(ann_is=finite, ann_oos=finite)
def test_efficiency_sign_cases(ann_is: float, ann_oos: float) -> None:
    eff, why = wf_efficiency(ann_is, ann_oos)
    if ann_is <= 0:
        # a ratio against a loss (or zero) would read worse-out-of-sample as "efficient"
        assert eff is None and why is not None and "not positive" in why
        return
    assert eff is not None and why is None
    assert eff == pytest.approx(ann_oos / ann_is)
    assert (eff < 1) == (ann_oos < ann_is)  # below 1 exactly when out of sample is worse
    assert (eff < 0) == (ann_oos < 0)


def test_the_reported_cases() -> None:
    # in-sample -21.2, out-of-sample -27.1 (worse): once 1.28, now undefined
    assert wf_efficiency(-0.212, -0.271)[0] is None
    assert wf_efficiency(-0.1, -0.41)[0] is None  # four times worse: once 4.1
    assert wf_efficiency(0.2, -0.1)[0] == pytest.approx(-0.5)
    assert wf_efficiency(0.2, 0.1)[0] == pytest.approx(0.5)
    assert wf_efficiency(None, 0.1) == (None, "no window had a chosen variant")
    assert annualised(0.05, 36.5) == pytest.approx(0.5)


def _wf_table(is_score: list[list[float]], oos_score: list[list[float]],
              is_ret: list[list[float]], oos_ret: list[list[float]]) -> pa.Table:
    n = len(is_score)
    return pa.table({
        "variant_id": [f"v{i}" for i in range(n)],
        "param.x": list(range(n)),
        "n_trades": [10] * n,
        "eligible": [True] * n,
        "error": pa.array([None] * n, type=pa.string()),
        "metric.sharpe": [1.0] * n,
        "metric.max_drawdown": [0.1] * n,
        "wf.is_score": is_score, "wf.oos_score": oos_score,
        "wf.is_trades": [[5] * len(is_score[0])] * n,
        "wf.is_return": is_ret, "wf.oos_return": oos_ret,
    })


@pytest.mark.parametrize("sort", ["sharpe", "max_drawdown"])
def test_efficiency_is_on_returns_whatever_the_ranking_metric(sort: str) -> None:
    # variant 0 has the best sharpe-like (higher) score, variant 1 the best (lowest) drawdown
    table = _wf_table(is_score=[[2.0, 2.0], [0.5, 0.5]], oos_score=[[1.0, 1.0], [0.4, 0.4]],
                      is_ret=[[0.10, 0.10], [0.05, 0.05]],
                      oos_ret=[[0.01, 0.02], [0.04, -0.01]])
    wf = summarize(table, sort, windows=WINDOWS)["walk_forward"]
    chosen = 0 if sort == "sharpe" else 1
    assert [s["variant_id"] for s in wf["windows"]] == [f"v{chosen}"] * 2
    r_is = table.column("wf.is_return")[chosen].as_py()
    r_oos = table.column("wf.oos_return")[chosen].as_py()
    ann_is = np.mean([annualised(r_is[0], 60), annualised(r_is[1], 60)])
    ann_oos = np.mean([annualised(r_oos[0], 30), annualised(r_oos[1], 30)])
    assert wf["annualised_is_return"] == pytest.approx(ann_is)
    assert wf["efficiency"] == pytest.approx(ann_oos / ann_is)


def test_losing_in_sample_gives_no_efficiency_and_a_flag() -> None:
    table = _wf_table(is_score=[[-21.2, -21.2]], oos_score=[[-27.1, -27.1]],
                      is_ret=[[-0.05, -0.04]], oos_ret=[[-0.06, -0.05]])
    out = summarize(table, "sharpe", windows=WINDOWS)
    wf = out["walk_forward"]
    assert wf["efficiency"] is None and "not positive" in wf["efficiency_note"]
    assert out["overfit"] and any("efficiency undefined" in r for r in out["overfit_reasons"])


def test_a_lower_is_better_ranking_never_flags_a_positive_drawdown() -> None:
    """Drawdowns are >= 0: 'out-of-sample <= 0 while in-sample > 0' is a higher-is-better
    test only; an improved drawdown is not an overfitting sign."""
    table = _wf_table(is_score=[[0.20, 0.20]], oos_score=[[0.10, 0.10]],
                      is_ret=[[0.10, 0.10]], oos_ret=[[0.06, 0.06]])
    out = summarize(table, "max_drawdown", windows=WINDOWS)
    assert out["walk_forward"]["efficiency"] == pytest.approx((0.06 * 365 / 30) /
                                                              (0.10 * 365 / 60))
    assert not any("out-of-sample" in r for r in out["overfit_reasons"])


# ------------------------------------------------------------------- deflated Sharpe


def _dsr_table(rets: list[list[float]], eligible: list[bool], errors: list[str | None]
               ) -> pa.Table:
    n = len(rets)
    sharpe = [float(np.mean(r) / np.std(r, ddof=1) * math.sqrt(365)) if np.std(r) > 0
              else None for r in rets]
    return pa.table({
        "variant_id": [f"v{i}" for i in range(n)], "param.x": list(range(n)),
        "n_trades": [5 if e else 0 for e in eligible], "eligible": eligible,
        "error": pa.array(errors, type=pa.string()),
        "metric.sharpe": pa.array(sharpe, type=pa.float64()),
        "daily_returns": rets,
    })


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_flat=st.integers(0, 6), n_traded=st.integers(2, 8),
       n_error=st.integers(0, 3))
def test_every_variant_that_ran_is_a_trial(seed: int, n_flat: int, n_traded: int,
                                           n_error: int) -> None:
    rng = np.random.default_rng(seed)
    t = 20  # 10 CSCV blocks: 252 splits (60 days would be 12 870 per example)
    traded = [list(rng.normal(0.001, 0.02, t)) for _ in range(n_traded)]
    flat = [[0.0] * t for _ in range(n_flat)]
    broken: list[list[float]] = [[0.0] * t for _ in range(n_error)]
    rets = traded + flat + broken
    # only the first two traded variants pass --min-trades: eligibility picks the best
    eligible = [i < 2 for i in range(n_traded)] + [False] * (n_flat + n_error)
    errors: list[str | None] = [None] * (n_traded + n_flat) + ["bad value"] * n_error
    out = summarize(_dsr_table(rets, eligible, errors), "sharpe")
    ran = traded + flat
    assert out["n_trials"] == len(ran)  # every variant that ran, and only those
    mat = np.array(ran).T
    sd = mat.std(axis=0, ddof=1)
    srs = np.where(sd > 0, mat.mean(axis=0) / np.where(sd > 0, sd, 1.0), 0.0)
    best = int(np.argmax([np.mean(r) / np.std(r, ddof=1) for r in traded[:2]]))
    assert out["best"]["variant_id"] == f"v{best}"
    expected = deflated_sharpe(np.asarray(traded[best]), srs)
    assert out["deflated_sharpe"] == (pytest.approx(expected, abs=1e-15)
                                      if expected is not None else None)
    assert out["pbo"] == pbo_cscv(mat)


def test_no_trade_variants_lower_the_deflated_sharpe_they_used_to_raise() -> None:
    rng = np.random.default_rng(5)
    traded = [list(rng.normal(0.002, 0.02, 90)) for _ in range(4)]
    flat = [[0.0] * 90 for _ in range(6)]
    few: dict[str, Any] = summarize(_dsr_table(traded, [True] * 4, [None] * 4), "sharpe")
    many = summarize(_dsr_table(traded + flat, [True] * 4 + [False] * 6, [None] * 10),
                     "sharpe")
    assert (few["n_trials"], many["n_trials"]) == (4, 10)
    assert many["best"] == few["best"]
    assert many["deflated_sharpe"] != few["deflated_sharpe"]
