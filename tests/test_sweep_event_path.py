"""Sweeps of Plays with `account.max_drawdown_pct`: each variant runs on the event path (the
breaker acts on the running equity), in parallel worker processes, and its row equals
`run_backtest` on the event path of the same variant."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trade.cli import cli
from trade.data import synth_bars
from trade.engine import run_backtest
from trade.play import apply_overrides, load_play
from trade.sweep import SweepContext, SweepSettings, read_results, run_sweep, space_for

ROOT = Path(__file__).resolve().parents[1]
BREAKER = ROOT / "plays" / "11_drawdown_circuit_breaker.yml"
PARAMS = ["account.max_drawdown_pct=values:3,6", "risk.stop_loss_pct=values:4,8"]


@pytest.fixture(scope="module")
def ctx() -> SweepContext:
    play = load_play(BREAKER)
    return SweepContext(play, synth_bars("BTCUSDT", 4, 17, "volatile"),
                        SweepSettings(metrics="fast"))


def test_breaker_variants_equal_their_event_path_backtests(ctx: SweepContext,
                                                           tmp_path: Path) -> None:
    assert ctx.needs_event and ctx.summary_cut() is None
    out = run_sweep(ctx, space_for(ctx, PARAMS), tmp_path / "b.parquet", workers=1)
    rows = read_results(out.path).to_pylist()
    assert len(rows) == 4 and all(r["error"] is None for r in rows)
    from trade.data import open_store

    store = open_store("memory://sweep-event-path")
    if not store.month_files("BTCUSDT"):
        store.write_bars("BTCUSDT", ctx.bars)
    for r in rows:
        params = {p: r[f"param.{p}"] for p in ("account.max_drawdown_pct",
                                               "risk.stop_loss_pct")}
        ref = run_backtest(apply_overrides(ctx.play, params), store=store, path="event",
                           synthetic=False)
        assert r["n_trades"] == ref.n_trades
        assert r["metric.total_return"] == pytest.approx(ref.metrics["total_return"],
                                                         rel=1e-12, abs=1e-12)
        assert r["metric.max_drawdown"] == pytest.approx(ref.metrics["max_drawdown"],
                                                         rel=1e-12, abs=1e-12)
    # the breaker changes the outcome: a tighter one stops trading earlier
    by = {(r["param.account.max_drawdown_pct"], r["param.risk.stop_loss_pct"]): r for r in rows}
    assert by[(3, 8)]["n_trades"] <= by[(6, 8)]["n_trades"]


def test_worker_processes_give_the_same_rows(ctx: SweepContext, tmp_path: Path) -> None:
    one = run_sweep(ctx, space_for(ctx, PARAMS), tmp_path / "one.parquet", workers=1)
    two = run_sweep(ctx, space_for(ctx, PARAMS), tmp_path / "two.parquet", workers=2)
    a = read_results(one.path).sort_by("variant_id")
    b = read_results(two.path).sort_by("variant_id")
    assert a.equals(b)


def test_cli_sweeps_a_breaker_play(tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    res = CliRunner().invoke(cli, ["sweep", str(BREAKER), "--synthetic", "--out", str(out),
                                   "--param", "account.max_drawdown_pct=values:4,6",
                                   "--no-progress", "--metrics", "fast", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert read_results(out).num_rows == 2
