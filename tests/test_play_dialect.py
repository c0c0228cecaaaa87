"""TRADE's Play dialect: accepted as written, and meaning what it means in TRADE.

The fixture Plays under tests/plays_fixtures/trade_dialect are written for these tests in
TRADE's spelling (pandas-ta parameter and output names, string enums, interval-keyed
structures, risk_limits, risk_per_trade_pct, expected:)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trade.indicators import REGISTRY
from trade.indicators.aliases import ENUM_VALUES, NAME_ALIASES, OUTPUT_ALIASES, PARAM_ALIASES
from trade.play import PlayError, compiled_actions, load_play, load_play_text
from trade.play.ir import In, Node, node_children

FIX = Path(__file__).parent / "plays_fixtures" / "trade_dialect"
TOUR = FIX / "EMA_Dialect_Tour.yml"

BASE = """\
version: "3.0.0"
name: "Small_Play"
symbol: BTCUSDT
timeframes: {low_tf: 15m, med_tf: 1h, high_tf: 4h, exec: low_tf}
features:
  ema_8: {indicator: ema, params: {length: 8}}
actions:
  entry_long:
    - [close, ">", ema_8]
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(PlayError) as exc:
        load_play_text(text, source="x.yml")
    return [f"{i.path}: {i.message}" for i in exc.value.issues]


def _walk(node: Node) -> list[Node]:
    out = [node]
    for c in node_children(node):
        out.extend(_walk(c))
    return out


def test_alias_tables_point_at_real_names() -> None:
    for alias, target in NAME_ALIASES.items():
        assert target in REGISTRY and alias not in REGISTRY
    for table, kind in ((PARAM_ALIASES, "params"), (OUTPUT_ALIASES, "outputs")):
        for ind, mapping in table.items():
            spec = REGISTRY[ind]
            ours = {p.name for p in spec.params} if kind == "params" else set(spec.outputs)
            for alias, target in mapping.items():
                assert target in ours and alias not in ours, (ind, alias)


def test_the_tour_loads_with_our_names() -> None:
    p = load_play(TOUR)
    assert p.name == "EMA_Dialect_Tour"  # upper-case names are accepted as written
    f = p.features
    assert dict(f["st_10_3"].params) == {"length": 10, "mult": 3.0}
    assert dict(f["stoch_14"].params) == {"k_length": 14, "d_length": 3, "k_smooth": 3}
    assert dict(f["psar_a"].params) == {"initial": 0.01, "accel": 0.02, "maximum": 0.2}
    assert dict(f["sqz_20"].params) == {"bb_length": 20, "bb_mult": 2.0, "kc_length": 20,
                                        "kc_mult": 1.5}
    assert dict(f["tsi_13_25"].params) == {"short_length": 13, "long_length": 25, "signal": 13}
    assert dict(f["dc_20_10"].params) == {"length": 20, "lower_length": 10}
    # kc is Keltner, its ATR over the same window as its middle line (TRADE's kc)
    assert f["kc_20"].indicator == "keltner"
    assert dict(f["kc_20"].params) == {"length": 20, "mult": 1.5, "atr_length": 20}
    series = compiled_actions(p).series
    for name in ("macd_12_26_9.hist", "adx_14.plus_di", "adx_14.minus_di", "kc_20.middle",
                 "st_10_3.value", "ms.bos_direction", "swing.high", "ms.choch_this_bar"):
        assert name in series, name


def test_enum_literals_compile_to_their_codes() -> None:
    p = load_play(TOUR)
    nodes = [n for plan in compiled_actions(p).plans for n in _walk(plan.root)]
    ins = [n for n in nodes if isinstance(n, In)]
    assert len(ins) == 1 and ins[0].values == (1.0, 0.0)  # ["bullish", "none"]
    assert ENUM_VALUES["bos_direction"]["bearish"] == -1
    text = BASE + '    - ["ms.bos_direction", "==", "sideways"]\n'
    text = text.replace("actions:", "structures:\n  exec:\n    - {type: swing, key: sw, params: "
                        "{left: 2, right: 2}}\n    - {type: market_structure, key: ms, uses: sw}"
                        "\nactions:")
    errs = _errors(text)
    assert any("undeclared feature 'sideways'" in e for e in errs), errs


def test_structures_keyed_by_interval_run_on_that_interval() -> None:
    p = load_play(TOUR)
    assert [s.key for s in p.structures["high_tf"]] == ["swing_4h", "trend_4h"]
    bad = BASE.replace("actions:", 'structures:\n  high_tf:\n    "1h":\n      - {type: swing, '
                       'key: sw, params: {left: 2, right: 2}}\nactions:')
    assert _errors(bad) == ["structures.high_tf.1h: interval '1h' is not high_tf's (4h); key "
                            "the structures by high_tf alone or by its interval"]


def test_risk_limits_and_risk_per_trade() -> None:
    p = load_play(TOUR)
    assert p.account.max_drawdown_pct == 35.0
    assert p.risk is None and p.risk_model is not None
    assert p.risk_model.sizing is not None
    assert (p.risk_model.sizing.model, p.risk_model.sizing.value) == ("risk_based", 0.5)
    assert p.risk_model.stop_loss is not None and p.risk_model.stop_loss.value == 2.0
    text = BASE.replace("features:", "account: {max_drawdown_pct: 20}\nrisk_limits: "
                        "{max_drawdown_pct: 30, max_daily_loss_pct: 5}\nfeatures:")
    errs = _errors(text)
    assert "risk_limits.max_drawdown_pct: risk_limits.max_drawdown_pct (30) contradicts " \
           "account.max_drawdown_pct (20); give it once" in errs
    assert any(e.startswith("risk_limits.max_daily_loss_pct: unknown risk limit") for e in errs)


def test_limit_brackets_are_accepted_and_bad_spellings_refused() -> None:
    from trade.engine.orders import order_plan

    plan = order_plan(load_play(FIX / "limit_tp.yml"))
    assert plan.tp_limit and not plan.sl_limit  # Bybit Partial mode (docs/fill_model.md)
    text = BASE + "risk: {stop_loss_pct: 2, sl_order_type: StopLimit}\n"
    assert _errors(text) == ["risk.sl_order_type: expected Market or Limit, found 'StopLimit'"]


def test_alias_and_our_name_together_is_an_error() -> None:
    text = BASE.replace("  ema_8: {indicator: ema, params: {length: 8}}",
                        "  ema_8: {indicator: ema, params: {length: 8}}\n"
                        "  st: {indicator: supertrend, params: {multiplier: 3, mult: 2}}")
    assert _errors(text) == ["features.st.params.multiplier: 'multiplier' is another name for "
                             "'mult'; give only one of them"]


def test_unknown_alias_still_suggests() -> None:
    text = BASE.replace("  ema_8: {indicator: ema, params: {length: 8}}",
                        "  ema_8: {indicator: ema, params: {length: 8}}\n"
                        "  st: {indicator: supertrend, params: {multiplyer: 3}}")
    errs = _errors(text)
    assert len(errs) == 1 and errs[0].startswith("features.st.params.multiplyer: unknown "
                                                 "parameter 'multiplyer' for 'supertrend'")


def test_expected_block_is_validated() -> None:
    text = BASE + "expected: {min_trades: 3, pnl_direction: up}\n"
    errs = _errors(text)
    assert len(errs) == 1 and errs[0].startswith("expected.pnl_direction: unknown value 'up'")
    assert load_play_text(BASE + "expected: {min_trades: 3}\n").expected is not None


def test_synthetic_config_overrides_are_refused() -> None:
    text = BASE + "synthetic: {pattern: trend_up_clean, config: {trend_magnitude: 0.2}}\n"
    assert _errors(text) == ["synthetic.config: pattern overrides are not supported: each "
                             "pattern has one fixed shape; remove 'config'"]


def test_trade_structures_load_and_run() -> None:
    from trade.engine import run_backtest
    from trade.engine.features import feature_defs
    from trade.play.ir import Compare

    p = load_play(FIX / "ICT_Structures.yml")
    st = {s.key: s for s in p.structures["exec"]}
    assert st["disp"].params["atr_length"] == 21 and "atr_key" not in st["disp"].params
    assert st["liq"].params["atr_length"] == 21
    assert "atr_key" not in st["swing"].params  # TRADE's swing reads it for significance only
    series = compiled_actions(p).series
    assert "fib.level[0.705]" in series  # `level[0.7050]` names the same output
    assert {"zones.zone[0].state", "zones.any_inside", "demand.state"} <= series
    nodes = [n for plan in compiled_actions(p).plans for n in _walk(plan.root)]
    zone = [n for n in nodes if isinstance(n, Compare) and getattr(n.lhs, "name", "") == "pd.zone"]
    assert len(zone) == 1 and getattr(zone[0].rhs, "value", None) == -1.0  # "discount"
    defs = {d.key: d for d in feature_defs(p)}
    # fibonacci and the anchored VWAP use the swing's left/right
    assert (defs["fib"].params["left"], defs["fib"].params["right"]) == (4, 3)
    assert (defs["avwap"].params["left"], defs["avwap"].params["right"]) == (4, 3)
    assert defs["fib"].outputs[:3] == ("level[0.618]", "level[0.705]", "level[0.786]")
    res = run_backtest(p, synthetic=True, out_dir=None)
    assert res.metrics["num_trades"] is not None


def test_structure_params_are_checked() -> None:
    text = BASE.replace("actions:", "structures:\n  exec:\n    - {type: swing, key: sw, params: "
                        "{left: 2, right: 2}}\n    - {type: fibonacci, key: fib, uses: sw, params: "
                        "{levels: [0.5], use_trend_anchor: true}}\nactions:")
    assert _errors(text) == ["structures.exec[1].params: use_trend_anchor and use_paired_anchor "
                             "exclude each other (set use_paired_anchor: false)"]
    text = BASE.replace("actions:", "structures:\n  exec:\n    - {type: displacement, key: d, "
                        "params: {atr_key: atr_9}}\nactions:")
    assert _errors(text) == ["structures.exec[0].params.atr_key: atr_key 'atr_9' names no atr "
                             "feature (declare it under features)"]
    bad = BASE + '    - ["close", ">", "fib.level[0.3]"]\n'
    bad = bad.replace("actions:", "structures:\n  exec:\n    - {type: swing, key: sw, params: "
                      "{left: 2, right: 2}}\n    - {type: fibonacci, key: fib, uses: sw, "
                      "params: {levels: [0.5]}}\nactions:")
    assert any("'fib' has no field 'level[0.3]'" in e for e in _errors(bad))


def test_trigger_sources_atr_defaults_and_unavailable_builtins() -> None:
    text = BASE + "risk: {stop_loss_pct: 2, tp_trigger_by: IndexPrice, sl_trigger_by: LastPrice}\n"
    assert _errors(text) == ["risk.tp_trigger_by: IndexPrice triggers are not supported (there "
                             "is no index price series); set 'tp_trigger_by' to LastPrice or "
                             "MarkPrice"]
    sw = ("structures:\n  exec:\n    - {type: swing, key: sw, params: {left: 2, right: 2}}\n"
          "    - {type: %s, key: z, uses: sw, params: {%s}}\nactions:")
    # no atr_key and no feature named atr: TRADE's zone has no width
    p = load_play_text(BASE.replace("actions:", sw % ("zone", "zone_type: supply, width_atr: 2")))
    assert p.structures["exec"][1].params["width_atr"] == 0.0
    # ... and a feature named atr is the one TRADE reads
    with_atr = BASE.replace("features:", "features:\n  atr: {indicator: atr, params: {length: 9}}")
    p = load_play_text(with_atr.replace("actions:", sw % ("liquidity_zones", "min_touches: 2")))
    assert p.structures["exec"][1].params["atr_length"] == 9
    errs = _errors(BASE.replace("actions:", sw % ("liquidity_zones", "min_touches: 2")))
    assert errs == ["structures.exec[1].type: 'liquidity_zones' reads an ATR: give atr_key naming "
                    "an atr feature (TRADE reads a feature named 'atr', and this Play declares "
                    "none)"]
    # open interest and funding are builtins now (read from the stored series)
    for name in ("open_interest", "funding_rate"):
        play = load_play_text(BASE + f'    - ["{name}", ">", 0]\n')
        assert name in compiled_actions(play).series


def test_more_parameter_spellings_of_trade_plays() -> None:
    text = BASE.replace("features:\n", "features:\n"
                        "  uo_a: {indicator: uo, params: {short: 5, medium: 10, long: 20}}\n"
                        "  kvo_a: {indicator: kvo, params: {short_length: 30, long_length: 50}}\n"
                        "  tsi_a: {indicator: tsi, params: {long: 25, short: 13}}\n"
                        "  kc_a: {indicator: keltner, params: {length: 20, multiplier: 2}}\n")
    f = load_play_text(text, source="x.yml").features
    assert dict(f["uo_a"].params) == {"fast": 5, "medium": 10, "slow": 20}
    assert (f["kvo_a"].params["fast"], f["kvo_a"].params["slow"]) == (30, 50)
    assert (f["tsi_a"].params["long_length"], f["tsi_a"].params["short_length"]) == (25, 13)
    assert f["kc_a"].params["mult"] == 2.0


def test_a_bare_multi_output_reference_reads_the_primary_output() -> None:
    from trade.indicators.aliases import PRIMARY_OUTPUTS

    decl = "".join(f"  f_{ind}: {{indicator: {ind}}}\n" for ind in PRIMARY_OUTPUTS)
    conds = "".join(f'    - [f_{ind}, ">", -1000000000]\n' for ind in PRIMARY_OUTPUTS)
    text = BASE.replace("features:\n", "features:\n" + decl) + conds
    series = compiled_actions(load_play_text(text, source="x.yml")).series
    for ind, out in PRIMARY_OUTPUTS.items():
        assert f"f_{ind}.{out}" in series, ind
    # one with a `value` line keeps reading it
    st = BASE.replace("features:\n", "features:\n  st: {indicator: supertrend}\n") + \
        '    - [close, ">", st]\n'
    assert "st.value" in compiled_actions(load_play_text(st, source="x.yml")).series


def test_fibonacci_level_underscore_spelling_and_discrete_directions() -> None:
    structs = ("structures:\n  exec:\n    - {type: swing, key: sw, params: {left: 2, right: 2}}\n"
               "    - {type: fibonacci, key: fib, uses: sw, params: {levels: [0.5, 0.618]}}\n"
               "    - {type: order_block, key: ob, uses: sw}\nactions:")
    text = BASE.replace("actions:", structs) + '    - [close, ">", "fib.level_0.618"]\n' + \
        '    - ["ob.last_invalidated_direction", "==", "bearish"]\n'
    series = compiled_actions(load_play_text(text, source="x.yml")).series
    assert "fib.level[0.618]" in series and "ob.last_invalidated_direction" in series
    assert ENUM_VALUES["last_invalidated_direction"]["bearish"] == -1


def test_risk_per_trade_without_a_stop_is_margin_as_trade_falls_back() -> None:
    p = load_play_text(BASE.replace("features:", "account: {risk_per_trade_pct: 25}\nfeatures:"),
                       source="x.yml")
    assert p.risk_model is not None and p.risk_model.sizing is not None
    assert (p.risk_model.sizing.model, p.risk_model.sizing.value) == ("percent_equity", 25.0)
    # under the shorthand risk: block it is the account's setting, risk-based with the stop
    q = load_play_text(BASE.replace("features:", "risk: {stop_loss_pct: 2, risk_per_trade_pct: "
                                    "1.5}\nfeatures:"), source="x.yml")
    assert q.risk_model is not None and q.risk_model.sizing is not None
    assert (q.risk_model.sizing.model, q.risk_model.sizing.value) == ("risk_based", 1.5)
    both = BASE.replace("features:", "account: {risk_per_trade_pct: 1}\nrisk: {stop_loss_pct: 2, "
                        "risk_per_trade_pct: 1.5}\nfeatures:")
    assert any("give it once" in e for e in _errors(both))


def test_bars_per_tf_is_a_spelling_of_bars() -> None:
    text = BASE + "synthetic: {pattern: trending_up, bars_per_tf: 300, seed: 4}\n"
    s = load_play_text(text, source="x.yml").synthetic
    assert s is not None and (s.bars, s.seed, s.pattern) == (300, 4, "trending_up")
