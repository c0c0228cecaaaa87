"""Margin figures in sweeps (issue 15 item 9): every path scores them, a sweep ranks on them.

* the summary path (fast metrics, kernel segments) == the full path (one run, windows cut
  from a run_batch_summary of the same variant) == run_backtest over the whole span;
* `--sort min_margin_ratio` ranks variants by it (higher is better) in both metrics modes;
* walk-forward windows get the figures of their own rows (the merged segments equal a
  summary run cut exactly at the window)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from trade.cli import cli as main
from trade.data import Store, open_store, synth_bars
from trade.engine import run_backtest
from trade.metrics import METRIC_DOCS
from trade.play import apply_overrides, load_play
from trade.sim.batch import run_batch_summary
from trade.sweep import (
    FAST_METRICS,
    SweepContext,
    SweepSettings,
    WalkForward,
    read_results,
    run_sweep,
    space_for,
)
from trade.sweep.evaluate import MARGIN_METRICS, merge_margins

PLAYS = Path(__file__).resolve().parents[1] / "plays"
PLAY = PLAYS / "02_mtf_trend_pullback.yml"  # rejects some entries: every figure is exercised
DAY = 86_400_000


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return synth_bars("BTCUSDT", 30, 5, "mixed")


@pytest.fixture(scope="module")
def store(bars: pa.Table) -> Store:
    st = open_store("memory://sweep-margin")
    if not st.month_files("BTCUSDT"):
        st.write_bars("BTCUSDT", bars)
    return st


GRID = ["account.max_leverage=values:1,3,10"]  # leverage moves every margin figure


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["variant_id"]: r for r in read_results(path).to_pylist()}


def _same(a: Any, b: Any, name: str) -> None:
    if a is None or b is None:
        assert a is None and b is None, name
    elif name == "max_gross_exposure_pct":  # a cut may change the ratio's last ulp
        assert math.isclose(a, b, rel_tol=1e-12), name
    else:
        assert a == b, name


def test_margin_metrics_are_in_both_modes() -> None:
    assert set(MARGIN_METRICS) == {k for k, d in METRIC_DOCS.items() if d.group == "margin"}
    assert set(MARGIN_METRICS) <= set(FAST_METRICS)
    for mode in ("fast", "full"):
        SweepSettings(metrics=mode, sort="min_margin_ratio")  # type: ignore[arg-type]


def test_summary_path_equals_full_path_and_run_backtest(bars: pa.Table, store: Store,
                                                        tmp_path: Path) -> None:
    play = load_play(PLAY)
    split = int(bars.column("ts")[0].as_py()) + 22 * DAY
    fast = SweepContext(play, bars, SweepSettings(metrics="fast", sort="min_margin_ratio"),
                        selection_end=split)
    full = SweepContext(play, bars, SweepSettings(metrics="full", sort="min_margin_ratio"),
                        selection_end=split)
    assert fast.summary_cut() and full.summary_cut() is None
    a = _rows(run_sweep(fast, space_for(fast, GRID), tmp_path / "fast.parquet").path)
    b = _rows(run_sweep(full, space_for(full, GRID), tmp_path / "full.parquet").path)
    assert a.keys() == b.keys() and len(a) == 3
    attempts = 0
    for vid, ra in a.items():
        rb = b[vid]
        for name in MARGIN_METRICS:
            for prefix in ("metric.", "holdout.metric.", "is.metric.", "oos.metric."):
                _same(ra[prefix + name], rb[prefix + name], prefix + name)
        attempts += ra["metric.entry_attempts"] + ra["holdout.metric.entry_attempts"]
        # selection + hold-out partition the run: together they are the whole run's figures
        params = {k[len("param."):]: v for k, v in ra.items() if k.startswith("param.")}
        whole = run_backtest(apply_overrides(play, params), store=store, path="batch").metrics
        assert ra["metric.entry_attempts"] + ra["holdout.metric.entry_attempts"] == \
            whole["entry_attempts"]
        assert ra["metric.margin_call_bars"] + ra["holdout.metric.margin_call_bars"] == \
            whole["margin_call_bars"]
        lows = [v for v in (ra["metric.min_margin_ratio"], ra["holdout.metric.min_margin_ratio"])
                if v is not None]
        assert (min(lows) if lows else None) == whole["min_margin_ratio"]
    assert attempts > 0


def test_no_holdout_full_path_is_the_runs_figures(bars: pa.Table, store: Store,
                                                  tmp_path: Path) -> None:
    play = load_play(PLAY)
    ctx = SweepContext(play, bars, SweepSettings(metrics="full", sort="min_margin_ratio"))
    rows = _rows(run_sweep(ctx, space_for(ctx, GRID), tmp_path / "w.parquet").path)
    fast = SweepContext(play, bars, SweepSettings(metrics="fast", sort="min_margin_ratio"))
    summ = _rows(run_sweep(fast, space_for(fast, GRID), tmp_path / "s.parquet").path)
    for vid, row in rows.items():
        params = {k[len("param."):]: v for k, v in row.items() if k.startswith("param.")}
        ref = run_backtest(apply_overrides(play, params), store=store, path="batch").metrics
        for name in MARGIN_METRICS:
            want = None if ref[name] is None else float(ref[name])
            assert row[f"metric.{name}"] == want, name
            _same(summ[vid][f"metric.{name}"], want, name)


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_ranking_by_min_margin_ratio(bars: pa.Table, tmp_path: Path, mode: str) -> None:
    play = load_play(PLAY)
    ctx = SweepContext(play, bars, SweepSettings(metrics=mode, sort="min_margin_ratio"))  # type: ignore[arg-type]
    out = run_sweep(ctx, space_for(ctx, GRID), tmp_path / f"r-{mode}.parquet")
    rows = list(_rows(out.path).values())
    scored = [r for r in rows if r["metric.min_margin_ratio"] is not None]
    assert len(scored) >= 2
    assert len({r["metric.min_margin_ratio"] for r in scored}) >= 2  # the grid changes it
    best = max(scored, key=lambda r: r["metric.min_margin_ratio"])  # higher is better
    assert out.summary["sort"] == "min_margin_ratio"
    assert out.summary["best"]["variant_id"] == best["variant_id"]


def test_walk_forward_windows_get_their_own_figures(bars: pa.Table) -> None:
    play = load_play(PLAY)
    ctx = SweepContext(play, bars, SweepSettings(metrics="full", sort="min_margin_ratio"),
                       windows=WalkForward(8 * DAY, 4 * DAY, 4 * DAY).windows(
                           int(bars.column("ts")[0].as_py()),
                           int(bars.column("ts")[-1].as_py()) + 60_000))
    p, result, _ = ctx.simulate({})
    bounds = [ctx.rows_of(w.test_start, w.test_end) for w in ctx.windows]
    assert len(bounds) >= 2
    got = ctx.window_margins(p, result, bounds)
    signals, config = ctx._prepare(p)
    for (lo, hi), m in zip(bounds, got, strict=True):
        cuts = [c for c in (lo, hi) if 0 < c < bars.num_rows]
        summary = run_batch_summary(ctx.validated_bars(), signals, config, cuts=cuts)
        seg = next(s for s in summary.segments if s.start == lo and s.stop == hi)
        assert m is not None and seg.margin is not None
        assert m.entry_attempts == seg.margin.entry_attempts
        assert m.margin_call_bars == seg.margin.margin_call_bars
        for name in ("min_margin_ratio", "closest_liquidation_pct"):
            x, y = getattr(m, name), getattr(seg.margin, name)
            assert x == y or (math.isnan(x) and math.isnan(y)), name
    with pytest.raises(ValueError, match="at least one"):
        merge_margins([])


def test_cli_sort_by_a_margin_metric(tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    res = CliRunner().invoke(main, [
        "sweep", str(PLAYS / "01_ema_cross_basics.yml"), "--out", str(out),
        "--param", "features.ema_fast.params.length=values:5,9", "--metrics", "fast",
        "--sort", "closest_liquidation_pct", "--no-progress", "--synthetic",
        "--data-dir", str(tmp_path / "store")])
    assert res.exit_code == 0, res.output
    assert "by closest_liquidation_pct" in res.output
    assert "metric.closest_liquidation_pct" in read_results(out).column_names
