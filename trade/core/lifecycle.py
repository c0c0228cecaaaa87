"""Order-status transitions, answered by the kernel's one transition table."""

from __future__ import annotations

from trade._kernels import lifecycle as _lc
from trade.core.enums import OrderStatus


class IllegalTransitionError(ValueError):
    """An order was asked to move between two states Bybit's lifecycle does not connect."""


def can_transition(src: OrderStatus, dst: OrderStatus) -> bool:
    return bool(_lc.is_legal_transition(int(src), int(dst)))


def is_terminal(status: OrderStatus) -> bool:
    return bool(_lc.is_terminal_status(int(status)))


def check_transition(src: OrderStatus, dst: OrderStatus, *, order_id: str = "") -> OrderStatus:
    """Return `dst` if the move is legal, else raise IllegalTransitionError."""
    if not can_transition(src, dst):
        where = f" for order {order_id}" if order_id else ""
        raise IllegalTransitionError(f"illegal order transition {src.bybit} -> {dst.bybit}{where}")
    return dst
