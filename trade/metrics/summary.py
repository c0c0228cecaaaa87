"""Formatting metric values for the CLI summary table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trade.metrics.docs import METRIC_DOCS, MetricDoc

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
    "alpha",
    "beta",
)


def format_value(doc: MetricDoc, value: float | int | None) -> str:
    """One value as text in the unit of its MetricDoc; None reads "n/a"."""
    if value is None:
        return "n/a"
    match doc.unit:
        case "fraction":
            return f"{value * 100:.2f}%"
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

    Raises KeyError naming a key that is not a metric or is missing from `metrics`.
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
