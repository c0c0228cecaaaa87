"""The simulation exchange: the compiled kernel's step API (SimExchange), the batch runner,
the backtest/paper adapters and the shared result tables."""

from trade.sim.adapter import BacktestAdapter, Bar, PaperAdapter
from trade.sim.batch import ValidatedBars, run_batch, run_batch_summary, validate_bars
from trade.sim.config import Intrabar, SimConfig, SizeMode
from trade.sim.exchange import SimExchange
from trade.sim.results import (
    EQUITY_SCHEMA,
    TRADE_LOG_SCHEMA,
    BatchResult,
    BatchSummary,
    SegmentSummary,
)
from trade.sim.signals import SignalArrays
from trade.sim.step import StepEngine

__all__ = [
    "EQUITY_SCHEMA",
    "TRADE_LOG_SCHEMA",
    "BacktestAdapter",
    "Bar",
    "BatchResult",
    "BatchSummary",
    "Intrabar",
    "PaperAdapter",
    "SegmentSummary",
    "SignalArrays",
    "SimConfig",
    "SimExchange",
    "SizeMode",
    "StepEngine",
    "ValidatedBars",
    "run_batch",
    "run_batch_summary",
    "validate_bars",
]
