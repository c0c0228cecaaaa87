"""Core types: the one Position, the order lifecycle table, order validation, clocks."""

from __future__ import annotations

import pickle
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trade
from trade._kernels import lifecycle as kernel_lifecycle
from trade.core import (
    IllegalTransitionError,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SimulatedClock,
    TimeInForce,
    WallClock,
    can_transition,
)

TERMINAL = {
    OrderStatus.FILLED,
    OrderStatus.CANCELLED,
    OrderStatus.REJECTED,
    OrderStatus.DEACTIVATED,
    OrderStatus.PARTIALLY_FILLED_CANCELED,
}


def test_position_is_the_kernel_type_everywhere() -> None:
    from trade._kernels.position import Position as KernelPosition
    from trade.core import Position as CorePosition

    assert trade.Position is KernelPosition is CorePosition
    p = Position("BTCUSDT", side=-1, size=2.0, entry_price=100.0, mark_price=90.0)
    assert p.is_open and p.signed_size == -2.0 and p.notional == 180.0
    assert pickle.loads(pickle.dumps(p)) == p
    assert p.copy() == p and p.copy() is not p


def test_position_refuses_bad_fields() -> None:
    with pytest.raises(TypeError, match="no field 'sizee'"):
        Position("BTCUSDT", sizee=1.0)
    with pytest.raises(ValueError, match="size must be >= 0"):
        Position("BTCUSDT", size=-1.0)
    with pytest.raises(ValueError, match="side must be"):
        Position("BTCUSDT", side=2)


def test_no_second_position_class_in_the_package() -> None:
    import ast
    from pathlib import Path

    root = Path(trade.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        assert "Position" not in names, f"a second Position class is defined in {path}"


def test_status_codes_match_the_kernel_table() -> None:
    assert {s.bybit: int(s) for s in OrderStatus} == kernel_lifecycle.STATUS_CODES
    for s in OrderStatus:
        assert OrderStatus.from_bybit(s.bybit) is s
        assert s.is_terminal == (s in TERMINAL)


@given(st.sampled_from(list(OrderStatus)), st.sampled_from(list(OrderStatus)))
def test_terminal_states_never_move(src: OrderStatus, dst: OrderStatus) -> None:
    if src in TERMINAL:
        assert not can_transition(src, dst)


@pytest.mark.parametrize(
    ("path"),
    [
        ["New", "PartiallyFilled", "PartiallyFilled", "Filled"],
        ["Untriggered", "Triggered", "New", "Cancelled"],
        ["Untriggered", "Deactivated"],
        ["New", "PartiallyFilled", "PartiallyFilledCanceled"],
        ["Rejected"],
    ],
)
def test_bybit_lifecycles_are_legal(path: list[str]) -> None:
    order = Order("o-1", OrderRequest("BTCUSDT", Side.BUY, 1.0), OrderStatus.CREATED, 0, 0)
    for step in path:
        order = order.moved_to(OrderStatus.from_bybit(step), order.updated_ts + 1)
    assert order.status.bybit == path[-1]


@pytest.mark.parametrize(
    ("src", "dst"),
    [("Filled", "New"), ("Cancelled", "Filled"), ("New", "Untriggered"), ("New", "Triggered"),
     ("Deactivated", "Triggered"), ("Untriggered", "Filled")],
)
def test_illegal_transitions_are_refused(src: str, dst: str) -> None:
    order = Order("o-9", OrderRequest("BTCUSDT", Side.SELL, 1.0), OrderStatus.from_bybit(src), 0, 0)
    with pytest.raises(IllegalTransitionError, match=f"{src} -> {dst} for order o-9"):
        order.moved_to(OrderStatus.from_bybit(dst), 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty": 0.0}, "qty must be a finite number > 0"),
        ({"qty": -1.0}, "qty must be a finite number > 0"),
        ({"qty": float("nan")}, "qty must be a finite number > 0"),
        ({"order_type": OrderType.LIMIT}, "LIMIT order needs a price"),
        ({"price": 10.0}, "MARKET order takes no price"),
        ({"order_type": OrderType.STOP_MARKET}, "needs a trigger_price"),
        ({"order_type": OrderType.LIMIT, "price": -5.0}, "price must be a finite number > 0"),
        ({"time_in_force": TimeInForce.POST_ONLY}, "PostOnly is only valid for LIMIT"),
        ({"order_link_id": "x" * 37}, "36 characters"),
        ({"stop_loss_offset": 1.5}, "stop_loss_offset is a fraction"),
        ({"symbol": ""}, "symbol must not be empty"),
    ],
)
def test_order_request_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"symbol": "BTCUSDT", "side": Side.BUY, "qty": 1.0}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OrderRequest(**base)  # type: ignore[arg-type]


def test_trigger_direction_is_inferred_from_the_side() -> None:
    buy = OrderRequest("BTCUSDT", Side.BUY, 1.0, OrderType.STOP_MARKET, trigger_price=110.0)
    sell = OrderRequest("BTCUSDT", Side.SELL, 1.0, OrderType.STOP_MARKET, trigger_price=90.0)
    assert (buy.effective_trigger_direction, sell.effective_trigger_direction) == (1, 2)


def test_simulated_clock_never_waits_and_never_goes_back() -> None:
    clock = SimulatedClock(1_000)
    event = threading.Event()
    assert clock.wait(event, 2.5) is False
    assert clock.now_ms() == 3_500
    event.set()
    assert clock.wait(event, 10.0) is True and clock.now_ms() == 3_500
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(100)


def test_wall_clock_offset_applies() -> None:
    a, b = WallClock(), WallClock(offset_ms=60_000)
    assert 59_000 <= b.now_ms() - a.now_ms() <= 61_000


def test_position_is_mutable_and_therefore_unhashable() -> None:
    p = Position("BTCUSDT", side=1, size=1.0)
    with pytest.raises(TypeError, match="unhashable"):
        hash(p)
    with pytest.raises(TypeError):
        {p}  # noqa: B018
    q = p.copy()
    q.size = 2.0
    assert p != q and p.size == 1.0
    assert p == Position("BTCUSDT", side=1, size=1.0)
