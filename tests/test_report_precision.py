"""Prices and quantities are shown at the instrument's precision (tick size / qty step):
the helpers in trade.core.instrument, the run report and the live dashboard."""

from __future__ import annotations

import dataclasses
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_demo import make_demo_run

from trade.core.instrument import Instrument, price_text, qty_text, step_decimals
from trade.report.dashboard import DashboardServer, display_row
from trade.report.run import build_run_payload, load_run

STEPS = [0.5, 0.1, 0.01, 0.001, 0.0001, 1.0, 5.0, 0.00001]


@given(st.floats(-1e7, 1e7, allow_nan=False), st.sampled_from(STEPS), st.booleans())
@settings(max_examples=400, deadline=None)
def test_text_has_the_steps_decimals_and_the_value(value: float, step: float,
                                                   grouped: bool) -> None:
    text = price_text(value, step, grouped=grouped)
    plain = text.replace(",", "")
    assert len(plain.partition(".")[2]) == step_decimals(step)
    assert "e" not in plain
    if Decimal(plain) == 0:
        assert not plain.startswith("-")  # never "-0.00"
    # the shown number is the value rounded to the step's decimals
    want = Decimal(repr(value)).quantize(Decimal(1).scaleb(-step_decimals(step)),
                                         rounding=ROUND_HALF_EVEN)
    assert abs(Decimal(plain) - want) <= Decimal(1).scaleb(-step_decimals(step))
    assert qty_text(value, step) == plain
    if grouped and abs(value) >= 1000:
        assert "," in text


def test_examples_and_missing_values() -> None:
    eth = Instrument(symbol="ETHUSDT", base_coin="ETH", tick_size=0.01, qty_step=0.01)
    assert eth.price_text(2255.451) == "2255.45"
    assert eth.price_text(2255.451, grouped=True) == "2,255.45"
    assert eth.qty_text(0.30000000000000004) == "0.30"
    assert eth.round_price(2255.4500000000003) == 2255.45
    assert eth.price_text(-0.001) == "0.00"
    assert eth.price_text(math.nan, missing="–") == "–" and eth.qty_text(None) == ""
    assert Instrument().price_text(30014.899999999998) == "30014.9"


def test_the_run_report_uses_the_runs_instrument(tmp_path: Path) -> None:
    run = make_demo_run(tmp_path / "run", tmp_path / "data", days=2, seed=5)
    folder = load_run(run)
    plain = build_run_payload(folder, None)
    assert plain["meta"]["qty_decimals"] is None  # no instrument in the manifest
    manifest = {**folder.manifest,
                "instrument": {"symbol": "BTCUSDT", "tick_size": 0.5, "qty_step": 0.01,
                               "min_qty": 0.01, "min_notional": 5.0, "max_leverage": 50.0,
                               "maintenance_margin_rate": 0.005}}
    payload = build_run_payload(dataclasses.replace(folder, manifest=manifest), None)
    assert payload["meta"]["decimals"] == 1 and payload["meta"]["qty_decimals"] == 2


def test_the_dashboard_shows_the_instruments_precision() -> None:
    inst = Instrument(symbol="ETHUSDT", base_coin="ETH", tick_size=0.01, qty_step=0.001)
    row = display_row({"symbol": "ETHUSDT", "side": "Buy", "size": 0.30000000000000004,
                       "entry_price": 2255.4510000001, "unrealized_pnl": 1.23456,
                       "liq_price": 0.0}, inst)
    assert row == {"symbol": "ETHUSDT", "side": "Buy", "size": "0.300",
                   "entry_price": "2255.45", "unrealized_pnl": 1.23456, "liq_price": 0.0}
    assert display_row({"size": 1.5}, None) == {"size": 1.5}
    board = DashboardServer(instrument=inst)
    board.publish({"position": {"size": 0.0, "entry_price": 0.0},
                   "fill": {"price": 2255.4500000000003, "qty": 0.1}, "ts": 1})
    state = board.snapshot()
    assert state["position"] == {"size": 0.0, "entry_price": 0.0}  # flat stays flat
    assert state["fills"] == [{"price": "2255.45", "qty": "0.100"}]


@pytest.mark.parametrize("step", STEPS)
def test_grouping_only_adds_separators(step: float) -> None:
    assert price_text(1234567.891, step, grouped=True).replace(",", "") == \
        price_text(1234567.891, step)
