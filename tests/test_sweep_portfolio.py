"""Sweeps of a portfolio file: members' parameters and allocations, one account per variant.

* the base variant (no override) is `run_portfolio_backtest` on the same file, metric for
  metric, the margin figures included;
* the best variant of a sweep, written back as Play files and a portfolio file and run by
  `trade backtest`, gives the metrics the sweep recorded;
* an allocation changes the size of the member's entries in proportion (same signals);
* walk-forward windows and the hold-out are the account curve sliced by time, scored by
  `compute_metrics` directly (an independent reference);
* the context pickles (each member's bars once) and a pickled copy scores the same;
* an unknown member, a path that makes every variant invalid and a bad alloc are found
  before the sweep starts; the CLI reports them in one line, exit 2;
* the Ray backend gives the local backend's table (marked `ray`).
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from click.testing import CliRunner, Result

from trade.cli import cli
from trade.core import InputError
from trade.engine.portfolio import MemberSpec, members_from_file, run_portfolio_backtest
from trade.metrics import METRIC_DOCS, compute_metrics
from trade.play import PlayError, apply_overrides, load_play
from trade.play.portfolio import load_portfolio_file
from trade.plays import find_bundled_play
from trade.sweep import SweepSettings, read_results, run_sweep, space_for
from trade.sweep.portfolio import (
    PortfolioSweepContext,
    evaluate_portfolio,
    portfolio_sweep_context_for,
)

EMA = "01_ema_cross_basics"
DONCHIAN = "05_donchian_limit_breakout"
A = "ema_cross_basics@AAAUSDT"
B = "donchian_limit_breakout@BBBUSDT"
FAST = f"{A}.features.ema_fast.params.length"
DAY = 86_400_000


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pf_sweep_store")
    res = invoke("data", "synth", "--symbol", "AAAUSDT", "--symbol", "BBBUSDT", "--days", "12",
                 "--correlation", "0.6", "--seed", "3", "--data-dir", str(root))
    assert res.exit_code == 0, res.output
    return root


def write_portfolio(path: Path, members: list[dict[str, Any]],
                    balance: float | None = 10_000.0) -> Path:
    body: dict[str, Any] = {"name": path.stem, "members": members}
    if balance is not None:
        body["initial_balance"] = balance
    path.write_text(yaml.safe_dump({"portfolio": body}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_portfolio(tmp_path_factory.mktemp("pf") / "two.yml", [
        {"play": EMA, "symbol": "AAAUSDT", "alloc": 0.5},
        {"play": DONCHIAN, "symbol": "BBBUSDT", "alloc": 0.5}])


def context(pf: Path, store: Path, **kw: Any) -> PortfolioSweepContext:
    settings = kw.pop("settings", SweepSettings(keep_daily=False))
    return portfolio_sweep_context_for(load_portfolio_file(pf), data_dir=store,
                                       settings=settings, **kw)


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b))))


def test_base_variant_is_the_portfolio_backtest(pf: Path, store: Path) -> None:
    ctx = context(pf, store)
    row = evaluate_portfolio(ctx, {})
    ref = run_portfolio_backtest(members_from_file(load_portfolio_file(pf)),
                                 initial_balance=10_000.0, data_dir=store)
    assert ctx.labels == ref.labels == (A, B)
    assert row["n_trades"] == ref.n_trades > 0
    for k in METRIC_DOCS:
        assert same(row[f"metric.{k}"], ref.metrics[k]), k
    assert row["metric.entry_attempts"] == ref.metrics["entry_attempts"] > 0
    # a copy through pickle (what Ray ships) scores the same
    again = pickle.loads(pickle.dumps(ctx))
    assert evaluate_portfolio(again, {}) == row


def test_one_play_twice_on_one_symbol(store: Path, tmp_path: Path) -> None:
    """Repeated pairs are told apart by `#k`; on the same bars the account has the buy and
    hold benchmark, as in `run_portfolio_backtest`."""
    twice = write_portfolio(tmp_path / "twice.yml", [
        {"play": EMA, "symbol": "AAAUSDT", "alloc": 0.3},
        {"play": EMA, "symbol": "AAAUSDT", "alloc": 0.6}])
    ctx = context(twice, store)
    assert ctx.labels == (f"{A}#1", f"{A}#2") and ctx.same_bars
    params = {f"{A}#2.features.ema_fast.params.length": 5, f"alloc.{A}#1": 0.4}
    row = evaluate_portfolio(ctx, params)
    play2 = apply_overrides(load_play(find_bundled_play(EMA) or ""),
                            {"features.ema_fast.params.length": 5})
    ref = run_portfolio_backtest([MemberSpec(load_play(find_bundled_play(EMA) or ""),
                                             "AAAUSDT", 0.4),
                                  MemberSpec(play2, "AAAUSDT", 0.6)],
                                 initial_balance=10_000.0, data_dir=store)
    assert ref.metrics["buy_and_hold_return"] is not None
    for k in METRIC_DOCS:
        assert same(row[f"metric.{k}"], ref.metrics[k]), k


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    node = doc
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value


def test_best_variant_rerun_by_trade_backtest(pf: Path, store: Path, tmp_path: Path) -> None:
    ctx = context(pf, store)
    params = [f"{FAST}=values:5,13", f"{B}.features.dc.params.length=values:10,30",
              f"alloc.{B}=values:0.3,0.8"]
    out = run_sweep(ctx, space_for(ctx, params), tmp_path / "res.parquet", workers=2)
    table = read_results(out.path)
    assert table.num_rows == 8 and table.column("error").null_count == 8
    vid = out.summary["best"]["variant_id"]
    best = next(r for r in table.to_pylist() if r["variant_id"] == vid)
    # write the best variant back as Play files and a portfolio file
    plays = []
    for label, name in ((A, EMA), (B, DONCHIAN)):
        src = find_bundled_play(name)
        assert src is not None
        doc = yaml.safe_load(src.read_text(encoding="utf-8"))
        for col, v in best.items():
            if col.startswith(f"param.{label}."):
                _set(doc, col[len(f"param.{label}."):], v)
        f = tmp_path / f"{name}.yml"
        f.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        plays.append(f)
    pf2 = write_portfolio(tmp_path / "best.yml", [
        {"play": str(plays[0]), "symbol": "AAAUSDT", "alloc": 0.5},
        {"play": str(plays[1]), "symbol": "BBBUSDT", "alloc": best[f"param.alloc.{B}"]}])
    res = invoke("backtest", str(pf2), "--data-dir", str(store), "--out",
                 str(tmp_path / "run"), "--json")
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    for k in METRIC_DOCS:
        assert same(best[f"metric.{k}"], metrics[k]), k


def test_allocation_scales_entries(store: Path, tmp_path: Path) -> None:
    one = write_portfolio(tmp_path / "one.yml", [{"play": EMA, "symbol": "AAAUSDT",
                                                  "alloc": 1.0}])
    ctx = context(one, store)
    small, _ = ctx.simulate({f"alloc.{A}": 0.25})
    full, _ = ctx.simulate({})
    ts, tf = small.members[0].trades, full.members[0].trades
    assert ts.num_rows > 0
    # the signals do not depend on the allocation: the first entry is at the same time, on
    # the same (starting) equity, sized a quarter (to the instrument's qty step)
    assert ts.column("entry_ts")[0].as_py() == tf.column("entry_ts")[0].as_py()
    q_small, q_full = abs(ts.column("qty")[0].as_py()), abs(tf.column("qty")[0].as_py())
    step = ctx.members[0].instrument.qty_step
    assert abs(q_small - 0.25 * q_full) <= step + 1e-12
    # the swept rows: the full allocation moves the account more, fees grow with size
    out = run_sweep(ctx, space_for(ctx, [f"alloc.{A}=values:0.25,1.0"]),
                    tmp_path / "alloc.parquet", workers=1)
    rows = {r[f"param.alloc.{A}"]: r for r in read_results(out.path).to_pylist()}
    assert rows[1.0]["metric.fees_paid"] > 3.0 * rows[0.25]["metric.fees_paid"]
    base = run_portfolio_backtest(members_from_file(load_portfolio_file(one)), data_dir=store,
                                  initial_balance=10_000.0)
    assert rows[1.0]["metric.final_equity"] == base.metrics["final_equity"]


def _reference(equity: pa.Table, trades: pa.Table, initial: float, t0: int | None,
               t1: int | None) -> dict[str, Any]:
    """compute_metrics of the account's minutes in [t0, t1), trades closed in them."""
    ts = np.asarray(equity.column("ts").to_numpy())
    lo = 0 if t0 is None else int(np.searchsorted(ts, t0))
    hi = len(ts) if t1 is None else int(np.searchsorted(ts, t1))
    base = initial if lo == 0 else float(equity.column("equity")[lo - 1].as_py())
    eq = equity.slice(lo, hi - lo)
    ex = trades.column("exit_ts")
    tr = trades.filter(pc.and_(pc.greater_equal(ex, int(ts[lo])),
                               pc.less_equal(ex, int(ts[hi - 1]))))
    return compute_metrics(eq, tr.drop_columns(["member"]), initial_balance=base)


def test_walk_forward_and_holdout_slice_the_account(pf: Path, store: Path) -> None:
    ctx = context(pf, store, walk_forward="train=4d,test=2d", holdout="20%")
    assert len(ctx.windows) >= 2 and ctx.selection_end is not None
    row = evaluate_portfolio(ctx, {f"alloc.{B}": 0.7})
    pf_alloc = load_portfolio_file(pf)
    members = members_from_file(pf_alloc)
    members[1] = type(members[1])(members[1].play, members[1].symbol, 0.7)
    ref = run_portfolio_backtest(members, initial_balance=10_000.0, data_dir=store)
    eq, tr = ref.equity, ref.trades
    for k, w in enumerate(ctx.windows):
        is_m = _reference(eq, tr, 10_000.0, w.train_start, w.train_end)
        oos_m = _reference(eq, tr, 10_000.0, w.test_start, w.test_end)
        assert same(row["wf.is_score"][k], is_m["sharpe"])
        assert same(row["wf.oos_score"][k], oos_m["sharpe"])
        assert same(row["wf.is_return"][k], is_m["total_return"])
        assert row["wf.is_trades"][k] == is_m["num_trades"]
        assert w.test_end <= ctx.selection_end
    sel = _reference(eq, tr, 10_000.0, None, ctx.selection_end)
    ho = _reference(eq, tr, 10_000.0, ctx.selection_end, None)
    for k in METRIC_DOCS:
        assert same(row[f"metric.{k}"], sel[k]), k
        assert same(row[f"holdout.metric.{k}"], ho[k]), k
    # the portfolio kernel records margin figures for the whole run only
    assert row["metric.entry_attempts"] is None and row["holdout.metric.entry_attempts"] is None


def test_fast_metrics_agree_with_full(pf: Path, store: Path) -> None:
    full = evaluate_portfolio(context(pf, store, holdout="25%"), {FAST: 13})
    fast = evaluate_portfolio(context(pf, store, holdout="25%", settings=SweepSettings(
        metrics="fast", keep_daily=False)), {FAST: 13})
    for col, v in fast.items():
        if col.startswith(("metric.", "holdout.metric.")):
            assert (v is None and full[col] is None) or np.isclose(v, full[col], rtol=1e-12,
                                                                 atol=1e-12), col


def test_errors_before_the_sweep(pf: Path, store: Path, tmp_path: Path) -> None:
    ctx = context(pf, store)
    with pytest.raises(InputError, match="names no member"):
        space_for(ctx, ["nobody@AAAUSDT.features.ema_fast.params.length=values:5"])
    with pytest.raises(InputError, match="names no member"):
        space_for(ctx, [f"alloc.{A}x=values:0.5"])
    out = tmp_path / "bad.parquet"
    with pytest.raises(PlayError):
        run_sweep(ctx, space_for(ctx, [f"{A}.features.ema_fastt.params.length=values:5,9"]),
                  out)
    with pytest.raises(PlayError, match="alloc"):
        run_sweep(ctx, space_for(ctx, [f"alloc.{A}=values:0,-1"]), out)
    assert not out.exists()
    res = invoke("sweep", str(pf), "--data-dir", str(store), "--no-progress",
                 "--param", "nobody.length=values:5", "--out", str(out))
    assert res.exit_code == 2 and "names no member" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_cli_sweeps_a_portfolio_file(pf: Path, store: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.parquet"
    res = invoke("sweep", str(pf), "--data-dir", str(store), "--no-progress", "--json",
                 "--param", f"{FAST}=values:5,9", "--param", f"alloc.{B}=values:0.4,0.6",
                 "--metrics", "fast", "--out", str(out))
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["n_variants"] == 4 and read_results(out).num_rows == 4
    assert summary["data"]["portfolio"] == "two"
    res = invoke("sweep", str(pf), "--data-dir", str(store), "--no-progress",
                 "--param", f"{FAST}=values:5,9", "--out", str(tmp_path / "t.parquet"))
    assert res.exit_code == 0, res.output
    assert "two: top" in res.output


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
def test_ray_equals_local(ray_cluster: Any, pf: Path, store: Path, tmp_path: Path) -> None:
    params = [f"{FAST}=values:5,9", f"alloc.{B}=values:0.4,0.6"]
    ctx = context(pf, store, walk_forward="train=4d,test=2d", holdout="20%")
    local = run_sweep(ctx, space_for(ctx, params), tmp_path / "local.parquet", workers=2)
    remote = run_sweep(context(pf, store, walk_forward="train=4d,test=2d", holdout="20%"),
                       space_for(ctx, params), tmp_path / "ray.parquet", backend="ray",
                       workers=2)
    a = read_results(local.path).sort_by("variant_id")
    b = read_results(remote.path).sort_by("variant_id")
    assert a.num_rows == 4 and a.equals(b)
    assert local.summary == remote.summary
