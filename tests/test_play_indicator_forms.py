"""`indicator_forms: trade`: a Play asks once for TRADE's (pandas-ta's) form of every indicator
where it differs from ours, instead of one parameter per feature."""

from __future__ import annotations

from pathlib import Path

import pytest

from trade.indicators import REGISTRY
from trade.indicators.aliases import TRADE_FORMS
from trade.play import apply_overrides, load_play_text
from trade.play.errors import PlayError

ROOT = Path(__file__).resolve().parents[1]

PLAY = """\
version: "3.0.0"
name: forms
symbol: BTCUSDT
timeframes: {{low_tf: 15m, med_tf: 1h, high_tf: 4h, exec: low_tf}}
{forms}
features:
  rsi_14: {{indicator: rsi, params: {{length: 14}}}}
  kc_20: {{indicator: kc, params: {{length: 20, multiplier: 2.0}}}}
  st: {{indicator: supertrend, params: {{length: 10, multiplier: 3, style: tradingview}}}}
  ema_9: {{indicator: ema, params: {{length: 9}}}}
  atr_14: {{indicator: atr}}
actions:
  entry_long: {{all: [["rsi_14", "<", 30]]}}
risk: {{stop_loss_pct: 2.0}}
"""


def _params(forms: str) -> dict[str, dict[str, object]]:
    play = load_play_text(PLAY.format(forms=forms))
    return {fid: dict(f.params) for fid, f in play.features.items()}


def test_trade_forms_fill_what_the_play_leaves_out() -> None:
    got = _params("indicator_forms: trade")
    assert got["rsi_14"]["flat"] == "mid"
    assert got["kc_20"]["style"] == "pandas_ta"  # `kc` is TRADE's name for keltner
    assert got["atr_14"]["first_range"] is True  # a feature without params gets them too
    assert got["st"]["style"] == "tradingview"  # what the Play sets itself stays
    assert "style" not in got["ema_9"] and "flat" not in got["ema_9"]  # no TRADE form


@pytest.mark.parametrize("forms", ["", "indicator_forms: standard"])
def test_standard_forms_are_the_default(forms: str) -> None:
    got = _params(forms)
    assert "flat" not in got["rsi_14"] and "style" not in got["kc_20"]
    assert "first_range" not in got["atr_14"]


def test_an_unknown_form_is_refused_with_its_line() -> None:
    with pytest.raises(PlayError) as err:
        load_play_text(PLAY.format(forms="indicator_forms: pandas"), source="p.yml")
    assert "p.yml:5" in str(err.value) and "indicator_forms" in str(err.value)


def test_a_sweep_override_keeps_the_trade_forms() -> None:
    """The sweep's fast override path rebuilds one feature: its TRADE form stays."""
    play = load_play_text(PLAY.format(forms="indicator_forms: trade"))
    variant = apply_overrides(play, {"features.rsi_14.params.length": 21})
    assert variant.features["rsi_14"].params["length"] == 21
    assert variant.features["rsi_14"].params["flat"] == "mid"
    variant = apply_overrides(play, {"features.kc_20.params.length": 30})
    assert variant.features["kc_20"].params["style"] == "pandas_ta"


def test_every_trade_form_is_a_valid_parameter_value_and_documented() -> None:
    doc = (ROOT / "trade" / "play" / "reference_parts" / "90_indicators.md").read_text()
    for ind, forms in TRADE_FORMS.items():
        specs = {p.name: p for p in REGISTRY[ind].params}
        for name, value in forms.items():
            spec = specs[name]
            if spec.choices:
                assert value in spec.choices, (ind, name)
            row = next((line for line in doc.splitlines() if line.startswith("|")
                        and f"`{ind}`" in line.split("|")[1]), None)
            assert row is not None, f"{ind} has no row in the TRADE differences table"
            assert name in row.split("|")[4], (ind, name)
