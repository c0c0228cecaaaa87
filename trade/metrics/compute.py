"""`compute_metrics`: every statistic of `METRIC_DOCS` from an equity curve and a trade log.

The definitions live in `trade.metrics.docs.METRIC_DOCS`; the functions here follow them
and the conventions in that module's docstring. Undefined values are None, never NaN.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from trade.core.errors import InputError
from trade.metrics.docs import EXIT_REASON_KEYS, METRIC_DOCS
from trade.metrics.inputs import (
    BenchmarkArrays,
    BenchmarkLike,
    EquityArrays,
    FloatArray,
    IntArray,
    TableLike,
    TradeArrays,
    benchmark_arrays,
    equity_arrays,
    trade_arrays,
)
from trade.metrics.series import (
    BAR_MS,
    DAY_MS,
    Daily,
    daily,
    daily_closes,
    drawdown,
    episodes,
    max_drawdown,
    monthly_returns,
    simple_returns,
)


@runtime_checkable
class MarginFigures(Protocol):
    """The margin stress figures of a run as the simulator records them
    (`trade.sim.margin.MarginRisk`; a protocol here: metrics do not import the simulator)."""

    @property
    def min_margin_ratio(self) -> float:
        """Lowest equity / used margin (NaN: none measured)."""

    @property
    def margin_call_bars(self) -> int:
        """1m bars that ended with equity below the used margin."""

    @property
    def closest_liquidation_pct(self) -> float:
        """Smallest distance to the liquidation price, % (NaN: none)."""

    @property
    def max_gross_exposure_pct(self) -> float:
        """Largest position value / equity, %."""

    @property
    def entry_attempts(self) -> int:
        """Entry orders placed."""

    @property
    def entry_rejections(self) -> int:
        """Entry orders the venue rejected."""

    @property
    def entry_rejection_rate(self) -> float:
        """entry_rejections / entry_attempts (NaN: no attempt)."""


MetricValue = float | int | None
Metrics = dict[str, MetricValue]

# A standard deviation this small relative to the mean is rounding noise on a constant
# series (e.g. a flat equity minus a risk-free rate): treat it as zero volatility.
_REL_ZERO_STD = 1e-12


def _f(x: float | np.floating | None) -> float | None:
    """A plain float, or None for None / NaN / infinity."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0.0:
        return None
    return _f(a / b)


def _is_zero_std(std: float, mean: float) -> bool:
    return std == 0.0 or std <= _REL_ZERO_STD * abs(mean)


def _std(x: FloatArray) -> float | None:
    """Sample standard deviation (ddof=1); None below 2 observations."""
    return float(np.std(x, ddof=1)) if x.shape[0] >= 2 else None


def _mean(x: FloatArray) -> float | None:
    return float(np.mean(x)) if x.shape[0] else None


def _annual_growth(growth: float, n_periods: int, periods_per_year: int) -> float | None:
    """growth ** (P / n) - 1: the compound annual rate of a total growth factor over n periods.

    A wipe-out (growth 0) is -100 %; negative growth has no real rate (None); a rate that
    overflows a float (a huge gain over a few days) is None.
    """
    if n_periods <= 0 or growth < 0.0:
        return None
    if growth == 0.0:
        return -1.0
    try:
        return _f(math.exp(math.log(growth) * periods_per_year / n_periods) - 1.0)
    except OverflowError:
        return None


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def _percentile(x: FloatArray, q: float) -> float:
    return float(np.percentile(x, q))


# --------------------------------------------------------------------------------------------
# returns, risk, distribution (daily returns and the bar-level drawdown)
# --------------------------------------------------------------------------------------------


def _returns_metrics(
    eq: EquityArrays, d: Daily, initial: float, ppy: int
) -> tuple[Metrics, float | None]:
    """Total return, CAGR, daily and monthly figures; also returns the CAGR for ratios."""
    r = d.returns
    final = float(eq.equity[-1])
    cagr = _annual_growth(final / initial, r.shape[0], ppy)
    months = monthly_returns(d.day, r)
    return (
        {
            "total_return": _f(final / initial - 1.0),
            "net_profit": _f(final - initial),
            "final_equity": final,
            "cagr": cagr,
            "n_days": int(r.shape[0]),
            "avg_daily_return": _mean(r),
            "best_day": float(r.max()),
            "worst_day": float(r.min()),
            "positive_days": float(np.mean(r > 0.0)),
            "best_month": float(months.max()),
            "worst_month": float(months.min()),
            "positive_months": float(np.mean(months > 0.0)),
        },
        cagr,
    )


def _risk_metrics(
    eq: EquityArrays,
    d: Daily,
    initial: float,
    ppy: int,
    rf: float,
    risk_free: float,
    cagr: float | None,
) -> Metrics:
    """Volatility, Sharpe/Sortino/Calmar and the drawdown family."""
    r = d.returns
    x = r - rf
    sqrt_p = math.sqrt(ppy)
    std_r = _std(r)
    std_x = _std(x)
    mean_x = float(np.mean(x))
    sharpe = None
    if std_x is not None and not _is_zero_std(std_x, mean_x):
        sharpe = _f(mean_x / std_x * sqrt_p)
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    sortino = _f(mean_x / downside * sqrt_p) if downside > 0.0 else None

    # Bar-level curve with the initial balance as the first point (at the first bar's open);
    # each bar's equity is stamped at its close.
    values = np.concatenate(([initial], eq.equity))
    peak = np.maximum.accumulate(values)
    dd = np.divide(values, peak)
    np.subtract(1.0, dd, out=dd)  # drawdown(values), keeping the running peak
    max_dd = float(dd.max())
    eps = episodes(values, dd)
    # point k of the curve is stamped at the first bar's open (k = 0), else at bar k-1's close
    durations = (_point_time(eq.ts, eps.end) - _point_time(eq.ts, eps.peak)) / DAY_MS
    if eps.peak.shape[0]:
        deepest = int(np.argmax(dd))
        k = int(np.searchsorted(eps.peak, deepest)) - 1  # the episode whose peak precedes it
        max_dd_days = float(durations[k])
        longest = float(durations.max())
    else:
        max_dd_days = 0.0
        longest = 0.0

    daily_dd = drawdown(np.concatenate(([initial], d.close)))[1:]
    ulcer = math.sqrt(float(np.mean(daily_dd**2)))
    total_return = float(eq.equity[-1]) / initial - 1.0
    time_in_dd = float(np.count_nonzero(dd[1:] > 0.0)) / (dd.shape[0] - 1)
    np.subtract(peak, values, out=peak)
    max_dd_usdt = float(peak.max())
    return {
        "volatility": None if std_r is None else _f(std_r * sqrt_p),
        "downside_deviation": _f(downside * sqrt_p),
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": _div(cagr, max_dd),
        "max_drawdown": max_dd,
        "max_drawdown_usdt": max_dd_usdt,
        "max_drawdown_duration_days": max_dd_days,
        "longest_drawdown_days": longest,
        "avg_drawdown": _mean(eps.depth),
        "avg_drawdown_days": _mean(durations),
        "drawdown_count": int(eps.peak.shape[0]),
        "time_in_drawdown": time_in_dd,
        "ulcer_index": ulcer,
        "martin_ratio": None if cagr is None else _div(cagr - risk_free, ulcer),
        "recovery_factor": _div(total_return, max_dd),
    }


def _point_time(ts: IntArray, k: IntArray) -> IntArray:
    """Times of curve points k (point 0: the first bar's open; point k: bar k-1's close)."""
    return np.where(k == 0, ts[0], ts[np.maximum(k - 1, 0)] + BAR_MS)


def _distribution_metrics(d: Daily, rf: float) -> Metrics:
    """VaR/CVaR, higher moments, tail and omega ratios, gain to pain, stability."""
    r = d.returns
    n = r.shape[0]
    p5 = _percentile(r, 5.0)
    k = int((n - 1) * 0.05)
    cvar = float(np.mean(np.partition(r, k)[: k + 1]))

    dev = r - r.mean()
    m2 = float(np.sum(dev**2))
    zero_var = m2 == 0.0 or m2 <= (_REL_ZERO_STD * abs(float(r.mean()))) ** 2 * n
    skew = kurt = None
    if not zero_var and n >= 3:
        m3 = float(np.sum(dev**3))
        skew = _f(n * math.sqrt(n - 1) / (n - 2) * m3 / m2**1.5)
    if not zero_var and n >= 4:
        m4 = float(np.sum(dev**4))
        kurt = _f(
            n * (n + 1) * (n - 1) * m4 / ((n - 2) * (n - 3) * m2**2)
            - 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3))
        )

    x = r - rf
    losses_below = float(np.sum(np.maximum(-x, 0.0)))
    negative_days = float(-np.sum(r[r < 0.0]))

    stability = None
    if n >= 2 and bool(np.all(r > -1.0)):
        cum_log = np.cumsum(np.log1p(r))
        t = np.arange(n, dtype=np.float64)
        sy = float(np.std(cum_log))
        if sy > 0.0 and not _is_zero_std(sy, float(np.mean(np.abs(cum_log)))):
            stability = _f(np.corrcoef(t, cum_log)[0, 1] ** 2)
    return {
        "var_95": p5,
        "cvar_95": cvar,
        "skew": skew,
        "kurtosis": kurt,
        "tail_ratio": None if p5 == 0.0 else _f(abs(_percentile(r, 95.0)) / abs(p5)),
        "omega": _div(float(np.sum(np.maximum(x, 0.0))), losses_below),
        "gain_to_pain": _div(float(np.sum(r)), negative_days),
        "stability": stability,
    }


# --------------------------------------------------------------------------------------------
# trades, costs, exposure
# --------------------------------------------------------------------------------------------


def _trade_metrics(tr: TradeArrays, span_days: float) -> Metrics:
    """Win rate, profit factor, expectancy, streaks, holding time, Kelly, SQN, MAE/MFE, exits."""
    net = tr.net_pnl
    n = tr.n
    wins = net > 0.0
    losses = net < 0.0
    long = tr.side == 1
    short = tr.side == -1
    sum_win = float(net[wins].sum())
    sum_loss = float(net[losses].sum())
    avg_win = _mean(net[wins])
    avg_loss = _mean(net[losses])
    payoff = None if avg_win is None or avg_loss is None else _div(avg_win, -avg_loss)
    win_rate = _div(float(wins.sum()), float(n))
    kelly = None
    if payoff is not None and win_rate is not None:
        kelly = _f(win_rate - (1.0 - win_rate) / payoff)
    sqn = None
    std_net = _std(net)
    if std_net is not None and not _is_zero_std(std_net, float(net.mean())):
        sqn = _f(math.sqrt(n) * float(net.mean()) / std_net)
    order = tr.exit_order()
    notional = tr.entry_price * tr.qty
    traded = notional > 0.0
    hold_hours = (tr.exit_ts - tr.entry_ts) / 3_600_000.0
    sum_mfe = float(tr.mfe.sum())
    mean_mae = _mean(tr.mae)
    out: Metrics = {
        "num_trades": n,
        "num_long": int(long.sum()),
        "num_short": int(short.sum()),
        "win_rate": win_rate,
        "long_win_rate": _div(float((wins & long).sum()), float(long.sum())),
        "short_win_rate": _div(float((wins & short).sum()), float(short.sum())),
        "gross_pnl": float(tr.gross_pnl.sum()),
        "net_pnl": float(net.sum()),
        "long_pnl": float(net[long].sum()),
        "short_pnl": float(net[short].sum()),
        "profit_factor": _div(sum_win, -sum_loss),
        "expectancy": _mean(net),
        "avg_trade_return": _mean(net[traded] / notional[traded]),
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": payoff,
        "largest_win": float(net.max()) if n else None,
        "largest_loss": float(net.min()) if n else None,
        "max_win_streak": _longest_run(wins[order]),
        "max_loss_streak": _longest_run(losses[order]),
        "trades_per_day": _div(float(n), span_days),
        "avg_holding_hours": _mean(hold_hours),
        "max_holding_hours": float(hold_hours.max()) if n else None,
        "kelly": kelly,
        "sqn": sqn,
        "mae_mean": mean_mae,
        "mae_median": float(np.median(tr.mae)) if n else None,
        "mae_worst": float(tr.mae.min()) if n else None,
        "mfe_mean": _mean(tr.mfe),
        "mfe_median": float(np.median(tr.mfe)) if n else None,
        "mfe_best": float(tr.mfe.max()) if n else None,
        "mfe_capture": _div(float(tr.gross_pnl.sum()), sum_mfe) if sum_mfe > 0.0 else None,
        "edge_ratio": None if mean_mae is None else _div(_mean(tr.mfe), -mean_mae),
    }
    reasons = np.asarray(tr.exit_reason, dtype=object)
    for reason, key in EXIT_REASON_KEYS.items():
        out[key] = int(np.sum(reasons == reason)) if n else 0
    out["liquidations"] = out["exits_liquidation"]
    return out


def _cost_exposure_metrics(eq: EquityArrays, tr: TradeArrays) -> Metrics:
    """Fees, funding, exposure and turnover."""
    fees = float(tr.fees.sum())
    funding = float(tr.funding.sum())
    traded_notional = float(np.sum(tr.qty * (tr.entry_price + tr.exit_price)))
    mean_equity = float(eq.equity.mean())
    pos = eq.position_qty
    return {
        "fees_paid": fees,
        "funding_paid": funding,
        "total_costs": fees + funding,
        "costs_bps": None
        if traded_notional <= 0.0
        else _f((fees + funding) / traded_notional * 1e4),
        # count / n: exactly the mean of the 0/1 flags, without a float temporary
        "exposure": np.count_nonzero(pos) / pos.shape[0],
        "long_exposure": np.count_nonzero(pos > 0.0) / pos.shape[0],
        "short_exposure": np.count_nonzero(pos < 0.0) / pos.shape[0],
        "traded_notional": traded_notional,
        "turnover": _div(traded_notional, mean_equity) if mean_equity > 0.0 else None,
        "avg_leverage": _mean(tr.leverage),
    }


def margin_metrics(margin: MarginFigures | None) -> dict[str, float | int | None]:
    """The "margin" group of `METRIC_DOCS` from the simulator's ledger figures.

    Parameters
    ----------
    margin : MarginFigures (trade.sim.margin.MarginRisk) or None
        A run's (or a segment's) margin stress; None: the run recorded none.

    Returns
    -------
    dict[str, float | int | None]
        One value per margin metric, in METRIC_DOCS order: ints for the counts, NaN
        figures as None, every value None when `margin` is None.
    """
    keys = [name for name, doc in METRIC_DOCS.items() if doc.group == "margin"]
    if margin is None:
        return dict.fromkeys(keys)
    return {
        "entry_attempts": int(margin.entry_attempts),
        "entry_rejections": int(margin.entry_rejections),
        "entry_rejection_rate": _f(margin.entry_rejection_rate),
        "min_margin_ratio": _f(margin.min_margin_ratio),
        "margin_call_bars": int(margin.margin_call_bars),
        "closest_liquidation_pct": _f(margin.closest_liquidation_pct),
        "max_gross_exposure_pct": _f(margin.max_gross_exposure_pct),
    }


# --------------------------------------------------------------------------------------------
# benchmark (buy and hold of the close series)
# --------------------------------------------------------------------------------------------


def benchmark_daily_returns(eq: EquityArrays, d: Daily, bench: BenchmarkArrays) -> FloatArray:
    """Buy-and-hold daily returns on the strategy's days (see `_benchmark_window`)."""
    base, aligned, _ = _benchmark_window(eq, d, bench)
    return simple_returns(aligned, base)


def _benchmark_window(
    eq: EquityArrays, d: Daily, bench: BenchmarkArrays
) -> tuple[float, FloatArray, FloatArray]:
    """(start price, daily closes on the strategy's days, closes inside the span).

    Buy at the last close before the first bar (the price when the run starts), else at the
    first close inside the span; days before the benchmark's first day hold the start price,
    days without a close carry the previous one.
    """
    # bench.ts is strictly increasing (benchmark_arrays checks it): the rows inside the span
    # are one slice, found by binary search (views, no per-bar temporaries)
    lo = int(np.searchsorted(bench.ts, eq.ts[0], side="left"))
    hi = int(np.searchsorted(bench.ts, eq.ts[-1], side="right"))
    if hi <= lo:
        raise InputError(
            f"benchmark_close: no rows between the equity curve's first ts {int(eq.ts[0])} "
            f"and last ts {int(eq.ts[-1])}"
        )
    closes = bench.close[lo:hi]
    base = float(bench.close[lo - 1]) if lo > 0 else float(closes[0])
    b_ts = bench.ts[lo:hi]
    if b_ts.shape[0] == eq.ts.shape[0] and (b_ts is eq.ts or np.array_equal(b_ts, eq.ts)):
        bdays, bclose = d.day, closes[d.rows]  # the same bars as the equity curve
    else:
        bdays, bclose = daily_closes(b_ts, closes)
    pos = np.searchsorted(bdays, d.day, side="right") - 1
    aligned = np.where(pos >= 0, bclose[np.maximum(pos, 0)], base)
    return base, np.asarray(aligned, dtype=np.float64), closes


def _benchmark_metrics(
    eq: EquityArrays,
    d: Daily,
    bench: BenchmarkArrays | None,
    initial: float,
    ppy: int,
    rf: float,
) -> Metrics:
    """Buy-and-hold return, CAGR and drawdown; alpha, beta, correlation, tracking error, IR."""
    keys = [name for name, doc in METRIC_DOCS.items() if doc.group == "benchmark"]
    out: Metrics = dict.fromkeys(keys)
    if bench is None:
        return out
    base, aligned, closes = _benchmark_window(eq, d, bench)
    b = simple_returns(aligned, base)
    r = d.returns
    n = r.shape[0]
    bh_return = float(aligned[-1]) / base - 1.0
    out["buy_and_hold_return"] = bh_return
    out["excess_return"] = _f(float(eq.equity[-1]) / initial - 1.0 - bh_return)
    out["buy_and_hold_cagr"] = _annual_growth(float(aligned[-1]) / base, n, ppy)
    out["buy_and_hold_max_drawdown"] = max_drawdown(closes, base)
    if n < 2:
        return out
    sqrt_p = math.sqrt(ppy)
    b_dev = b - b.mean()
    var_b = float(np.sum(b_dev**2))
    if not _is_zero_std(math.sqrt(var_b / n), float(b.mean())):
        beta = float(np.sum(b_dev * r)) / var_b
        out["beta"] = _f(beta)
        alpha_daily = float(np.mean((r - rf) - beta * (b - rf)))
        out["alpha"] = _annual_growth(1.0 + alpha_daily, 1, ppy) if alpha_daily > -1.0 else None
        std_r = float(np.std(r))
        if not _is_zero_std(std_r, float(r.mean())):
            corr = float(np.sum(b_dev * (r - r.mean()))) / math.sqrt(
                var_b * float(np.sum((r - r.mean()) ** 2))
            )
            corr = max(-1.0, min(1.0, corr))
            out["correlation"] = corr
            out["r_squared"] = corr * corr
    active = r - b
    te = float(np.std(active, ddof=1))
    out["tracking_error"] = te * sqrt_p
    mean_active = float(active.mean())
    if not _is_zero_std(te, mean_active):
        out["information_ratio"] = _f(mean_active / te * sqrt_p)
    return out


# --------------------------------------------------------------------------------------------
# the public entry point
# --------------------------------------------------------------------------------------------


def compute_metrics(
    equity: TableLike,
    trades: TableLike | None,
    *,
    initial_balance: float,
    benchmark_close: BenchmarkLike | None = None,
    periods_per_year: int = 365,
    risk_free: float = 0.0,
    margin: MarginFigures | None = None,
) -> dict[str, float | int | None]:
    """Every statistic of `METRIC_DOCS`, keyed by its snake_case name, in that order.

    Parameters
    ----------
    equity : pyarrow.Table or pandas.DataFrame
        One row per 1m bar with `ts` (int64 ms UTC, bar open; strictly increasing; may also
        be a datetime column), `equity` and signed `position_qty`; at least one row.
    trades : pyarrow.Table or pandas.DataFrame, optional
        The trade log (TRADE_LOG_SCHEMA columns), or None for no trades.
    initial_balance : float
        The wallet balance before the first bar (finite, > 0); the first day's return and
        the drawdown's first peak are taken against it.
    benchmark_close : table or pandas.Series, optional
        The buy-and-hold close series, a (ts, close) table or a Series indexed by ts; None
        leaves the benchmark metrics None.
    periods_per_year : int
        Annualisation factor of daily returns (365 for crypto; > 0).
    risk_free : float
        The annual risk-free rate (> -1); per day (1 + risk_free) ** (1 / P) - 1.
    margin : MarginFigures (trade.sim.margin.MarginRisk), optional
        The run's margin stress as the simulator recorded it (`BatchResult.margin`,
        `SegmentSummary.margin`); None leaves the margin metrics None.

    Returns
    -------
    dict[str, float | int | None]
        Int for counts, float otherwise, None where a statistic is undefined for this run
        (each MetricDoc.undefined_when says when); never NaN or infinity.

    Raises
    ------
    InputError
        A bad argument, or a table with a missing or non-numeric column, no rows, a
        non-finite value or non-increasing `ts` (naming the table, row and column).
    RuntimeError
        The computed keys and `METRIC_DOCS` disagree (a bug in this module, never input).
    """
    if not (isinstance(initial_balance, int | float) and math.isfinite(initial_balance)):
        raise InputError(f"initial_balance must be a finite number, got {initial_balance!r}")
    if initial_balance <= 0:
        raise InputError(f"initial_balance must be > 0, got {initial_balance!r}")
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int):
        raise InputError(f"periods_per_year must be an int, got {periods_per_year!r}")
    if periods_per_year <= 0:
        raise InputError(f"periods_per_year must be > 0, got {periods_per_year}")
    if not (isinstance(risk_free, int | float) and math.isfinite(risk_free) and risk_free > -1):
        raise InputError(f"risk_free must be a finite annual rate > -1, got {risk_free!r}")
    initial = float(initial_balance)
    eq = equity_arrays(equity)
    tr = trade_arrays(trades)
    rf = (1.0 + float(risk_free)) ** (1.0 / periods_per_year) - 1.0

    d = daily(eq.ts, eq.equity, initial)
    span_days = float(eq.ts[-1] + BAR_MS - eq.ts[0]) / DAY_MS
    out: Metrics = {}
    returns, cagr = _returns_metrics(eq, d, initial, periods_per_year)
    out.update(returns)
    out.update(_risk_metrics(eq, d, initial, periods_per_year, rf, float(risk_free), cagr))
    out.update(_distribution_metrics(d, rf))
    out.update(_trade_metrics(tr, span_days))
    out.update(_cost_exposure_metrics(eq, tr))
    if margin is not None and not isinstance(margin, MarginFigures):
        raise InputError("margin must be a trade.sim.margin.MarginRisk or None, got "
                         f"{type(margin).__name__}")
    out.update(margin_metrics(margin))
    # the benchmark's arrays are made last: the drawdown curves above are freed by then
    bench = None if benchmark_close is None else benchmark_arrays(benchmark_close)
    out.update(_benchmark_metrics(eq, d, bench, initial, periods_per_year, rf))
    missing = set(METRIC_DOCS) ^ set(out)
    if missing:  # pragma: no cover - the code above and METRIC_DOCS must agree
        raise RuntimeError(f"metrics and METRIC_DOCS disagree on: {sorted(missing)}")
    result: dict[str, float | int | None] = {}
    for name in METRIC_DOCS:
        value = out[name]
        result[name] = value if value is None or isinstance(value, int) else _f(value)
    return result


def daily_returns(equity: TableLike, *, initial_balance: float) -> tuple[np.ndarray, FloatArray]:
    """(UTC day as datetime64[D], daily return) exactly as `compute_metrics` uses them.

    Parameters
    ----------
    equity : pyarrow.Table or pandas.DataFrame
        The 1m equity rows, as for `compute_metrics`.
    initial_balance : float
        The balance before the first bar (the base of the first day's return).

    Returns
    -------
    tuple of (ndarray of datetime64[D], ndarray of float64)
        Every calendar day from the first bar's to the last bar's (a day without bars
        repeats the previous close: return 0), and each day's simple return.

    Raises
    ------
    InputError
        From the equity checks: a missing or bad column, no rows, non-increasing `ts`.
    """
    eq = equity_arrays(equity)
    d = daily(eq.ts, eq.equity, float(initial_balance))
    return d.day.astype("datetime64[D]"), d.returns
