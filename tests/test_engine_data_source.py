"""Data source of backtests and sweeps: synthetic data only when asked for, a missing store or
symbol is an error naming both, and every result (run manifest, sweep summary and results
metadata, reports) records where its bars came from."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from trade.cli import cli
from trade.core import InputError
from trade.data import NoDataError, open_store, synth_bars
from trade.engine import run_backtest
from trade.play import load_play

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"


def _store_with(root: Path, symbol: str) -> Path:
    st = open_store(root)
    st.write_bars(symbol, synth_bars(symbol, 2, 5, "ranging"))
    st.record_provenance(symbol, {"source": "unit-test", "bridged_1m": False, "seed": 5})
    return root


def _one_line(stderr: str, *needles: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for n in needles:
        assert n in lines[0], lines[0]


# every way of not having the bars: mistyped store, empty store, store of another symbol
MISSING = ["nonexistent", "empty", "other-symbol"]


def _missing_store(kind: str, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    if kind == "empty":
        root.mkdir()
    elif kind == "other-symbol":
        _store_with(root, "ETHUSDT")
    return root


@pytest.mark.parametrize("kind", MISSING)
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_missing_data_is_an_error_naming_what_and_where(kind: str, command: str,
                                                         tmp_path: Path) -> None:
    root = _missing_store(kind, tmp_path)
    out = tmp_path / ("run" if command == "backtest" else "s.parquet")
    args = [command, str(PLAY), "--data-dir", str(root), "--out", str(out)]
    if command == "sweep":
        args += ["--param", "features.ema_fast.params.length=values:5,9", "--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    _one_line(res.stderr, "BTCUSDT", str(root), "--synthetic")
    if kind == "nonexistent":
        assert "does not exist" in res.stderr
        assert not root.exists()  # nothing created by the failed command
    if kind == "other-symbol":
        assert "ETHUSDT" in res.stderr  # what the store does hold
    assert not out.exists()
    assert not (tmp_path / "s.summary.json").exists()


def test_synthetic_only_when_asked(tmp_path: Path) -> None:
    play = load_play(PLAY)
    empty = open_store(tmp_path / "empty")
    with pytest.raises(NoDataError, match="does not exist"):
        run_backtest(play, store=empty, synthetic=False)
    with pytest.raises(InputError, match="add --synthetic"):
        run_backtest(play, store=empty, synthetic=False, seed=4)
    stored = open_store(_store_with(tmp_path / "s", "BTCUSDT"))
    asked = run_backtest(play, store=stored, synthetic=True)
    assert asked.manifest["data"]["kind"] == "synthetic"
    assert "asked for" in asked.manifest["data"]["description"]
    real = run_backtest(play, store=stored, synthetic=False)
    assert real.manifest["data"]["kind"] == "store"
    assert real.manifest["data"]["provenance"]["source"] == "unit-test"
    no_block = load_play(PLAY)
    object.__setattr__(no_block, "synthetic", None)
    with pytest.raises(InputError, match="needs a synthetic: block"):
        run_backtest(no_block, store=stored, synthetic=True)


def test_every_result_records_its_data_source(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["backtest", str(PLAY), "--synthetic", "--out", str(run),
                                   "--report", "--data-dir", str(tmp_path / "none")])
    assert res.exit_code == 0, res.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"]["kind"] == "synthetic"
    assert "data: synthetic 1m bars" in res.stdout
    html = (run / "report.html").read_text()
    assert "data: synthetic 1m bars" in html

    out = tmp_path / "sw.parquet"
    res = CliRunner().invoke(cli, ["sweep", str(PLAY), "--synthetic", "--out", str(out),
                                   "--param", "features.ema_fast.params.length=values:5,9",
                                   "--no-progress", "--metrics", "fast"])
    assert res.exit_code == 0, res.output
    assert "data: synthetic 1m bars" in res.stdout
    meta = json.loads(pq.read_schema(out).metadata[b"trade.data"])
    assert meta["kind"] == "synthetic" and meta["n_bars_1m"] > 0
    summary = json.loads(out.with_name("sw.summary.json").read_text())
    assert summary["data"]["kind"] == "synthetic"
    from trade.report import write_sweep_report

    assert "data: synthetic 1m bars" in write_sweep_report(out).read_text()

    stored = _store_with(tmp_path / "st", "BTCUSDT")
    out2 = tmp_path / "sw2.parquet"
    res = CliRunner().invoke(cli, ["sweep", str(PLAY), "--data-dir", str(stored),
                                   "--out", str(out2), "--no-progress", "--metrics", "fast",
                                   "--param", "features.ema_fast.params.length=values:5,9"])
    assert res.exit_code == 0, res.output
    assert json.loads(pq.read_schema(out2).metadata[b"trade.data"])["kind"] == "store"
    assert "1m bars from unit-test" in res.stdout


def test_bars_in_memory_run_as_the_same_bars_from_the_store(tmp_path: Path) -> None:
    """run_backtest(bars=table) runs on the table: the trades, equity, metrics and bar digest
    of the same bars read from a store; the manifest says where they came from."""
    root = _store_with(tmp_path / "store", "BTCUSDT")
    st = open_store(root)
    play = load_play(PLAY)
    stored = run_backtest(play, store=st, synthetic=False, start="2024-01-01T12:00")
    table = st.read_bars("BTCUSDT", None, None)
    mem = run_backtest(play, store=st, bars=table, start="2024-01-01T12:00")
    assert mem.trades.equals(stored.trades) and mem.equity.equals(stored.equity)
    assert mem.metrics == stored.metrics
    assert mem.manifest["data"]["bars_sha256"] == stored.manifest["data"]["bars_sha256"]
    assert mem.manifest["data"]["n_bars_1m"] == stored.manifest["data"]["n_bars_1m"]
    assert mem.manifest["data"]["kind"] == "table"
    with pytest.raises(InputError, match="in memory"):
        run_backtest(play, store=st, bars=table, synthetic=True)


def test_synthetic_bars_count_after_the_warm_up_as_in_trade() -> None:
    """TRADE's `bars` are exec bars after the features' warm-up: the warm-up (here a 1h EMA
    of 50 bars, the longest) is generated in front of them, so the last `bars` exec bars all
    see every feature."""
    from trade.engine.backtest import warmup_minutes
    from trade.play import load_play_text

    text = """\
version: "3.0.0"
name: warm
symbol: BTCUSDT
timeframes: {low_tf: 15m, med_tf: 1h, exec: low_tf}
features:
  ema_fast: {indicator: ema, params: {length: 9}}
  ema_1h: {indicator: ema, params: {length: 50}, tf: med_tf}
actions:
  entry_long:
    - [ema_fast, ">", ema_1h]
validation: {pattern: trend_up_clean, bars: 200, seed: 3}
"""
    play = load_play_text(text, source="warm.yml")
    warm = warmup_minutes(play)
    assert warm == (49 + 1) * 60  # the 1h EMA's 49 bars before its first value, and its own
    res = run_backtest(play, synthetic=True)
    assert res.equity.num_rows == 200 * 15 + warm
    assert res.n_trades >= 1  # a rising market with every feature warm: the Play enters
