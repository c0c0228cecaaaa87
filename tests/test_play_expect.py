"""`expected:` blocks: the checks themselves, and `trade play test` over Play files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from trade.cli.play_test_cmd import play_test
from trade.play.expect import all_met, check_expected
from trade.play.schema import Expected

PLAY = """\
version: "3.0.0"
name: "Expect_Me"
symbol: BTCUSDT
timeframes: {{low_tf: 15m, exec: low_tf}}
features:
  ema_5: {{indicator: ema, params: {{length: 5}}}}
  ema_20: {{indicator: ema, params: {{length: 20}}}}
actions:
  entry_long: [[ema_5, cross_above, ema_20]]
  exit_long: [[ema_5, cross_below, ema_20]]
risk: {{stop_loss_pct: 3.0, take_profit_pct: 6.0}}
synthetic: {{pattern: trend_up_clean, days: 2, seed: 3}}
expected: {{min_trades: {n}}}
"""


def test_checks_compare_each_stated_expectation() -> None:
    m = {"num_trades": 4, "net_pnl": -12.5, "win_rate": 0.25, "max_drawdown": 0.08}
    exp = Expected(min_trades=3, max_trades=10, pnl_direction="positive", min_win_rate_pct=20,
                   max_drawdown_pct=5)
    got = {c.name: c.ok for c in check_expected(exp, m)}
    assert got == {"min_trades": True, "max_trades": True, "pnl_direction": False,
                   "min_win_rate_pct": True, "max_drawdown_pct": False}
    assert not all_met(check_expected(exp, m))
    assert all_met(check_expected(Expected(pnl_direction="negative", min_trades=4), m))
    # no trades: neither a positive nor a negative run, and the min is missed
    empty = {"num_trades": 0, "net_pnl": 0.0, "win_rate": None, "max_drawdown": 0.0}
    checks = check_expected(Expected(min_trades=1, pnl_direction="negative",
                                     min_win_rate_pct=0), empty)
    assert [c.ok for c in checks] == [False, False, False]
    assert check_expected(Expected(), m) == []


def test_play_test_exits_non_zero_on_a_miss(tmp_path: Path) -> None:
    (tmp_path / "a_ok.yml").write_text(PLAY.format(n=1))
    (tmp_path / "b_miss.yml").write_text(PLAY.format(n=100_000).replace("Expect_Me", "Miss"))
    runner = CliRunner()
    ok = runner.invoke(play_test, [str(tmp_path / "a_ok.yml")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ok   ") and "1 of 1 Play(s) met" in ok.output
    both = runner.invoke(play_test, [str(tmp_path)])
    assert both.exit_code == 1, both.output
    assert "MISS " in both.output and "min_trades: wanted >= 100000" in both.output
    assert "1 of 2 Play(s) met their expectations" in both.output


def test_play_test_reports_invalid_plays_and_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("version: '3.0.0'\nname: x\n")
    runner = CliRunner()
    res = runner.invoke(play_test, [str(tmp_path / "bad.yml")])
    assert res.exit_code == 1 and res.output.startswith("FAIL ")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(play_test, [str(empty)]).exit_code == 2


def test_backtest_summary_lines() -> None:
    from trade.play.expect import expectation_lines

    m = {"num_trades": 2, "net_pnl": 5.0, "win_rate": 0.5, "max_drawdown": 0.01}
    assert expectation_lines(None, m) == []
    assert expectation_lines(Expected(), m) == []
    assert expectation_lines(Expected(min_trades=3), m) == [
        "expected: MISSED", "  MISS min_trades: wanted >= 3, got 2"]
    assert expectation_lines(Expected(min_trades=1, pnl_direction="positive"), m)[0] == \
        "expected: met"


def test_trade_backtest_reports_the_plays_expectations(tmp_path: Path) -> None:
    from trade.cli import cli

    play = tmp_path / "miss.yml"
    play.write_text(PLAY.format(n=100_000))
    runner = CliRunner()
    res = runner.invoke(cli, ["backtest", str(play), "--synthetic", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "expected: MISSED" in res.output and "min_trades: wanted >= 100000" in res.output
    res = runner.invoke(cli, ["backtest", str(play), "--synthetic", "--json",
                              "--out", str(tmp_path / "j")])
    out = __import__("json").loads(res.stdout)  # notes go to stderr
    assert [(c["name"], c["ok"]) for c in out["expected"]] == [("min_trades", False)]
    assert runner.invoke(cli, ["play", "test", str(play)]).exit_code == 1
