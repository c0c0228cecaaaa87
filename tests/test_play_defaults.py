"""TRADE's defaults where a Play is silent (trade.play.defaults), and our listed differences."""

from __future__ import annotations

from trade.engine.orders import order_plan
from trade.play import load_play_text
from trade.play.defaults import OUR_DIFFERENCES, TRADE_DEFAULTS
from trade.sim import SizeMode

BASE = """\
version: "3.0.0"
name: quiet
symbol: BTCUSDT
timeframes: {low_tf: 15m, exec: low_tf}
features:
  ema_8: {indicator: ema, params: {length: 8}}
actions:
  entry_long: [[close, ">", ema_8]]
  exit_long: [[close, "<", ema_8]]
"""


def test_a_silent_play_gets_trades_defaults() -> None:
    p = load_play_text(BASE)
    assert p.position_policy.exit_mode == TRADE_DEFAULTS["position_policy.exit_mode"]
    assert p.position_policy.mode == "long_only"
    assert p.account.max_leverage == 1.0 and p.account.starting_equity_usdt == 10_000.0
    assert (p.account.fee_model.taker_bps, p.account.fee_model.maker_bps) == (5.5, 2.0)
    assert p.account.slippage_bps == 2.0 and p.account.maintenance_margin_rate == 0.005
    assert p.risk is not None and p.risk.max_position_pct == 10.0
    plan = order_plan(p)
    # 10 % of equity as margin (TRADE), not nearly all of it
    assert plan.size_mode is SizeMode.PERCENT_EQUITY and plan.size_value == 10.0


def test_risk_without_size_and_risk_model_without_sizing() -> None:
    p = load_play_text(BASE + "risk: {stop_loss_pct: 2}\n")
    assert order_plan(p).size_value == 10.0
    p = load_play_text(BASE + "risk_model: {stop_loss: {type: percent, value: 2}}\n")
    assert p.risk_model is not None and p.risk_model.sizing is not None
    assert (p.risk_model.sizing.model, p.risk_model.sizing.value) == ("percent_equity", 10.0)
    # what a Play states wins
    p = load_play_text(BASE + "risk: {max_position_pct: 50}\n")
    assert order_plan(p).size_value == 50.0
    p = load_play_text(BASE + "position_policy: {exit_mode: first_hit}\n")
    assert p.position_policy.exit_mode == "first_hit"


def test_differences_are_listed_and_drawdown_is_one() -> None:
    assert load_play_text(BASE).account.max_drawdown_pct is None
    assert "account.max_drawdown_pct" in OUR_DIFFERENCES
    assert "account.max_drawdown_pct" not in TRADE_DEFAULTS
