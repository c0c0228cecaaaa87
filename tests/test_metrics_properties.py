"""Property tests of trade.metrics (hypothesis): invariants, and a plain-Python reference for
the drawdown and the trade statistics."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trade.metrics import METRIC_DOCS, compute_metrics
from trade.sim.results import EXIT_REASONS, trades_table

DAY = 86_400_000
MIN = 60_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % DAY)  # a UTC midnight

# Daily-scale returns on a 0.1 % grid: distinct values differ by far more than rounding, so
# "zero volatility" is decided the same way for every scaled copy of a curve.
grid_returns = st.integers(min_value=-150, max_value=150).map(lambda k: k / 1000.0)


@st.composite
def curves(draw: st.DrawFn, min_rows: int = 1, max_rows: int = 60) -> tuple[pd.DataFrame, float]:
    n = draw(st.integers(min_value=min_rows, max_value=max_rows))
    gaps = draw(st.lists(st.integers(1, 3 * 24 * 60), min_size=n, max_size=n))  # minutes
    ts = T0 + np.cumsum(np.array(gaps, dtype=np.int64)) * MIN
    rets = np.array(draw(st.lists(grid_returns, min_size=n, max_size=n)))
    initial = draw(st.sampled_from([100.0, 10_000.0, 1_234.5]))
    equity = initial * np.cumprod(1.0 + rets)
    pos = np.array(draw(st.lists(st.sampled_from([-0.5, 0.0, 0.0, 2.0]), min_size=n, max_size=n)))
    frame = pd.DataFrame(
        {"ts": ts, "equity": equity, "wallet_balance": equity, "position_qty": pos}
    )
    return frame, initial


def _assert_clean(m: dict) -> None:
    assert list(m) == list(METRIC_DOCS)
    for key, value in m.items():
        assert value is None or type(value) in (int, float), key
        if isinstance(value, float):
            assert math.isfinite(value), key
        if METRIC_DOCS[key].unit == "count":  # an int, or None only where documented
            assert type(value) is int or (value is None and METRIC_DOCS[key].undefined_when), key
    json.dumps(m, allow_nan=False)


@given(curves())
def test_values_are_defined_and_bounded(case: tuple[pd.DataFrame, float]) -> None:
    frame, initial = case
    m = compute_metrics(frame, None, initial_balance=initial)
    _assert_clean(m)
    assert 0.0 <= m["max_drawdown"] <= 1.0
    assert 0.0 <= m["time_in_drawdown"] <= 1.0
    assert m["max_drawdown_duration_days"] <= m["longest_drawdown_days"] + 1e-12
    assert 0.0 <= m["exposure"] <= 1.0
    assert m["long_exposure"] + m["short_exposure"] == pytest.approx(m["exposure"])
    assert m["worst_day"] <= m["var_95"] + 1e-15
    assert m["cvar_95"] <= m["var_95"] + 1e-15
    assert m["worst_day"] <= m["avg_daily_return"] <= m["best_day"]
    if m["sharpe"] is not None:
        assert np.sign(m["sharpe"]) == np.sign(m["avg_daily_return"])
    if m["avg_drawdown"] is not None:
        assert m["avg_drawdown"] <= m["max_drawdown"] + 1e-15
    n_days = (int(frame["ts"].iloc[-1]) // DAY) - (int(frame["ts"].iloc[0]) // DAY) + 1
    assert m["n_days"] == n_days


def _naive_drawdown(equity: list[float], initial: float) -> tuple[float, float]:
    peak = initial
    worst = worst_usdt = 0.0
    for e in equity:
        peak = max(peak, e)
        worst = max(worst, (peak - e) / peak)
        worst_usdt = max(worst_usdt, peak - e)
    return worst, worst_usdt


@given(curves())
def test_drawdown_matches_a_plain_loop(case: tuple[pd.DataFrame, float]) -> None:
    frame, initial = case
    m = compute_metrics(frame, None, initial_balance=initial)
    dd, dd_usdt = _naive_drawdown(frame["equity"].tolist(), initial)
    assert m["max_drawdown"] == pytest.approx(dd, rel=1e-12, abs=1e-15)
    assert m["max_drawdown_usdt"] == pytest.approx(dd_usdt, rel=1e-12, abs=1e-9)
    assert (m["drawdown_count"] == 0) == (dd == 0.0)


RATIO_KEYS = [k for k, d in METRIC_DOCS.items() if d.unit in ("fraction", "ratio", "days", "count")]


@given(curves(min_rows=2), st.sampled_from([1e-3, 0.37, 7.0, 25_000.0]))
def test_scaling_equity_leaves_ratios_unchanged(case: tuple[pd.DataFrame, float], k: float) -> None:
    frame, initial = case
    scaled = frame.assign(equity=frame["equity"] * k, position_qty=frame["position_qty"] * k)
    closes = pd.DataFrame({"ts": frame["ts"], "close": frame["equity"] * 3.0 + 1.0})
    a = compute_metrics(frame, None, initial_balance=initial, benchmark_close=closes)
    b = compute_metrics(scaled, None, initial_balance=initial * k, benchmark_close=closes)
    for key in RATIO_KEYS:
        if a[key] is None:
            assert b[key] is None, key
        else:
            assert b[key] == pytest.approx(a[key], rel=1e-9, abs=1e-10), key
    for key in ("net_profit", "final_equity", "max_drawdown_usdt"):
        assert b[key] == pytest.approx(a[key] * k, rel=1e-9, abs=1e-9), key


@given(curves(), st.data())
def test_monotone_equity_has_no_drawdown(
    case: tuple[pd.DataFrame, float], data: st.DataObject
) -> None:
    frame, initial = case
    steps = data.draw(st.lists(st.integers(0, 50), min_size=len(frame), max_size=len(frame)))
    equity = initial * (1.0 + np.cumsum(np.array(steps)) / 1000.0)
    m = compute_metrics(frame.assign(equity=equity), None, initial_balance=initial)
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_usdt"] == 0.0
    assert m["drawdown_count"] == 0
    assert m["max_drawdown_duration_days"] == 0.0
    assert m["ulcer_index"] == 0.0
    assert m["calmar"] is None and m["recovery_factor"] is None
    assert m["worst_day"] >= 0.0
    assert m["sortino"] is None  # no day below the (zero) risk-free rate


@given(curves(min_rows=2))
def test_unsorted_rows_are_rejected_with_the_row(case: tuple[pd.DataFrame, float]) -> None:
    frame, initial = case
    swapped = frame.iloc[[1, 0, *range(2, len(frame))]].reset_index(drop=True)
    with pytest.raises(ValueError, match=r"equity curve row 1: ts"):
        compute_metrics(swapped, None, initial_balance=initial)


# ------------------------------------------------------------------------------------------
# trades against a plain-Python reference
# ------------------------------------------------------------------------------------------


@st.composite
def trade_logs(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(min_value=0, max_value=25))
    rows = []
    for i in range(n):
        entry = T0 + draw(st.integers(0, 20 * 24 * 60)) * MIN
        exit_ = entry + draw(st.integers(0, 3 * 24 * 60)) * MIN
        entry_price = draw(st.sampled_from([100.0, 20_000.0, 0.5]))
        qty = draw(st.sampled_from([0.01, 1.0, 3.0]))
        gross = draw(st.integers(-50, 50)) / 4.0  # ties and zeros are likely
        fees = draw(st.sampled_from([0.0, 0.25, 0.5]))
        funding = draw(st.sampled_from([-0.25, 0.0, 0.25]))
        mae = -draw(st.integers(0, 40)) / 4.0
        mfe = draw(st.integers(0, 40)) / 4.0
        rows.append(
            {
                "trade_id": i,
                "symbol": "BTCUSDT",
                "side": draw(st.sampled_from([1, -1])),
                "entry_ts": entry,
                "exit_ts": exit_,
                "entry_price": entry_price,
                "exit_price": entry_price * 1.01,
                "qty": qty,
                "gross_pnl": gross,
                "fees": fees,
                "funding": funding,
                "net_pnl": gross - fees - funding,
                "exit_reason": draw(st.sampled_from(EXIT_REASONS)),
                "mae": mae,
                "mfe": mfe,
                "leverage": draw(st.sampled_from([1.0, 5.0, 10.0])),
            }
        )
    draw(st.randoms()).shuffle(rows)  # the log's row order must not matter for streaks
    return rows


def _streak(seq: list[bool]) -> int:
    best = cur = 0
    for x in seq:
        cur = cur + 1 if x else 0
        best = max(best, cur)
    return best


def _reference(rows: list[dict], span_days: float) -> dict:
    net = [r["net_pnl"] for r in rows]
    wins = [x for x in net if x > 0]
    losses = [x for x in net if x < 0]
    ordered = sorted(rows, key=lambda r: (r["exit_ts"], r["trade_id"]))
    ref: dict = {
        "num_trades": len(rows),
        "num_long": sum(r["side"] == 1 for r in rows),
        "num_short": sum(r["side"] == -1 for r in rows),
        "win_rate": len(wins) / len(rows) if rows else None,
        "profit_factor": sum(wins) / -sum(losses) if losses else None,
        "expectancy": statistics.fmean(net) if rows else None,
        "avg_win": statistics.fmean(wins) if wins else None,
        "avg_loss": statistics.fmean(losses) if losses else None,
        "largest_win": max(net) if rows else None,
        "largest_loss": min(net) if rows else None,
        "max_win_streak": _streak([r["net_pnl"] > 0 for r in ordered]),
        "max_loss_streak": _streak([r["net_pnl"] < 0 for r in ordered]),
        "trades_per_day": len(rows) / span_days,
        "fees_paid": sum(r["fees"] for r in rows),
        "funding_paid": sum(r["funding"] for r in rows),
        "gross_pnl": sum(r["gross_pnl"] for r in rows),
        "net_pnl": sum(net),
        "long_pnl": sum(r["net_pnl"] for r in rows if r["side"] == 1),
        "short_pnl": sum(r["net_pnl"] for r in rows if r["side"] == -1),
        "mae_worst": min(r["mae"] for r in rows) if rows else None,
        "mfe_best": max(r["mfe"] for r in rows) if rows else None,
        "mae_median": statistics.median(r["mae"] for r in rows) if rows else None,
        "avg_holding_hours": statistics.fmean((r["exit_ts"] - r["entry_ts"]) / 3.6e6 for r in rows)
        if rows
        else None,
        "traded_notional": sum(r["qty"] * (r["entry_price"] + r["exit_price"]) for r in rows),
        "liquidations": sum(r["exit_reason"] == "liquidation" for r in rows),
    }
    for reason in EXIT_REASONS:
        ref[f"exits_{reason}"] = sum(r["exit_reason"] == reason for r in rows)
    if wins and losses:
        b = ref["avg_win"] / -ref["avg_loss"]
        ref["payoff_ratio"] = b
        ref["kelly"] = ref["win_rate"] - (1 - ref["win_rate"]) / b
    else:
        ref["payoff_ratio"] = ref["kelly"] = None
    if len(rows) >= 2 and len(set(net)) > 1:
        ref["sqn"] = math.sqrt(len(rows)) * statistics.fmean(net) / statistics.stdev(net)
    else:
        ref["sqn"] = None
    return ref


@given(trade_logs(), st.booleans())
def test_trade_statistics_match_a_plain_reference(rows: list[dict], as_pandas: bool) -> None:
    n_bars = 30 * 24
    ts = T0 + np.arange(n_bars, dtype=np.int64) * 60 * MIN  # hourly rows over 30 days
    curve = pa.table(
        {
            "ts": ts,
            "equity": np.full(n_bars, 1000.0),
            "wallet_balance": np.full(n_bars, 1000.0),
            "position_qty": np.zeros(n_bars),
        }
    )
    table = trades_table(rows)
    trades = table.to_pandas() if as_pandas else table
    m = compute_metrics(curve, trades, initial_balance=1000.0)
    _assert_clean(m)
    span_days = (int(ts[-1]) + MIN - int(ts[0])) / DAY
    for key, expected in _reference(rows, span_days).items():
        if expected is None:
            assert m[key] is None, key
        else:
            assert m[key] == pytest.approx(expected, rel=1e-12, abs=1e-12), key
    if m["win_rate"] is not None:
        assert 0.0 <= m["win_rate"] <= 1.0
    assert m["max_win_streak"] + m["max_loss_streak"] <= m["num_trades"]
