"""trade.Position: the single position type shared by the kernel, the simulators and the live stack."""

from libc.string cimport memset

_FIELDS = (
    "side", "size", "entry_price", "leverage", "margin", "liq_price", "bust_price",
    "mark_price", "unrealized_pnl", "realized_pnl", "fees_paid", "funding_paid",
    "stop_loss", "take_profit", "trailing_distance", "trailing_stop", "mae", "mfe",
    "maintenance_margin_rate", "opened_ts", "updated_ts",
)


cdef void position_reset(PositionState* p) noexcept nogil:
    memset(p, 0, sizeof(PositionState))


cdef class Position:
    """An isolated-margin USDT-perpetual position.

    Built by the simulation kernel from its internal state, and by the live
    position manager from Bybit's `/v5/position/list` rows or `position` pushes.
    `side` is +1 long, -1 short, 0 flat; `size` is always >= 0.

    Mutable (every field has a setter, checked where a value can be wrong) and therefore
    unhashable, like a list; compare with ==, take a frozen view with `to_dict()` or a
    snapshot with `copy()`.
    """

    def __init__(self, str symbol="", **fields):
        position_reset(&self.st)
        self.symbol = symbol
        for name, value in fields.items():
            if name not in _FIELDS:
                raise TypeError(f"Position has no field {name!r}")
            setattr(self, name, value)

    @staticmethod
    cdef Position wrap(str symbol, const PositionState* state):
        cdef Position p = Position.__new__(Position)
        p.st = state[0]
        p.symbol = symbol
        return p

    @classmethod
    def fields(cls) -> tuple:
        """Names of the numeric fields, in a stable order."""
        return _FIELDS

    property side:
        def __get__(self): return self.st.side
        def __set__(self, int v):
            if v not in (-1, 0, 1):
                raise ValueError(f"side must be -1, 0 or 1, got {v}")
            self.st.side = v
    property size:
        def __get__(self): return self.st.size
        def __set__(self, double v):
            if not v >= 0.0:
                raise ValueError(f"size must be >= 0, got {v}")
            self.st.size = v
    property entry_price:
        def __get__(self): return self.st.entry_price
        def __set__(self, double v): self.st.entry_price = v
    property leverage:
        def __get__(self): return self.st.leverage
        def __set__(self, double v): self.st.leverage = v
    property margin:
        def __get__(self): return self.st.margin
        def __set__(self, double v): self.st.margin = v
    property liq_price:
        def __get__(self): return self.st.liq_price
        def __set__(self, double v): self.st.liq_price = v
    property bust_price:
        def __get__(self): return self.st.bust_price
        def __set__(self, double v): self.st.bust_price = v
    property mark_price:
        def __get__(self): return self.st.mark_price
        def __set__(self, double v): self.st.mark_price = v
    property unrealized_pnl:
        def __get__(self): return self.st.unrealized_pnl
        def __set__(self, double v): self.st.unrealized_pnl = v
    property realized_pnl:
        def __get__(self): return self.st.realized_pnl
        def __set__(self, double v): self.st.realized_pnl = v
    property fees_paid:
        def __get__(self): return self.st.fees_paid
        def __set__(self, double v): self.st.fees_paid = v
    property funding_paid:
        def __get__(self): return self.st.funding_paid
        def __set__(self, double v): self.st.funding_paid = v
    property stop_loss:
        def __get__(self): return self.st.stop_loss
        def __set__(self, double v): self.st.stop_loss = v
    property take_profit:
        def __get__(self): return self.st.take_profit
        def __set__(self, double v): self.st.take_profit = v
    property trailing_distance:
        def __get__(self): return self.st.trailing_distance
        def __set__(self, double v): self.st.trailing_distance = v
    property trailing_stop:
        def __get__(self): return self.st.trailing_stop
        def __set__(self, double v): self.st.trailing_stop = v
    property mae:
        def __get__(self): return self.st.mae
        def __set__(self, double v): self.st.mae = v
    property mfe:
        def __get__(self): return self.st.mfe
        def __set__(self, double v): self.st.mfe = v
    property maintenance_margin_rate:
        def __get__(self): return self.st.maintenance_margin_rate
        def __set__(self, double v): self.st.maintenance_margin_rate = v
    property opened_ts:
        def __get__(self): return self.st.opened_ts
        def __set__(self, long long v): self.st.opened_ts = v
    property updated_ts:
        def __get__(self): return self.st.updated_ts
        def __set__(self, long long v): self.st.updated_ts = v

    @property
    def is_open(self) -> bool:
        return self.st.side != 0 and self.st.size > 0.0

    @property
    def notional(self) -> float:
        """Size times mark price (entry price when no mark is known)."""
        cdef double px = self.st.mark_price if self.st.mark_price > 0.0 else self.st.entry_price
        return self.st.size * px

    @property
    def signed_size(self) -> float:
        return self.st.side * self.st.size

    def to_dict(self) -> dict:
        d = {"symbol": self.symbol}
        for name in _FIELDS:
            d[name] = getattr(self, name)
        return d

    def copy(self) -> "Position":
        return Position.wrap(self.symbol, &self.st)

    def __eq__(self, other):
        if not isinstance(other, Position):
            return NotImplemented
        return self.to_dict() == (<Position>other).to_dict()

    # mutable, so unhashable: a Position changed while in a set or a dict key would be lost
    __hash__ = None

    def __reduce__(self):
        d = self.to_dict()
        symbol = d.pop("symbol")
        return (_rebuild, (symbol, d))

    def __repr__(self) -> str:
        side = {1: "long", -1: "short", 0: "flat"}[self.st.side]
        return (f"Position({self.symbol!r}, {side}, size={self.st.size!r}, "
                f"entry={self.st.entry_price!r}, lev={self.st.leverage!r}, liq={self.st.liq_price!r}, "
                f"upnl={self.st.unrealized_pnl!r})")


def _rebuild(symbol, fields):
    return Position(symbol, **fields)
