"""The simulator's bracket grace (trade.exchange_sim.server `_feed`).

After a fill at a bar's open the simulator waits (up to `bracket_grace_s`) for the client's
trading-stop before the rest of the bar, so fill-relative TP/SL act on the entry's own bar
as on Bybit, where they arrive milliseconds after the fill. Only trading-stop passes during
the grace: every other request waits until the bar is whole.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer, make_http

SYM = "BTCUSDT"


def _step_in_thread(sim: ExchangeSimServer) -> tuple[threading.Thread, dict[str, float]]:
    out: dict[str, float] = {"start": time.monotonic()}

    def run() -> None:
        sim.step()
        out["done"] = time.monotonic()

    thread = threading.Thread(target=run, name="grace-step")
    thread.start()
    return thread, out


def _wait_for_grace(sim: ExchangeSimServer) -> None:
    deadline = time.monotonic() + 10
    while not sim.grace_active:  # the fill at the open has happened; the grace is running
        assert time.monotonic() < deadline, "no grace began"
        time.sleep(0.005)


def _buy(http: Any) -> None:
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market", qty="0.01")


def test_reads_wait_for_the_whole_bar_and_the_grace_is_bounded() -> None:
    with make_server(synthetic_bars(60), bracket_grace_s=1.0) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
        _buy(http)
        thread, times = _step_in_thread(sim)
        _wait_for_grace(sim)
        during = http.get_positions(category="linear", symbol=SYM)["result"]["list"]
        read_done = time.monotonic()
        thread.join(10)
        after = http.get_positions(category="linear", symbol=SYM)["result"]["list"]
        # no trading-stop came: the bar waited out the whole grace, then went on
        assert not thread.is_alive() and sim.graces == {"granted": 1, "used": 0}
        assert times["done"] - times["start"] >= 0.9
        # the read made during the grace was answered only once the bar was whole
        assert read_done - times["start"] >= 0.9
        assert during[0]["markPrice"] == after[0]["markPrice"]
        assert during[0]["size"] == after[0]["size"] == "0.01"


def test_trading_stop_ends_the_grace_and_acts_on_the_entry_bar() -> None:
    with make_server(synthetic_bars(60), bracket_grace_s=30.0) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
        ts, o, _, lo, _, _ = sim.market.bar(sim.fed)
        assert lo < o - 1.0, "the fixture bar needs room below its open"
        level = round((o + lo) / 2, 1)  # between the open and the low: touched on this bar
        _buy(http)
        thread, _ = _step_in_thread(sim)
        _wait_for_grace(sim)
        # let through during the grace (the state lock is held for the bar)
        http.set_trading_stop(category="linear", symbol=SYM, stopLoss=str(level),
                              tpslMode="Full", positionIdx=0)
        thread.join(10)
        # it ended the grace (30 s) at once: the step is done, and the grace counted as used
        assert not thread.is_alive()
        assert sim.graces == {"granted": 1, "used": 1}
        side, execs = sim.inspect(lambda v: (v.engine.position().side,
                                             [dict(r) for r in v.executions]))
        assert side == 0  # stopped out on the bar its entry filled on
        stop = execs[-1]
        assert stop["stopOrderType"] == "StopLoss" and stop["side"] == "Sell"
        assert int(stop["execTime"]) // 60_000 == ts // 60_000


def test_a_client_that_never_sends_brackets_stops_getting_graces() -> None:
    """After `bracket_grace_misses` graces in a row ran out unused, fills at the open get no
    grace (a Play without brackets does not wait on every entry); a trading-stop from the
    client brings the grace back."""
    with make_server(synthetic_bars(60), bracket_grace_s=0.2, bracket_grace_misses=2) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)

        def step(side: str) -> int:
            """Trade at the next open; returns the graces that bar granted."""
            http.place_order(category="linear", symbol=SYM, side=side, orderType="Market",
                             qty="0.01")
            before = sim.graces["granted"]
            sim.step()
            return sim.graces["granted"] - before

        granted = []
        for _ in range(3):
            granted.append(step("Buy"))  # opens a long: a grace unless given up
            assert step("Sell") == 0  # closes it: flat, no grace
        assert granted == [1, 1, 0]  # two ran out unused, then none
        assert sim.grace_misses == 2 and sim.graces["used"] == 0
        assert step("Buy") == 0  # still none; the long stays open
        http.set_trading_stop(category="linear", symbol=SYM, stopLoss="1000", tpslMode="Full",
                              positionIdx=0)
        assert sim.grace_misses == 0
        assert step("Sell") == 0
        assert step("Buy") == 1  # the grace is back


@pytest.mark.parametrize("misses", [0, -1, 1.5, True])
def test_bad_grace_misses_are_refused(misses: Any) -> None:
    with pytest.raises(ValueError, match="bracket_grace_misses"):
        make_server(synthetic_bars(10), bracket_grace_misses=misses)


@pytest.mark.parametrize("grace", [-1.0, float("nan"), float("inf")])
def test_a_bad_grace_is_refused(grace: float) -> None:
    with pytest.raises(ValueError, match="bracket_grace_s"):
        make_server(synthetic_bars(10), bracket_grace_s=grace)
