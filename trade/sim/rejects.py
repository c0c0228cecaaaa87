"""Why the simulator refuses an order, as a number: the kernel's RJ_* codes.

The kernel (`SimExchange.reject_code`) and the reference (`ReferenceExchange.reject_code`)
report these numbers; the exchange simulator maps them to Bybit's retCode in one table
(`trade.exchange_sim.protocol.BYBIT_REJECT`), so rewording a message never changes an API
error code. The values equal the kernel's enum in engine.pxd (tests/test_sim_rejects.py).
"""

from __future__ import annotations

from enum import IntEnum


class RejectCode(IntEnum):
    NONE = 0
    FINISHED = 1  # the exchange was finished
    NO_PRICE = 2  # no bar has closed yet
    MIN_QTY = 3  # qty below the minimum order quantity
    POST_ONLY = 4  # a post-only limit that would cross at placement
    RO_FLAT = 5  # reduce-only with no position
    RO_INCREASE = 6  # reduce-only on the position's own side
    MIN_NOTIONAL = 7  # order value below the minimum
    BALANCE = 8  # margin + fee above the available balance
    RO_CANCEL = 9  # a resting reduce-only order cancelled: the position is gone
