"""Run folders: byte-identical artifacts for identical inputs, and what the manifest records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from trade.data import open_store, synth_bars
from trade.engine import PlayEngine, order_plan, run_backtest, sim_config
from trade.engine.orders import DEFAULT_INSTRUMENT
from trade.play import load_play_text
from trade.sim import BacktestAdapter, Bar

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "02_mtf_trend_pullback.yml"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_two_runs_write_byte_identical_artifacts(tmp_path: Path) -> None:
    store = open_store(tmp_path / "empty")
    a = run_backtest(PLAY, store=store, out_dir=tmp_path / "a")
    b = run_backtest(PLAY, store=store, out_dir=tmp_path / "b")
    for name in ("trades.parquet", "equity.parquet", "metrics.json", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert man["trade_log_sha256"] == _sha(tmp_path / "a" / "trades.parquet")
    assert man["play"]["file_sha256"] == _sha(PLAY)
    assert man["play"]["hash"] == a.manifest["play"]["hash"]
    assert man["data"]["kind"] == "synthetic" and man["seed"] == 3
    assert "synth_bars" in man["data"]["description"]
    assert man["path"] == "batch" and man["package_version"]
    assert pq.read_table(tmp_path / "a" / "trades.parquet").num_rows == a.n_trades > 0
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["num_trades"] == a.n_trades
    # another seed gives other data, other bars hash and other trades
    c = run_backtest(PLAY, store=store, seed=4)
    assert c.manifest["data"]["bars_sha256"] != a.manifest["data"]["bars_sha256"]
    assert c.manifest["trade_log_sha256"] != a.manifest["trade_log_sha256"]
    assert b.manifest == a.manifest


def test_stored_data_run_records_provenance_and_range(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    store.write_bars("BTCUSDT", synth_bars("BTCUSDT", 3, 5, "ranging"))
    store.record_provenance("BTCUSDT", {"source": "unit-test", "bridged_1m": False, "seed": 5})
    r = run_backtest(PLAY, store=store, start="2024-01-02", end="2024-01-03")
    d = r.manifest["data"]
    assert d["kind"] == "store" and d["provenance"]["source"] == "unit-test"
    assert (d["start"], d["end"], d["n_bars_1m"]) == ("2024-01-02T00:00:00Z",
                                                      "2024-01-03T00:00:00Z", 1440)
    assert r.manifest["seed"] is None


def test_drawdown_breaker_flattens_and_stops_trading() -> None:
    text = """
version: "3.0.0"
name: breaker
symbol: BTCUSDT
timeframes: {low_tf: 5m, exec: low_tf}
account: {starting_equity_usdt: 10000, max_leverage: 5, max_drawdown_pct: 3}
actions:
  entry_long: [close, ">", 0]
"""
    play = load_play_text(text)
    bars = synth_bars("BTCUSDT", 3, 1, "crash")
    plan = order_plan(play)
    adapter = BacktestAdapter(sim_config(play, plan, DEFAULT_INSTRUMENT))
    engine = PlayEngine(play, adapter, plan=plan)
    halted_at = -1
    for i, r in enumerate(bars.to_pylist()):
        adapter.step(Bar(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"]))
        engine.on_bar(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
        if engine.halted and halted_at < 0:
            halted_at = i
    adapter.finish()
    engine.finish()
    assert halted_at > 0
    log = adapter.exchange.trade_log().to_pylist()
    eq = adapter.exchange.equity_curve()
    qty = np.asarray(eq.column("position_qty").to_numpy())
    assert np.all(qty[halted_at + 2:] == 0)  # flat from the bar after the close order on
    assert log[-1]["exit_reason"] == "signal"
    peak = max(np.asarray(eq.column("equity").to_numpy())[: halted_at + 1])
    assert engine.peak_equity == peak
