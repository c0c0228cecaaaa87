"""PlayEngine and the runners: a Play from YAML to trades, metrics and a run folder.

Public API:

* `run_backtest(play, *, data_dir=None, store=None, symbol=None, start=None, end=None,
  out_dir=None, path="auto", seed=None, progress=None) -> RunResult` (trade.engine.backtest:
  which path runs when, data, artifacts);
* `PlayEngine(play, adapter, *, plan=None)` with `on_bar(ts, o, h, l, c, v, mark, *,
  funding_rate, open_interest)` and `finish()`: the one engine, acting only through
  `trade.core.ExchangeAdapter` (`market_builtins`: which of the last two its Play reads);
* `trade.engine.backtest.with_market_series(play, bars, store, symbol, info)`: the `funding_rate` /
  `open_interest` columns a Play reads, from the store (or a clear refusal);
* `order_plan(play, instrument) -> OrderPlan`: sizing and bracket rules (trade.engine.orders);
* `exec_frame(play, bars_1m) -> ExecFrame`, `StreamFeatures`: features in batch and
  streaming form; `build_signals(compiled, frame, plan) -> SignalArrays` for the batch path;
* `sim_config(play, plan, instrument) -> SimConfig`; `quickstart_play_path()`;
* `run_portfolio_backtest(members, *, ...) -> PortfolioRunResult` (trade.engine.portfolio):
  several Plays / symbols on one wallet, each member prepared as `run_backtest` prepares
  its Play (`prepare_run`, `batch_inputs`).
"""

from importlib import resources
from pathlib import Path

from trade.engine.backtest import (
    PreparedRun,
    RunResult,
    batch_inputs,
    choose_path,
    load_run_bars,
    parse_time,
    prepare_run,
    run_backtest,
    sim_config,
)
from trade.engine.features import ExecFrame, FeatureDef, StreamFeatures, exec_frame, feature_defs
from trade.engine.orders import DEFAULT_INSTRUMENT, Decision, OrderPlan, order_plan
from trade.engine.play_engine import EngineStats, PlayEngine
from trade.engine.portfolio import MemberSpec, PortfolioRunResult, run_portfolio_backtest
from trade.engine.signals import build_signals
from trade.sim.config import SizeMode


def quickstart_play_path() -> Path:
    """The Play `trade quickstart` runs (shipped inside the package).

    Returns
    -------
    Path
        The path of `quickstart_play.yml` inside the installed `trade.engine` package.
    """
    return Path(str(resources.files("trade.engine") / "quickstart_play.yml"))


__all__ = [
    "DEFAULT_INSTRUMENT",
    "Decision",
    "EngineStats",
    "ExecFrame",
    "FeatureDef",
    "MemberSpec",
    "OrderPlan",
    "PlayEngine",
    "PortfolioRunResult",
    "PreparedRun",
    "RunResult",
    "SizeMode",
    "StreamFeatures",
    "batch_inputs",
    "build_signals",
    "choose_path",
    "exec_frame",
    "feature_defs",
    "load_run_bars",
    "order_plan",
    "parse_time",
    "prepare_run",
    "quickstart_play_path",
    "run_backtest",
    "run_portfolio_backtest",
    "sim_config",
]
