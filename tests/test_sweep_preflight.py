"""A sweep in which no variant can run fails before it starts (or, if the fault shows only in
combination, after) with the Play's issue, exits non-zero, and leaves the results file as
it was."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from trade.cli import cli
from trade.core import InputError
from trade.data import synth_bars
from trade.play import PlayError, load_play
from trade.sweep import SweepContext, run_sweep, space_for
from trade.sweep.runner import preflight

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"
FAST = "features.ema_fast.params.length"


@pytest.fixture(scope="module")
def ctx() -> SweepContext:
    return SweepContext(load_play(PLAY), synth_bars("BTCUSDT", 3, 2, "mixed"))


# every class of variant-wide fault: a mistyped path, non-numbers, floats on an integer
BAD_SPECS = [
    ("features.ema_fastt.params.length=values:5,9", "did you mean 'ema_fast'"),
    (f"{FAST}=values:a,b", "expected a whole number"),
    (f"{FAST}=float:2..9", "expected a whole number"),
    ("risk.stop_loss_pct=values:x,y", "risk"),
]


@pytest.mark.parametrize(("spec", "needle"), BAD_SPECS)
def test_cli_refuses_a_sweep_no_variant_can_run(spec: str, needle: str, tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    out.write_bytes(b"previous results")  # a failed sweep leaves it untouched
    search = ["--search", "random", "--budget", "4"] if "float:" in spec else []
    res = CliRunner().invoke(cli, ["sweep", str(PLAY), "--synthetic", "--param", spec,
                                   "--out", str(out), "--no-progress", *search])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert needle in lines[0] and "01_ema_cross_basics.yml:" in lines[0], lines[0]
    assert out.read_bytes() == b"previous results"
    assert not out.with_name("s.summary.json").exists()
    assert not out.with_name("s.parquet.partial").exists()


@given(good=st.lists(st.integers(2, 40), min_size=1, max_size=4),
       bad=st.lists(st.sampled_from(["x", "1.5", "-3.5", "abc"]), min_size=0, max_size=3))
def test_preflight_refuses_exactly_the_dimensions_with_no_valid_value(
        ctx: SweepContext, good: list[int], bad: list[str]) -> None:
    """A dimension with at least one valid value passes (its bad values become error rows);
    one whose every value is invalid is refused before the sweep."""
    spec_bad = f"{FAST}=values:{','.join(bad)}" if bad else None
    spec_good = f"features.ema_slow.params.length=values:{','.join(map(str, [*good, 30]))}"
    mixed = f"{FAST}=values:{','.join([*bad, '9'])}"
    preflight(ctx, space_for(ctx, [spec_good, mixed]))  # passes: 9 is a valid fast length
    if spec_bad is not None:
        with pytest.raises(PlayError) as info:
            preflight(ctx, space_for(ctx, [spec_good, spec_bad]))
        assert len(info.value.issues) == 1 and FAST in str(info.value.issues[0])


def test_a_sweep_whose_every_variant_fails_in_combination_keeps_the_old_results(
        ctx: SweepContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value is valid alone, but no combination runs (fast length 50 > slow): the
    pre-flight cannot see it; the sweep raises afterwards and writes nothing."""
    out = tmp_path / "c.parquet"
    space = space_for(ctx, [f"{FAST}=values:40,50", "features.ema_slow.params.length=values:8"])
    from trade.sweep import runner

    def always_fails(c: SweepContext, params: dict[str, object]) -> dict[str, object]:
        raise InputError("variant-specific failure")

    with monkeypatch.context() as m:
        m.setattr(runner, "evaluate", always_fails)
        with pytest.raises(InputError, match="no variant of the sweep could run"):
            run_sweep(ctx, space, out, workers=1)
    assert not out.exists() and not out.with_name("c.parquet.partial").exists()
    ok = run_sweep(ctx, space, out, workers=1)
    assert pq.read_table(out).num_rows == 2 and ok.n_new == 2


def test_a_sweep_whose_constraints_exclude_every_variant_fails_and_writes_nothing(
        ctx: SweepContext, tmp_path: Path) -> None:
    """Every grid point breaks the constraint: nothing is proposed, so nothing ran; the
    sweep raises and an existing results file is left as it was."""
    out = tmp_path / "k.parquet"
    ok = run_sweep(ctx, space_for(ctx, [f"{FAST}=values:5,8"]), out, workers=1)
    before = out.read_bytes()
    assert ok.n_new == 2
    space = space_for(ctx, [f"{FAST}=values:40,50", "features.ema_slow.params.length=values:8"],
                      [f"{FAST} < features.ema_slow.params.length"])
    with pytest.raises(InputError, match="no variant of the sweep satisfies the constraints"):
        run_sweep(ctx, space, out, workers=1)
    assert out.read_bytes() == before and not out.with_name("k.parquet.partial").exists()


def test_a_failed_sweep_leaves_no_folder_it_created(ctx: SweepContext, tmp_path: Path) -> None:
    """The results folder (e.g. the default sweeps/) a failed sweep created goes with it."""
    out = tmp_path / "sweeps" / "deep" / "k.parquet"
    space = space_for(ctx, [f"{FAST}=values:40,50", "features.ema_slow.params.length=values:8"],
                      [f"{FAST} < features.ema_slow.params.length"])
    with pytest.raises(InputError):
        run_sweep(ctx, space, out, workers=1)
    assert not (tmp_path / "sweeps").exists()
