"""Every ExchangeAdapter implementation against one scripted order sequence, and against
the Protocol itself (the interface is enforced by a test, not only by typing).

Adapters: the backtest adapter and the paper adapters (trade.sim's PaperAdapter and the
journaled one paper mode runs) call the compiled kernel directly; the live adapter talks
REST + WebSocket to the exchange simulator on 127.0.0.1, whose venue runs the same kernel
with the same SimConfig — so fills must agree to the precision of Bybit's wire format,
not approximately. The null adapter (warm-up) refuses everything by design: its own test.

The script and the normalisation live in tests/adapter_script.py.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Iterator

import pytest

from tests.adapter_script import (
    CONFIG,
    SYM,
    Trace,
    make_driver,
    reason_class,
    run_script,
)
from tests.conftest_exsim import synthetic_bars
from trade.core import ExchangeAdapter, OrderRequest, OrderStatus, OrderUpdate, Side
from trade.live import LiveAdapter
from trade.live.paper import JournaledPaperAdapter
from trade.live.runner import NullAdapter
from trade.notify import NotifyingAdapter
from trade.sim import BacktestAdapter, PaperAdapter

ALL = [BacktestAdapter, PaperAdapter, JournaledPaperAdapter, LiveAdapter, NullAdapter,
       NotifyingAdapter]
# the Bybit wire format: prices and quantities as decimal strings of ~15 significant
# digits, amounts (fee, wallet) with 8 decimals; the kernel works in doubles
PRICE_REL = 1e-12
AMOUNT_ABS = 1e-8 + 1e-12


told: dict[str, Trace] = {}  # what the NotifyingAdapter's sink received, recorded
told_rejections: list[str] = []  # the links of every rejection the sink received


@pytest.fixture(scope="module")
def traces() -> Iterator[dict[str, Trace]]:
    bars = synthetic_bars()
    before = {t.name for t in threading.enumerate()}
    out: dict[str, Trace] = {}
    for name in ("backtest", "paper", "paper_journaled", "notifying", "live"):
        driver = make_driver(name, bars)
        try:
            out[name] = run_script(driver)
            if name == "notifying":
                sink = driver.adapter.sink  # type: ignore[attr-defined]
                told[name] = Trace()
                told[name].record(sink.events, driver.link_of)
                told_rejections.extend(
                    driver.link_of(ev.order) for ev in sink.events
                    if isinstance(ev, OrderUpdate) and ev.order.status is OrderStatus.REJECTED)
        finally:
            driver.close()
    # the live driver's session and simulator leave no thread behind
    assert {t.name for t in threading.enumerate() if t.name.startswith("live-")} <= before
    yield out


def _members() -> list[str]:
    return sorted(n for n, v in vars(ExchangeAdapter).items()
                  if callable(v) and not n.startswith("_"))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_adapter_has_every_protocol_method_with_its_signature(cls: type) -> None:
    members = _members()
    assert {"submit", "cancel", "amend", "set_trading_stop", "open_orders", "position",
            "balance", "drain_events"} <= set(members)
    for name in members:
        want, got = getattr(ExchangeAdapter, name), getattr(cls, name, None)
        assert callable(got), f"{cls.__name__}.{name} is missing"
        ws, gs = inspect.signature(want), inspect.signature(got)
        # same names, kinds (positional vs keyword-only) and defaults, in order
        assert [(p.name, p.kind, p.default) for p in gs.parameters.values()] == \
            [(p.name, p.kind, p.default) for p in ws.parameters.values()], \
            f"{cls.__name__}.{name}{gs} != protocol {name}{ws}"
        # same resolved types (annotations are strings under `from __future__`)
        assert typing.get_type_hints(got) == typing.get_type_hints(want), \
            f"{cls.__name__}.{name}: annotations differ from the protocol"


def test_runtime_isinstance_agrees_for_instances() -> None:
    assert isinstance(BacktestAdapter(CONFIG), ExchangeAdapter)
    assert isinstance(NullAdapter(), ExchangeAdapter)

    class Partial:
        def submit(self, request: OrderRequest) -> None: ...

    assert not isinstance(Partial(), ExchangeAdapter)  # the check can fail


def test_the_reference_trace_is_what_the_script_means(traces: dict[str, Trace]) -> None:
    """The backtest's trace, spelled out: the other adapters are compared against it."""
    t = traces["backtest"]
    assert t.statuses == {"entry": ["NEW", "FILLED"], "rest": ["NEW", "CANCELLED"],
                          "close": ["NEW", "FILLED"], "ro_flat": ["REJECTED"],
                          "post_cross": ["REJECTED"], "entry2": ["NEW", "FILLED"]}
    (rest,), (amended,) = t.open_after["rest"], t.open_after["amend"]
    assert rest[:2] == ("rest", 0.01) and amended[:2] == ("rest", 0.015)
    assert rest[2] is not None and amended[2] == pytest.approx(rest[2] + 10)  # the amend took
    assert {k: v for k, v in t.open_after.items() if k not in ("rest", "amend")} == \
        {key: [] for key in ("entry", "cancel", "close", "ro_flat", "post_cross", "entry2",
                             "stop")}
    assert [(f[1], f[2], f[5]) for f in t.fills] == [
        ("BUY", 0.02, "TRADE"), ("SELL", 0.02, "TRADE"), ("BUY", 0.01, "TRADE"),
        ("SELL", 0.01, "STOP_LOSS")]
    assert [f[0] for f in t.fills[:3]] == ["entry", "close", "entry2"]
    assert t.stop_after > 0 and t.fills[3][3] <= t.stop_after  # filled at or through it
    assert t.positions == [(0, 0.0), (1, 0.02), (0, 0.0), (1, 0.01), (0, 0.0)]
    assert t.final_position == (0, 0.0, 0.0)
    fees = sum(f[4] for f in t.fills)
    pnl = (t.fills[1][3] - t.fills[0][3]) * 0.02 + (t.fills[3][3] - t.fills[2][3]) * 0.01
    assert t.final_wallet == pytest.approx(10_000.0 + pnl - fees, abs=1e-9)
    assert {k: reason_class(v) for k, v in t.reasons.items()} == {
        "ro_flat": "reduceonly", "post_cross": "postonly"}


@pytest.mark.parametrize("name", ["paper", "paper_journaled", "notifying", "live"])
def test_every_adapter_emits_the_backtests_event_stream(traces: dict[str, Trace],
                                                        name: str) -> None:
    ref, t = traces["backtest"], traces[name]
    assert t.statuses == ref.statuses
    assert t.open_after == ref.open_after
    assert t.positions == ref.positions
    assert t.final_position == ref.final_position
    assert t.stop_after == pytest.approx(ref.stop_after, rel=PRICE_REL)
    assert {k: reason_class(v) for k, v in t.reasons.items()} == \
        {k: reason_class(v) for k, v in ref.reasons.items()}
    assert len(t.fills) == len(ref.fills)
    for got, want in zip(t.fills, ref.fills, strict=True):
        link, side, qty, price, fee, exec_type, maker = got
        assert (link, side, exec_type, maker) == (want[0], want[1], want[5], want[6])
        assert qty == pytest.approx(want[2], abs=1e-12)
        assert price == pytest.approx(want[3], rel=PRICE_REL)
        assert fee == pytest.approx(want[4], abs=AMOUNT_ABS)
    assert t.final_wallet == pytest.approx(ref.final_wallet, abs=AMOUNT_ABS)
    assert t.final_equity == pytest.approx(ref.final_equity, abs=AMOUNT_ABS)


def test_sim_adapters_agree_bit_for_bit(traces: dict[str, Trace]) -> None:
    """The backtest and paper adapters share the kernel in-process: no tolerance at all."""
    assert traces["paper"] == traces["backtest"]
    assert traces["paper_journaled"] == traces["backtest"]
    assert traces["notifying"] == traces["backtest"]


def test_the_notifying_wrapper_tells_its_sink_each_event_once(
        traces: dict[str, Trace]) -> None:
    # the rejections come back from submit() at once *and* as events: told once each
    sink = told["notifying"]
    ref = traces["backtest"]
    assert sink.statuses == ref.statuses and sink.fills == ref.fills
    assert sink.positions == ref.positions
    assert told_rejections == ["ro_flat", "post_cross"]  # each once, not twice


def test_what_submit_returns_differs_by_transport_only(traces: dict[str, Trace]) -> None:
    # The kernel answers synchronously: submit returns New, or Rejected for an order it
    # refuses on sight. The live adapter returns Created (sent, not yet acknowledged) and
    # the venue's answer, including a rejection, arrives later as an event — which is why
    # the streams above are compared with Created left out.
    sync = {"entry": "NEW", "rest": "NEW", "close": "NEW", "ro_flat": "REJECTED",
            "post_cross": "REJECTED", "entry2": "NEW"}
    for name in ("backtest", "paper", "paper_journaled", "notifying"):
        assert traces[name].returned == sync
    assert traces["live"].returned == dict.fromkeys(sync, "CREATED")


def test_null_adapter_refuses_everything_and_never_changes() -> None:
    # The warm-up adapter genuinely differs: history bars are never traded, so it does
    # not run the script; it must refuse every order, emit nothing and stay flat.
    a = NullAdapter(equity=1234.0)
    before = a.balance()
    for req in (OrderRequest(SYM, Side.BUY, 0.02),
                OrderRequest(SYM, Side.SELL, 0.01, reduce_only=True)):
        order = a.submit(req)
        assert order.status is OrderStatus.REJECTED and "warm-up" in order.reject_reason
    assert a.refused == 2
    with pytest.raises(KeyError):
        a.cancel(SYM, "warmup-1")
    with pytest.raises(KeyError):
        a.amend(SYM, "warmup-1", qty=0.01)
    a.set_trading_stop(SYM, stop_loss=1.0)
    assert a.drain_events() == [] and a.open_orders(SYM) == []
    assert a.position(SYM).side == 0 and a.balance() == before
