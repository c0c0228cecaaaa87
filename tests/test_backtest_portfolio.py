"""`trade backtest` with several Plays, several symbols or a portfolio file: one account.

* two bundled Plays on a generated two-symbol store (correlation 0.6) give one account whose
  trade log is exactly its members' ledgers, and whose figures agree with each other and
  with the libraries: the account's metrics recomputed from its files, the members' daily
  return correlation recomputed with pandas, the PnL and drawdown contributions summing to
  the account's;
* a portfolio file is the same portfolio given on the command line, byte for byte;
* a one-member portfolio is the single backtest (its member bit for bit, the account too,
  but for the figures a count of open positions cannot carry: the side of the position and
  the margin ratios of isolated margin);
* the drawdown window (peak, trough) is a brute-force search's, and the members' changes
  over it sum to the account's (hypothesis);
* bad inputs are one line and exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.cli import cli
from trade.engine.portfolio import drawdown_window
from trade.metrics import compute_metrics

EMA = "01_ema_cross_basics"
DONCHIAN = "05_donchian_limit_breakout"
INITIAL = 10_000.0


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("portfolio_store")
    res = invoke("data", "synth", "--symbol", "AAAUSDT", "--symbol", "BBBUSDT", "--days", "12",
                 "--correlation", "0.6", "--seed", "3", "--data-dir", str(root))
    assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def two(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "two"
    res = invoke("backtest", f"{EMA}@AAAUSDT", f"{DONCHIAN}@BBBUSDT", "--data-dir", str(store),
                 "--out", str(out), "--json", "--report")
    assert res.exit_code == 0, res.output
    return out


def _json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text(encoding="utf-8"))


def test_two_plays_run_as_one_account(two: Path) -> None:
    manifest = _json(two / "manifest.json")
    metrics = _json(two / "metrics.json")
    figures = _json(two / "portfolio.json")
    labels = [m["label"] for m in manifest["members"]]
    assert labels == ["ema_cross_basics@AAAUSDT", "donchian_limit_breakout@BBBUSDT"]
    assert [m["symbol"] for m in manifest["members"]] == ["AAAUSDT", "BBBUSDT"]
    assert [m["alloc"] for m in manifest["members"]] == [0.5, 0.5]
    assert all(m["data"]["kind"] == "store" and m["play"]["file"] for m in manifest["members"])
    assert manifest["kind"] == "portfolio" and manifest["initial_balance"] == INITIAL

    trades = pq.read_table(two / "trades.parquet")
    equity = pq.read_table(two / "equity.parquet")
    members_eq = pq.read_table(two / "member_equity.parquet").to_pandas()
    tdf = trades.to_pandas()
    # the account's log is every member's ledger, in time order, each row naming its member
    assert sorted(tdf["member"].unique()) == sorted(labels)
    for row, label in zip(figures["members"], labels, strict=True):
        own = tdf[tdf["member"] == label]
        assert len(own) == row["num_trades"] == figures["member_metrics"][label]["num_trades"]
        assert set(own["symbol"]) <= {label.split("@")[1]}
    assert list(tdf["exit_ts"]) == sorted(tdf["exit_ts"])
    assert metrics["num_trades"] == trades.num_rows == manifest["n_trades"]

    # the account's metrics are compute_metrics of its own files
    again = compute_metrics(equity, trades, initial_balance=INITIAL)
    for key, value in again.items():
        if key.startswith("entry_") or key == "closest_liquidation_pct":
            continue  # the account's margin counts are its members' (checked below)
        assert metrics[key] == value, key  # JSON keeps a float to the bit
    rows = figures["members"]
    assert metrics["entry_attempts"] == sum(r["entry_attempts"] for r in rows)
    assert metrics["entry_rejections"] == sum(r["entry_rejections"] for r in rows)

    # PnL: the members' wallet changes add up to the account's
    pnl = [r["net_pnl"] for r in rows]
    assert sum(pnl) == pytest.approx(manifest["final_balance"] - INITIAL, abs=1e-6)
    assert sum(r["pnl_share"] for r in rows) == pytest.approx(1.0)
    fees = sum(figures["member_metrics"][lb]["fees_paid"] for lb in labels)
    assert metrics["fees_paid"] == pytest.approx(fees, rel=1e-12)

    # the deepest drawdown: its window's drop is the account's max drawdown, and the
    # members' changes over it sum to the account's change
    dd = figures["drawdown"]
    assert (dd["peak_equity"] - dd["trough_equity"]) / dd["peak_equity"] == \
        pytest.approx(metrics["max_drawdown"], rel=1e-9)
    assert sum(r["drawdown_contribution"] for r in rows) == pytest.approx(dd["change"], abs=1e-6)

    # each member's curve is on the account's minutes here (same minutes in both symbols),
    # and the account's curve is the initial balance plus their changes
    acct = equity.to_pandas().set_index("ts")["equity"]
    change = members_eq.assign(d=members_eq["equity"] - INITIAL).groupby("ts")["d"].sum()
    assert np.allclose(acct.to_numpy(), INITIAL + change.reindex(acct.index).to_numpy())

    # correlation of daily returns, recomputed with pandas from the members' curves
    daily = {}
    for label in labels:
        own = members_eq[members_eq["member"] == label]
        s = pd.Series(own["equity"].to_numpy(),
                      index=pd.to_datetime(own["ts"].to_numpy(), unit="ms"))
        close = s.resample("1D").last()
        daily[label] = close / close.shift(1, fill_value=INITIAL) - 1.0
    want = pd.DataFrame(daily).corr().to_numpy()
    got = np.array(figures["correlation"]["matrix"], dtype=float)
    assert np.allclose(got, want, atol=1e-9)
    assert figures["correlation"]["members"] == labels

    html = (two / "report.html").read_text(encoding="utf-8")
    assert "Portfolio report" in html and 'id="correlation"' in html
    assert all(label in html for label in labels)


def test_a_play_on_several_symbols(store: Path, tmp_path: Path) -> None:
    res = invoke("backtest", EMA, "--symbol", "aaausdt", "--symbol", "BBBUSDT", "--data-dir",
                 str(store), "--out", str(tmp_path / "r"), "--json")
    assert res.exit_code == 0, res.output
    manifest = _json(tmp_path / "r" / "manifest.json")
    assert [m["label"] for m in manifest["members"]] == ["ema_cross_basics@AAAUSDT",
                                                          "ema_cross_basics@BBBUSDT"]


def test_a_portfolio_file_is_the_command_line_portfolio(store: Path, two: Path,
                                                        tmp_path: Path) -> None:
    plays = Path(__file__).resolve().parents[1] / "plays"
    pf = tmp_path / "sub" / "pair.yml"
    pf.parent.mkdir()
    pf.write_text(
        "portfolio:\n"
        "  name: pair\n"
        "  members:\n"
        "    - {play: ../ema.yml, symbol: AAAUSDT}\n"  # relative to the portfolio file
        f"    - {{play: {DONCHIAN}, symbol: bbbusdt, alloc: 0.5}}\n",  # a bundled Play
        encoding="utf-8")
    (tmp_path / "ema.yml").write_bytes((plays / f"{EMA}.yml").read_bytes())
    res = invoke("backtest", str(pf), "--data-dir", str(store), "--out", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    for name in ("trades.parquet", "equity.parquet", "member_equity.parquet", "metrics.json",
                 "portfolio.json"):
        assert (tmp_path / "r" / name).read_bytes() == (two / name).read_bytes(), name
    manifest = _json(tmp_path / "r" / "manifest.json")
    assert manifest["portfolio"]["name"] == "pair"
    assert manifest["portfolio"]["file"] == str(pf)
    assert manifest["members"][0]["play"]["file"] == str(pf.parent / ".." / "ema.yml")


def test_a_portfolio_of_one_is_the_single_backtest(store: Path, tmp_path: Path) -> None:
    pf = tmp_path / "one.yml"
    pf.write_text(f"portfolio:\n  members:\n    - {{play: {EMA}, symbol: AAAUSDT}}\n",
                  encoding="utf-8")
    res = invoke("backtest", str(pf), "--data-dir", str(store), "--out", str(tmp_path / "p"))
    assert res.exit_code == 0, res.output
    res = invoke("backtest", EMA, "--symbol", "AAAUSDT", "--data-dir", str(store), "--out",
                 str(tmp_path / "s"))
    assert res.exit_code == 0, res.output
    single = _json(tmp_path / "s" / "metrics.json")
    figures = _json(tmp_path / "p" / "portfolio.json")
    (member,) = figures["member_metrics"].values()
    assert member == single  # the member's own ledger: bit for bit
    account = _json(tmp_path / "p" / "metrics.json")
    # a count of open positions has no side, and isolated margin ratios are the member's
    differ = {"long_exposure", "short_exposure", "min_margin_ratio", "margin_call_bars",
              "max_gross_exposure_pct"}
    assert {k: v for k, v in account.items() if k not in differ} == \
        {k: v for k, v in single.items() if k not in differ}
    trades = pq.read_table(tmp_path / "p" / "trades.parquet").drop_columns(["member"])
    assert trades.equals(pq.read_table(tmp_path / "s" / "trades.parquet"))
    eq_p = pq.read_table(tmp_path / "p" / "equity.parquet")
    eq_s = pq.read_table(tmp_path / "s" / "equity.parquet")
    assert eq_p.column("equity").equals(eq_s.column("equity"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-50.0, 50.0, allow_nan=False), min_size=1, max_size=40),
       st.lists(st.floats(-50.0, 50.0, allow_nan=False), min_size=1, max_size=40))
def test_drawdown_window_is_the_deepest_drop(a: list[float], b: list[float]) -> None:
    n = min(len(a), len(b))
    ma = 1000.0 + np.cumsum(a[:n])
    mb = 1000.0 + np.cumsum(b[:n])
    acct = 1000.0 + (ma - 1000.0) + (mb - 1000.0)
    window = drawdown_window(acct, 1000.0)
    vals = np.concatenate(([1000.0], acct))
    best = max((1.0 - vals[j] / vals[: j + 1].max() for j in range(len(vals))), default=0.0)
    if best <= 0.0:
        assert window is None
        return
    assert window is not None
    top, low = window
    assert top < low and vals[top] == vals[: low + 1].max()
    assert 1.0 - vals[low] / vals[top] == pytest.approx(best, rel=1e-12)
    full_a = np.concatenate(([1000.0], ma))
    full_b = np.concatenate(([1000.0], mb))
    parts = (full_a[low] - full_a[top]) + (full_b[low] - full_b[top])
    assert parts == pytest.approx(vals[low] - vals[top], abs=1e-9)


def _one_line_error(res: Result, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("body", "needle"), [
    ("  members:\n    - {play: nowhere.yml, symbol: AAAUSDT}\n", "Play file not found"),
    (f"  members:\n    - {{play: {EMA}, symbol: AAAUSDT, alloc: 0}}\n",
     "alloc: must be a number > 0"),
    (f"  members:\n    - {{play: {EMA}, symbol: AAAUSDT, alloc: -0.5}}\n", "> 0"),
    (f"  members:\n    - {{play: {EMA}, symbol: ZZZUSDT}}\n", "no 1m bars stored for ZZZUSDT"),
    ("  members: []\n", "at least one member"),
    (f"  members:\n    - {{play: {EMA}, sym: AAAUSDT}}\n", "unknown key"),
    (f"  initial_balance: 0\n  members:\n    - {{play: {EMA}}}\n", "initial_balance"),
])
def test_bad_portfolio_files(store: Path, tmp_path: Path, body: str, needle: str) -> None:
    pf = tmp_path / "bad.yml"
    pf.write_text("portfolio:\n" + body, encoding="utf-8")
    _one_line_error(invoke("backtest", str(pf), "--data-dir", str(store), "--out",
                           str(tmp_path / "r")), needle)
    assert not (tmp_path / "r").exists()


def test_bad_command_lines(store: Path, tmp_path: Path) -> None:
    d = ("--data-dir", str(store), "--out", str(tmp_path / "r"))
    _one_line_error(invoke("backtest", EMA, "03_bollinger_long_short_flip", "--symbol",
                           "AAAUSDT", *d), "starting equities differ")
    _one_line_error(invoke("backtest", f"{EMA}@AAAUSDT", f"{DONCHIAN}@QQQUSDT", *d),
                    "no 1m bars stored for QQQUSDT")
    _one_line_error(invoke("backtest", EMA, "11_drawdown_circuit_breaker", "--symbol",
                           "AAAUSDT", *d), "portfolios run on the batch path")
    _one_line_error(invoke("backtest", EMA, "--symbol", "AAAUSDT", "--symbol", "BBBUSDT",
                           "--path", "event", *d), "batch path")
    pf = tmp_path / "p.yml"
    pf.write_text(f"portfolio:\n  members: [{EMA}]\n", encoding="utf-8")
    _one_line_error(invoke("backtest", str(pf), EMA, *d), "runs alone")
    # a portfolio's own balance settles differing starting equities
    pf.write_text("portfolio:\n  initial_balance: 7500\n  members:\n"
                  f"    - {{play: {EMA}, symbol: AAAUSDT}}\n"
                  "    - {play: 03_bollinger_long_short_flip, symbol: BBBUSDT}\n",
                  encoding="utf-8")
    res = invoke("backtest", str(pf), *d)
    assert res.exit_code == 0, res.output
    manifest = _json(tmp_path / "r" / "manifest.json")
    assert manifest["initial_balance"] == 7500.0
    assert {m["sim_config"]["initial_balance"] for m in manifest["members"]} == {7500.0}


def test_the_example_portfolio_file_runs(tmp_path: Path) -> None:
    from trade.play.portfolio import load_portfolio_file

    example = Path(__file__).resolve().parents[1] / "plays" / "portfolios" / "two_markets.yml"
    pf = load_portfolio_file(example)
    assert [(e.symbol, e.alloc) for e in pf.members] == [("BTCUSDT", 0.5), ("ETHUSDT", 0.5)]
    assert all(e.play.is_file() for e in pf.members)
    data = tmp_path / "data"
    res = invoke("data", "synth", "--symbol", "BTCUSDT", "--symbol", "ETHUSDT", "--days", "4",
                 "--data-dir", str(data))
    assert res.exit_code == 0, res.output
    res = invoke("backtest", str(example), "--data-dir", str(data), "--out", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    assert _json(tmp_path / "r" / "manifest.json")["portfolio"]["name"] == "two_markets"
    res = invoke("report", str(tmp_path / "r"))  # `trade report` knows a portfolio folder
    assert res.exit_code == 0, res.output
    assert "Portfolio report" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
