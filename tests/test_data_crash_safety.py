"""The store survives crashes and refused writes: a write killed (SIGKILL) at any point
leaves the data and provenance as before or as after, never months without provenance; the
next write (or `trade data check --fix`) removes what a dead write left; a filesystem that
refuses writes (read-only, disk full) gives one line and changes nothing; a corrupt month is
reported by `check` (exit 1), replaced by `--overwrite`, removed by `delete-month`."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trade.cli import main
from trade.core import TradeError
from trade.data import Store, import_file, open_store, synth_bars
from trade.data.store import StoreWriteError

SYMBOL = "BTCUSDT"
MONTH_MS = 31 * 86_400_000


def _csv(path: Path, start_ms: int, days: int, seed: int) -> Path:
    bars = synth_bars(SYMBOL, days, seed, "mixed", start_ms=start_ms)
    cols = {k: bars.column(k).to_numpy() for k in ("ts", "open", "high", "low", "close",
                                                    "volume")}
    lines = ["ts,open,high,low,close,volume"]
    lines += [f"{int(t)},{float(o)!r},{float(h)!r},{float(lo)!r},{float(c)!r},{float(v)!r}"
              for t, o, h, lo, c, v in
              zip(*cols.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _tree(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones included) -> sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _visible(store: Store) -> tuple[list[int], dict[str, object]]:
    """What a reader sees: the stored ts and the provenance (readers settle a commit)."""
    prov = store.provenance(SYMBOL)
    ts = store.read_bars(SYMBOL).column("ts").to_pylist() if store.month_files(SYMBOL) else []
    return ts, prov


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import pyarrow.parquet as pq
    from trade.data import import_file, open_store
    from trade.data.store import Store

    root, csv, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    steps = [0]

    def step() -> None:
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real crash

    real_write, real_move = pq.write_table, Store._move

    def write_table(*a, **k):
        real_write(*a, **k)
        step()

    def move(self, src, dst):
        step()
        real_move(self, src, dst)
        step()

    pq.write_table = write_table
    Store._move = move
    import_file(open_store(root), csv, "BTCUSDT")
    print("steps", steps[0])
""")


def _run_child(root: Path, csv: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CHILD, str(root), str(csv), str(kill_at)],
                          capture_output=True, text=True, timeout=120)


def test_a_write_killed_at_any_point_is_all_or_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    first = _csv(tmp_path / "a.csv", 1_704_067_200_000, 3, 1)  # 2024-01
    import_file(store, first, SYMBOL)
    before = _visible(store)
    second = _csv(tmp_path / "b.csv", 1_706_745_600_000, 30, 2)  # Feb 2024 .. Mar 1
    done = _run_child(tmp_path / "probe", second, 0)  # kill_at 0: never; counts the steps
    assert done.returncode == 0, done.stderr
    n_steps = int(done.stdout.split()[-1])
    assert n_steps >= 6  # 2 months + provenance staged, a commit record, 3 renames
    import_file(open_store(tmp_path / "ref"), first, SYMBOL)
    import_file(open_store(tmp_path / "ref"), second, SYMBOL)
    after = _visible(open_store(tmp_path / "ref"))
    assert after[0] != before[0] and after[1] != before[1]
    seen = set()
    for kill_at in range(1, n_steps + 1):
        trial = tmp_path / f"k{kill_at}"
        subprocess.run(["cp", "-a", str(root), str(trial)], check=True)
        proc = _run_child(trial, second, kill_at)
        assert proc.returncode == -9, (kill_at, proc.stderr)
        state = _visible(open_store(trial))
        assert state in (before, after), f"killed at step {kill_at}: a mixed state"
        seen.add("after" if state == after else "before")
        # the next write finishes or drops the dead one and leaves no temp file behind
        import_file(open_store(trial), second, SYMBOL)
        assert _visible(open_store(trial)) == after
        assert not [p for p in trial.rglob(".*") if p.is_file()]
        assert not (trial / "bars_1m" / f"symbol={SYMBOL}" / "_commit.json").exists()
    assert seen == {"before", "after"}  # both sides of the commit point were hit


def test_check_fix_removes_leftovers(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    root = tmp_path / "store"
    import_file(open_store(root), _csv(tmp_path / "a.csv", 1_704_067_200_000, 2, 1), SYMBOL)
    folder = root / "bars_1m" / f"symbol={SYMBOL}"
    dead = folder / f".2024-01.parquet.tmp-{'a' * 32}"
    dead.write_bytes(b"half a file")
    (root / "funding").mkdir()
    dead_funding = root / "funding" / f".{SYMBOL}.parquet.tmp-{'b' * 32}"
    dead_funding.write_bytes(b"x")
    code, _, err = _cli(capsys, "data", "check", SYMBOL, "--fix", "--data-dir", str(root))
    assert code == 0 and "removed 2 leftover temp file(s)" in err
    assert not dead.exists() and not dead_funding.exists()


def _corrupt_month(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "store"
    csv = _csv(tmp_path / "a.csv", 1_704_067_200_000, 40, 1)  # 2024-01 and 2024-02
    import_file(open_store(root), csv, SYMBOL)
    jan = root / "bars_1m" / f"symbol={SYMBOL}" / "2024-01.parquet"
    jan.write_bytes(jan.read_bytes()[:100])  # torn
    return root, csv, jan


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_corrupt_month_fails_check_and_is_replaced_or_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, csv, jan = _corrupt_month(tmp_path)
    d = ("--data-dir", str(root))
    code, out, err = _cli(capsys, "data", "check", SYMBOL, *d)
    assert code == 1 and f"CORRUPT {jan}" in out and "corrupt month file" in err
    code, _, err = _cli(capsys, "data", "check", SYMBOL, "--json", *d)
    assert code == 1
    # a plain re-import names the file and the two ways out, and changes nothing
    snapshot = _tree(root)
    code, _, err = _cli(capsys, "data", "import", str(csv), "--symbol", SYMBOL, *d)
    assert code == 2 and str(jan) in err and "--overwrite" in err and "delete-month" in err
    assert len(err.strip().splitlines()) == 1 and _tree(root) == snapshot
    code, _, err = _cli(capsys, "data", "import", str(csv), "--symbol", SYMBOL, "--overwrite", *d)
    assert code == 0, err
    code, _, _ = _cli(capsys, "data", "check", SYMBOL, *d)
    assert code == 0
    assert open_store(root).read_bars(SYMBOL).num_rows == 40 * 1440
    # the documented removal of one month
    jan.write_bytes(b"garbage")
    code, out, _ = _cli(capsys, "data", "delete-month", SYMBOL, "2024-01", *d)
    assert code == 0 and str(jan) in out and not jan.exists()
    code, _, _ = _cli(capsys, "data", "check", SYMBOL, *d)
    assert code == 0
    code, _, err = _cli(capsys, "data", "delete-month", SYMBOL, "2024-01", *d)
    assert code == 2 and "no month 2024-01" in err and "2024-02" in err


class _RefusingStore(Store):
    """A store whose filesystem refuses writes after `allow` successful file writes."""

    def __init__(self, root: Path, err: int, allow: int) -> None:
        base = open_store(root)
        super().__init__(base.fs, base.root)
        self.err = err
        self.allow = allow

    def _ensure_dir(self, path: str) -> None:
        if self.allow <= 0:
            raise OSError(self.err, os.strerror(self.err), path)
        self.allow -= 1
        super()._ensure_dir(path)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
@pytest.mark.parametrize("allow", [0, 1, 2])
def test_a_refused_write_changes_nothing_and_says_why(tmp_path: Path, err: int,
                                                      allow: int) -> None:
    root = tmp_path / "store"
    import_file(open_store(root), _csv(tmp_path / "a.csv", 1_704_067_200_000, 2, 1), SYMBOL)
    snapshot = _tree(root)
    store = _RefusingStore(root, err, allow)
    new = _csv(tmp_path / "b.csv", 1_704_067_200_000 + MONTH_MS, 40, 2)
    with pytest.raises(StoreWriteError) as info:
        import_file(store, new, SYMBOL)
    msg = str(info.value)
    assert os.strerror(err) in msg and str(root) in msg and "nothing was changed" in msg
    assert "\n" not in msg and isinstance(info.value, TradeError)
    assert _tree(root) == snapshot


# root without the capabilities that bypass file permissions: a 0555 folder stops its writes
# like anyone's, and it still reads its own files (a venv under a private /root home included)
_NO_DAC = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"]


def test_read_only_folder_via_the_cli() -> None:
    """The same through the real commands on a real read-only folder. Run as a user whose
    writes the folder's permissions stop: as root, the commands run without the capabilities
    that bypass file permissions; as anyone else, as themselves."""
    drop = _NO_DAC if os.geteuid() == 0 else []
    if drop and shutil.which("setpriv") is None:
        pytest.skip("as root the test needs util-linux's setpriv to drop its capabilities")
    with tempfile.TemporaryDirectory(dir="/tmp") as name:  # a path any user can reach
        base = Path(name)
        root = base / "ro"
        import_file(open_store(root), _csv(base / "a.csv", 1_704_067_200_000, 2, 1), SYMBOL)
        csv = _csv(base / "b.csv", 1_704_067_200_000 + MONTH_MS, 3, 2)
        for p in [base, *base.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        snapshot = _tree(root)
        try:
            for args in (["data", "import", str(csv), "--symbol", SYMBOL],
                         ["data", "synth", "--symbol", "SYN", "--days", "2"],
                         ["data", "import-sample"], ["data", "repair", SYMBOL]):
                proc = subprocess.run([*drop, sys.executable, "-m", "trade", *args,
                                       "--data-dir", str(root)],
                                      capture_output=True, text=True, timeout=120, cwd="/")
                assert proc.returncode == 2, (args, proc.stderr)
                lines = proc.stderr.strip().splitlines()
                assert len(lines) == 1 and "Permission denied" in lines[0], (args, proc.stderr)
                assert str(root) in lines[0]
                assert _tree(root) == snapshot
        finally:
            for p in [base, *base.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)


def test_sample_import_survives_a_dead_write(tmp_path: Path) -> None:
    """The shipped sample's idempotency check sees data and provenance together."""
    from trade.data import ensure_sample_data

    root = tmp_path / "s"
    store = open_store(root)
    folder = root / "bars_1m" / f"symbol={SYMBOL}"
    folder.mkdir(parents=True)
    (folder / f".2018-01.parquet.tmp-{'c' * 32}").write_bytes(b"dead")
    ensure_sample_data(store)
    prov = store.provenance(SYMBOL)
    assert prov["bridged_1m"] is True and prov["seed"] == 7
    assert not list(folder.glob(".*"))
    ts = np.asarray(store.read_bars(SYMBOL).column("ts").to_numpy())
    assert len(ts) > 1_000_000 and bool(np.all(np.diff(ts) > 0))
    assert isinstance(store.read_bars(SYMBOL, ts[0], ts[0] + 60_000), pa.Table)
