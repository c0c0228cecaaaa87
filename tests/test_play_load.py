"""Play loading and validation: every error names file, line, path, found/expected, suggestion."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from trade.indicators import REGISTRY
from trade.play import (
    PlayError,
    apply_overrides,
    compiled_actions,
    load_play,
    load_play_text,
    play_hash,
)

FIXTURES = Path(__file__).resolve().parent / "plays_fixtures"

BASE = """\
version: "3.0.0"
name: test_play
symbol: BTCUSDT
timeframes: {low_tf: 15m, med_tf: 1h, high_tf: 4h, exec: low_tf}
features:
  ema_21: {indicator: ema, params: {length: 21}}
  rsi_14: {indicator: rsi, params: {length: 14}}
  bb: {indicator: bbands, params: {length: 20, std: 2.0}}
  atr_14: {indicator: atr, params: {length: 14}}
actions:
  entry_long:
    - [close, ">", ema_21]
"""


def load(text: str, **kw: object):  # type: ignore[no-untyped-def]
    return load_play_text(textwrap.dedent(text), source="plays/x.yml", registry=REGISTRY, **kw)


def errors(text: str, **kw: object) -> list[str]:
    with pytest.raises(PlayError) as info:
        load(text, **kw)
    assert str(info.value) == "\n".join(str(i) for i in info.value.issues)
    return [str(i) for i in info.value.issues]


def line_of(text: str, needle: str) -> int:
    lines = textwrap.dedent(text).splitlines()
    hits = [i + 1 for i, ln in enumerate(lines) if needle in ln]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


# ---------------------------------------------------------------- good Plays


def test_full_play_from_the_format_doc_loads() -> None:
    play = load_play(FIXTURES / "full.yml", registry=REGISTRY)
    assert play.name == "ema_pullback_long"
    assert play.exec_tf == "15m" and play.tf_of_role("med_tf") == "1h"
    assert play.features["ema_50_h"].tf == "med_tf"
    assert play.structures["exec"][1].uses_list == ["swing"]
    assert play.risk is not None and play.risk.stop_loss_pct == 2.0
    assert play.entry.expire_after_bars == 10
    assert play.sweep["features.ema_21.params.length"].points() == [10, 15, 20, 25, 30, 35, 40]
    assert play.sweep["risk.stop_loss_pct"].points() == [1, 2, 3]
    actions = compiled_actions(play)
    assert actions.series == {"close", "ema_50_h", "trend.direction", "rsi_14", "ema_21"}
    # occurred_within 10 bars over a cross (1 bar of history) -> 10 bars before it can fire
    assert actions.lookback == 10
    assert not actions.intrabar
    assert play.source.endswith("full.yml")


def test_validation_pattern_spelling_loads_as_synthetic() -> None:
    play = load(BASE + "validation: {pattern: trend_up_clean, bars: 500, seed: 42}\n")
    assert play.synthetic is not None
    assert (play.synthetic.regime, play.synthetic.pattern, play.synthetic.seed) == (
        "trending", "trend_up_clean", 42)
    assert play.synthetic.bars == 500
    play2 = load(BASE + "synthetic: {regime: range, days: 10, seed: 7}\n")
    assert play2.synthetic is not None and play2.synthetic.days == 10
    bad = r"synthetic.regime: unknown regime 'trendin'.*did you mean 'trending'"
    with pytest.raises(PlayError, match=bad):
        load(BASE + "synthetic: {regime: trendin, days: 10}\n")


def test_unknown_validation_pattern() -> None:
    text = BASE + "validation: {pattern: trend_up_clen}\n"
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'validation')} validation.pattern: unknown pattern "
        "'trend_up_clen' — did you mean 'trend_up_clean'?"
    ]


def test_variables_substitute_in_conditions_and_risk() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[rsi_14, "<", $rsi_max]') + textwrap.dedent("""\
        variables: {rsi_max: 45, sl: 1.5}
        risk: {stop_loss_pct: $sl, take_profit_pct: 3}
        sweep:
          variables.rsi_max: {values: [40, 45, 50]}
        """)
    play = load(text)
    assert play.risk is not None and play.risk.stop_loss_pct == 1.5
    root = compiled_actions(play).blocks[0].cases[0].when.root
    assert "Const(value=45.0)" in repr(root)
    varied = apply_overrides(play, {"variables.rsi_max": 50}, registry=REGISTRY)
    assert "Const(value=50.0)" in repr(compiled_actions(varied).blocks[0].cases[0].when.root)
    assert play_hash(varied) != play_hash(play)


def test_undefined_variable_is_suggested() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[rsi_14, "<", $rsi_mx]')
    text += "variables: {rsi_max: 45}\n"
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'rsi_mx')} actions.entry_long[0][2]: undefined variable "
        "'$rsi_mx' — did you mean '$rsi_max'?"
    ]


def test_cases_emit_else_and_partial_exit_load() -> None:
    text = BASE.split("actions:")[0] + textwrap.dedent("""\
        actions:
          - id: entry
            cases:
              - when: [[rsi_14, "<", 30]]
                emit: [{action: entry_long}]
              - when: [[rsi_14, ">", 70]]
                emit: [{action: entry_short}]
            else:
              emit: [{action: no_action}]
          - id: exit
            cases:
              - when: {any: [[rsi_14, ">", 80]]}
                emit: [{action: exit_long, percent: 50}]
        position_policy: {mode: long_short, exit_mode: signal}
        """)
    play = load(text)
    blocks = compiled_actions(play).blocks
    assert [b.id for b in blocks] == ["entry", "exit"]
    assert [e.action for c in blocks[0].cases for e in c.emits] == ["entry_long", "entry_short"]
    assert blocks[1].cases[0].emits[0].percent == 50.0


def test_play_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    a = load(BASE)
    b = load("# a comment\n" + BASE)
    assert play_hash(a) == play_hash(b)
    assert len(play_hash(a)) == 64
    c = apply_overrides(a, {"features.ema_21.params.length": 30}, registry=REGISTRY)
    assert c.features["ema_21"].params["length"] == 30
    assert play_hash(c) != play_hash(a)
    f = tmp_path / "p.yml"
    f.write_text(BASE)
    d = load_play(f, overrides={"features.ema_21.params.length": 30}, registry=REGISTRY)
    assert play_hash(d) == play_hash(c)


def test_override_is_revalidated_with_original_lines() -> None:
    play = load(BASE)
    with pytest.raises(PlayError) as info:
        apply_overrides(play, {"features.ema_21.params.length": -5}, registry=REGISTRY)
    assert [str(i) for i in info.value.issues] == [
        f"plays/x.yml:{line_of(BASE, 'ema_21: {')} features.ema_21.params.length: "
        "must be >= 1, found -5"
    ]
    with pytest.raises(PlayError, match=r"override 'features\.ema_22\.params\.length': no "
                                        r"'ema_22' — did you mean 'ema_21'\?"):
        apply_overrides(play, {"features.ema_22.params.length": 5}, registry=REGISTRY)


# ---------------------------------------------------------------- error classes


def test_unknown_indicator_with_suggestion() -> None:
    text = BASE.replace("{indicator: ema,", "{indicator: emaa,")
    assert errors(text) == [
        "plays/x.yml:6 features.ema_21.indicator: unknown indicator 'emaa' — did you mean 'ema'?"
    ]


def test_structure_declared_as_feature() -> None:
    text = BASE.replace("  atr_14: {indicator: atr",
                        "  sw: {indicator: swing}\n  atr_14: {indicator: atr")
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'sw:')} features.sw.indicator: unknown indicator 'swing' "
        "('swing' is a structure, declare it under structures)"
    ]


def test_undeclared_feature_reference() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[close, ">", ema_2]')
    assert errors(text) == [
        "plays/x.yml:12 actions.entry_long[0][2]: undeclared feature 'ema_2' — did you mean "
        "'ema_21'?"
    ]


def test_bad_field_of_multi_output_feature() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[close, ">", bb.uper]\n    - [close, "<", vp]')
    text = text.replace("  bb:", "  vp: {indicator: volume_profile}\n  bb:")
    assert [e.split(": ", 1)[1] for e in errors(text)] == [
        "'bb' has no field 'uper' — did you mean 'upper'?",
        "'vp' has several outputs, expected one of 'vp.above_poc', 'vp.in_value_area', "
        "'vp.poc', 'vp.poc_volume', 'vp.vah', 'vp.val'",
    ]
    # bands have a primary output (TRADE's): a bare `bb` reads the middle band
    assert "bb.middle" in compiled_actions(load_play_text(
        BASE.replace('[close, ">", ema_21]', '[close, ">", bb]'), source="x.yml")).series


def test_unknown_top_level_and_nested_fields() -> None:
    text = BASE + "account:\n  max_leverge: 3\npositon_policy: {mode: long_only}\n"
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'max_leverge')} account.max_leverge: unknown field "
        "'max_leverge' — did you mean 'max_leverage'?",
        f"plays/x.yml:{line_of(text, 'positon_policy')} positon_policy: unknown field "
        "'positon_policy' — did you mean 'position_policy'?",
    ]


def test_wrong_types() -> None:
    text = BASE + "account: {max_leverage: high, starting_equity_usdt: [1]}\n"
    ln = line_of(text, "account:")
    assert errors(text) == [
        f"plays/x.yml:{ln} account.max_leverage: expected a number, found 'high'",
        f"plays/x.yml:{ln} account.starting_equity_usdt: expected a number, found a list of 1",
    ]


def test_missing_required_field() -> None:
    text = BASE.replace("symbol: BTCUSDT\n", "")
    assert errors(text) == ["plays/x.yml:1 symbol: required field is missing"]


def test_literal_choice_with_suggestion() -> None:
    text = BASE + "position_policy:\n  mode: long_onyl\n"
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'long_onyl')} position_policy.mode: unknown value "
        "'long_onyl' — did you mean 'long_only'?"
    ]


def test_impossible_values() -> None:
    text = BASE.replace("length: 21", "length: -5") + textwrap.dedent("""\
        risk: {stop_loss_pct: 2, take_profit_pct: -1}
        """)
    # pydantic rejects the TP first (structure), so the param error shows on a fixed Play
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'take_profit_pct')} risk.take_profit_pct: expected a value "
        "greater than 0, found -1"
    ]
    fixed = text.replace("take_profit_pct: -1", "take_profit_pct: 4")
    assert errors(fixed) == [
        "plays/x.yml:6 features.ema_21.params.length: must be >= 1, found -5"
    ]
    tp = BASE + "risk_model:\n  take_profit: {type: percent, value: -2}\n"
    assert errors(tp) == [
        f"plays/x.yml:{line_of(tp, 'take_profit:')} risk_model.take_profit.value: expected a "
        "value greater than 0, found -2"
    ]


def test_leverage_above_instrument_maximum() -> None:
    text = BASE + "account: {max_leverage: 150}\n"
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'account')} account.max_leverage: leverage 150 is above "
        "the instrument's maximum 100"
    ]
    text2 = BASE + "account: {max_leverage: 75}\n"
    assert load(text2).account.max_leverage == 75
    assert errors(text2, instrument_max_leverage=50) == [
        f"plays/x.yml:{line_of(text2, 'account')} account.max_leverage: leverage 75 is above "
        "the instrument's maximum 50"
    ]


def test_indicator_param_errors() -> None:
    text = BASE.replace("{length: 21}", "{lenght: 21}").replace("{length: 14}}\n  bb",
                                                               "{length: 2.5}}\n  bb")
    assert errors(text) == [
        "plays/x.yml:6 features.ema_21.params.lenght: unknown parameter 'lenght' for 'ema' — "
        "did you mean 'length'?",
        "plays/x.yml:7 features.rsi_14.params.length: expected a whole number, found 2.5",
    ]


def test_circular_setups() -> None:
    text = BASE.replace('- [close, ">", ema_21]', "- setup: a") + textwrap.dedent("""\
        setups:
          a: {all: [{setup: b}]}
          b: [[close, ">", ema_21], {setup: a}]
        """)
    msgs = errors(text)
    assert msgs == [
        f"plays/x.yml:{line_of(text, '  b: [')} setups.b[1].setup: circular setup reference: "
        "a -> b -> a",
    ]


def test_unknown_setup_suggestion() -> None:
    text = BASE.replace('- [close, ">", ema_21]', "- setup: uptrnd") + (
        "setups:\n  uptrend: [[close, \">\", ema_21]]\n")
    assert errors(text) == [
        "plays/x.yml:12 actions.entry_long[0].setup: unknown setup 'uptrnd' — did you mean "
        "'uptrend'?"
    ]


def test_timeframe_order_and_values() -> None:
    text = BASE.replace("{low_tf: 15m, med_tf: 1h, high_tf: 4h, exec: low_tf}",
                        "{low_tf: 1h, med_tf: 15m, high_tf: 4h, exec: low_tf}")
    assert errors(text) == [
        "plays/x.yml:4 timeframes.med_tf: med_tf 15m is shorter than low_tf 1h; expected "
        "high_tf >= med_tf >= low_tf"
    ]
    text = BASE.replace("med_tf: 1h,", "med_tf: 1hr,").replace("exec: low_tf", "exec: 15m")
    assert errors(text) == [
        "plays/x.yml:4 timeframes.exec: exec must name a role, found '15m' — did you mean "
        "'low_tf'?",
        "plays/x.yml:4 timeframes.med_tf: unknown interval '1hr' — did you mean '1h'?",
    ]


def test_feature_on_unknown_timeframe() -> None:
    text = BASE.replace("rsi, params: {length: 14}}", "rsi, params: {length: 14}, tf: med_fh}")
    assert errors(text) == [
        "plays/x.yml:7 features.rsi_14.tf: unknown timeframe 'med_fh' — did you mean 'med_tf'?"
    ]


def test_discrete_only_equality() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[ema_21, "==", 100]')
    assert errors(text) == [
        "plays/x.yml:12 actions.entry_long[0][0]: '==' compares discrete values, but 'ema_21' "
        "is continuous; use >, <, between or near_pct/near_abs"
    ]
    ok = BASE.replace('[close, ">", ema_21]', '["trend.direction", "in", [1, 0]]') + (
        "structures:\n  exec:\n    - {type: swing, key: swing}\n"
        "    - {type: trend, key: trend, uses: swing}\n")
    assert compiled_actions(load(ok)).series == {"trend.direction"}
    bad = ok.replace('"in", [1, 0]', '"==", 1.5')
    assert errors(bad) == [
        "plays/x.yml:12 actions.entry_long[0][2]: '==' compares discrete values; expected an "
        "integer, found 1.5 (use near_abs for prices)"
    ]


def test_unknown_operator_and_condition_key() -> None:
    text = BASE.replace('[close, ">", ema_21]', '[close, crosses_above, ema_21]\n'
                        '    - hold_for: {bars: 3, expr: [[close, ">", 1]]}')
    assert errors(text) == [
        "plays/x.yml:12 actions.entry_long[0][1]: unknown operator 'crosses_above' — did you "
        "mean 'cross_above'?",
        "plays/x.yml:13 actions.entry_long[1].hold_for: unknown condition 'hold_for' — did you "
        "mean 'holds_for'?",
    ]


def test_window_and_near_errors() -> None:
    text = BASE.replace('[close, ">", ema_21]', '{count_true: {bars: 5, min_true: 9, expr: '
                        '[[close, ">", 1]]}}\n    - [close, near_pct, ema_21]\n'
                        '    - {holds_for_duration: {duration: 5m, expr: [[close, ">", 1]]}}')
    assert errors(text) == [
        "plays/x.yml:12 actions.entry_long[0].count_true.min_true: expected a whole number in "
        "[1, 5], found 9",
        "plays/x.yml:13 actions.entry_long[1]: 'near_pct' needs a tolerance: [lhs, near_pct, "
        "rhs, tolerance]",
        "plays/x.yml:14 actions.entry_long[2].holds_for_duration.duration: duration '5m' is "
        "shorter than one exec bar",
    ]


def test_action_errors() -> None:
    text = BASE.replace("  entry_long:\n", "  entry_lng:\n")
    assert errors(text) == [
        "plays/x.yml:11 actions.entry_lng: unknown action 'entry_lng' — did you mean "
        "'entry_long'?"
    ]
    text = BASE + "  entry_short: {when: [[close, \"<\", ema_21]], percent: 50}\n"
    assert errors(text) == [
        "plays/x.yml:13 actions.entry_short.percent: only exits take 'percent', not "
        "'entry_short'"
    ]


def test_structure_errors() -> None:
    text = BASE + textwrap.dedent("""\
        structures:
          exec:
            - {type: trend, key: trend, uses: swing}
            - {type: swng, key: swing, params: {left: 5}}
          hi_tf:
            - {type: swing, key: s2}
        """)
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'type: trend')} structures.exec[0].uses: 'swing' is not a "
        "structure declared above",
        f"plays/x.yml:{line_of(text, 'type: swng')} structures.exec[1].type: unknown structure "
        "type 'swng' — did you mean 'swing'?",
        f"plays/x.yml:{line_of(text, 'hi_tf')} structures.hi_tf: unknown timeframe role "
        "'hi_tf' — did you mean 'high_tf'?",
    ]


def test_risk_model_feature_reference() -> None:
    text = BASE + textwrap.dedent("""\
        risk_model:
          stop_loss: {type: atr_multiple, value: 2, atr_feature_id: atr_41}
          take_profit: {type: rr_ratio, value: 2}
          sizing: {model: risk_based, value: 1, max_leverage: 200}
        """)
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'stop_loss')} risk_model.stop_loss.atr_feature_id: "
        "undeclared feature 'atr_41' — did you mean 'atr_14'?",
        f"plays/x.yml:{line_of(text, 'sizing')} risk_model.sizing.max_leverage: leverage 200 "
        "is above the instrument's maximum 100",
    ]


def test_sweep_errors() -> None:
    text = BASE + textwrap.dedent("""\
        sweep:
          features.ema_21.params.lenght: {range: [10, 40, 5]}
          features.rsi_14.params.length: {range: [30, 10, 5]}
          risk.stop_loss_pct: {values: [1, 2]}
        """)
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'lenght')} sweep.features.ema_21.params.lenght: 'ema' has "
        "no parameter 'lenght' — did you mean 'length'?",
        f"plays/x.yml:{line_of(text, '[30, 10, 5]')} sweep.features.rsi_14.params.length.range: "
        "range low 30 is above high 10",
    ]


def test_name_symbol_and_version() -> None:
    text = BASE.replace("name: test_play", "name: Test Play").replace(
        'version: "3.0.0"', 'version: "2.1"')
    assert errors(text) == ["plays/x.yml:2 name: expected a name of letters, digits and _, found "
                            "'Test Play'"]
    text = BASE.replace('version: "3.0.0"', 'version: "2.1"')
    assert errors(text) == ["plays/x.yml:1 version: unsupported version '2.1', expected '3.x.y'"]


def test_yaml_syntax_error_and_duplicate_key() -> None:
    assert errors(BASE + "risk: {stop_loss_pct: 2\n") == [
        "plays/x.yml:14: YAML syntax error: expected ',' or '}', but got '<stream end>'"
    ]
    dup = BASE.replace("  rsi_14:", "  ema_21: {indicator: ema}\n  rsi_14:")
    assert errors(dup) == ["plays/x.yml:7 features.ema_21: duplicate key"]


def test_collects_many_issues_in_one_file() -> None:
    text = BASE.replace("{indicator: ema,", "{indicator: emaa,").replace(
        '[close, ">", ema_21]', '[close, ">", rsi_41]') + "account: {max_leverage: 500}\n"
    msgs = errors(text)
    assert len(msgs) == 3
    assert msgs[0].startswith("plays/x.yml:6 features.ema_21.indicator: unknown indicator 'emaa'")
    assert msgs[1].startswith("plays/x.yml:12 actions.entry_long[0][2]: undeclared feature")
    assert msgs[2].endswith("leverage 500 is above the instrument's maximum 100")


def test_missing_file() -> None:
    with pytest.raises(PlayError, match=r"nope\.yml: file not found"):
        load_play("nope.yml", registry=REGISTRY)


# ---------------------------------------------------------------- CLI


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    from trade.cli import cli

    good = tmp_path / "good.yml"
    good.write_text(BASE)
    bad = tmp_path / "bad.yml"
    bad.write_text(BASE.replace("{indicator: ema,", "{indicator: emaa,"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["play", "validate", str(good), str(FIXTURES / "full.yml")])
    assert ok.exit_code == 0, ok.output
    assert f"{good}: ok (test_play, BTCUSDT, exec 15m)" in ok.output
    res = runner.invoke(cli, ["play", "validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert (f"{bad}:6 features.ema_21.indicator: unknown indicator 'emaa' — did you mean "
            "'ema'?") in res.output
    assert "1 of 2 Play(s) failed validation" in res.output
    assert "Traceback" not in res.output


def test_feature_source_spelling() -> None:
    text = BASE.replace("  atr_14:", "  vol_sma: {indicator: sma, source: volume}\n"
                        "  atr_src: {indicator: atr, source: high}\n  atr_14:")
    assert errors(text) == [
        f"plays/x.yml:{line_of(text, 'atr_src')} features.atr_src.source: 'atr' takes no source"
    ]
    ok = BASE.replace("  atr_14:", "  vol_sma: {indicator: sma, source: volume}\n  atr_14:")
    assert load(ok).features["vol_sma"].resolved_params() == {"source": "volume"}
