"""Sweep runs: shared indicators, threaded == sequential == run_backtest, resume, Bayesian
search, walk-forward without leakage, hold-out, overfitting statistics, the CLI."""

from __future__ import annotations

import importlib
import json
import math
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from trade.cli import cli as main
from trade.data import Store, open_store, synth_bars
from trade.engine import exec_frame, run_backtest
from trade.metrics import compute_metrics
from trade.play import apply_overrides, load_play
from trade.sweep import (
    FAST_METRICS,
    SweepContext,
    SweepSettings,
    WalkForward,
    deflated_sharpe,
    fast_metrics,
    pbo_cscv,
    read_results,
    run_sweep,
    space_for,
    variant_id,
)

sweep_eval = importlib.import_module("trade.sweep.evaluate")  # the module, not the function
PLAYS = Path(__file__).resolve().parents[1] / "plays"
FAST = "features.ema_fast.params.length"
SLOW = "features.ema_slow.params.length"
GRID = [f"{FAST}=values:5,9,13", f"{SLOW}=values:21,30", "risk.stop_loss_pct=values:2,4"]
DAYS = 30


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return synth_bars("BTCUSDT", DAYS, 3, "mixed")


@pytest.fixture(scope="module")
def store(bars: pa.Table) -> Store:
    st = open_store("memory://sweep-tests")
    if not st.month_files("BTCUSDT"):
        st.write_bars("BTCUSDT", bars)
    return st


def ema_play() -> Any:
    return load_play(PLAYS / "01_ema_cross_basics.yml")


def ctx_for(bars: pa.Table, **kw: Any) -> SweepContext:
    settings = kw.pop("settings", SweepSettings(min_trades=1))
    return SweepContext(ema_play(), bars, settings, **kw)


def sorted_rows(path: Path) -> list[dict[str, Any]]:
    return sorted(read_results(path).to_pylist(), key=lambda r: r["variant_id"])


def test_frame_cache_equals_exec_frame(bars: pa.Table) -> None:
    play = load_play(PLAYS / "02_mtf_trend_pullback.yml")  # exec 15m + 1h/4h features
    ctx = SweepContext(play, bars)
    mine, ref = ctx.cache.frame(play), exec_frame(play, bars)
    assert set(mine.series) == set(ref.series)
    for k in ref.series:
        np.testing.assert_array_equal(mine.series[k], ref.series[k], err_msg=k)
    np.testing.assert_array_equal(mine.close_idx, ref.close_idx)


def test_indicators_computed_once_per_distinct_set(bars: pa.Table, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    real = sweep_eval.compute

    def counting(name: str, params: dict[str, Any], arrays: Any) -> Any:
        calls[(name, repr(sorted(params.items())))] += 1
        return real(name, params, arrays)

    monkeypatch.setattr(sweep_eval, "compute", counting)
    ctx = ctx_for(bars)
    out = run_sweep(ctx, space_for(ctx, GRID), tmp_path / "r.parquet", workers=2)
    assert out.n_new == 12
    # lengths 5, 9, 13 (fast) and 21, 30 (slow): five EMAs for twelve variants
    assert len(calls) == 5
    assert set(calls.values()) == {1}


def test_threaded_equals_sequential_equals_run_backtest(bars: pa.Table, store: Store,
                                                        tmp_path: Path) -> None:
    ctx = ctx_for(bars)
    space = space_for(ctx, GRID, [f"{FAST} < {SLOW}"])
    a = run_sweep(ctx, space, tmp_path / "threads.parquet", workers=2)
    b = run_sweep(ctx_for(bars), space, tmp_path / "seq.parquet", workers=1)
    rows_a, rows_b = sorted_rows(a.path), sorted_rows(b.path)
    assert rows_a == rows_b
    assert len(rows_a) == 12
    play = ema_play()
    for row in rows_a[:3]:
        params = {k[len("param."):]: v for k, v in row.items() if k.startswith("param.")}
        assert row["variant_id"] == variant_id(params)
        variant = apply_overrides(play, params)
        ref = run_backtest(variant, store=store, path="batch")
        _, result, _ = ctx.simulate(params)
        assert result.trades.equals(ref.trades)
        assert row["n_trades"] == ref.n_trades
        for k, v in ref.metrics.items():
            assert row[f"metric.{k}"] == (None if v is None else float(v)), k


def test_fast_metrics_agree_with_compute_metrics(bars: pa.Table) -> None:
    ctx = ctx_for(bars)
    for params in ({FAST: 5, SLOW: 30}, {FAST: 13, SLOW: 21, "risk.stop_loss_pct": 1}):
        _, res, initial = ctx.simulate(params)
        full = compute_metrics(res.equity, res.trades, initial_balance=initial,
                               margin=res.margin)
        eq = res.equity
        fast = fast_metrics(np.asarray(eq.column("ts")), np.asarray(eq.column("equity")),
                            np.asarray(eq.column("position_qty")),
                            np.asarray(res.trades.column("net_pnl")),
                            np.asarray(res.trades.column("fees")), initial, margin=res.margin)
        assert res.trades.num_rows > 3
        for k in FAST_METRICS:
            assert fast[k] == pytest.approx(full[k], rel=1e-12, abs=1e-12), k


def test_interrupt_then_resume(bars: pa.Table, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    ctx = ctx_for(bars)
    space = space_for(ctx, GRID)
    stop = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 4:
            stop.set()

    first = run_sweep(ctx, space, out, workers=2, stop=stop, progress=progress, row_group=2)
    assert first.interrupted
    assert 4 <= pq.read_table(out).num_rows < 12

    def ctrl_c(done: int, total: int | None) -> None:  # Ctrl-C arrives in the main thread
        if done >= 2:
            raise KeyboardInterrupt

    out2 = tmp_path / "ctrl_c.parquet"
    second = run_sweep(ctx, space, out2, workers=2, progress=ctrl_c, row_group=1)
    assert second.interrupted
    assert 2 <= pq.read_table(out2).num_rows < 12
    kept = pq.read_table(out)  # a complete, valid Parquet file
    assert 4 <= kept.num_rows < 12
    again = run_sweep(ctx, space, out, workers=2, resume=True)
    assert again.n_skipped == kept.num_rows
    assert again.n_new == 12 - kept.num_rows
    whole = run_sweep(ctx_for(bars), space, tmp_path / "whole.parquet", workers=2)
    assert sorted_rows(out) == sorted_rows(whole.path)
    assert json.loads((tmp_path / "r.summary.json").read_text())["n_variants"] == 12
    with pytest.raises(ValueError, match="different sweep"):
        run_sweep(ctx, space_for(ctx, [*GRID, "risk.take_profit_pct=values:5"]), out,
                  resume=True)


def test_random_and_bayes_search_respect_budget_and_constraints(bars: pa.Table,
                                                                tmp_path: Path) -> None:
    ctx = ctx_for(bars, settings=SweepSettings(metrics="fast"))
    space = space_for(ctx, [f"{FAST}=int:3..40", f"{SLOW}=int:10..60",
                            "risk.stop_loss_pct=float:1..6"], [f"{FAST} + 5 < {SLOW}"])
    for search in ("random", "bayes"):
        out = run_sweep(ctx, space, tmp_path / f"{search}.parquet", search=search, budget=10,
                        seed=3, workers=2)
        rows = read_results(out.path).to_pylist()
        assert len(rows) == 10
        assert len({r["variant_id"] for r in rows}) == 10
        assert all(r[f"param.{FAST}"] + 5 < r[f"param.{SLOW}"] for r in rows)
        assert all(1 <= r["param.risk.stop_loss_pct"] <= 6 for r in rows)
    # resuming a finished Bayesian sweep with a larger budget runs only the difference
    more = run_sweep(ctx, space, tmp_path / "bayes.parquet", search="bayes", budget=13,
                     seed=3, workers=2, resume=True)
    assert (more.n_skipped, more.n_new) == (10, 3)


def test_invalid_variant_is_an_error_row(bars: pa.Table, tmp_path: Path) -> None:
    ctx = ctx_for(bars)
    out = run_sweep(ctx, space_for(ctx, [f"{FAST}=values:0,9"]), tmp_path / "r.parquet")
    rows = {r[f"param.{FAST}"]: r for r in read_results(out.path).to_pylist()}
    assert rows[0]["error"] and "length" in rows[0]["error"]
    assert rows[0]["eligible"] is False
    assert rows[9]["error"] is None


def test_walk_forward_never_sees_test_data(bars: pa.Table, tmp_path: Path) -> None:
    ts = np.asarray(bars.column("ts"))
    wf = WalkForward.parse("train=10d,test=5d")
    windows = wf.windows(int(ts[0]), int(ts[-1]) + 60_000)
    assert len(windows) == 4
    ctx = ctx_for(bars, windows=windows)
    space = space_for(ctx, GRID)
    base = run_sweep(ctx, space, tmp_path / "a.parquet", workers=2)
    # rewrite every bar from the first test window on: train scores of window 0 must not move
    cut = int(np.searchsorted(ts, windows[0].test_start))
    cols = {n: np.asarray(bars.column(n)).copy() for n in ("open", "high", "low", "close")}
    scale = np.ones(len(ts))
    scale[cut:] = np.linspace(1.0, 1.6, len(ts) - cut)
    changed = bars
    for n, v in cols.items():
        changed = changed.set_column(changed.schema.get_field_index(n), n, pa.array(v * scale))
    other = run_sweep(ctx_for(changed, windows=windows), space, tmp_path / "b.parquet",
                      workers=2)
    ra, rb = sorted_rows(base.path), sorted_rows(other.path)
    assert [r["wf.is_score"][0] for r in ra] == [r["wf.is_score"][0] for r in rb]
    assert [r["wf.is_trades"][0] for r in ra] == [r["wf.is_trades"][0] for r in rb]
    assert [r["wf.oos_score"][0] for r in ra] != [r["wf.oos_score"][0] for r in rb]
    # in-sample / out-of-sample columns are the window means
    r = ra[0]
    assert r["is.metric.sharpe"] == pytest.approx(
        np.mean([x for x in r["wf.is_score"] if x is not None]))
    wf_sum = base.summary["walk_forward"]
    assert len(wf_sum["windows"]) == 4
    for step in wf_sum["windows"]:  # the chosen variant has the best train score
        best = max(x["wf.is_score"][step["window"]] for x in ra
                   if x["wf.is_score"][step["window"]] is not None
                   and x["wf.is_trades"][step["window"]] >= 1)
        assert step["is"] == best


def test_holdout_scores_only_the_end(bars: pa.Table, store: Store, tmp_path: Path) -> None:
    ts = np.asarray(bars.column("ts"))
    split = int(ts[0]) + 24 * 86_400_000
    ctx = ctx_for(bars, selection_end=split)
    out = run_sweep(ctx, space_for(ctx, GRID[:1]), tmp_path / "h.parquet")
    row = sorted_rows(out.path)[0]
    params = {FAST: row[f"param.{FAST}"]}
    sel = run_backtest(apply_overrides(ema_play(), params), store=store, path="batch",
                       end=split)
    # the selection period's figures are those of a run that ends at the split (up to the
    # end-of-data close of a position still open there)
    assert row["metric.max_drawdown"] == pytest.approx(sel.metrics["max_drawdown"], abs=1e-3)
    assert row["oos.metric.total_return"] == row["holdout.metric.total_return"]
    assert row["is.metric.sharpe"] == row["metric.sharpe"]
    assert "holdout.metric.sharpe" in out.summary["best"]


def test_pbo_and_deflated_sharpe() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, (400, 40))
    pbo_noise = pbo_cscv(noise)
    assert pbo_noise is not None and 0.2 < pbo_noise < 0.8
    skilled = noise.copy()
    skilled[:, 0] += 0.004  # one variant is truly better everywhere
    assert pbo_cscv(skilled) == 0.0
    best = skilled[:, 0]
    srs = skilled.mean(axis=0) / skilled.std(axis=0, ddof=1)
    dsr_one = deflated_sharpe(best, srs[:1])
    dsr_many = deflated_sharpe(best, srs)
    assert dsr_one is not None and dsr_many is not None
    assert dsr_many < dsr_one  # more trials deflate more
    assert dsr_one > 0.95
    lucky = noise[:, int(np.argmax(noise.mean(axis=0)))]
    dsr_lucky = deflated_sharpe(lucky, noise.mean(axis=0) / noise.std(axis=0, ddof=1))
    assert dsr_lucky is not None and dsr_lucky < 0.95
    # DSR with one trial is the probabilistic Sharpe ratio against 0
    sr = best.mean() / best.std(ddof=1)
    z = (best - best.mean()) / best.std()
    g3, g4 = float(np.mean(z**3)), float(np.mean(z**4))
    psr = 0.5 * (1 + math.erf(sr * math.sqrt(len(best) - 1)
                              / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2) / math.sqrt(2)))
    assert dsr_one == pytest.approx(psr, rel=1e-9)


def test_min_trades_excludes_from_selection(bars: pa.Table, tmp_path: Path) -> None:
    ctx = ctx_for(bars, settings=SweepSettings(min_trades=10_000))
    out = run_sweep(ctx, space_for(ctx, GRID[:1]), tmp_path / "m.parquet")
    assert not any(r["eligible"] for r in read_results(out.path).to_pylist())
    assert out.summary["best"] is None


def test_cli_sweep(tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    args = ["sweep", str(PLAYS / "09_macd_sweep_durations.yml"), "--out", str(out),
            "--param", "risk.stop_loss_pct=values:3,4", "--constraint",
            "features.macd.params.fast < 13", "--holdout", "20%",
            "--walk-forward", "train=6d,test=4d", "--min-trades", "1", "--metrics", "fast",
            "--no-progress", "--top", "3", "--synthetic", "--data-dir", str(tmp_path / "store")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "top 3 by sharpe" in res.output
    table = read_results(out)
    assert table.num_rows == 2 * 3 * 2  # fast 8, 12 (16 fails the constraint) x 3 emas x 2 sl
    names = set(table.column_names)
    assert {"variant_id", "n_trades", "param.features.macd.params.fast",
            "metric.sharpe", "is.metric.sharpe", "oos.metric.sharpe",
            "holdout.metric.sharpe"} <= names
    bad = CliRunner().invoke(main, ["sweep", str(PLAYS / "01_ema_cross_basics.yml"),
                                    "--param", "features.ema_fast.params.length=range:5:1:1",
                                    "--out", str(tmp_path / "x.parquet")])
    assert bad.exit_code == 2
    assert "range low 5 is above high 1" in bad.output
