"""Typed events: the only thing other threads hand to the engine thread.

WebSocket callbacks (pybit's threads), REST workers and the stream supervisor never touch
orders, positions or balances: they build one of these immutable records and put it on
the engine's queue. Only the engine thread consumes them (`LiveSession.process`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trade.live.errors import BybitError


class ConnState(StrEnum):
    """A WebSocket connection's explicit state."""

    CONNECTING = "connecting"
    AUTHENTICATING = "authenticating"
    SUBSCRIBED = "subscribed"
    STALE = "stale"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class KlinePush:
    """A kline row from the public stream (`confirm` = the bar has closed)."""

    symbol: str
    interval: str
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    confirm: bool
    received_mono: float = 0.0


@dataclass(frozen=True, slots=True)
class PrivatePush:
    """Rows of one private topic (order / execution / position / wallet / dcp)."""

    topic: str
    rows: tuple[dict[str, Any], ...]
    creation_ms: int = 0
    received_mono: float = 0.0


@dataclass(frozen=True, slots=True)
class StreamState:
    """A connection changed state (`reconnected` = it is subscribed again after a loss)."""

    stream: str
    state: ConnState
    reconnected: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OrderAck:
    """REST accepted a create (or showed an earlier attempt had placed it)."""

    key: str
    order_id: str
    already_placed: bool = False


@dataclass(frozen=True, slots=True)
class OrderFailed:
    """A create/cancel/amend failed. `unknown` = transient failure after every retry: the
    order may or may not exist; reconciliation decides."""

    key: str
    action: str  # create | cancel | amend | trading_stop
    error: BybitError
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Exchange state read over REST (reconciliation): every field optional."""

    open_orders: tuple[dict[str, Any], ...] | None = None
    looked_up: tuple[dict[str, Any], ...] = ()  # rows of orders we thought open
    missing_keys: tuple[str, ...] = ()  # asked for, and the exchange has no such order
    executions: tuple[dict[str, Any], ...] = ()
    positions: tuple[dict[str, Any], ...] | None = None
    wallet: dict[str, Any] | None = None
    reason: str = ""
    token: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """Something failed off the engine thread (already logged, secrets redacted)."""

    where: str
    message: str


@dataclass(frozen=True, slots=True)
class JobDone:
    """A REST job finished; every event it posted is ahead of this one in the queue."""

    token: int


@dataclass(frozen=True, slots=True)
class ProtectResult:
    """A protection job ended: `confirmed` = the position read back holds the levels (or
    there is no position left to protect); else `detail` says what was last seen or failed.
    `abandoned` = cut short by the stop (neither confirmed nor failed)."""

    token: int
    confirmed: bool
    detail: str
    attempts: int
    elapsed_s: float
    held: dict[str, float] = field(default_factory=dict)
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class Deferred:
    """Run `fn()` on the engine thread in bar order (after the bar being decided)."""

    fn: Any


@dataclass(frozen=True, slots=True)
class Stop:
    """Ask the engine loop to finish."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """Run `fn()` on the engine thread (tests and tools; the result goes to `future`)."""

    fn: Any
    future: Any = field(default=None)


LiveEvent = (KlinePush | PrivatePush | StreamState | OrderAck | OrderFailed | Snapshot
             | Failure | JobDone | Stop | Call | ProtectResult | Deferred)
