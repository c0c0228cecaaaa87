"""Parameter sweeps of a Play: spaces, the fast threaded path, Ray, walk-forward, hold-out.

    ctx = SweepContext(play, bars_1m, SweepSettings(metrics="full", min_trades=10,
                       sort="sharpe"), selection_end=..., windows=WalkForward(...).windows(a, b))
    space = space_for(ctx, ["features.ema_fast.params.length=range:5:50:5"],
                      ["features.ema_fast.params.length < features.ema_slow.params.length"])
    outcome = run_sweep(ctx, space, "results.parquet", search="grid", workers=2)
    outcome.summary["best"], outcome.summary["deflated_sharpe"], outcome.summary["pbo"]

Modules: space (Dimension, Constraint, Space, variant_id), evaluate (FrameCache,
SweepContext, evaluate), results (columns, ResultsWriter), windows (WalkForward,
holdout_start), analysis (summarize, deflated_sharpe, pbo_cscv), runner (run_sweep),
ray_backend (RayExecutor), data (sweep_context_for: a Play's bars from a store), portfolio
(PortfolioSweepContext, portfolio_sweep_context_for: a portfolio file's members and
allocations swept as one account; `space_for` and `run_sweep` take its context too).
"""

from trade.sweep.analysis import deflated_sharpe, pbo_cscv, summarize
from trade.sweep.evaluate import (
    FAST_METRICS,
    FrameCache,
    SweepContext,
    SweepSettings,
    evaluate,
    fast_metrics,
    metric_names,
)
from trade.sweep.portfolio import PortfolioSweepContext, portfolio_sweep_context_for
from trade.sweep.results import ResultsWriter, read_results, results_schema
from trade.sweep.runner import SweepOutcome, evaluate_safe, run_sweep, space_for
from trade.sweep.space import (
    Constraint,
    Dimension,
    Space,
    dimension_from_sweep,
    parse_dimension,
    variant_id,
)
from trade.sweep.windows import WalkForward, Window, holdout_start

__all__ = [
    "FAST_METRICS",
    "Constraint",
    "Dimension",
    "FrameCache",
    "PortfolioSweepContext",
    "ResultsWriter",
    "Space",
    "SweepContext",
    "SweepOutcome",
    "SweepSettings",
    "WalkForward",
    "Window",
    "deflated_sharpe",
    "dimension_from_sweep",
    "evaluate",
    "evaluate_safe",
    "fast_metrics",
    "holdout_start",
    "metric_names",
    "parse_dimension",
    "pbo_cscv",
    "portfolio_sweep_context_for",
    "read_results",
    "results_schema",
    "run_sweep",
    "space_for",
    "summarize",
    "variant_id",
]
