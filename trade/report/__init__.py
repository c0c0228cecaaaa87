"""Self-contained HTML reports of runs and sweeps, and the live dashboard.

    write_run_report(run_dir, out=None, data_dir=None) -> Path
    write_sweep_report(results, out=None, metric="sharpe", x=None, y=None) -> Path
    DashboardServer(host="127.0.0.1", port=0).start() / .publish(update) / .stop()

The HTML files open offline: plotly.js is inlined once and nothing is fetched.
"""

from trade.report.dashboard import DashboardServer, parse_address
from trade.report.run import write_run_report
from trade.report.sweep import is_sweep_results, write_sweep_report

__all__ = [
    "DashboardServer",
    "is_sweep_results",
    "parse_address",
    "write_run_report",
    "write_sweep_report",
]
