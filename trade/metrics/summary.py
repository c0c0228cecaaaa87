"""Formatting metric values for the CLI summary table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trade.metrics.docs import METRIC_DOCS, MetricDoc

#: the metrics `summary_table` shows by default (the CLI's backtest summary), in order
DEFAULT_SUMMARY_KEYS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "final_equity",
    "buy_and_hold_return",
    "max_drawdown",
    "max_drawdown_duration_days",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "num_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_holding_hours",
    "exposure",
    "fees_paid",
    "funding_paid",
    "liquidations",
    "entry_rejections",
    "min_margin_ratio",
    "closest_liquidation_pct",
    "max_gross_exposure_pct",
    "alpha",
    "beta",
)


def format_value(doc: MetricDoc, value: float | int | None) -> str:
    """One value as text in the unit of its MetricDoc; None reads "n/a".

    Parameters
    ----------
    doc : MetricDoc
        The metric's documentation (its `unit` picks the format).
    value : float, int or None
        The value from `compute_metrics`.

    Returns
    -------
    str
        E.g. "12.34%" (fraction 0.1234, or percent 12.34), "1,234" (count), "56.78 USDT",
        "3.0 d", "1.23x"; "n/a" for None.
    """
    if value is None:
        return "n/a"
    match doc.unit:
        case "fraction":
            return f"{value * 100:.2f}%"
        case "percent":
            return f"{value:.2f}%"
        case "count":
            return f"{int(value):,d}"
        case "USDT":
            return f"{value:,.2f} USDT"
        case "days":
            return f"{value:.1f} d"
        case "hours":
            return f"{value:.1f} h"
        case "per_day":
            return f"{value:.2f}/day"
        case "bps":
            return f"{value:.2f} bps"
        case "multiple":
            return f"{value:.2f}x"
        case _:
            return f"{value:.2f}"


def summary_table(
    metrics: Mapping[str, float | int | None], keys: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(label, formatted value) rows for `keys` (default: DEFAULT_SUMMARY_KEYS), in order.

    Parameters
    ----------
    metrics : Mapping[str, float | int | None]
        Values by metric key, as `compute_metrics` returns them.
    keys : Sequence[str], optional
        The metrics to show, in order (default `DEFAULT_SUMMARY_KEYS`).

    Returns
    -------
    list[tuple[str, str]]
        (`MetricDoc.label`, `format_value` text) per key.

    Raises
    ------
    KeyError
        A key is not in `METRIC_DOCS`, or is missing from `metrics`.
    """
    rows: list[tuple[str, str]] = []
    for key in DEFAULT_SUMMARY_KEYS if keys is None else keys:
        doc = METRIC_DOCS.get(key)
        if doc is None:
            raise KeyError(f"unknown metric {key!r}")
        if key not in metrics:
            raise KeyError(f"metric {key!r} is missing from the metrics given")
        rows.append((doc.label, format_value(doc, metrics[key])))
    return rows
