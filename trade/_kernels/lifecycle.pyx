# cython: boundscheck=False, wraparound=False
"""The one order-status transition table (Bybit's lifecycle), used by every simulator and adapter."""

cdef bint _TABLE[10][10]
cdef bint _TERMINAL[10]


cdef void _allow(int src, int dst) noexcept:
    _TABLE[src][dst] = True


cdef void _build() noexcept:
    cdef int i, j
    for i in range(N_STATUS):
        _TERMINAL[i] = False
        for j in range(N_STATUS):
            _TABLE[i][j] = False
    # Created is the transient state before the matching engine accepts the order.
    _allow(ST_CREATED, ST_NEW)
    _allow(ST_CREATED, ST_UNTRIGGERED)
    _allow(ST_CREATED, ST_REJECTED)
    _allow(ST_CREATED, ST_CANCELLED)
    _allow(ST_CREATED, ST_FILLED)
    _allow(ST_CREATED, ST_PARTIALLY_FILLED)
    _allow(ST_CREATED, ST_PARTIALLY_FILLED_CANCELED)
    # A resting order may be amended (same status), filled, or cancelled.
    _allow(ST_NEW, ST_NEW)
    _allow(ST_NEW, ST_PARTIALLY_FILLED)
    _allow(ST_NEW, ST_FILLED)
    _allow(ST_NEW, ST_CANCELLED)
    _allow(ST_NEW, ST_PARTIALLY_FILLED_CANCELED)
    _allow(ST_PARTIALLY_FILLED, ST_PARTIALLY_FILLED)
    _allow(ST_PARTIALLY_FILLED, ST_FILLED)
    _allow(ST_PARTIALLY_FILLED, ST_CANCELLED)
    _allow(ST_PARTIALLY_FILLED, ST_PARTIALLY_FILLED_CANCELED)
    # Conditional orders wait Untriggered; cancelling one deactivates it.
    _allow(ST_UNTRIGGERED, ST_UNTRIGGERED)
    _allow(ST_UNTRIGGERED, ST_TRIGGERED)
    _allow(ST_UNTRIGGERED, ST_DEACTIVATED)
    _allow(ST_UNTRIGGERED, ST_REJECTED)
    _allow(ST_TRIGGERED, ST_NEW)
    _allow(ST_TRIGGERED, ST_PARTIALLY_FILLED)
    _allow(ST_TRIGGERED, ST_FILLED)
    _allow(ST_TRIGGERED, ST_CANCELLED)
    _allow(ST_TRIGGERED, ST_REJECTED)
    _allow(ST_TRIGGERED, ST_PARTIALLY_FILLED_CANCELED)
    _TERMINAL[ST_FILLED] = True
    _TERMINAL[ST_CANCELLED] = True
    _TERMINAL[ST_REJECTED] = True
    _TERMINAL[ST_DEACTIVATED] = True
    _TERMINAL[ST_PARTIALLY_FILLED_CANCELED] = True


_build()


cdef bint legal_transition(int src, int dst) noexcept nogil:
    if src < 0 or src >= N_STATUS or dst < 0 or dst >= N_STATUS:
        return False
    return _TABLE[src][dst]


cdef bint is_terminal(int status) noexcept nogil:
    if status < 0 or status >= N_STATUS:
        return False
    return _TERMINAL[status]


def is_legal_transition(int src, int dst) -> bool:
    """True when an order may move from status code `src` to `dst`."""
    return legal_transition(src, dst)


def is_terminal_status(int status) -> bool:
    """True for Filled, Cancelled, Rejected, Deactivated and PartiallyFilledCanceled."""
    return is_terminal(status)


STATUS_CODES = {
    "Created": ST_CREATED,
    "New": ST_NEW,
    "PartiallyFilled": ST_PARTIALLY_FILLED,
    "Filled": ST_FILLED,
    "Cancelled": ST_CANCELLED,
    "Rejected": ST_REJECTED,
    "Untriggered": ST_UNTRIGGERED,
    "Triggered": ST_TRIGGERED,
    "Deactivated": ST_DEACTIVATED,
    "PartiallyFilledCanceled": ST_PARTIALLY_FILLED_CANCELED,
}
