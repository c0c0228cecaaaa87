"""Intrabar fills (trade/exchange_sim/intrabar.py): at real time a market order fills when
it is placed, at the replay's price inside the forming minute through the book's spread
and depth; IOC/FOK resolve at once; triggers fire when the path crosses them.

The integration tests run the intrabar mode on a SimulatedClock, so the moment inside the
minute (and so the expected price) is exact."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import RawClient, make_server, synthetic_bars
from trade.core import SimulatedClock
from trade.core.instrument import Instrument
from trade.exchange_sim import ExchangeSimServer, Venue
from trade.exchange_sim.intrabar import PricePath, walk_book
from trade.sim import SimConfig

SYM = "BTCUSDT"
TICK = 0.1

prices = st.floats(100.0, 1000.0, allow_nan=False).map(lambda x: round(x, 1))


@st.composite
def bars(draw: st.DrawFn) -> tuple[float, float, float, float]:
    o, c = draw(prices), draw(prices)
    h = round(max(o, c) + draw(st.integers(0, 50)) * TICK, 1)
    lo = round(min(o, c) - draw(st.integers(0, 50)) * TICK, 1)
    return o, h, lo, c


@given(bars(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_path_pieces_rebuild_the_bar(bar: tuple[float, float, float, float],
                                     cuts: list[float]) -> None:
    o, h, lo, c = bar
    path = PricePath.of(o, h, lo, c, TICK)
    assert path.segment(0.0, 1.0) == (o, h, lo, c)
    # the bar's direction decides the first extreme: up bars dip first, down bars rally
    assert path.corners == ((o, lo, h, c) if c >= o else (o, h, lo, c))
    points = sorted({0.0, 1.0, *cuts})
    pieces = [path.segment(a, b) for a, b in itertools.pairwise(points) if b > a]
    assert pieces[0][0] == o and pieces[-1][3] == c
    assert max(p[1] for p in pieces) == h and min(p[2] for p in pieces) == lo
    for (_, _, _, c1), (o2, _, _, _) in itertools.pairwise(pieces):
        assert c1 == o2  # the path is continuous
    for po, ph, pl, pc in pieces:
        assert pl <= min(po, pc) <= max(po, pc) <= ph and lo <= pl and ph <= h
        for x in (po, pc):
            assert abs(x / TICK - round(x / TICK)) < 1e-6  # on the tick grid


@given(prices, st.integers(1, 3000), st.floats(0.0, 50.0), st.booleans())
@settings(max_examples=300, deadline=None)
def test_book_walk_pays_the_spread_and_the_depth(price: float, lots: int, volume: float,
                                                 buy: bool) -> None:
    qty = lots * 0.001
    got = walk_book(price, qty, buy, volume, tick=TICK, qty_step=0.001, min_qty=0.001)
    bid = math.floor(price / TICK + 1e-9) * TICK
    assert abs(got / TICK - round(got / TICK)) < 1e-6
    if buy:
        assert got >= bid + TICK - 1e-9
    else:
        assert got <= bid + 1e-9
    more = walk_book(price, qty * 2, buy, volume, tick=TICK, qty_step=0.001, min_qty=0.001)
    assert (more >= got) if buy else (more <= got)  # more size, a worse price


# --- the server ----------------------------------------------------------------------------
WARM = 5


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(synthetic_bars(120), warm=WARM, fills="intrabar") as server:
        yield server


def _at(sim: ExchangeSimServer, minute: int, fraction: float) -> int:
    """Move the market clock `fraction` into the minute `minute` (0 = the first forming)."""
    clock = sim.clock
    assert isinstance(clock, SimulatedClock)
    t = int(sim.market.ts[WARM + minute]) + round(fraction * 60_000)
    clock.set(t)
    return t


def _expected(sim: ExchangeSimServer, minute: int, fraction: float, qty: float,
              buy: bool) -> float:
    i = WARM + minute
    o, h, lo, c = (float(x[i]) for x in (sim.market.open, sim.market.high, sim.market.low,
                                          sim.market.close))
    path = PricePath.of(o, h, lo, c, TICK)
    return walk_book(path.price(fraction), qty, buy, float(sim.market.volume[i - 1]),
                     tick=TICK, qty_step=0.001, min_qty=0.001)


def _order(raw: RawClient, oid: str) -> dict[str, object]:
    rows = raw.get("/v5/order/realtime", category="linear", symbol=SYM, orderId=oid)
    row: dict[str, object] = rows["result"]["list"][0]
    return row


def test_a_market_order_fills_when_placed_at_the_paths_price(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    now = _at(sim, 0, 0.5)
    fed = sim.fed
    res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                   orderType="Market", qty="0.05")
    assert res["retCode"] == 0, res
    oid = res["result"]["orderId"]
    row = _order(raw, oid)
    assert row["orderStatus"] == "Filled" and sim.fed == fed  # no bar closed for it
    ex = raw.get("/v5/execution/list", category="linear", symbol=SYM)["result"]["list"]
    assert float(ex[0]["execPrice"]) == pytest.approx(_expected(sim, 0, 0.5, 0.05, True))
    assert now <= int(ex[0]["execTime"]) <= now + 60_000
    # the sell back pays the spread the other way, at the same moment
    res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Sell",
                   orderType="Market", qty="0.05", reduceOnly=True)
    ex = raw.get("/v5/execution/list", category="linear", symbol=SYM)["result"]["list"]
    assert float(ex[0]["execPrice"]) == pytest.approx(_expected(sim, 0, 0.5, 0.05, False))
    assert float(ex[0]["execPrice"]) < float(ex[1]["execPrice"])


def test_ioc_and_fok_resolve_at_submit(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    _at(sim, 1, 0.25)
    ask = _expected(sim, 1, 0.25, 0.01, True)
    far = round(ask - 500 * TICK, 1)
    for tif in ("IOC", "FOK"):
        res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                       orderType="Limit", qty="0.01", price=f"{far:.1f}", timeInForce=tif)
        assert _order(raw, res["result"]["orderId"])["orderStatus"] == "Cancelled"
    res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                   orderType="Limit", qty="0.01", price=f"{ask + 10 * TICK:.1f}",
                   timeInForce="IOC")
    row = _order(raw, res["result"]["orderId"])
    assert row["orderStatus"] == "Filled" and float(str(row["avgPrice"])) == pytest.approx(ask)


def test_triggers_fire_when_the_path_crosses_them(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    minute = 2
    i = WARM + minute
    o, h, lo, c = (float(x[i]) for x in (sim.market.open, sim.market.high, sim.market.low,
                                          sim.market.close))
    path = PricePath.of(o, h, lo, c, TICK)
    # a buy stop one tick below the bar's high, placed at the minute's start
    trigger = round(h - TICK, 1)
    at_high = path.at[2] if c >= o else path.at[1]
    _at(sim, minute, 0.0)
    res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                   orderType="Market", qty="0.01", triggerPrice=f"{trigger:.1f}",
                   triggerDirection=1)
    assert res["retCode"] == 0, res
    oid = res["result"]["orderId"]
    before = max(at_high - 0.05, 0.0)
    if path.price(before) < trigger:
        _at(sim, minute, before)
        sim.sync()
        assert _order(raw, oid)["orderStatus"] == "Untriggered"
    _at(sim, minute, min(at_high + 0.01, 0.99))
    sim.sync()
    fed = sim.fed
    row = _order(raw, oid)
    assert row["orderStatus"] == "Filled" and sim.fed == fed == WARM + minute
    assert float(str(row["avgPrice"])) == pytest.approx(trigger)


def test_a_trading_stop_after_the_fill_acts_on_the_rest_of_the_minute(
        sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    minute = 3
    i = WARM + minute
    o, h, lo, c = (float(x[i]) for x in (sim.market.open, sim.market.high, sim.market.low,
                                          sim.market.close))
    path = PricePath.of(o, h, lo, c, TICK)
    _at(sim, minute, 0.0)
    raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
             orderType="Market", qty="0.01")
    # a stop loss above the bar's low: the path reaches the low later in this minute
    stop = round(lo + TICK, 1)
    res = raw.post("/v5/position/trading-stop", category="linear", symbol=SYM,
                   stopLoss=f"{stop:.1f}", positionIdx=0)
    assert res["retCode"] == 0, res
    at_low = path.at[1] if c >= o else path.at[2]
    if stop >= path.price(0.0):
        pytest.skip("the bar opens at its low")
    _at(sim, minute, min(at_low + 0.01, 0.99))
    sim.sync()
    pos = raw.get("/v5/position/list", category="linear", symbol=SYM)["result"]["list"][0]
    assert float(pos["size"]) == 0.0 and sim.fed == WARM + minute
    ex = raw.get("/v5/execution/list", category="linear", symbol=SYM)["result"]["list"]
    assert float(ex[0]["execPrice"]) == pytest.approx(stop)


def test_the_stepped_replay_keeps_bar_fills() -> None:
    with make_server(synthetic_bars(60)) as sim:
        assert not sim.intrabar  # a SimulatedClock steps whole bars: the backtest's rules
        raw = RawClient(sim.base_url)
        res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                       orderType="Market", qty="0.01")
        assert _order(raw, res["result"]["orderId"])["orderStatus"] == "New"
        sim.step()
        row = _order(raw, res["result"]["orderId"])
        assert row["orderStatus"] == "Filled"
        assert float(str(row["avgPrice"])) == pytest.approx(float(sim.market.open[sim.fed - 1]))


# --- the sub-bars change nothing the 1m bar decides ------------------------------------
def _venue(intrabar: bool) -> Venue:
    venue = Venue(SimConfig(symbol=SYM, initial_balance=10_000.0, leverage=2.0,
                            funding_rate=1e-4), Instrument())
    venue.intrabar = intrabar
    return venue


@given(st.integers(0, 2**32 - 1), st.lists(st.lists(st.integers(1, 59_999), max_size=4),
                                            min_size=30, max_size=30), st.booleans())
@settings(max_examples=40, deadline=None)
def test_walking_the_path_keeps_funding_and_marks_of_the_bar(
        seed: int, cuts: list[list[int]], short: bool) -> None:
    """A position held through an 8h funding mark: feeding each minute's path in pieces
    (at any moments) settles the same funding, at the same time, and marks the same
    equity as feeding whole bars."""
    t0 = (1_700_000_000_000 // (8 * 3_600_000) + 1) * 8 * 3_600_000 - 15 * 60_000
    table = synthetic_bars(31, t0=t0, seed=seed % 1000)
    rows = [tuple(table.column(c)[i].as_py() for c in ("ts", "open", "high", "low", "close",
                                                        "volume")) for i in range(31)]
    whole, walked = _venue(False), _venue(True)
    side = "Sell" if short else "Buy"
    for venue in (whole, walked):
        venue.on_bar(rows[0], rows[0][4], math.nan, t0 + 60_000)
        venue.create({"category": "linear", "symbol": SYM, "side": side,
                      "orderType": "Market", "qty": "0.1"}, t0 + 60_000)  # fills at bar 1
    for k, bar in enumerate(rows[1:]):
        close_ms = int(bar[0]) + 60_000
        whole.on_bar(bar, bar[4], math.nan, close_ms)
        for cut in sorted(set(cuts[k])):
            walked.path_to(bar, cut, bar[4], math.nan, int(bar[0]) + cut, force=True)
        walked.on_bar(bar, bar[4], math.nan, close_ms)
        a, b = whole.engine.balance(), walked.engine.balance()
        assert b.wallet_balance == pytest.approx(a.wallet_balance, rel=1e-12)
        assert b.equity == pytest.approx(a.equity, rel=1e-12)
    funding = [[(r["execTime"], r["execFee"]) for r in v.executions
                if r["execType"] == "Funding"] for v in (whole, walked)]
    # one settlement, the same amount, at the 8h mark (the stepped replay reports a fill
    # at its 1m bar's open time, the intrabar one at the moment it happened)
    assert len(funding[0]) == 1 and len(funding[1]) == 1
    assert funding[0][0][1] == funding[1][0][1]
    assert int(funding[1][0][0]) == int(funding[0][0][0]) + 60_000 == t0 + 15 * 60_000


def test_real_time_fills_inside_the_forming_minute() -> None:
    """At --speed 1 the default is intrabar: the order is Filled in the create's answer
    window, at a price the forming minute trades (plus the spread), at the moment placed."""
    bars = synthetic_bars(600)
    start = int(bars.column("ts")[0].as_py()) + 120 * 60_000
    with ExchangeSimServer(bars, api_keys={"k": "s"}, speed=1.0, start_ms=start) as sim:
        assert sim.intrabar
        raw = RawClient(sim.base_url, key="k", secret="s")
        before = sim.market_now_ms()
        res = raw.post("/v5/order/create", category="linear", symbol=SYM, side="Buy",
                       orderType="Market", qty="0.01")
        after = sim.market_now_ms()
        assert res["retCode"] == 0, res
        rows = raw.get("/v5/order/realtime", category="linear", symbol=SYM,
                       orderId=res["result"]["orderId"])["result"]["list"]
        assert rows[0]["orderStatus"] == "Filled"
        ex = raw.get("/v5/execution/list", category="linear", symbol=SYM)["result"]["list"][0]
        assert before <= int(ex["execTime"]) <= after + 1
        i = sim.market.closed_count(int(ex["execTime"]) - 1)  # the minute it filled in
        lo, hi = float(sim.market.low[i]), float(sim.market.high[i])
        assert lo <= float(ex["execPrice"]) <= hi + 10 * TICK


def test_rest_ticker_and_book_show_the_paths_price(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    _at(sim, 4, 0.4)
    sim.sync()
    i = WARM + 4
    o, h, lo, c = (float(x[i]) for x in (sim.market.open, sim.market.high, sim.market.low,
                                          sim.market.close))
    now = PricePath.of(o, h, lo, c, TICK).price(0.4)
    ticker = raw.get("/v5/market/tickers", category="linear", symbol=SYM)["result"]["list"][0]
    assert float(ticker["lastPrice"]) == pytest.approx(now)
    book = raw.get("/v5/market/orderbook", category="linear", symbol=SYM)["result"]
    bid = math.floor(now / TICK + 1e-9) * TICK
    assert float(book["b"][0][0]) == pytest.approx(bid)
    assert float(book["a"][0][0]) == pytest.approx(bid + TICK)
    assert float(ticker["ask1Price"]) == float(book["a"][0][0])
    # what a market buy of the touch's size pays now
    assert _expected(sim, 4, 0.4, 0.001, True) == pytest.approx(bid + TICK)
