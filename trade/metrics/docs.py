"""The definition of every statistic `compute_metrics` returns.

`METRIC_DOCS` is the single source of truth for the metric names: `compute_metrics` returns
exactly these keys, in this order, and reports and the CLI read names, groups, units and
definitions from here. A value of ``None`` means "undefined for this run"; each entry's
`undefined_when` says when that happens (never NaN, never an infinity).

Conventions shared by the definitions below:

* *daily returns* ``r_1..r_n``: the equity curve resampled to UTC calendar days (the last
  equity of each day, a day without bars keeps the previous day's equity), each day's
  return taken against the previous day's equity and the first day's against the initial
  balance; ``n`` is the number of days from the first to the last bar's day, inclusive.
* ``P`` is ``periods_per_year`` (365 by default: crypto trades every calendar day) and
  ``rf`` the per-day risk-free return ``(1 + risk_free) ** (1 / P) - 1`` derived from the
  annual ``risk_free`` rate.
* *drawdown* is measured on every bar of the equity curve (not only daily closes), against
  the running peak that starts at the initial balance: ``dd_t = 1 - equity_t / peak_t``.
* sample statistics use ``ddof = 1``; quantiles use linear interpolation (numpy default).
* trade statistics use ``net_pnl`` (after fees and funding); a *win* has ``net_pnl > 0``,
  a *loss* ``net_pnl < 0`` (a break-even trade is neither).
* the *margin* group comes from the simulator's ledger (`trade.sim.margin.MarginRisk`,
  measured on every 1m bar that ends with a position open, after the fill rules); it is
  None throughout when `compute_metrics` was given no `margin` (where it differs from
  TRADE's figures of the same names: trade/sim/margin.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trade.core.enums import EXIT_REASONS

Group = Literal[
    "returns", "risk", "distribution", "trades", "costs", "exposure", "margin", "benchmark"
]
Unit = Literal[
    "fraction",  # shown as a percentage
    "ratio",
    "USDT",
    "days",
    "hours",
    "count",
    "per_day",
    "bps",
    "multiple",  # shown as "1.23x"
    "percent",  # already in percent: shown as "12.34%"
]

#: the metric groups in display order (each MetricDoc.group is one of them)
GROUPS: tuple[Group, ...] = (
    "returns",
    "risk",
    "distribution",
    "trades",
    "costs",
    "exposure",
    "margin",
    "benchmark",
)


@dataclass(frozen=True, slots=True)
class MetricDoc:
    """What one statistic means.

    `higher_is_better` is None where "better" has no direction (counts, exposure, beta).
    `undefined_when` says when the value is None ("" when it is always defined).
    """

    name: str
    label: str
    group: Group
    definition: str
    unit: Unit
    higher_is_better: bool | None
    undefined_when: str = ""


_NO_BENCH = "no benchmark_close was given"
_LT2 = "fewer than 2 daily returns"
_ZERO_VOL = "zero volatility (std of daily returns is 0, e.g. a constant equity curve)"
_NO_TRADES = "no trades"
_NO_MARGIN = "the run did not record margin figures (compute_metrics got no margin)"
_NO_POSITION = "no 1m bar ended with a position open"

_DOCS: tuple[MetricDoc, ...] = (
    # --- returns ---------------------------------------------------------------------------
    MetricDoc(
        "total_return",
        "Total return",
        "returns",
        "final equity / initial balance - 1",
        "fraction",
        True,
    ),
    MetricDoc(
        "net_profit", "Net profit", "returns", "final equity - initial balance", "USDT", True
    ),
    MetricDoc(
        "final_equity",
        "Final equity",
        "returns",
        "equity of the last bar of the curve",
        "USDT",
        True,
    ),
    MetricDoc(
        "cagr",
        "CAGR",
        "returns",
        "compound annual growth rate: (1 + total_return) ** (P / n) - 1 over n daily "
        "returns (empyrical annual_return)",
        "fraction",
        True,
        "final equity <= 0 or the annualised figure overflows",
    ),
    MetricDoc(
        "n_days",
        "Days",
        "returns",
        "number of daily returns n (UTC calendar days spanned by the curve)",
        "count",
        None,
    ),
    MetricDoc(
        "avg_daily_return",
        "Average daily return",
        "returns",
        "arithmetic mean of the daily returns",
        "fraction",
        True,
    ),
    MetricDoc("best_day", "Best day", "returns", "largest daily return", "fraction", True),
    MetricDoc("worst_day", "Worst day", "returns", "smallest daily return", "fraction", True),
    MetricDoc(
        "positive_days",
        "Positive days",
        "returns",
        "fraction of daily returns > 0",
        "fraction",
        True,
    ),
    MetricDoc(
        "best_month",
        "Best month",
        "returns",
        "largest calendar-month return (daily returns compounded within each UTC month)",
        "fraction",
        True,
    ),
    MetricDoc(
        "worst_month", "Worst month", "returns", "smallest calendar-month return", "fraction", True
    ),
    MetricDoc(
        "positive_months",
        "Positive months",
        "returns",
        "fraction of calendar months with a return > 0",
        "fraction",
        True,
    ),
    # --- risk ------------------------------------------------------------------------------
    MetricDoc(
        "volatility",
        "Volatility (ann.)",
        "risk",
        "std(daily returns, ddof=1) * sqrt(P)",
        "fraction",
        False,
        _LT2,
    ),
    MetricDoc(
        "downside_deviation",
        "Downside deviation (ann.)",
        "risk",
        "sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(P) over all daily returns",
        "fraction",
        False,
    ),
    MetricDoc(
        "sharpe",
        "Sharpe ratio",
        "risk",
        "mean(r - rf) / std(r - rf, ddof=1) * sqrt(P)",
        "ratio",
        True,
        f"{_LT2} or {_ZERO_VOL}",
    ),
    MetricDoc(
        "sortino",
        "Sortino ratio",
        "risk",
        "mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(P)",
        "ratio",
        True,
        "no daily return below rf (zero downside deviation)",
    ),
    MetricDoc(
        "calmar",
        "Calmar ratio",
        "risk",
        "cagr / max_drawdown (the bar-level drawdown)",
        "ratio",
        True,
        "zero drawdown or cagr undefined",
    ),
    MetricDoc(
        "max_drawdown",
        "Max drawdown",
        "risk",
        "largest peak-to-trough fall of the equity, max(1 - equity / running peak), "
        "over every bar; the running peak starts at the initial balance",
        "fraction",
        False,
    ),
    MetricDoc(
        "max_drawdown_usdt",
        "Max drawdown (USDT)",
        "risk",
        "largest fall of equity below its running peak, in USDT",
        "USDT",
        False,
    ),
    MetricDoc(
        "max_drawdown_duration_days",
        "Max drawdown duration",
        "risk",
        "time from the peak before the deepest trough to the recovery of that peak "
        "(or to the last bar if never recovered)",
        "days",
        False,
    ),
    MetricDoc(
        "longest_drawdown_days",
        "Longest drawdown",
        "risk",
        "longest time from a peak to its recovery (or to the last bar)",
        "days",
        False,
    ),
    MetricDoc(
        "avg_drawdown",
        "Average drawdown",
        "risk",
        "mean depth of the drawdown episodes (peak to recovery)",
        "fraction",
        False,
        "no drawdown at all",
    ),
    MetricDoc(
        "avg_drawdown_days",
        "Average drawdown duration",
        "risk",
        "mean duration of the drawdown episodes",
        "days",
        False,
        "no drawdown at all",
    ),
    MetricDoc(
        "drawdown_count",
        "Drawdown episodes",
        "risk",
        "number of drawdown episodes (each starts below a peak and ends at its recovery)",
        "count",
        None,
    ),
    MetricDoc(
        "time_in_drawdown",
        "Time in drawdown",
        "risk",
        "fraction of bars whose equity is below the running peak",
        "fraction",
        False,
    ),
    MetricDoc(
        "ulcer_index",
        "Ulcer index",
        "risk",
        "sqrt(mean(dd ** 2)) over the daily closes' drawdowns (as fractions)",
        "fraction",
        False,
    ),
    MetricDoc(
        "martin_ratio",
        "Martin ratio",
        "risk",
        "ulcer performance index: (cagr - risk_free) / ulcer_index",
        "ratio",
        True,
        "zero ulcer index or cagr undefined",
    ),
    MetricDoc(
        "recovery_factor",
        "Recovery factor",
        "risk",
        "total_return / max_drawdown",
        "ratio",
        True,
        "zero drawdown",
    ),
    # --- distribution of daily returns ------------------------------------------------------
    MetricDoc(
        "var_95",
        "VaR 95% (daily)",
        "distribution",
        "historical value at risk: the 5th percentile of daily returns (negative = loss)",
        "fraction",
        True,
    ),
    MetricDoc(
        "cvar_95",
        "CVaR 95% (daily)",
        "distribution",
        "expected shortfall: mean of the k + 1 worst daily returns, k = int((n - 1) * "
        "0.05) (empyrical conditional_value_at_risk)",
        "fraction",
        True,
    ),
    MetricDoc(
        "skew",
        "Skew",
        "distribution",
        "sample skewness of daily returns, bias-adjusted (pandas Series.skew)",
        "ratio",
        True,
        "fewer than 3 daily returns or zero variance",
    ),
    MetricDoc(
        "kurtosis",
        "Excess kurtosis",
        "distribution",
        "sample excess kurtosis of daily returns, bias-adjusted (pandas Series.kurt)",
        "ratio",
        False,
        "fewer than 4 daily returns or zero variance",
    ),
    MetricDoc(
        "tail_ratio",
        "Tail ratio",
        "distribution",
        "|95th percentile| / |5th percentile| of daily returns",
        "ratio",
        True,
        "the 5th percentile is 0",
    ),
    MetricDoc(
        "omega",
        "Omega ratio",
        "distribution",
        "sum(max(r - rf, 0)) / sum(max(rf - r, 0)) over daily returns",
        "ratio",
        True,
        "no daily return below rf",
    ),
    MetricDoc(
        "gain_to_pain",
        "Gain to pain",
        "distribution",
        "sum(r) / |sum of negative daily returns| (Schwager, daily)",
        "ratio",
        True,
        "no negative day",
    ),
    MetricDoc(
        "stability",
        "Stability",
        "distribution",
        "R^2 of a linear fit of cumulative log daily returns against time "
        "(empyrical stability_of_timeseries)",
        "ratio",
        True,
        f"{_LT2}, constant equity, or equity reaching 0",
    ),
    # --- trades ----------------------------------------------------------------------------
    MetricDoc(
        "num_trades",
        "Trades",
        "trades",
        "rows of the trade log (a partial close is its own trade)",
        "count",
        None,
    ),
    MetricDoc("num_long", "Long trades", "trades", "trades with side +1", "count", None),
    MetricDoc("num_short", "Short trades", "trades", "trades with side -1", "count", None),
    MetricDoc("win_rate", "Win rate", "trades", "wins / trades", "fraction", True, _NO_TRADES),
    MetricDoc(
        "long_win_rate",
        "Long win rate",
        "trades",
        "wins / trades among longs",
        "fraction",
        True,
        "no long trades",
    ),
    MetricDoc(
        "short_win_rate",
        "Short win rate",
        "trades",
        "wins / trades among shorts",
        "fraction",
        True,
        "no short trades",
    ),
    MetricDoc(
        "gross_pnl",
        "Gross PnL",
        "trades",
        "sum of gross_pnl (before fees and funding)",
        "USDT",
        True,
    ),
    MetricDoc(
        "net_pnl", "Net PnL", "trades", "sum of net_pnl = gross_pnl - fees - funding", "USDT", True
    ),
    MetricDoc(
        "long_pnl",
        "Long PnL",
        "trades",
        "sum of net_pnl of the long trades (side +1)",
        "USDT",
        True,
    ),
    MetricDoc(
        "short_pnl",
        "Short PnL",
        "trades",
        "sum of net_pnl of the short trades (side -1)",
        "USDT",
        True,
    ),
    MetricDoc(
        "profit_factor",
        "Profit factor",
        "trades",
        "sum of winning net_pnl / |sum of losing net_pnl|",
        "ratio",
        True,
        "no losing trade",
    ),
    MetricDoc(
        "expectancy", "Expectancy", "trades", "mean net_pnl per trade", "USDT", True, _NO_TRADES
    ),
    MetricDoc(
        "avg_trade_return",
        "Average trade return",
        "trades",
        "mean of net_pnl / (entry_price * qty): return on the traded notional",
        "fraction",
        True,
        _NO_TRADES,
    ),
    MetricDoc(
        "avg_win",
        "Average win",
        "trades",
        "mean net_pnl of the wins",
        "USDT",
        True,
        "no winning trade",
    ),
    MetricDoc(
        "avg_loss",
        "Average loss",
        "trades",
        "mean net_pnl of the losses (negative)",
        "USDT",
        True,
        "no losing trade",
    ),
    MetricDoc(
        "payoff_ratio",
        "Payoff ratio",
        "trades",
        "avg_win / |avg_loss|",
        "ratio",
        True,
        "no winning or no losing trade",
    ),
    MetricDoc("largest_win", "Largest win", "trades", "max net_pnl", "USDT", True, _NO_TRADES),
    MetricDoc("largest_loss", "Largest loss", "trades", "min net_pnl", "USDT", True, _NO_TRADES),
    MetricDoc(
        "max_win_streak",
        "Longest win streak",
        "trades",
        "most consecutive wins, trades ordered by (exit_ts, trade_id)",
        "count",
        True,
    ),
    MetricDoc(
        "max_loss_streak",
        "Longest loss streak",
        "trades",
        "most consecutive losses, trades ordered by (exit_ts, trade_id)",
        "count",
        False,
    ),
    MetricDoc(
        "trades_per_day",
        "Trades per day",
        "trades",
        "num_trades / days spanned by the equity curve (first bar open to last bar close)",
        "per_day",
        None,
    ),
    MetricDoc(
        "avg_holding_hours",
        "Average holding time",
        "trades",
        "mean of exit_ts - entry_ts (bar-open times of the fills)",
        "hours",
        None,
        _NO_TRADES,
    ),
    MetricDoc(
        "max_holding_hours",
        "Longest holding time",
        "trades",
        "max of exit_ts - entry_ts",
        "hours",
        None,
        _NO_TRADES,
    ),
    MetricDoc(
        "kelly",
        "Kelly fraction",
        "trades",
        "win_rate - (1 - win_rate) / payoff_ratio (fixed-odds Kelly on trades)",
        "fraction",
        True,
        "no winning or no losing trade",
    ),
    MetricDoc(
        "sqn",
        "SQN",
        "trades",
        "system quality number: sqrt(N) * mean(net_pnl) / std(net_pnl, ddof=1)",
        "ratio",
        True,
        "fewer than 2 trades or all net_pnl equal",
    ),
    MetricDoc(
        "liquidations", "Liquidations", "trades", "trades closed by liquidation", "count", False
    ),
    MetricDoc(
        "exits_signal", "Exits: signal", "trades", "trades closed by an exit signal", "count", None
    ),
    MetricDoc(
        "exits_stop_loss",
        "Exits: stop loss",
        "trades",
        "trades closed by the stop loss",
        "count",
        None,
    ),
    MetricDoc(
        "exits_take_profit",
        "Exits: take profit",
        "trades",
        "trades closed by the take profit",
        "count",
        None,
    ),
    MetricDoc(
        "exits_trailing_stop",
        "Exits: trailing stop",
        "trades",
        "trades closed by the trailing stop",
        "count",
        None,
    ),
    MetricDoc(
        "exits_liquidation",
        "Exits: liquidation",
        "trades",
        "trades closed by liquidation",
        "count",
        False,
    ),
    MetricDoc(
        "exits_flip",
        "Exits: flip",
        "trades",
        "trades closed by a reversal into the opposite side",
        "count",
        None,
    ),
    MetricDoc(
        "exits_end_of_data",
        "Exits: end of data",
        "trades",
        "trades closed because the data ended",
        "count",
        None,
    ),
    MetricDoc(
        "mae_mean",
        "MAE mean",
        "trades",
        "mean maximum adverse excursion per trade (<= 0)",
        "USDT",
        True,
        _NO_TRADES,
    ),
    MetricDoc("mae_median", "MAE median", "trades", "median MAE", "USDT", True, _NO_TRADES),
    MetricDoc("mae_worst", "MAE worst", "trades", "most negative MAE", "USDT", True, _NO_TRADES),
    MetricDoc(
        "mfe_mean",
        "MFE mean",
        "trades",
        "mean maximum favourable excursion per trade (>= 0)",
        "USDT",
        True,
        _NO_TRADES,
    ),
    MetricDoc("mfe_median", "MFE median", "trades", "median MFE", "USDT", True, _NO_TRADES),
    MetricDoc("mfe_best", "MFE best", "trades", "largest MFE", "USDT", True, _NO_TRADES),
    MetricDoc(
        "mfe_capture",
        "MFE capture",
        "trades",
        "exit efficiency: sum(gross_pnl) / sum(mfe), the share of the favourable excursion kept",
        "fraction",
        True,
        "no trade had a favourable excursion",
    ),
    MetricDoc(
        "edge_ratio",
        "Edge ratio",
        "trades",
        "e-ratio: mean(mfe) / |mean(mae)|",
        "ratio",
        True,
        "no trade had an adverse excursion",
    ),
    # --- costs -----------------------------------------------------------------------------
    MetricDoc("fees_paid", "Fees paid", "costs", "sum of trade fees (paid > 0)", "USDT", False),
    MetricDoc(
        "funding_paid",
        "Funding paid",
        "costs",
        "sum of trade funding (paid > 0, received < 0)",
        "USDT",
        False,
    ),
    MetricDoc("total_costs", "Total costs", "costs", "fees_paid + funding_paid", "USDT", False),
    MetricDoc(
        "costs_bps",
        "Costs per notional",
        "costs",
        "total_costs / traded_notional * 10,000",
        "bps",
        False,
        "nothing traded",
    ),
    # --- exposure --------------------------------------------------------------------------
    MetricDoc(
        "exposure",
        "Exposure",
        "exposure",
        "fraction of bars with a position (position_qty != 0)",
        "fraction",
        None,
    ),
    MetricDoc(
        "long_exposure",
        "Long exposure",
        "exposure",
        "fraction of bars with a long position",
        "fraction",
        None,
    ),
    MetricDoc(
        "short_exposure",
        "Short exposure",
        "exposure",
        "fraction of bars with a short position",
        "fraction",
        None,
    ),
    MetricDoc(
        "traded_notional",
        "Traded notional",
        "exposure",
        "sum over trades of qty * (entry_price + exit_price): both legs",
        "USDT",
        None,
    ),
    MetricDoc(
        "turnover",
        "Turnover",
        "exposure",
        "traded_notional / mean equity of the curve",
        "multiple",
        None,
        "mean equity <= 0",
    ),
    MetricDoc(
        "avg_leverage",
        "Average leverage",
        "exposure",
        "mean leverage of the trades",
        "multiple",
        None,
        _NO_TRADES,
    ),
    # --- margin (the simulator's ledger, every 1m bar; trade.sim.margin) --------------------
    MetricDoc(
        "entry_attempts",
        "Entry attempts",
        "margin",
        "entry orders the signals placed (accepted or rejected)",
        "count",
        None,
        _NO_MARGIN,
    ),
    MetricDoc(
        "entry_rejections",
        "Entry rejections",
        "margin",
        "entry orders the venue rejected (insufficient margin, below the order minimums)",
        "count",
        False,
        _NO_MARGIN,
    ),
    MetricDoc(
        "entry_rejection_rate",
        "Entry rejection rate",
        "margin",
        "entry_rejections / entry_attempts",
        "fraction",
        False,
        f"{_NO_MARGIN} or no entry attempt",
    ),
    MetricDoc(
        "min_margin_ratio",
        "Min margin ratio",
        "margin",
        "lowest equity / used margin (position margin + margin reserved by resting orders) "
        "at the close of a 1m bar with a position open; equity at the bar's mark",
        "multiple",
        True,
        f"{_NO_MARGIN} or {_NO_POSITION} with margin in use",
    ),
    MetricDoc(
        "margin_call_bars",
        "Margin-call bars",
        "margin",
        "1m bars that ended with a position open and equity below the used margin",
        "count",
        False,
        _NO_MARGIN,
    ),
    MetricDoc(
        "closest_liquidation_pct",
        "Closest to liquidation",
        "margin",
        "smallest distance of a bar's adverse extreme from the liquidation price, in % of "
        "that extreme: 100 - 100 * liq / low (long), 100 * liq / high - 100 (short), over "
        "the 1m bars that ended with a position open",
        "percent",
        True,
        f"{_NO_MARGIN} or {_NO_POSITION}",
    ),
    MetricDoc(
        "max_gross_exposure_pct",
        "Max gross exposure",
        "margin",
        "largest position value at the mark / equity * 100 at the close of a 1m bar "
        "(0 when no bar ended with a position)",
        "percent",
        None,
        _NO_MARGIN,
    ),
    # --- benchmark (buy and hold) -----------------------------------------------------------
    MetricDoc(
        "buy_and_hold_return",
        "Buy & hold return",
        "benchmark",
        "last close / start price - 1; the start price is the last close before the "
        "first bar, else the first close in the span",
        "fraction",
        None,
        _NO_BENCH,
    ),
    MetricDoc(
        "buy_and_hold_cagr",
        "Buy & hold CAGR",
        "benchmark",
        "CAGR of the buy-and-hold daily returns",
        "fraction",
        None,
        _NO_BENCH,
    ),
    MetricDoc(
        "buy_and_hold_max_drawdown",
        "Buy & hold max drawdown",
        "benchmark",
        "max drawdown of the benchmark closes within the span, from the start price",
        "fraction",
        None,
        _NO_BENCH,
    ),
    MetricDoc(
        "excess_return",
        "Excess return",
        "benchmark",
        "total_return - buy_and_hold_return",
        "fraction",
        True,
        _NO_BENCH,
    ),
    MetricDoc(
        "alpha",
        "Alpha (ann.)",
        "benchmark",
        "(1 + mean((r - rf) - beta * (b - rf))) ** P - 1 on daily returns r and "
        "buy-and-hold daily returns b (empyrical alpha)",
        "fraction",
        True,
        f"{_NO_BENCH}, {_LT2} or a constant benchmark",
    ),
    MetricDoc(
        "beta",
        "Beta",
        "benchmark",
        "cov(r, b) / var(b) of daily returns",
        "ratio",
        None,
        f"{_NO_BENCH}, {_LT2} or a constant benchmark",
    ),
    MetricDoc(
        "correlation",
        "Correlation",
        "benchmark",
        "Pearson correlation of daily returns with the benchmark's",
        "ratio",
        None,
        f"{_NO_BENCH}, {_LT2} or either series constant",
    ),
    MetricDoc(
        "r_squared",
        "R squared",
        "benchmark",
        "correlation ** 2",
        "ratio",
        None,
        f"{_NO_BENCH}, {_LT2} or either series constant",
    ),
    MetricDoc(
        "tracking_error",
        "Tracking error (ann.)",
        "benchmark",
        "std(r - b, ddof=1) * sqrt(P)",
        "fraction",
        None,
        f"{_NO_BENCH} or {_LT2}",
    ),
    MetricDoc(
        "information_ratio",
        "Information ratio",
        "benchmark",
        "mean(r - b) / std(r - b, ddof=1) * sqrt(P)",
        "ratio",
        True,
        f"{_NO_BENCH}, {_LT2} or zero tracking error",
    ),
)

#: every metric `compute_metrics` returns: key -> its MetricDoc, in output order
METRIC_DOCS: dict[str, MetricDoc] = {d.name: d for d in _DOCS}
if len(METRIC_DOCS) != len(_DOCS):  # pragma: no cover - guards edits of the table above
    raise RuntimeError("duplicate metric name in METRIC_DOCS")

#: trade-log exit reason -> the metric counting it; the reasons come from their one home,
#: `trade.core.enums.ExitReason` (tests/test_code_tables.py checks each has its MetricDoc)
EXIT_REASON_KEYS: dict[str, str] = {reason: f"exits_{reason}" for reason in EXIT_REASONS}
