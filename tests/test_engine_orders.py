"""Play -> orders: sizing, SL/TP/trailing/break-even translation and SimConfig, exact numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trade.core import InputError, TimeInForce
from trade.data import synth_bars
from trade.data.schema import Instrument
from trade.engine import build_signals, exec_frame, order_plan, sim_config
from trade.engine.backtest import choose_path, parse_time
from trade.engine.orders import DEFAULT_INSTRUMENT, SizeMode
from trade.play import compiled_actions, load_play_text

BASE = """
version: "3.0.0"
name: t
symbol: BTCUSDT
timeframes: {low_tf: 15m, exec: low_tf}
account: {starting_equity_usdt: 10000, max_leverage: LEV}
features:
  atr_14: {indicator: atr, params: {length: 14}}
structures:
  exec:
    - {type: swing, key: swing, params: {left: 2, right: 2}}
actions:
  entry_long: [close, ">", 0]
"""


def play(extra: str, lev: float = 10) -> object:
    return load_play_text(BASE.replace("LEV", str(lev)) + extra)


def test_percent_stops_are_roi_of_margin() -> None:
    p = order_plan(play("risk: {stop_loss_pct: 2, take_profit_pct: 5, trailing_stop_pct: 3}\n"))
    sl, tp, tr = p.brackets(1, 30_000.0, {})
    assert sl == pytest.approx(0.002, abs=0)  # 2 % ROI at 10x = 0.2 % price
    assert tp == 5 / 100 / 10
    assert tr == 3 / 100 / 10
    assert p.size_mode is SizeMode.PERCENT_EQUITY and p.size_value == 10.0  # TRADE default


def test_atr_multiple_stop_and_rr_take_profit() -> None:
    p = order_plan(play("""
risk_model:
  stop_loss: {type: atr_multiple, value: 2, atr_feature_id: atr_14}
  take_profit: {type: rr_ratio, value: 3}
""", lev=3))
    sl, tp, tr = p.brackets(1, 30_000.0, {"atr_14": 150.0})
    assert sl == 2 * 150.0 / 30_000.0 == 0.01
    assert tp == 3 * sl
    assert tr == 0.0
    # warm-up: no ATR yet -> no stop, and rr take profit follows it
    assert p.brackets(1, 30_000.0, {"atr_14": math.nan}) == (0.0, 0.0, 0.0)


def test_fixed_points_structure_and_trailing() -> None:
    p = order_plan(play("""
risk_model:
  stop_loss: {type: fixed_points, value: 450}
  take_profit: {type: fixed_points, value: 900}
  break_even: {activation_pct: 0.6, offset_pct: 0.05}
"""))
    assert p.brackets(1, 30_000.0, {}) == (450 / 30_000.0, 900 / 30_000.0, 0.0)
    assert (p.be_activation, p.be_offset) == (0.006, 0.0005)
    s = order_plan(play("risk_model:\n  stop_loss: {type: structure, level: swing.low}\n"))
    assert s.brackets(1, 30_000.0, {"swing.low": 29_400.0})[0] == 600 / 30_000.0
    assert s.brackets(-1, 30_000.0, {"swing.low": 29_400.0})[0] == 0.0  # wrong side: no stop
    t = order_plan(play("risk_model:\n  stop_loss: {type: trailing_pct, value: 6}\n", lev=4))
    assert t.brackets(-1, 100.0, {}) == (0.015, 0.0, 0.015)  # trail also sets the first stop
    a = order_plan(play("""
risk_model:
  stop_loss: {type: trailing_atr, value: 3, atr_feature_id: atr_14}
  take_profit: {type: atr_multiple, value: 8, atr_feature_id: atr_14}
"""))
    assert a.brackets(1, 20_000.0, {"atr_14": 100.0}) == (0.015, 0.04, 0.015)


def test_sizing_models_with_exact_quantities() -> None:
    fixed = order_plan(play("risk_model:\n  sizing: {model: fixed_usdt, value: 8000}\n", lev=3))
    assert fixed.entry_qty(10_000.0, 30_000.0, 0.0) == pytest.approx(0.266, abs=1e-12)
    pct = order_plan(play("risk_model:\n  sizing: {model: percent_equity, value: 50}\n", lev=3))
    assert pct.entry_qty(10_000.0, 30_000.0, 0.0) == pytest.approx(0.5, abs=1e-12)
    risk = order_plan(play("""
risk_model:
  stop_loss: {type: percent, value: 3}
  sizing: {model: risk_based, value: 1}
""", lev=3))
    assert risk.size_mode is SizeMode.RISK_BASED
    # 1 % of 10 000 lost at a 1 % stop -> 10 000 USDT notional -> 0.333 BTC (step 0.001)
    assert risk.entry_qty(10_000.0, 30_000.0, 0.01) == pytest.approx(0.333, abs=1e-12)
    # a 0.1 % stop would need 100 000 USDT: capped at equity x leverage less room for the
    # opening taker fee, 30 000 / (1 + 3 x fee), then floored to the 0.001 step
    cap = 30_000.0 / (1 + 3 * risk.taker_fee)
    assert risk.taker_fee > 0
    expected = math.floor(cap / 30_000.0 / 0.001 + 1e-9) * 0.001
    assert expected < 1.0
    assert risk.entry_qty(10_000.0, 30_000.0, 0.001) == pytest.approx(expected, abs=1e-12)
    assert risk.entry_qty(10_000.0, 30_000.0, 0.0) == 0.0  # no stop, no risk-based size
    tiny = order_plan(play("risk_model:\n  sizing: {model: fixed_usdt, value: 9}\n"))
    assert tiny.entry_qty(10_000.0, 3_000.0, 0.0) == 0.0  # under min notional (10 USDT)
    step = order_plan(play("risk_model:\n  sizing: {model: fixed_usdt, value: 1000}\n"),
                      Instrument(symbol="BTCUSDT", qty_step=0.01, min_qty=0.01, min_notional=5,
                                 tick_size=0.1, max_leverage=100, maintenance_margin_rate=0.005))
    assert step.entry_qty(10_000.0, 30_000.0, 0.0) == pytest.approx(0.03, abs=1e-12)


def test_sim_config_from_account_and_backtest_overrides() -> None:
    p = play("""
backtest: {starting_equity_usdt: 2500, slippage_bps: 3, fee_model: {taker_bps: 6, maker_bps: -1},
           intrabar: ohlc_path, maintenance_margin_rate: 0.01}
""", lev=5)
    plan = order_plan(p)
    cfg = sim_config(p, plan, DEFAULT_INSTRUMENT)
    assert (cfg.initial_balance, cfg.leverage) == (2500.0, 5.0)
    assert (cfg.taker_fee, cfg.maker_fee, cfg.slippage) == (0.0006, -0.0001, 0.0003)
    assert cfg.maintenance_margin_rate == 0.01 and int(cfg.intrabar) == 1
    assert (cfg.qty_step, cfg.min_qty, cfg.min_notional) == (0.001, 0.001, 10.0)


def test_limit_entries_expiry_in_1m_bars_and_time_in_force() -> None:
    p = play("entry: {order_type: LIMIT, limit_offset_pct: 0.15, expire_after_bars: 4}\n")
    plan = order_plan(p)
    assert plan.limit_offset == 0.0015 and plan.expire_bars_1m == 4 * 15
    assert plan.entry_tif is TimeInForce.GTC
    for text, tif in (("IOC", TimeInForce.IOC), ("FOK", TimeInForce.FOK),
                      ("PostOnly", TimeInForce.POST_ONLY), ("GTC", TimeInForce.GTC)):
        lim = play(f"entry: {{order_type: LIMIT, limit_offset_pct: 0.1, time_in_force: {text}}}\n")
        assert order_plan(lim).entry_tif is tif
    # a market entry ignores the TIF (it is a market order)
    mkt = play("entry: {order_type: MARKET, time_in_force: IOC}\n")
    assert order_plan(mkt).entry_tif is TimeInForce.GTC and order_plan(mkt).limit_offset == 0
    with pytest.raises(InputError, match="above BTCUSDT's maximum"):
        order_plan(play("", lev=50), Instrument(symbol="BTCUSDT", max_leverage=25, tick_size=0.1,
                                                qty_step=0.001, min_qty=0.001, min_notional=5,
                                                maintenance_margin_rate=0.005))


def test_trailing_activation_is_roi_of_margin_and_only_for_trailing_stops() -> None:
    t = order_plan(play(
        "risk_model:\n  stop_loss: {type: trailing_pct, value: 6, activation_pct: 8}\n", lev=4))
    assert t.trail_activation == 8 / 100 / 4 == 0.02  # 8 % ROI at 4x = 2 % price move
    assert t.brackets(1, 100.0, {}) == (0.015, 0.0, 0.015)
    a = order_plan(play("""
risk_model:
  stop_loss: {type: trailing_atr, value: 3, atr_feature_id: atr_14, activation_pct: 5}
"""))
    assert a.trail_activation == 5 / 100 / 10
    none = order_plan(play("risk_model:\n  stop_loss: {type: trailing_pct, value: 6}\n"))
    assert none.trail_activation == 0.0
    zero = order_plan(play(
        "risk_model:\n  stop_loss: {type: trailing_pct, value: 6, activation_pct: 0}\n"))
    assert zero.trail_activation == 0.0
    with pytest.raises(InputError, match="activation_pct applies to trailing"):
        order_plan(play("risk_model:\n  stop_loss: {type: percent, value: 2, activation_pct: 1}\n"))


def test_signal_rows_carry_trail_activation_and_entry_tif() -> None:
    p = play("""
risk_model:
  stop_loss: {type: trailing_pct, value: 5, activation_pct: 10}
entry: {order_type: LIMIT, limit_offset_pct: 0.1, time_in_force: PostOnly, expire_after_bars: 2}
""", lev=5)
    bars = synth_bars("BTCUSDT", 1, 1, "mixed")
    plan = order_plan(p)
    sig = build_signals(compiled_actions(p), exec_frame(p, bars), plan)
    assert sig.entry_tif is TimeInForce.POST_ONLY and sig.expire_bars == 2 * 15
    assert np.all(sig.trail_activation == 10 / 100 / 5)
    assert np.all(sig.trail_pct == 5 / 100 / 5) and np.all(sig.entry_limit_offset == 0.001)


def test_batch_signal_rows_carry_the_plan_numbers() -> None:
    p = play("""
risk_model:
  stop_loss: {type: atr_multiple, value: 2, atr_feature_id: atr_14}
  take_profit: {type: rr_ratio, value: 2}
  sizing: {model: risk_based, value: 1}
""", lev=3)
    bars = synth_bars("BTCUSDT", 2, 1, "mixed")
    frame = exec_frame(p, bars)
    plan = order_plan(p)
    sig = build_signals(compiled_actions(p), frame, plan)
    assert len(sig) == 2 * 96 and int(sig.size_mode) == int(SizeMode.RISK_BASED)
    close = bars.column("close").to_numpy()
    j = 50
    ref = close[frame.close_idx[j]]
    assert sig.sl_pct[j] == 2 * frame.series["atr_14"][j] / ref
    assert sig.tp_pct[j] == 2 * sig.sl_pct[j]
    assert np.all(sig.entry_long == 1) and np.all(sig.size_value == 1.0)
    assert sig.sl_pct[0] == 0.0  # ATR still warming up on the first bar


def test_path_choice_and_time_parsing() -> None:
    p = play("")
    assert choose_path(p, "auto")[0] == "batch"
    brk = load_play_text(BASE.replace("LEV", "2").replace(
        "max_leverage: 2}", "max_leverage: 2, max_drawdown_pct: 5}"))
    assert choose_path(brk, "auto")[0] == "event"
    with pytest.raises(InputError, match="max_drawdown_pct"):
        choose_path(brk, "batch")
    assert parse_time("2024-01-01", "start") == 1_704_067_200_000
    assert parse_time("2024-01-01T00:01", "start") == 1_704_067_260_000
    with pytest.raises(InputError, match="start: cannot read"):
        parse_time("yesterday", "start")
