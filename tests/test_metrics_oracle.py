"""trade.metrics against empyrical and quantstats on real BTC prices (Coinbase, hourly).

Two equity curves are built here from the package's real sample
(coinbase_btcusd_1h.csv): buy and hold of BTC, and a long/short moving-average crossover
with a taker fee. The daily returns are
derived independently with pandas (resample to UTC days, last value, first day against the
initial balance) and handed to the oracles with the same annualisation factor (365) and the
same per-day risk-free rate. Agreement is required to 1e-9 relative unless a comment
explains a convention difference.

The curves have one row per hour rather than per minute: compute_metrics does not depend on
the bar spacing except for drawdown durations, which no oracle computes.
"""

from __future__ import annotations

import math
from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import quantstats as qs

from trade.metrics import compute_metrics, daily_returns

INITIAL = 10_000.0
PPY = 365
REL = 1e-9
ABS = 1e-12


def _close(a: float | None, b: float, rel: float = REL, abs_: float = ABS) -> bool:
    return a is not None and math.isclose(a, float(b), rel_tol=rel, abs_tol=abs_)


def _load_coinbase(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "coinbase_btcusd_1h.csv"
    if not path.is_file():
        pytest.fail(f"missing real data file {path}")
    df = pd.read_csv(path, skiprows=1)  # line 1 is an attribution line, not the header
    ts = pd.to_datetime(df["date"], format="%Y-%m-%d %I-%p", utc=True)
    df = df.assign(ts=ts.dt.as_unit("ms").astype("int64")).sort_values("ts")  # newest first
    df = df.drop_duplicates("ts").reset_index(drop=True)
    return df[["ts", "open", "close"]]


@pytest.fixture(scope="module")
def prices(shared_data: Path) -> pd.DataFrame:
    df = _load_coinbase(shared_data)
    assert len(df) > 19_000
    assert df["ts"].is_monotonic_increasing
    return df


def _buy_and_hold(prices: pd.DataFrame) -> pd.DataFrame:
    qty = INITIAL / prices["open"].iloc[0]  # buy at the first bar's open
    equity = INITIAL + qty * (prices["close"] - prices["open"].iloc[0])
    return pd.DataFrame(
        {"ts": prices["ts"], "equity": equity, "position_qty": np.full(len(prices), qty)}
    )


def _ma_strategy(prices: pd.DataFrame, fast: int = 24, slow: int = 24 * 7) -> pd.DataFrame:
    """Long when SMA(fast) > SMA(slow), short when below, flat during warm-up; 6 bps a switch."""
    close = prices["close"].to_numpy()
    f = pd.Series(close).rolling(fast).mean().to_numpy()
    s = pd.Series(close).rolling(slow).mean().to_numpy()
    signal = np.where(np.isnan(s), 0.0, np.sign(f - s))  # decided at bar i's close
    held = np.concatenate(([0.0], signal[:-1]))  # ... and held through bar i + 1
    bar_ret = np.concatenate(([0.0], close[1:] / close[:-1] - 1.0))
    fee = 0.0006 * np.abs(np.diff(np.concatenate(([0.0], signal))))  # paid at bar i's close
    equity = INITIAL * np.cumprod((1.0 + held * bar_ret) * (1.0 - fee))
    return pd.DataFrame(
        {"ts": prices["ts"], "equity": equity, "position_qty": signal * equity / close}
    )


def _oracle_daily(curve: pd.DataFrame) -> pd.Series:
    """Daily returns, computed independently of trade.metrics."""
    s = pd.Series(
        curve["equity"].to_numpy(), index=pd.to_datetime(curve["ts"], unit="ms", utc=True)
    )
    closes = s.resample("D").last().ffill()
    r = closes.pct_change()
    r.iloc[0] = closes.iloc[0] / INITIAL - 1.0
    return r


def _oracle_benchmark(prices: pd.DataFrame) -> pd.Series:
    s = pd.Series(
        prices["close"].to_numpy(), index=pd.to_datetime(prices["ts"], unit="ms", utc=True)
    )
    closes = s.resample("D").last().ffill()
    r = closes.pct_change()
    r.iloc[0] = closes.iloc[0] / prices["close"].iloc[0] - 1.0  # bought at the first close
    return r


def _bar_returns(curve: pd.DataFrame) -> pd.Series:
    eq = curve["equity"].to_numpy()
    r = np.concatenate(([eq[0] / INITIAL - 1.0], eq[1:] / eq[:-1] - 1.0))
    return pd.Series(r)


@pytest.fixture(autouse=True)
def _empyrical_numpy2(monkeypatch: pytest.MonkeyPatch) -> None:
    # empyrical 0.5.5 still uses np.NINF (removed in numpy 2) in downside_risk/sortino.
    monkeypatch.setattr(np, "NINF", -np.inf, raising=False)


CURVES = ["buy_and_hold", "ma_cross"]
RISK_FREE = [0.0, 0.04]


def _curve(name: str, prices: pd.DataFrame) -> pd.DataFrame:
    return _buy_and_hold(prices) if name == "buy_and_hold" else _ma_strategy(prices)


@pytest.fixture(scope="module")
def cases(prices: pd.DataFrame) -> dict[tuple[str, float], tuple[dict, pd.DataFrame]]:
    bench = pa.table({"ts": prices["ts"].to_numpy(), "close": prices["close"].to_numpy()})
    out = {}
    for name in CURVES:
        curve = _curve(name, prices)
        table = pa.Table.from_pandas(curve, preserve_index=False)
        for rf in RISK_FREE:
            m = compute_metrics(
                table, None, initial_balance=INITIAL, benchmark_close=bench, risk_free=rf
            )
            out[(name, rf)] = (m, curve)
    return out


@pytest.mark.parametrize("name", CURVES)
def test_daily_returns_match_pandas_resample(name: str, prices: pd.DataFrame) -> None:
    curve = _curve(name, prices)
    days, r = daily_returns(curve, initial_balance=INITIAL)
    expected = _oracle_daily(curve)
    assert len(r) == len(expected) > 800
    assert (days == expected.index.tz_localize(None).to_numpy().astype("datetime64[D]")).all()
    np.testing.assert_allclose(r, expected.to_numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rf", RISK_FREE)
@pytest.mark.parametrize("name", CURVES)
def test_against_empyrical(name: str, rf: float, cases: dict, prices: pd.DataFrame) -> None:
    m, curve = cases[(name, rf)]
    r = _oracle_daily(curve)
    rf_day = (1.0 + rf) ** (1.0 / PPY) - 1.0
    b = _oracle_benchmark(prices)

    assert _close(m["sharpe"], ep.sharpe_ratio(r, risk_free=rf_day, annualization=PPY))
    assert _close(m["sortino"], ep.sortino_ratio(r, required_return=rf_day, annualization=PPY))
    assert _close(
        m["downside_deviation"], ep.downside_risk(r, required_return=rf_day, annualization=PPY)
    )
    assert _close(m["volatility"], ep.annual_volatility(r, annualization=PPY))
    assert _close(m["cagr"], ep.annual_return(r, annualization=PPY))
    assert _close(m["total_return"], ep.cum_returns_final(r))
    # Our max drawdown is measured on every bar, so the oracle gets the bar returns.
    bar_dd = -ep.max_drawdown(_bar_returns(curve))
    assert _close(m["max_drawdown"], bar_dd)
    # ... which is at least as deep as empyrical's on daily closes.
    assert m["max_drawdown"] >= -ep.max_drawdown(r) - 1e-15
    # empyrical's calmar_ratio divides by the daily max drawdown; ours by the bar-level one.
    assert _close(m["calmar"], ep.annual_return(r, annualization=PPY) / bar_dd)
    assert _close(m["var_95"], ep.value_at_risk(r, cutoff=0.05))
    assert _close(m["cvar_95"], ep.conditional_value_at_risk(r, cutoff=0.05))
    assert _close(m["tail_ratio"], ep.tail_ratio(r))
    assert _close(m["omega"], ep.omega_ratio(r, risk_free=rf_day, annualization=PPY))
    assert _close(m["stability"], ep.stability_of_timeseries(r))
    alpha, beta = ep.alpha_beta(r, b, risk_free=rf_day, annualization=PPY)
    assert _close(m["beta"], beta)
    assert _close(m["alpha"], alpha)
    # empyrical's excess_sharpe is the per-day information ratio; ours is annualised.
    assert _close(m["information_ratio"], ep.excess_sharpe(r, b) * math.sqrt(PPY))
    monthly = ep.aggregate_returns(r, "monthly")
    assert _close(m["best_month"], monthly.max())
    assert _close(m["worst_month"], monthly.min())
    assert m["positive_months"] == pytest.approx((monthly > 0).mean(), rel=0, abs=1e-15)


@pytest.mark.parametrize("rf", RISK_FREE)
@pytest.mark.parametrize("name", CURVES)
def test_against_quantstats(name: str, rf: float, cases: dict, prices: pd.DataFrame) -> None:
    m, curve = cases[(name, rf)]
    r = _oracle_daily(curve)
    b = _oracle_benchmark(prices)
    assert _close(m["sharpe"], qs.stats.sharpe(r, rf=rf, periods=PPY))
    assert _close(m["sortino"], qs.stats.sortino(r, rf=rf, periods=PPY))
    assert _close(m["volatility"], qs.stats.volatility(r, periods=PPY))
    assert _close(m["cagr"], qs.stats.cagr(r, periods=PPY))
    assert _close(m["skew"], qs.stats.skew(r))
    assert _close(m["kurtosis"], qs.stats.kurtosis(r))
    assert _close(m["tail_ratio"], qs.stats.tail_ratio(r))
    assert _close(m["gain_to_pain"], qs.stats.gain_to_pain_ratio(r))
    assert _close(m["best_day"], qs.stats.best(r, aggregate="D"))
    assert _close(m["worst_day"], qs.stats.worst(r, aggregate="D"))
    # quantstats divides the summed squared drawdowns by n - 1; the Ulcer index uses n.
    n = len(r)
    assert _close(m["ulcer_index"], qs.stats.ulcer_index(r) * math.sqrt((n - 1) / n))
    if rf == 0.0:  # quantstats' omega subtracts rf only through its own prepare step
        assert _close(m["omega"], qs.stats.omega(r, periods=PPY))
    assert _close(m["correlation"], r.corr(b))
    assert _close(m["r_squared"], r.corr(b) ** 2)


def test_buy_and_hold_of_itself(cases: dict, prices: pd.DataFrame) -> None:
    """A buy-and-hold curve against its own closes: beta 1, correlation 1, ~zero alpha."""
    m, _ = cases[("buy_and_hold", 0.0)]
    # The strategy bought at the first open, the benchmark at the first close: only the
    # first day's return differs, so these are near 1 / 0 but not exact.
    assert m["beta"] == pytest.approx(1.0, abs=1e-3)
    assert m["correlation"] == pytest.approx(1.0, abs=1e-4)
    assert abs(m["alpha"]) < 1e-3
    expected_bh = prices["close"].iloc[-1] / prices["close"].iloc[0] - 1.0
    assert _close(m["buy_and_hold_return"], expected_bh)
    assert _close(m["excess_return"], m["total_return"] - expected_bh)
    assert m["exposure"] == 1.0
    assert m["max_drawdown"] > 0.8  # the 2018 crash
