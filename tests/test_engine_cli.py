"""`trade backtest` / `trade quickstart`: bad input exits non-zero with one line, never a
traceback; a good run prints the summary or JSON; the quick start runs on the real sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"
QUICK = ROOT / "trade" / "engine" / "quickstart_play.yml"


def trade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADE_DATA_DIR": str(cwd / "data"), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "trade", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the shipped real sample, imported once through `trade quickstart`."""
    d = tmp_path_factory.mktemp("qs")
    proc = trade("quickstart", "--data-dir", str(d / "data"), "--out", str(d / "run"),
                 "--json", cwd=d)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["manifest"]["data"]["kind"] == "store"
    assert "bridged from real 1h bars" in out["manifest"]["data"]["description"]
    assert "seed 7" in out["manifest"]["data"]["description"]
    assert out["metrics"]["num_trades"] > 10
    assert (d / "run" / "trades.parquet").is_file() and (d / "run" / "manifest.json").is_file()
    return d


def test_quickstart_runs_on_the_real_sample(sample_store: Path) -> None:
    proc = trade("backtest", str(QUICK), "--start", "2018-01-01", "--end", "2018-03-01",
                 "--out", str(sample_store / "r2"), cwd=sample_store)
    assert proc.returncode == 0, proc.stderr
    assert "Sharpe ratio" in proc.stdout and "Total return" in proc.stdout
    assert "2018-01-01T00:00:00Z .. 2018-03-01T00:00:00Z" in proc.stdout


def test_missing_file(tmp_path: Path) -> None:
    one_line_error(trade("backtest", str(tmp_path / "nope.yml"), cwd=tmp_path), "not found")


def test_invalid_play(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(PLAY.read_text().replace("indicator: ema, params: {length: 9}",
                                            "indicator: emaa, params: {length: 9}"))
    proc = trade("backtest", str(bad), cwd=tmp_path)
    one_line_error(proc, "did you mean 'ema'")
    assert "bad.yml:" in proc.stderr


def test_unknown_symbol(sample_store: Path) -> None:
    proc = trade("backtest", str(QUICK), "--symbol", "DOGEUSDT", cwd=sample_store)
    one_line_error(proc, "no 1m bars stored for DOGEUSDT")


def test_empty_and_bad_date_ranges(sample_store: Path) -> None:
    one_line_error(trade("backtest", str(QUICK), "--start", "2018-02-01", "--end", "2018-01-01",
                         cwd=sample_store), "empty date range")
    one_line_error(trade("backtest", str(QUICK), "--start", "2030-01-01", cwd=sample_store),
                   "no 1m bars for BTCUSDT in the range")
    one_line_error(trade("backtest", str(QUICK), "--start", "soon", cwd=sample_store),
                   "cannot read 'soon'")


def test_batch_refused_for_breaker_play_and_json_output(tmp_path: Path) -> None:
    brk = ROOT / "plays" / "11_drawdown_circuit_breaker.yml"
    one_line_error(trade("backtest", str(brk), "--path", "batch", cwd=tmp_path),
                   "max_drawdown_pct")
    proc = trade("backtest", str(PLAY), "--synthetic", "--json", "--out", str(tmp_path / "o"),
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["manifest"]["path"] == "batch"
    assert data["metrics"]["num_trades"] == data["manifest"]["n_trades"] > 0


@pytest.mark.parametrize(("args", "needle"), [
    (("backtest", "no-such-play.yml"), "Play file not found"),
    (("data", "import"), "Missing argument 'FILE'"),
    (("sweep", str(PLAY), "--bogus"), "No such option '--bogus'"),
])
def test_usage_errors_are_one_line(args: tuple[str, ...], needle: str, tmp_path: Path) -> None:
    proc = trade(*args, cwd=tmp_path)
    one_line_error(proc, needle)
    assert proc.returncode == 2 and "--help" in proc.stderr


def test_lowercase_symbol_is_the_upper_case_one(sample_store: Path) -> None:
    proc = trade("backtest", str(QUICK), "--symbol", "btcusdt", "--start", "2018-01-01",
                 "--end", "2018-01-15", "--json", "--out", str(sample_store / "r3"),
                 cwd=sample_store)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["manifest"]["symbol"] == "BTCUSDT"
