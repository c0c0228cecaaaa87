"""The simulation exchange: the compiled kernel's step API (SimExchange), the batch runner,
the backtest/paper adapters and the shared result tables."""

from trade.sim.adapter import BacktestAdapter, Bar, PaperAdapter
from trade.sim.batch import run_batch
from trade.sim.config import Intrabar, SimConfig, SizeMode
from trade.sim.exchange import SimExchange
from trade.sim.results import EQUITY_SCHEMA, TRADE_LOG_SCHEMA, BatchResult
from trade.sim.signals import SignalArrays
from trade.sim.step import StepEngine

__all__ = [
    "EQUITY_SCHEMA",
    "TRADE_LOG_SCHEMA",
    "BacktestAdapter",
    "Bar",
    "BatchResult",
    "Intrabar",
    "PaperAdapter",
    "SignalArrays",
    "SimConfig",
    "SimExchange",
    "SizeMode",
    "StepEngine",
    "run_batch",
]
