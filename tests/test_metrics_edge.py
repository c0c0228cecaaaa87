"""trade.metrics: hand-computed examples, edge cases (defined values, never NaN) and bad input."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trade.core.errors import InputError
from trade.metrics import (
    DEFAULT_SUMMARY_KEYS,
    GROUPS,
    METRIC_DOCS,
    compute_metrics,
    daily_returns,
    summary_table,
)
from trade.metrics.docs import EXIT_REASON_KEYS
from trade.sim.margin import MarginRisk, MarginTracker
from trade.sim.results import EXIT_REASONS, equity_table, trades_table

DAY = 86_400_000
HOUR = 3_600_000
MIN = 60_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % DAY)  # a UTC midnight


def _curve(ts: list[int] | np.ndarray, equity: list[float] | np.ndarray, pos=None) -> pa.Table:
    ts = np.asarray(ts, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    pos = np.zeros(len(ts)) if pos is None else np.asarray(pos, dtype=np.float64)
    return equity_table(
        {"ts": int(t), "equity": float(e), "wallet_balance": float(e), "position_qty": float(p)}
        for t, e, p in zip(ts, equity, pos, strict=True)
    )


def _trade(**kw: object) -> dict:
    row = {
        "trade_id": 0,
        "symbol": "BTCUSDT",
        "side": 1,
        "entry_ts": T0,
        "exit_ts": T0 + HOUR,
        "entry_price": 100.0,
        "exit_price": 110.0,
        "qty": 1.0,
        "gross_pnl": 10.0,
        "fees": 0.5,
        "funding": 0.1,
        "net_pnl": 9.4,
        "exit_reason": "take_profit",
        "mae": -2.0,
        "mfe": 12.0,
        "leverage": 3.0,
    }
    row.update(kw)
    return row


def _no_nan(m: dict) -> None:
    json.dumps(m, allow_nan=False)
    assert list(m) == list(METRIC_DOCS)


# ------------------------------------------------------------------------------------------
# the documentation table
# ------------------------------------------------------------------------------------------


def test_metric_docs_cover_every_key_and_are_well_formed() -> None:
    assert len(METRIC_DOCS) >= 50
    m = compute_metrics(_curve([T0], [100.0]), None, initial_balance=100.0)
    assert list(m) == list(METRIC_DOCS)
    for name, doc in METRIC_DOCS.items():
        assert doc.name == name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert doc.group in GROUPS
        assert doc.definition and doc.label
    assert {d.group for d in METRIC_DOCS.values()} == set(GROUPS)
    assert tuple(EXIT_REASON_KEYS) == EXIT_REASONS


# ------------------------------------------------------------------------------------------
# hand-computed example
# ------------------------------------------------------------------------------------------


def test_hand_computed_curve() -> None:
    # Day 0: 100 -> 110 (peak at 06:00) -> 99 (12:00); day 1: 121 (recovers at 00:00 + 6h);
    # day 2: 108.9. Initial balance 100.
    ts = [T0 + 6 * HOUR, T0 + 12 * HOUR, T0 + DAY + 6 * HOUR, T0 + 2 * DAY + 6 * HOUR]
    eq = [110.0, 99.0, 121.0, 108.9]
    pos = [1.0, 1.0, 0.0, -1.0]
    m = compute_metrics(_curve(ts, eq, pos), None, initial_balance=100.0)
    r = np.array([99.0 / 100.0 - 1, 121.0 / 99.0 - 1, 108.9 / 121.0 - 1])
    assert m["n_days"] == 3
    assert m["total_return"] == pytest.approx(0.089)
    assert m["net_profit"] == pytest.approx(8.9)
    assert m["best_day"] == pytest.approx(r.max())
    assert m["worst_day"] == pytest.approx(r.min())
    assert m["volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(r.mean() / np.std(r, ddof=1) * math.sqrt(365))
    assert m["cagr"] == pytest.approx(1.089 ** (365 / 3) - 1)
    assert m["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99 (bar level), then 121 -> 108.9
    assert m["max_drawdown_usdt"] == pytest.approx(12.1)
    # Two episodes: 110 (stamped 06:01) until 121 (day 1 06:01) = 1 day; 121 until the end.
    assert m["drawdown_count"] == 2
    assert m["max_drawdown_duration_days"] == pytest.approx(1.0)
    assert m["longest_drawdown_days"] == pytest.approx(1.0)
    assert m["avg_drawdown"] == pytest.approx(0.1)
    assert m["time_in_drawdown"] == pytest.approx(0.5)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)
    assert m["recovery_factor"] == pytest.approx(0.89)
    assert m["exposure"] == pytest.approx(0.75)
    assert m["long_exposure"] == pytest.approx(0.5)
    assert m["short_exposure"] == pytest.approx(0.25)
    # daily closes 99, 121, 108.9 against peaks 100, 121, 121
    assert m["ulcer_index"] == pytest.approx(math.sqrt((0.01**2 + 0 + 0.1**2) / 3))
    assert m["positive_months"] in (0.0, 1.0)


def test_trade_example_and_costs() -> None:
    rows = [
        _trade(trade_id=1, exit_ts=T0 + 2 * HOUR, net_pnl=9.4),
        _trade(
            trade_id=2,
            side=-1,
            exit_ts=T0 + 3 * HOUR,
            gross_pnl=-4.0,
            net_pnl=-4.6,
            exit_reason="liquidation",
            mae=-6.0,
            mfe=0.0,
        ),
        _trade(trade_id=3, exit_ts=T0 + 4 * HOUR, net_pnl=9.4, exit_reason="signal"),
    ]
    ts = T0 + np.arange(48) * HOUR
    m = compute_metrics(_curve(ts, np.full(48, 1000.0)), trades_table(rows), initial_balance=1000.0)
    _no_nan(m)
    assert m["num_trades"] == 3 and m["num_long"] == 2 and m["num_short"] == 1
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["long_win_rate"] == 1.0 and m["short_win_rate"] == 0.0
    assert m["profit_factor"] == pytest.approx(18.8 / 4.6)
    assert m["payoff_ratio"] == pytest.approx(9.4 / 4.6)
    assert m["kelly"] == pytest.approx(2 / 3 - (1 / 3) / (9.4 / 4.6))
    assert m["max_win_streak"] == 1 and m["max_loss_streak"] == 1
    assert m["liquidations"] == 1 and m["exits_liquidation"] == 1
    assert m["exits_take_profit"] == 1 and m["exits_signal"] == 1 and m["exits_flip"] == 0
    assert m["fees_paid"] == pytest.approx(1.5)
    assert m["funding_paid"] == pytest.approx(0.3)
    assert m["total_costs"] == pytest.approx(1.8)
    assert m["traded_notional"] == pytest.approx(3 * 210.0)
    assert m["costs_bps"] == pytest.approx(1.8 / 630.0 * 1e4)
    assert m["turnover"] == pytest.approx(0.63)
    assert m["trades_per_day"] == pytest.approx(3 / (47 * HOUR + MIN) * DAY)
    assert m["avg_holding_hours"] == pytest.approx(3.0)
    assert m["mae_worst"] == -6.0 and m["mfe_best"] == 12.0
    assert m["mfe_capture"] == pytest.approx(16.0 / 24.0)
    assert m["edge_ratio"] == pytest.approx(8.0 / (10.0 / 3))
    assert m["avg_trade_return"] == pytest.approx((9.4 - 4.6 + 9.4) / 100.0 / 3)
    assert m["avg_leverage"] == 3.0
    assert m["long_pnl"] == pytest.approx(18.8) and m["short_pnl"] == pytest.approx(-4.6)
    assert m["long_pnl"] + m["short_pnl"] == pytest.approx(m["net_pnl"])


# ------------------------------------------------------------------------------------------
# edge cases: defined values, never exceptions or NaN
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("trades", [None, "empty"])
def test_no_trades(trades: str | None) -> None:
    table = trades_table([]) if trades == "empty" else None
    ts = T0 + np.arange(5) * DAY
    m = compute_metrics(_curve(ts, [100, 101, 99, 102, 103]), table, initial_balance=100.0)
    _no_nan(m)
    assert m["num_trades"] == 0 and m["trades_per_day"] == 0.0
    for key in ("win_rate", "profit_factor", "expectancy", "avg_win", "kelly", "sqn", "mae_mean"):
        assert m[key] is None, key
    assert m["fees_paid"] == 0.0 and m["max_win_streak"] == 0 and m["exits_signal"] == 0
    assert m["sharpe"] is not None
    assert m["long_pnl"] == 0.0 and m["short_pnl"] == 0.0
    # no margin figures given: the whole margin group is undefined
    margin_keys = [k for k, d in METRIC_DOCS.items() if d.group == "margin"]
    assert len(margin_keys) == 7 and all(m[k] is None for k in margin_keys)


def test_constant_equity() -> None:
    ts = T0 + np.arange(0, 10 * DAY, HOUR)
    closes = pd.DataFrame({"ts": ts, "close": np.linspace(100, 120, len(ts))})
    m = compute_metrics(
        _curve(ts, np.full(len(ts), 500.0)),
        None,
        initial_balance=500.0,
        benchmark_close=closes,
        risk_free=0.0,
    )
    _no_nan(m)
    assert m["total_return"] == 0.0 and m["volatility"] == 0.0
    assert m["max_drawdown"] == 0.0 and m["drawdown_count"] == 0
    for key in ("sharpe", "sortino", "calmar", "skew", "kurtosis", "omega", "stability"):
        assert m[key] is None, key
    assert m["beta"] == pytest.approx(0.0, abs=1e-15) and m["correlation"] is None
    assert m["buy_and_hold_return"] == pytest.approx(0.2)


def test_constant_equity_with_risk_free_rate() -> None:
    ts = T0 + np.arange(10) * DAY
    m = compute_metrics(_curve(ts, np.full(10, 500.0)), None, initial_balance=500.0, risk_free=0.05)
    _no_nan(m)
    assert m["sharpe"] is None  # r - rf is constant: zero volatility, not a huge ratio
    assert m["sortino"] == pytest.approx(-math.sqrt(365))  # every day is below rf


def test_steady_growth_has_zero_volatility_not_a_huge_sharpe() -> None:
    ts = T0 + np.arange(30) * DAY
    m = compute_metrics(_curve(ts, 100.0 * 1.01 ** np.arange(1, 31)), None, initial_balance=100.0)
    _no_nan(m)
    assert m["sharpe"] is None and m["sortino"] is None and m["skew"] is None
    assert m["cagr"] == pytest.approx(1.01**365 - 1)


def test_single_day_and_single_bar() -> None:
    ts = T0 + np.arange(0, 20 * HOUR, MIN * 7)
    m = compute_metrics(_curve(ts, np.linspace(100, 90, len(ts))), None, initial_balance=100.0)
    _no_nan(m)
    assert m["n_days"] == 1
    assert m["volatility"] is None and m["sharpe"] is None and m["skew"] is None
    assert m["total_return"] == pytest.approx(-0.1)
    assert m["max_drawdown"] == pytest.approx(0.1)
    one = compute_metrics(_curve([T0], [100.0]), None, initial_balance=100.0)
    _no_nan(one)
    assert one["n_days"] == 1 and one["total_return"] == 0.0 and one["cagr"] == 0.0


def test_wipe_out_and_explosive_growth() -> None:
    ts = T0 + np.arange(4) * DAY
    m = compute_metrics(_curve(ts, [50.0, 0.0, 0.0, 0.0]), None, initial_balance=100.0)
    _no_nan(m)
    assert m["cagr"] == -1.0 and m["max_drawdown"] == 1.0 and m["stability"] is None
    big = compute_metrics(_curve([T0], [1e6]), None, initial_balance=1.0)
    _no_nan(big)
    assert big["cagr"] is None  # (1e6) ** 365 overflows: undefined, not inf


def test_days_without_bars_carry_the_previous_close() -> None:
    ts = [T0, T0 + 3 * DAY]  # two empty days in between
    days, r = daily_returns(_curve(ts, [110.0, 121.0]), initial_balance=100.0)
    assert list(days.astype(np.int64)) == [T0 // DAY + i for i in range(4)]
    np.testing.assert_allclose(r, [0.1, 0.0, 0.0, 0.1])


def test_pandas_with_datetime_ts_equals_pyarrow() -> None:
    ts = T0 + np.arange(0, 5 * DAY, 6 * HOUR)
    eq = 100 + np.sin(np.arange(len(ts)))
    table = _curve(ts, eq)
    frame = table.to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    assert compute_metrics(frame, None, initial_balance=100.0) == compute_metrics(
        table, None, initial_balance=100.0
    )


def test_benchmark_series_and_start_price() -> None:
    ts = T0 + np.arange(1, 4) * DAY
    closes = pd.Series(
        [10.0, 20.0, 22.0, 11.0], index=pd.to_datetime(T0 + np.arange(4) * DAY, unit="ms", utc=True)
    )
    m = compute_metrics(
        _curve(ts, [100.0, 100.0, 100.0]), None, initial_balance=100.0, benchmark_close=closes
    )
    # bought at the last close before the first bar (10), sold at 11
    assert m["buy_and_hold_return"] == pytest.approx(0.1)
    assert m["buy_and_hold_max_drawdown"] == pytest.approx(0.5)
    assert m["excess_return"] == pytest.approx(-0.1)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------


def _frame(n: int = 5) -> pd.DataFrame:
    ts = T0 + np.arange(n) * MIN
    return pd.DataFrame({"ts": ts, "equity": np.full(n, 100.0), "position_qty": np.zeros(n)})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(ts=f["ts"].iloc[[0, 1, 3, 2, 4]].to_numpy()), r"row 3: ts .* row 2"),
        (lambda f: f.assign(ts=f["ts"].iloc[[0, 1, 1, 3, 4]].to_numpy()), r"row 2: ts"),
        (lambda f: f.assign(equity=[100, 100, 100, np.nan, 100]), r"row 3: equity is nan"),
        (lambda f: f.assign(equity=[100, np.inf, 100, 100, 100]), r"row 1: equity is inf"),
        (lambda f: f.assign(position_qty=[0, 0, np.nan, 0, 0]), r"row 2: position_qty"),
        (lambda f: f.drop(columns="equity"), r"missing column 'equity'"),
        (lambda f: f.iloc[:0], r"no rows"),
        (lambda f: f.assign(equity=["a"] * 5), r"'equity' is not numeric"),
    ],
)
def test_bad_equity_curve(mutate, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compute_metrics(mutate(_frame()), None, initial_balance=100.0)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"side": 0}, r"row 1 \(trade_id 7\): side"),
        ({"exit_ts": T0 - MIN}, r"row 1 \(trade_id 7\): exit_ts is before entry_ts"),
        ({"exit_reason": "margin_call"}, r"row 1: exit_reason 'margin_call'"),
        ({"net_pnl": math.nan}, r"row 1: net_pnl is nan"),
        ({"mae": 1.0}, r"mae must be <= 0"),
        ({"mfe": -1.0}, r"mfe must be >= 0"),
        ({"entry_price": 0.0}, r"entry_price must be > 0"),
    ],
)
def test_bad_trade_log(row: dict, message: str) -> None:
    rows = [_trade(trade_id=6), _trade(trade_id=7, **row)]
    with pytest.raises(ValueError, match=message):
        compute_metrics(_frame(), pd.DataFrame(rows), initial_balance=100.0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="initial_balance must be > 0"):
        compute_metrics(_frame(), None, initial_balance=0.0)
    with pytest.raises(ValueError, match="initial_balance must be a finite"):
        compute_metrics(_frame(), None, initial_balance=math.nan)
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(_frame(), None, initial_balance=1.0, periods_per_year=0)
    with pytest.raises(ValueError, match="expected a pyarrow Table or a pandas DataFrame"):
        compute_metrics([1, 2, 3], None, initial_balance=1.0)  # type: ignore[arg-type]
    outside = pd.DataFrame({"ts": [T0 + 10 * DAY], "close": [1.0]})
    with pytest.raises(ValueError, match="benchmark_close: no rows between"):
        compute_metrics(_frame(), None, initial_balance=1.0, benchmark_close=outside)
    bad_close = pd.DataFrame({"ts": [T0, T0 + MIN], "close": [1.0, -1.0]})
    with pytest.raises(ValueError, match=r"benchmark_close row 1: close"):
        compute_metrics(_frame(), None, initial_balance=1.0, benchmark_close=bad_close)


# ------------------------------------------------------------------------------------------
# summary table
# ------------------------------------------------------------------------------------------


def test_summary_table() -> None:
    ts = T0 + np.arange(5) * DAY
    m = compute_metrics(_curve(ts, [100, 110, 99, 102, 103]), None, initial_balance=100.0)
    rows = summary_table(m)
    assert [label for label, _ in rows] == [METRIC_DOCS[k].label for k in DEFAULT_SUMMARY_KEYS]
    table = dict(rows)
    assert table["Total return"] == "3.00%"
    assert table["Trades"] == "0"
    assert table["Win rate"] == "n/a"
    assert table["Final equity"] == "103.00 USDT"
    assert summary_table(m, ["max_drawdown_duration_days"]) == [("Max drawdown duration", "3.0 d")]
    with pytest.raises(KeyError, match="unknown metric 'sharp'"):
        summary_table(m, ["sharp"])
    with pytest.raises(KeyError, match="missing"):
        summary_table({}, ["sharpe"])


# ------------------------------------------------------------------------------------------
# margin figures (trade.sim.margin.MarginRisk from the simulator's ledger)
# ------------------------------------------------------------------------------------------


def test_margin_figures_hand_case() -> None:
    ts = T0 + np.arange(3) * DAY
    risk = MarginRisk(min_margin_ratio=1.75, margin_call_bars=2, closest_liquidation_pct=4.5,
                      max_gross_exposure_pct=310.0, entry_attempts=8, entry_rejections=2)
    m = compute_metrics(_curve(ts, [100, 90, 95]), None, initial_balance=100.0, margin=risk)
    _no_nan(m)
    assert m["min_margin_ratio"] == 1.75 and m["margin_call_bars"] == 2
    assert m["closest_liquidation_pct"] == 4.5 and m["max_gross_exposure_pct"] == 310.0
    assert m["entry_attempts"] == 8 and m["entry_rejections"] == 2
    assert m["entry_rejection_rate"] == 0.25
    assert isinstance(m["margin_call_bars"], int) and isinstance(m["entry_attempts"], int)
    rows = dict(summary_table(m, ["min_margin_ratio", "closest_liquidation_pct",
                                  "max_gross_exposure_pct", "entry_rejection_rate"]))
    assert rows == {"Min margin ratio": "1.75x", "Closest to liquidation": "4.50%",
                    "Max gross exposure": "310.00%", "Entry rejection rate": "25.00%"}
    # the other metrics do not depend on the margin figures
    plain = compute_metrics(_curve(ts, [100, 90, 95]), None, initial_balance=100.0)
    assert {k: v for k, v in m.items() if METRIC_DOCS[k].group != "margin"} == \
        {k: v for k, v in plain.items() if METRIC_DOCS[k].group != "margin"}


def test_margin_figures_never_positioned_are_undefined_not_nan() -> None:
    ts = T0 + np.arange(3) * DAY
    flat = MarginTracker().result()  # a run that never held a position nor placed an entry
    m = compute_metrics(_curve(ts, [100, 100, 100]), None, initial_balance=100.0, margin=flat)
    _no_nan(m)
    assert m["min_margin_ratio"] is None and m["closest_liquidation_pct"] is None
    assert m["entry_rejection_rate"] is None
    assert m["max_gross_exposure_pct"] == 0.0 and m["margin_call_bars"] == 0
    assert m["entry_attempts"] == 0 and m["entry_rejections"] == 0


@given(
    st.floats(0.01, 1e6) | st.just(math.nan), st.integers(0, 10_000),
    st.floats(-50.0, 100.0) | st.just(math.nan), st.floats(0.0, 1e5),
    st.integers(0, 1000), st.integers(0, 1000),
)
def test_margin_metrics_are_the_ledger_figures(ratio: float, calls: int, dist: float,
                                               expo: float, attempts: int, extra: int) -> None:
    rejects = min(extra, attempts)
    risk = MarginRisk(ratio, calls, dist, expo, attempts, rejects)
    ts = T0 + np.arange(2) * DAY
    m = compute_metrics(_curve(ts, [100, 101]), None, initial_balance=100.0, margin=risk)
    _no_nan(m)

    def plain(x: float) -> float | None:
        return None if math.isnan(x) else x

    assert m["min_margin_ratio"] == plain(ratio)
    assert m["closest_liquidation_pct"] == plain(dist)
    assert m["max_gross_exposure_pct"] == expo
    assert (m["margin_call_bars"], m["entry_attempts"], m["entry_rejections"]) == \
        (calls, attempts, rejects)
    assert m["entry_rejection_rate"] == (rejects / attempts if attempts else None)


def test_margin_argument_is_checked() -> None:
    ts = T0 + np.arange(2) * DAY
    with pytest.raises(InputError, match=r"margin must be a trade\.sim\.margin\.MarginRisk"):
        compute_metrics(_curve(ts, [100, 101]), None, initial_balance=100.0,
                        margin={"min_margin_ratio": 1.0})  # type: ignore[arg-type]
