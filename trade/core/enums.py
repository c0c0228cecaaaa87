"""Enumerations shared by every layer: the one Python home of the kernel's codes.

Each enum's values are the integer codes of the compiled kernels, which declare them as C
constants in `trade/_kernels/engine.pxd` and `trade/_kernels/lifecycle.pxd`:

=================  ===============  ==========================================
enum               kernel constant  meaning
=================  ===============  ==========================================
`OrderType`        ``OT_*``         market, limit, stop-market, stop-limit
`TimeInForce`      ``TIF_*``        GTC, IOC, FOK, PostOnly
`OrderStatus`      ``ST_*``         Bybit's order lifecycle
`ExecType`         ``X_*``          why a fill happened
`ExitReason`       ``R_*``          why a trade closed (the trade log's ``exit_reason``)
=================  ===============  ==========================================

Python code names these codes only through the enums (never a bare integer or a second
list of names); tests/test_code_tables.py checks every member against the kernel.
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    """Order side. Value is the sign of the position change (+1 buy, -1 sell)."""

    BUY = 1
    SELL = -1

    @property
    def bybit(self) -> str:
        return "Buy" if self is Side.BUY else "Sell"

    @classmethod
    def from_bybit(cls, text: str) -> Side:
        if text == "Buy":
            return cls.BUY
        if text == "Sell":
            return cls.SELL
        raise ValueError(f"unknown Bybit side {text!r} (expected 'Buy' or 'Sell')")

    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(IntEnum):
    """Order type. Codes equal the kernel's ``OT_*``; conditional types need a trigger price."""

    MARKET = 0
    LIMIT = 1
    STOP_MARKET = 2
    STOP_LIMIT = 3

    @property
    def is_conditional(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)

    @property
    def bybit(self) -> str:
        """Bybit's `orderType` (conditional orders add a `triggerPrice`)."""
        return "Market" if self in (OrderType.MARKET, OrderType.STOP_MARKET) else "Limit"


class TimeInForce(IntEnum):
    """Time in force. Codes equal the kernel's ``TIF_*``; `bybit` is Bybit's spelling."""

    GTC = 0
    IOC = 1
    FOK = 2
    POST_ONLY = 3

    @property
    def bybit(self) -> str:
        return {0: "GTC", 1: "IOC", 2: "FOK", 3: "PostOnly"}[int(self)]

    @classmethod
    def from_bybit(cls, text: str) -> TimeInForce:
        table = {"GTC": cls.GTC, "IOC": cls.IOC, "FOK": cls.FOK, "PostOnly": cls.POST_ONLY}
        try:
            return table[text]
        except KeyError:
            raise ValueError(
                f"unknown timeInForce {text!r} (expected one of {sorted(table)})"
            ) from None


class OrderStatus(IntEnum):
    """Bybit's order lifecycle. Codes equal the kernel's ST_* constants (kernels/lifecycle.pxd)."""

    CREATED = 0
    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5
    UNTRIGGERED = 6
    TRIGGERED = 7
    DEACTIVATED = 8
    PARTIALLY_FILLED_CANCELED = 9

    @property
    def bybit(self) -> str:
        return _STATUS_TO_BYBIT[self]

    @classmethod
    def from_bybit(cls, text: str) -> OrderStatus:
        try:
            return _BYBIT_TO_STATUS[text]
        except KeyError:
            raise ValueError(f"unknown Bybit orderStatus {text!r}") from None

    @property
    def is_terminal(self) -> bool:
        from trade.core.lifecycle import is_terminal

        return is_terminal(self)


_STATUS_TO_BYBIT = {
    OrderStatus.CREATED: "Created",
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.REJECTED: "Rejected",
    OrderStatus.UNTRIGGERED: "Untriggered",
    OrderStatus.TRIGGERED: "Triggered",
    OrderStatus.DEACTIVATED: "Deactivated",
    OrderStatus.PARTIALLY_FILLED_CANCELED: "PartiallyFilledCanceled",
}
_BYBIT_TO_STATUS = {v: k for k, v in _STATUS_TO_BYBIT.items()}


class ExecType(IntEnum):
    """Why a fill happened (Bybit's execType, plus the kernel's attached-order reasons)."""

    TRADE = 0
    FUNDING = 1
    BUST_TRADE = 2  # liquidation
    STOP_LOSS = 3
    TAKE_PROFIT = 4
    TRAILING_STOP = 5

    @property
    def bybit(self) -> str:
        return {0: "Trade", 1: "Funding", 2: "BustTrade", 3: "Trade", 4: "Trade", 5: "Trade"}[
            int(self)
        ]


class ExitReason(IntEnum):
    """Why a trade closed. Codes equal the kernel's ``R_*`` constants (trade/_kernels/engine.pxd);
    the trade log's ``exit_reason`` column holds the `label` (``"stop_loss"``)."""

    SIGNAL = 0  # an exit action of the Play
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    LIQUIDATION = 4
    FLIP = 5  # closed by an entry into the opposite side
    END_OF_DATA = 6  # still open when the data ended: closed at the last close

    @property
    def label(self) -> str:
        """The name written in trade logs and metric keys: ``"trailing_stop"``."""
        return self.name.lower()

    @classmethod
    def from_label(cls, text: str) -> ExitReason:
        """The reason whose `label` is `text`.

        Raises
        ------
        ValueError
            `text` is not a label of any reason.
        """
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown exit reason {text!r} (expected one of "
                             f"{', '.join(EXIT_REASONS)})") from None


#: the trade log's exit reasons, in code order (`ExitReason.label` of each code)
EXIT_REASONS: tuple[str, ...] = tuple(r.label for r in ExitReason)
