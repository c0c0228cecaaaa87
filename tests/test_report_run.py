"""The run report: payload correctness against independent computations, offline HTML, CLI."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_demo import make_demo_run

from trade.cli import main
from trade.core.errors import InputError
from trade.data.resample import resample
from trade.data.store import open_store
from trade.metrics import compute_metrics
from trade.report import write_run_report
from trade.report._html import plotly_js
from trade.report.run import OVERVIEW_CANDLES, build_run_payload, load_run

MINUTE = 60_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("report_run")
    run = make_demo_run(root / "run", root / "data", days=12, seed=3, exec_interval="15m")
    return run, root / "data"


@pytest.fixture(scope="module")
def payload(demo: tuple[Path, Path]) -> dict:
    run, data = demo
    folder = load_run(run)
    bars = open_store(data).read_bars("BTCUSDT")
    return build_run_payload(folder, bars)


def f32(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f4").astype(np.float64)


def f64(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f8")


def level_ts(level: dict) -> np.ndarray:
    minutes = np.frombuffer(base64.b64decode(level["tmin"]), dtype="<u4").astype(np.int64)
    return level["t0"] + minutes * MINUTE


def test_html_is_self_contained_and_offline(demo: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = demo
    out = write_run_report(run, out=tmp_path / "r.html", data_dir=data)
    text = out.read_text(encoding="utf-8")
    # nothing the browser would fetch: the markup (script bodies aside: plotly.js holds map
    # attribution strings it never loads here; the browser test watches real requests) has no
    # src/href/url() pointing at a network address
    markup = re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S)
    assert len(markup) < 200_000
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", markup, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//""", markup, re.I)
    assert not re.search(r"<script[^>]+src=", text, re.I)
    assert not re.search(r"<link[^>]+stylesheet", text, re.I)
    # plotly.js is inlined exactly once
    assert text.count(plotly_js()[:300]) == 1
    assert text.count("<script") == text.count("</script>")
    data_block = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S
    )
    assert data_block is not None
    assert (
        json.loads(data_block.group(1))["meta"]["n_trades"]
        == pq.read_metadata(run / "trades.parquet").num_rows
    )


def test_default_output_is_in_the_run_folder(demo: tuple[Path, Path]) -> None:
    run, data = demo
    out = write_run_report(run, data_dir=data)
    assert out == run / "report.html" and out.stat().st_size > 1_000_000


def test_pyramid_overview_and_exec_levels(payload: dict, demo: tuple[Path, Path]) -> None:
    _, data = demo
    bars = open_store(data).read_bars("BTCUSDT")
    levels = payload["levels"]
    assert levels[0]["n"] <= OVERVIEW_CANDLES
    assert [lv["ms"] for lv in levels] == sorted((lv["ms"] for lv in levels), reverse=True)
    assert levels[-1]["interval"] == "15m"  # the exec timeframe is embedded in full
    ref = resample(bars, "15m")
    np.testing.assert_array_equal(level_ts(levels[-1]), ref["ts"].to_numpy())
    for key, col in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close")):
        np.testing.assert_allclose(f32(levels[-1][key]), ref[col].to_numpy(), rtol=1e-6)


def test_every_trade_has_1m_detail(payload: dict, demo: tuple[Path, Path]) -> None:
    run, data = demo
    trades = pq.read_table(run / "trades.parquet").to_pandas()
    assert len(trades) > 5
    fine = payload["fine"]
    assert fine is not None and not fine["truncated"]
    segs = np.array(fine["segments"])
    ts = level_ts(fine)
    for t in ("entry_ts", "exit_ts"):
        for v in trades[t]:
            inside = (segs[:, 0] <= v) & (v < segs[:, 1])
            assert inside.any(), f"{t} {v} has no 1m window"
            assert v in set(ts)
    # the embedded 1m bars are the stored bars, printed at their decimals
    bars = open_store(data).read_bars("BTCUSDT").to_pandas().set_index("ts")
    dec = payload["meta"]["decimals"]
    got = np.round(f32(fine["c"]), dec)
    np.testing.assert_allclose(got, bars.loc[ts, "close"].to_numpy(), rtol=0, atol=10.0**-dec)
    assert np.all(np.diff(ts) > 0) and np.all(ts % MINUTE == 0)


def test_drawdown_and_buy_and_hold_match_the_metrics(
    payload: dict, demo: tuple[Path, Path]
) -> None:
    run, data = demo
    metrics = json.loads((run / "metrics.json").read_text())
    eq = payload["equity"]
    # compute_metrics is the oracle: its max drawdown uses every 1m bar, so must the curve
    assert -f32(eq["dd"]).min() == pytest.approx(metrics["max_drawdown"], rel=1e-5)
    assert f32(eq["equity"])[-1] == pytest.approx(metrics["final_equity"], rel=1e-6)
    bars = open_store(data).read_bars("BTCUSDT").to_pandas()
    bh = f32(eq["bh"])[-1]
    expected = 10_000.0 * bars["close"].iloc[-1] / bars["open"].iloc[0]
    assert bh == pytest.approx(expected, rel=1e-6)


def test_monthly_returns_against_pandas(tmp_path: Path) -> None:
    # a hand-made 3-month equity curve crossing a year boundary
    ts = np.arange(
        pd.Timestamp("2023-11-20").value // 1_000_000,
        pd.Timestamp("2024-02-10").value // 1_000_000,
        60 * MINUTE,
    )
    rng = np.random.default_rng(0)
    equity = 1000 * np.exp(np.cumsum(rng.normal(0, 0.002, len(ts))))
    from trade.report.run import _monthly

    got = _monthly(ts, equity, initial=1000.0)
    s = pd.Series(equity, index=pd.to_datetime(ts, unit="ms"))
    month_end = s.resample("ME").last()
    rets = month_end / month_end.shift(1, fill_value=1000.0) - 1
    assert got["years"] == [2023, 2024]
    flat = [v for row in got["z"] for v in row if v is not None]
    np.testing.assert_allclose(flat, rets.to_numpy(), rtol=1e-12)
    assert got["z"][0][10] == pytest.approx(rets.iloc[0])  # Nov 2023
    assert got["year_total"][1] == pytest.approx((1 + rets.iloc[2]) * (1 + rets.iloc[3]) - 1)


def test_metrics_grouped_and_explained(payload: dict, demo: tuple[Path, Path]) -> None:
    run, _ = demo
    metrics = json.loads((run / "metrics.json").read_text())
    names = [i["name"] for g in payload["metrics"] for i in g["items"]]
    assert sorted(names) == sorted(metrics)
    assert all(i["def"] for g in payload["metrics"] for i in g["items"])
    # the margin stress has its own group, after exposure, with the ledger's figures
    groups = [g["group"] for g in payload["metrics"]]
    assert groups.index("margin") == groups.index("exposure") + 1
    margin = {i["name"]: i for g in payload["metrics"] if g["group"] == "margin"
              for i in g["items"]}
    assert metrics["entry_attempts"] > 0
    assert margin["entry_attempts"]["text"] == f"{metrics['entry_attempts']:,d}"
    expo = metrics["max_gross_exposure_pct"]
    assert margin["max_gross_exposure_pct"]["text"] == f"{expo:.2f}%"
    manifest = dict(payload["manifest"])
    assert manifest["exec_timeframe"] == "15m" and len(manifest["trade_log_hash"]) == 64


def test_four_year_overview_stays_small(tmp_path: Path) -> None:
    """A long run's overview is resampled to a few thousand candles (synthetic 1m bars)."""
    from trade.report.run import _pyramid_intervals

    span = 4 * 365 * 24 * 60 * MINUTE
    ivs = _pyramid_intervals(span, "15")
    assert span / (int(ivs[0]) * MINUTE if ivs[0] not in ("D", "W") else 86_400_000) <= 3000
    assert ivs[-1] == "15"


def test_missing_files_are_named(demo: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = demo
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "equity.parquet").unlink()
    with pytest.raises(InputError, match=r"equity\.parquet"):
        write_run_report(broken, data_dir=data)
    with pytest.raises(InputError, match="does not exist"):
        write_run_report(tmp_path / "nope", data_dir=data)
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    (bad / "manifest.json").write_text(json.dumps({"symbol": "BTCUSDT", "exec_timeframe": "7x"}))
    with pytest.raises(InputError, match="7x"):
        write_run_report(bad, data_dir=data)


def test_metrics_json_can_be_recomputed(demo: tuple[Path, Path]) -> None:
    run, _ = demo
    eq = pq.read_table(run / "equity.parquet")
    tr = pq.read_table(run / "trades.parquet")
    m = compute_metrics(eq, tr, initial_balance=10_000.0)
    assert m["num_trades"] == tr.num_rows


def test_cli_run_report(
    demo: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, data = demo
    out = tmp_path / "cli.html"
    main(["report", str(run), "--data-dir", str(data), "--out", str(out)])
    assert out.is_file() and "report written" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run / "trades.parquet")])
    assert exc.value.code == 2
    assert "neither a run folder" in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(
    n_trades=st.integers(1, 60),
    max_hold=st.integers(1, 3000),
    budget=st.integers(50, 5000),
    seed=st.integers(0, 2**16),
)
def test_fine_windows_respect_the_budget(
    n_trades: int, max_hold: int, budget: int, seed: int
) -> None:
    """1m detail never exceeds its budget; it covers every trade's entry and exit unless it
    says it was truncated, and then it covers a prefix of the trades in time order."""
    import trade.report.run as run_mod

    rng = np.random.default_rng(seed)
    n = 20_000
    ts = np.arange(n, dtype=np.int64) * MINUTE
    entry = np.sort(rng.integers(0, n - max_hold - 1, n_trades)) * MINUTE
    exit_ = entry + rng.integers(0, max_hold + 1, n_trades) * MINUTE
    bars = pa.table({"ts": ts, **{k: np.ones(n) for k in ("open", "high", "low", "close")}})
    old = run_mod.FINE_BUDGET
    run_mod.FINE_BUDGET = budget
    try:
        fine = run_mod._fine_level(ts, bars, entry, exit_, 15 * MINUTE)
    finally:
        run_mod.FINE_BUDGET = old
    got = level_ts(fine) if fine["n"] else np.zeros(0, np.int64)
    assert fine["n"] <= budget and len(got) == fine["n"]
    assert np.all(np.diff(got) > 0)
    covered = np.isin(np.concatenate([entry, exit_]), got).reshape(2, -1).all(axis=0)
    if not fine["truncated"]:
        assert covered.all()
    else:  # truncation only when even the smallest entry/exit windows overflow the budget
        smallest = run_mod._fine_ranges(entry, exit_, 10 * MINUTE, ends_only=True)
        need = sum(min(b, n * MINUTE) // MINUTE - max(a, 0) // MINUTE for a, b in smallest)
        assert need > budget
        first = smallest[0]
        if (first[1] - max(first[0], 0)) // MINUTE <= budget:
            assert got[0] == max(first[0], 0)  # windows are kept from the start of the run


def test_synthetic_run_regenerates_its_bars(demo: tuple[Path, Path], tmp_path: Path) -> None:
    """An engine run on unstored synthetic bars (manifest data.kind = synthetic, as
    `trade backtest` writes it) gets the same bars again without a data store."""
    run, data = demo
    syn = tmp_path / "syn"
    shutil.copytree(run, syn)
    manifest = json.loads((syn / "manifest.json").read_text())
    manifest["data"] = {"kind": "synthetic", "days": 12, "seed": 3, "regime": "mixed"}
    manifest["sim_config"] = {"initial_balance": manifest.pop("initial_balance")}
    (syn / "manifest.json").write_text(json.dumps(manifest))
    out = write_run_report(syn)  # no data_dir: nothing stored is read
    from trade.report.run import _load_bars

    got = _load_bars(load_run(syn), None)
    stored = open_store(data).read_bars("BTCUSDT")
    assert got.equals(stored.slice(0, got.num_rows)) and got.num_rows == stored.num_rows
    assert out.stat().st_size > 1_000_000
