"""The live journal after a crash (issue: a torn tail locked it): the torn last line is cut
before anything is appended and the cut is reported; a refused journal gets nothing
written; a folder is one clear error; runs journal by default; fills are journaled once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import KEY, SECRET, fast_cross_play_yaml
from trade.core import InputError, SimulatedClock
from trade.live import Credentials, Journal, LiveRunner, RunConfig, open_journal, read_journal
from trade.live.journal import dumps

RECORDS = st.lists(st.fixed_dictionaries({
    "ts": st.integers(0, 2**53), "kind": st.sampled_from(["order", "fill", "bar"]),
    "x": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                   st.none())}), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(records=RECORDS, cut=st.integers(1, 10_000))
def test_a_torn_tail_is_cut_once_and_the_journal_stays_readable(
        records: list[dict[str, object]], cut: int, tmp_path_factory: pytest.TempPathFactory
        ) -> None:
    """Kill -9 mid-write leaves any prefix of the last line. Opening cuts it (and says so)
    or keeps a whole record that only lost its newline; the next appends start on their own
    line, and every later open reads every record without complaint."""
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    lines = [dumps(r) for r in records]
    last = lines[-1]
    keep = cut % (len(last) + 1)  # 0 .. the whole line (without its newline)
    text = "".join(line + "\n" for line in lines[:-1]) + last[:keep]
    path.write_text(text)
    got, repair = open_journal(path)
    whole = keep == len(last)
    assert got == records[:-1] + ([records[-1]] if whole else [])
    if whole or keep == 0:
        assert repair is None
    else:
        assert repair is not None and repair.line == len(records)
        assert repair.cut_bytes == len(last[:keep].encode()) and "torn" in repair.message()
    j = Journal(path, SimulatedClock(5))
    j.write("start", symbol="BTCUSDT")
    j.close()
    again, repair2 = open_journal(path)
    assert repair2 is None
    assert again == [*got, {"ts": 5, "kind": "start", "symbol": "BTCUSDT"}]
    assert read_journal(path) == again


def test_a_bad_line_inside_refuses_the_journal_and_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    body = b'{"ts":1,"kind":"bar","bar":0}\nnot json at all\n{"ts":2,"kind":"bar","bar":1}\n'
    path.write_bytes(body)
    with pytest.raises(InputError, match=r"journal .*journal.jsonl: line 2 is not JSON"):
        open_journal(path)
    # a run refusing its journal writes nothing to it (read before the file is opened)
    cfg = RunConfig(symbol="BTCUSDT", mode="demo", endpoint="http://127.0.0.1:9",
                    credentials=Credentials(KEY, SECRET), journal_path=path)
    runner = LiveRunner(cfg, lambda a: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(InputError, match="line 2 is not JSON"):
        runner.run()
    assert path.read_bytes() == body


def test_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        open_journal(tmp_path)
    with pytest.raises(InputError, match="is a folder"):
        Journal(tmp_path, SimulatedClock(0))
    play = tmp_path / "p.yml"
    play.write_text(fast_cross_play_yaml("cli_journal"))
    env = dict(os.environ, BYBIT_DEMO_API_KEY=KEY, BYBIT_DEMO_API_SECRET=SECRET)
    res = subprocess.run([sys.executable, "-m", "trade", "run", str(play), "--journal",
                          str(tmp_path), "--endpoint", "http://127.0.0.1:9"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a folder" in lines[0] and "Traceback" not in res.stderr


@pytest.mark.parametrize("body", [
    b'{"ts":1,"kind":"bar","bar":0}\nnot json at all\n{"ts":2,"kind":"bar","bar":1}\n',
    bytes(range(256)) * 4,
], ids=["bad-line", "binary"])
def test_trade_run_refuses_a_bad_journal_in_one_line_before_starting(
        tmp_path: Path, body: bytes) -> None:
    """`trade run` checks the journal (read only) before it contacts the exchange, starts the
    control endpoint or prints anything: one line naming the file, exit 2, file untouched."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(body)
    play = tmp_path / "p.yml"
    play.write_text(fast_cross_play_yaml("cli_bad_journal"))
    env = dict(os.environ, BYBIT_DEMO_API_KEY=KEY, BYBIT_DEMO_API_SECRET=SECRET)
    res = subprocess.run([sys.executable, "-m", "trade", "run", str(play), "--journal",
                          str(path), "--endpoint", "http://127.0.0.1:9", "--no-control"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "journal.jsonl" in lines[0] and "Traceback" not in res.stderr
    assert path.read_bytes() == body and not (tmp_path / "runs").exists()


def test_runs_journal_by_default_one_per_play_symbol_and_mode() -> None:
    from trade.cli.run_cmd import default_journal

    path = default_journal("ema cross/v2", "BTCUSDT", "demo")
    assert path == Path("runs") / "journals" / "ema_cross_v2-BTCUSDT-demo.jsonl"
    assert default_journal("ema", "ETHUSDT", "live") != default_journal("ema", "ETHUSDT", "demo")


def test_journal_lines_are_orjson_and_never_hold_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path, SimulatedClock(1))
    j.write("error", message=f"bad key {SECRET}", value=float("nan"), n=3)
    j.close()
    rec = orjson.loads(path.read_bytes())
    assert rec["value"] is None and rec["n"] == 3  # NaN is null: the line stays JSON
    assert SECRET not in path.read_text()


@settings(max_examples=200, deadline=None)
@given(ticks=st.integers(1, 10**7), steps=st.integers(1, 10**6),
       tick=st.sampled_from([0.1, 0.01, 0.5, 0.0001, 1.0]),
       step=st.sampled_from([0.001, 0.01, 1.0, 0.1]))
def test_journal_prices_and_quantities_are_written_on_the_grid(
        tmp_path_factory: pytest.TempPathFactory, ticks: int, steps: int, tick: float,
        step: float) -> None:
    path = tmp_path_factory.mktemp("j") / "j.jsonl"
    j = Journal(path, SimulatedClock(0))
    price, qty = ticks * tick * (1 + 1e-15), steps * step  # on the grid, with binary noise
    j.write("fill", price=price, qty=qty, avg_price=price + tick / 2)
    j.set_grid(tick, step)
    j.write("fill", price=price, qty=qty, avg_price=price + tick / 2, fee=0.123456789)
    j.close()
    before, after = (orjson.loads(line) for line in path.read_bytes().splitlines())
    assert before["price"] == price  # nothing rounded before the grid is known
    assert abs(after["price"] - price) < tick * 1e-6 and abs(after["qty"] - qty) < step * 1e-6
    # written at the grid's decimals: the shortest text of the number has no more of them
    decimals = {0.1: 1, 0.01: 2, 0.5: 1, 0.0001: 4, 1.0: 0, 0.001: 3}
    for key, d in (("price", decimals[tick]), ("qty", decimals[step])):
        text = repr(after[key])
        assert len(text.partition(".")[2].rstrip("0")) <= d, (key, text)
    assert after["avg_price"] == price + tick / 2  # an average lies between ticks: kept
    assert after["fee"] == 0.123456789
