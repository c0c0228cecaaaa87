"""Results survive a failed write: a run folder's four artifacts appear together or not at
all (a full disk leaves the previous run as it was, and no temp file), and a sweep that fails
part-way leaves its results file as it was."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from trade.data import synth_bars
from trade.engine import run_backtest
from trade.engine.artifacts import write_files
from trade.play import load_play
from trade.sweep import SweepContext, run_sweep, space_for

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_run_folder_is_written_all_or_nothing(tmp_path: Path, fail_at: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from trade.data import open_store

    store = open_store(tmp_path / "empty")
    out = tmp_path / "run"
    run_backtest(load_play(PLAY), store=store, out_dir=out, synthetic=True)
    before = _tree(out)
    calls = [0]
    real = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        calls[0] += 1
        if calls[0] == fail_at:
            real(self, data[: len(data) // 2])  # a torn temp file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run_backtest(load_play(PLAY), store=store, out_dir=out, synthetic=True, seed=99)
    monkeypatch.undo()
    assert _tree(out) == before  # the previous run, untouched, no temp file left


def test_write_files_removes_what_it_created(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes

    def refuse(self: Path, data: bytes) -> int:
        if self.name.startswith(".b"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(OSError, match="Read-only"):
        write_files(tmp_path / "new" / "run", {"a.json": b"1", "b.json": b"2"})
    assert not (tmp_path / "new").exists()


def test_a_sweep_that_fails_part_way_leaves_the_results_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = SweepContext(load_play(PLAY), synth_bars("BTCUSDT", 3, 2, "mixed"))
    space = space_for(ctx, ["features.ema_fast.params.length=values:5,7,9"])
    out = tmp_path / "s.parquet"
    run_sweep(ctx, space, out, workers=1)
    before = out.read_bytes()
    from trade.sweep import results

    def disk_full(self: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.ResultsWriter, "flush", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(ctx, space_for(ctx, ["features.ema_fast.params.length=values:5,11"]), out,
                  workers=1, row_group=1)
    assert out.read_bytes() == before
    assert not out.with_name("s.parquet.partial").exists()
