"""The scripted order sequence of tests/test_adapter_conformance.py and its drivers.

A driver wraps one ExchangeAdapter with the two things the protocol leaves to its owner:
how time moves (`step`: one 1m bar closes) and when an asynchronous call has landed
(`settle`). `run_script` plays the same sequence through any driver and returns a `Trace`:
what the adapter said, normalised so that adapters which reach the same exchange state by
different transport (synchronous kernel calls vs REST + WebSocket pushes) compare equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tests.conftest_exsim import KEY, SECRET, make_server
from trade.core import (
    AdapterEvent,
    ExchangeAdapter,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    SimulatedClock,
    TimeInForce,
)
from trade.live import BybitRest, Credentials, LiveAdapter, LiveSession, make_session
from trade.live.journal import Journal
from trade.live.paper import JournaledPaperAdapter
from trade.notify import NotifyingAdapter
from trade.sim import BacktestAdapter, Bar, PaperAdapter, SimConfig

SYM = "BTCUSDT"
WARM = 5  # bars closed before the script starts (the simulator's `warm`)
CONFIG = SimConfig(symbol=SYM, initial_balance=10_000.0)
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5}


@dataclass
class Trace:
    """What one adapter did with the script, normalised (see `record`)."""

    returned: dict[str, str] = field(default_factory=dict)  # link -> status submit returned
    statuses: dict[str, list[str]] = field(default_factory=dict)  # link -> status sequence
    reasons: dict[str, str] = field(default_factory=dict)  # link -> reject reason
    fills: list[tuple[str, str, float, float, float, str, bool]] = field(default_factory=list)
    positions: list[tuple[int, float]] = field(default_factory=lambda: [(0, 0.0)])
    # step -> the open orders after it: (link, qty, limit price)
    open_after: dict[str, list[tuple[str, float, float | None]]] = field(default_factory=dict)
    stop_after: float = 0.0  # the position's stop loss once set_trading_stop landed
    final_position: tuple[int, float, float] = (0, 0.0, 0.0)
    final_wallet: float = 0.0
    final_equity: float = 0.0

    def record(self, events: list[AdapterEvent], link_of: Callable[[Order], str]) -> None:
        for ev in events:
            if isinstance(ev, OrderUpdate):
                link = link_of(ev.order)
                seq = self.statuses.setdefault(link, [])
                name = ev.order.status.name
                # Created = "sent, not acknowledged yet": only an asynchronous transport
                # (REST) has that state; repeats of one status carry no new information
                if ev.order.status is not OrderStatus.CREATED and (not seq or seq[-1] != name):
                    seq.append(name)
                if ev.order.reject_reason:
                    self.reasons[link] = ev.order.reject_reason
            elif isinstance(ev, FillEvent):
                f = ev.fill
                self.fills.append((f.order_link_id or f.order_id, f.side.name, f.qty, f.price,
                                   f.fee, f.exec_type.name, f.is_maker))
            elif isinstance(ev, PositionUpdate):
                p = ev.position
                # the position's path: distinct (side, size) states; a push that repeats the
                # current state (a REST snapshot, a mark update) is not a change
                if self.positions[-1] != (p.side, p.size):
                    self.positions.append((p.side, p.size))


class RecordingSink:
    """A NotifyingAdapter's sink that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[AdapterEvent] = []

    def on_events(self, events: Iterable[AdapterEvent]) -> None:
        self.events.extend(events)


class Driver:
    """An adapter, how its bars close, and how its asynchronous calls land."""

    name = "?"
    adapter: ExchangeAdapter

    def __init__(self, bars: pa.Table) -> None:
        self.cols: dict[str, list[Any]] = {c: bars.column(c).to_pylist()
                                            for c in bars.column_names}
        self.fed = 0  # bars closed so far

    def last_close(self) -> float:
        return float(self.cols["close"][self.fed - 1])

    def bar(self, i: int) -> Bar:
        c = self.cols
        return Bar(c["ts"][i], c["open"][i], c["high"][i], c["low"][i], c["close"][i],
                   c["volume"][i])

    def step(self) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        """Return once every call made so far has landed (synchronous adapters: at once)."""

    def link_of(self, order: Order) -> str:
        return order.request.order_link_id or order.order_id

    def close(self) -> None:
        """Release what the driver started."""


class SimDriver(Driver):
    """BacktestAdapter and its subclasses: the compiled kernel, stepped bar by bar."""

    def __init__(self, bars: pa.Table, adapter: BacktestAdapter, name: str,
                 wrapped: ExchangeAdapter | None = None) -> None:
        super().__init__(bars)
        self.sim = adapter
        self.adapter = adapter if wrapped is None else wrapped
        self.name = name
        for _ in range(WARM):
            self.step()
        self.adapter.drain_events()

    def step(self) -> None:
        self.sim.step(self.bar(self.fed))
        self.fed += 1


class LiveDriver(Driver):
    """LiveAdapter over a LiveSession against the exchange simulator on 127.0.0.1."""

    name = "live"

    def __init__(self, bars: pa.Table) -> None:
        super().__init__(bars)
        # whole bars (no bracket grace): the script sends no fill-relative brackets
        self.server = make_server(bars, warm=WARM, sim_config=CONFIG, bracket_grace_s=0)
        self.server.start()
        creds = Credentials(KEY, SECRET)
        rest = BybitRest(make_session("demo", endpoint=self.server.base_url,
                                      credentials=creds, timeout_s=2.0))
        self.session = LiveSession(rest, SYM, credentials=creds, ws_base=self.server.ws_base,
                                   stream_options=FAST)
        self.session.open()
        self.adapter = self.live = LiveAdapter(self.session)
        self.fed = WARM
        self.session.last_price = self.last_close()  # the risk checks' reference price
        self.settle()
        self.live.drain_events()

    def step(self) -> None:
        self.server.step()
        self.fed += 1
        self.session.last_price = self.last_close()
        self.session.barrier(force=True)  # every push of the bar applied and reconciled

    def settle(self) -> None:
        self.session.barrier()

    def close(self) -> None:
        self.session.close()
        self.server.stop()


def make_driver(name: str, bars: pa.Table) -> Driver:
    if name == "backtest":
        return SimDriver(bars, BacktestAdapter(CONFIG), name)
    if name == "paper":
        return SimDriver(bars, PaperAdapter(CONFIG), name)
    if name == "paper_journaled":
        return SimDriver(bars, JournaledPaperAdapter(CONFIG, Journal(None, SimulatedClock())),
                         name)
    if name == "notifying":
        inner = BacktestAdapter(CONFIG)
        sink = RecordingSink()
        return SimDriver(bars, inner, name, NotifyingAdapter(inner, sink))
    if name == "live":
        return LiveDriver(bars)
    raise ValueError(name)


def run_script(d: Driver) -> Trace:
    """The scripted sequence (one step = one closed 1m bar):

    1. market buy 0.02 (entry)                       -> filled at the next bar's open
    2. limit buy 0.01 at 1% below the market         -> rests
    3. amend it to 0.015 at 10 USDT higher           -> still resting
    4. cancel it                                     -> Cancelled
    5. reduce-only market sell 0.02                  -> closes the position
    6. reduce-only sell 0.01 with no position        -> rejected
    7. post-only limit buy 1% above the market       -> rejected (it would take liquidity)
    8. market buy 0.01, then a trading stop 9 USDT below the close -> the next bar's low
       (synthetic_bars' seed 7: bar 13) goes through it: a StopLoss fill closes the position
    """
    a, t = d.adapter, Trace()

    def submit(req: OrderRequest) -> Order:
        order = a.submit(req)
        t.returned[req.order_link_id] = order.status.name
        d.settle()
        return order

    def step(label: str) -> None:
        d.step()
        t.record(a.drain_events(), d.link_of)
        t.open_after[label] = sorted((d.link_of(o), o.request.qty, o.request.price)
                                     for o in a.open_orders(SYM))

    submit(OrderRequest(SYM, Side.BUY, 0.02, order_link_id="entry"))
    step("entry")
    price = round(d.last_close() * 0.99, 1)
    resting = submit(OrderRequest(SYM, Side.BUY, 0.01, OrderType.LIMIT, price=price,
                                  order_link_id="rest"))
    step("rest")
    a.amend(SYM, resting.order_id, qty=0.015, price=round(price + 10, 1))
    d.settle()
    step("amend")
    a.cancel(SYM, resting.order_id)
    d.settle()
    step("cancel")
    submit(OrderRequest(SYM, Side.SELL, 0.02, reduce_only=True, order_link_id="close"))
    step("close")
    submit(OrderRequest(SYM, Side.SELL, 0.01, reduce_only=True, order_link_id="ro_flat"))
    step("ro_flat")
    submit(OrderRequest(SYM, Side.BUY, 0.01, OrderType.LIMIT,
                        price=round(d.last_close() * 1.01, 1),
                        time_in_force=TimeInForce.POST_ONLY, order_link_id="post_cross"))
    step("post_cross")
    submit(OrderRequest(SYM, Side.BUY, 0.01, order_link_id="entry2"))
    step("entry2")
    a.set_trading_stop(SYM, stop_loss=round(d.last_close() - 9.0, 1))
    d.settle()
    t.stop_after = a.position(SYM).stop_loss
    step("stop")
    pos, bal = a.position(SYM), a.balance()
    t.final_position = (pos.side, pos.size, pos.entry_price)
    t.final_wallet, t.final_equity = bal.wallet_balance, bal.equity
    return t


def reason_class(reason: str) -> str:
    """A reject reason's kind, whatever its wording (the kernel's text, Bybit's code)."""
    flat = re.sub(r"[^a-z]", "", reason.lower())
    for kind in ("reduceonly", "postonly"):
        if kind in flat:
            return kind
    return flat
