"""Every Play in plays/: it loads, runs, and the batch and event paths give identical trades.

The batch path (vectorised features -> SignalArrays -> compiled run_batch) and the event path
(PlayEngine bar by bar through BacktestAdapter) share only the Play and the order rules, so
equal trade logs (compared value by value and by the Parquet bytes' sha256) show that the
translation into signals and the incremental engine agree (docs/architecture.md, invariant 6)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from trade.core import InputError
from trade.data import open_store
from trade.engine import run_backtest
from trade.metrics import METRIC_DOCS
from trade.play import load_play

PLAYS = sorted((Path(__file__).resolve().parents[1] / "plays").glob("*.yml"))


def test_there_are_a_dozen_plays() -> None:
    assert len(PLAYS) >= 12


@pytest.mark.parametrize("path", PLAYS, ids=[p.stem for p in PLAYS])
def test_batch_and_event_paths_give_identical_trade_logs(path: Path) -> None:
    play = load_play(path)
    store = open_store(f"memory://parity-{path.stem}")  # empty: the Play's synthetic data
    event = run_backtest(play, store=store, path="event")
    if play.account.max_drawdown_pct is not None:
        with pytest.raises(InputError, match="max_drawdown_pct"):
            run_backtest(play, store=store, path="batch")
        assert run_backtest(play, store=store, path="auto").path == "event"
        assert event.n_trades > 0
        return
    batch = run_backtest(play, store=store, path="batch")
    assert batch.path == "batch" and event.path == "event"
    assert batch.n_trades > 0, f"{path.name} makes no trades on its data"
    assert isinstance(batch.trades, pa.Table)
    assert batch.trades.to_pylist() == event.trades.to_pylist()
    assert batch.manifest["trade_log_sha256"] == event.manifest["trade_log_sha256"]
    assert batch.final_balance == event.final_balance
    assert batch.equity.equals(event.equity)
    # the margin figures (kernel ledger on the batch path, MarginTracker on the event path)
    margin = [k for k, d in METRIC_DOCS.items() if d.group == "margin"]
    assert {k: batch.metrics[k] for k in margin} == {k: event.metrics[k] for k in margin}
    assert batch.metrics["entry_attempts"] > 0
    assert batch.metrics["max_gross_exposure_pct"] > 0.0
