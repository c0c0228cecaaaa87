"""The `trade data` commands, end to end through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from trade.cli import main
from trade.data import open_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_check_repair_info(tmp_path: Path, shared_data: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "store")
    code, out, _ = run(capsys, "data", "import", str(shared_data / "es_futures_1m.csv"),
                       "--symbol", "ES", "--data-dir", d)
    assert code == 0 and "2264 rows added" in out
    code, out, _ = run(capsys, "data", "import", str(shared_data / "es_futures_1m.csv"),
                       "--symbol", "ES", "--data-dir", d)
    assert code == 0 and "0 rows added" in out and "2264 already stored" in out
    code, out, err = run(capsys, "data", "check", "ES", "--data-dir", d)
    # gaps nobody recorded fail the check (exit 1), until `repair` records them
    assert code == 1 and "37 gaps (428 missing minutes)" in out
    assert "37 gap(s) not in the gap table" in err
    assert "gap  2013-09-01 18:02 .. 2013-09-01 18:02  (1 min)" in out
    code, out, _ = run(capsys, "data", "repair", "ES", "--data-dir", d)
    assert code == 0 and "37 left as marked gaps" in out
    assert open_store(d).read_gaps("ES").num_rows == 37
    code, out, _ = run(capsys, "data", "check", "ES", "--data-dir", d)
    assert code == 0 and "37 gaps (428 missing minutes)" in out
    code, out, _ = run(capsys, "data", "info", "--data-dir", d)
    assert code == 0 and out.startswith("ES: 1 months 2013-09 .. 2013-09")
    code, out, _ = run(capsys, "data", "info", "ES", "--data-dir", d)
    assert code == 0 and '"source": "es_futures_1m.csv"' in out


def test_hourly_import_needs_bridge(tmp_path: Path, shared_data: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "store")
    code, _, err = run(capsys, "data", "import", str(shared_data / "coinbase_btcusd_1h.csv"),
                       "--symbol", "BTCUSD", "--data-dir", d)
    assert code == 2 and "60-minute bars" in err and "--bridge-1m --seed N" in err
    assert open_store(d).symbols() == []


def test_bad_file_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,open,high,low,close,volume\n1709251200000,1,2,0.5,1,1\n"
                   "1709251260000,1,0.5,0.5,1,1\n")
    code, _, err = run(capsys, "data", "import", str(bad), "--symbol", "X",
                       "--data-dir", str(tmp_path / "s"))
    assert code == 2 and "line 3: high 0.5 < max(open 1.0, close 1.0)" in err


def test_synth_and_import_sample_are_idempotent(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "store")
    args = ("data", "synth", "--symbol", "SYN", "--days", "3", "--seed", "5", "--regime",
            "v_bottom", "--data-dir", d)
    code, out, _ = run(capsys, *args)
    assert code == 0 and "4320 rows added" in out
    code, out, _ = run(capsys, *args)
    assert code == 0 and "0 rows added" in out and "4320 already stored" in out
    code, out, _ = run(capsys, "data", "import-sample", "--data-dir", d)
    assert code == 0 and "bridged to 1m with seed 7" in out
    files = {p: p.stat().st_mtime_ns for p in Path(d).rglob("*") if p.is_file()}
    code, _, _ = run(capsys, "data", "import-sample", "--data-dir", d)
    assert code == 0
    assert {p: p.stat().st_mtime_ns for p in Path(d).rglob("*") if p.is_file()} == files
    store = open_store(d)
    assert store.symbols() == ["BTCUSDT", "SYN"]
    assert store.provenance("SYN")["regime"] == "v_bottom"
    code, out, _ = run(capsys, "data", "check", "BTCUSDT", "--data-dir", d, "--json")
    assert code == 0 and '"gaps": []' in out
