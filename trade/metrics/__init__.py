"""Performance statistics of a run: `compute_metrics`, their definitions, and a summary table.

    metrics = compute_metrics(result.equity, result.trades, initial_balance=10_000.0,
                              benchmark_close=closes)
    for label, value in summary_table(metrics):
        print(label, value)

Every key is documented in `METRIC_DOCS` (group, one-line definition, unit, direction and
when it is undefined); undefined values are None, never NaN.
"""

from trade.metrics.compute import (
    MarginFigures,
    compute_metrics,
    daily_returns,
    margin_metrics,
)
from trade.metrics.docs import GROUPS, METRIC_DOCS, MetricDoc
from trade.metrics.summary import DEFAULT_SUMMARY_KEYS, format_value, summary_table

__all__ = [
    "DEFAULT_SUMMARY_KEYS",
    "GROUPS",
    "METRIC_DOCS",
    "MarginFigures",
    "MetricDoc",
    "compute_metrics",
    "daily_returns",
    "format_value",
    "margin_metrics",
    "summary_table",
]
