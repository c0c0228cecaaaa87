"""Order-status transitions, answered by the kernel's one transition table."""

from __future__ import annotations

from trade._kernels import lifecycle as _lc
from trade.core.enums import OrderStatus


class IllegalTransitionError(ValueError):
    """An order was asked to move between two states Bybit's lifecycle does not connect."""


def can_transition(src: OrderStatus, dst: OrderStatus) -> bool:
    """Whether an order may move from `src` to `dst` (the kernel's one transition table).

    Parameters
    ----------
    src, dst : OrderStatus
        The current and the proposed status.

    Returns
    -------
    bool
        True for a legal move (an amend keeps a resting order's status: `src` == `dst`).
    """
    return bool(_lc.is_legal_transition(int(src), int(dst)))


def is_terminal(status: OrderStatus) -> bool:
    """Whether nothing can leave `status` (Filled, Cancelled, Rejected, Deactivated,
    PartiallyFilledCanceled).

    Parameters
    ----------
    status : OrderStatus

    Returns
    -------
    bool
    """
    return bool(_lc.is_terminal_status(int(status)))


def check_transition(src: OrderStatus, dst: OrderStatus, *, order_id: str = "") -> OrderStatus:
    """`dst`, when the move from `src` is legal.

    Parameters
    ----------
    src, dst : OrderStatus
        The current and the proposed status.
    order_id : str, optional
        Named in the error message.

    Returns
    -------
    OrderStatus
        `dst`.

    Raises
    ------
    IllegalTransitionError
        The transition table refuses the move.
    """
    if not can_transition(src, dst):
        where = f" for order {order_id}" if order_id else ""
        raise IllegalTransitionError(f"illegal order transition {src.bybit} -> {dst.bybit}{where}")
    return dst
