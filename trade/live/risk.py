"""Pre-trade checks and circuit breakers. Entries can be halted; exits never are.

`RiskManager.check(request, ...)` raises `RiskRejected` (never sent to the exchange) when an
order breaks a limit: notional per order, notional per symbol after the fill, leverage
after the fill, a limit/trigger price too far from the last price (fat finger), or the
order-rate cap. An order that only reduces the position (reduce-only, or opposite side
no larger than the position) is an exit: it passes every check except the fat-finger one
for limit prices, and it passes even when a breaker has tripped.

Breakers (`update_equity` at every 1m close): the daily loss limit (loss since the UTC
day's first equity reading, in USDT or percent) and the drawdown breaker (percent below the
running peak) halt new entries until `reset()` (the daily one re-arms at the next UTC day).

Threading: engine thread only.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from trade.core import OrderRequest, OrderType, Position, Side
from trade.live.errors import RiskRejected

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """0 / None disables a check."""

    max_order_notional: float | None = None
    max_symbol_notional: float | None = None
    max_leverage: float | None = None
    max_price_deviation: float | None = 0.05  # fraction of the last price
    max_orders_per_minute: int | None = 30
    daily_loss_usdt: float | None = None
    daily_loss_pct: float | None = None
    max_drawdown_pct: float | None = None


class RiskManager:
    """See the module docstring. Engine thread only."""

    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self._sent: deque[int] = deque()
        self.halted_reason = ""
        self._day = -1
        self._day_start_equity = math.nan
        self.peak_equity = -math.inf

    @property
    def halted(self) -> bool:
        return bool(self.halted_reason)

    def reset(self) -> None:
        self.halted_reason = ""
        self.peak_equity = -math.inf

    @staticmethod
    def is_exit(request: OrderRequest, position: Position) -> bool:
        if request.reduce_only:
            return True
        opposite = position.side != 0 and int(request.side) == -position.side
        return bool(opposite and request.qty <= position.size + 1e-12)

    def check(self, request: OrderRequest, *, last_price: float, position: Position,
              equity: float, now_ms: int) -> None:
        lim = self.limits
        exit_only = self.is_exit(request, position)
        ref = request.price or request.trigger_price or last_price
        if lim.max_price_deviation and last_price > 0 and request.order_type is not \
                OrderType.MARKET:
            for name, px in (("price", request.price), ("trigger", request.trigger_price)):
                if px is not None and abs(px / last_price - 1) > lim.max_price_deviation:
                    raise RiskRejected(
                        f"{name} {px:g} is {abs(px / last_price - 1):.1%} from the last price "
                        f"{last_price:g} (fat-finger limit {lim.max_price_deviation:.1%})")
        if exit_only:
            self._count(now_ms)
            return
        if self.halted:
            raise RiskRejected(f"new entries halted: {self.halted_reason}")
        if lim.max_orders_per_minute:
            while self._sent and self._sent[0] <= now_ms - 60_000:
                self._sent.popleft()
            if len(self._sent) >= lim.max_orders_per_minute:
                raise RiskRejected(f"order-rate cap: {lim.max_orders_per_minute} orders per "
                                   "minute reached")
        notional = request.qty * ref if ref and math.isfinite(ref) else math.nan
        if lim.max_order_notional and notional > lim.max_order_notional:
            raise RiskRejected(f"order notional {notional:.2f} USDT exceeds the limit "
                               f"{lim.max_order_notional:g}")
        signed = position.side * position.size + int(request.side) * request.qty
        after = abs(signed) * (ref if ref and math.isfinite(ref) else 0.0)
        if lim.max_symbol_notional and after > lim.max_symbol_notional:
            raise RiskRejected(f"{request.symbol} notional after the order {after:.2f} USDT "
                               f"exceeds the limit {lim.max_symbol_notional:g}")
        if lim.max_leverage and equity > 0 and after / equity > lim.max_leverage + 1e-9:
            raise RiskRejected(f"leverage after the order {after / equity:.2f}x exceeds "
                               f"{lim.max_leverage:g}x")
        self._count(now_ms)

    def _count(self, now_ms: int) -> None:
        self._sent.append(now_ms)

    def update_equity(self, equity: float, now_ms: int) -> str:
        """Feed the equity at a 1m close; returns the halt reason if a breaker tripped now."""
        if not math.isfinite(equity):
            return ""
        lim = self.limits
        day = now_ms // DAY_MS
        if day != self._day:
            self._day, self._day_start_equity = day, equity
            if self.halted_reason.startswith("daily"):
                self.halted_reason = ""  # the daily limit re-arms each UTC day
        self.peak_equity = max(self.peak_equity, equity)
        if self.halted:
            return ""
        loss = self._day_start_equity - equity
        if lim.daily_loss_usdt and loss >= lim.daily_loss_usdt:
            self.halted_reason = f"daily loss {loss:.2f} USDT >= {lim.daily_loss_usdt:g}"
        elif lim.daily_loss_pct and loss >= self._day_start_equity * lim.daily_loss_pct / 100:
            self.halted_reason = f"daily loss {loss:.2f} USDT >= {lim.daily_loss_pct:g}%"
        elif lim.max_drawdown_pct and equity <= self.peak_equity * (1 - lim.max_drawdown_pct
                                                                    / 100):
            self.halted_reason = (f"drawdown breaker: equity {equity:.2f} is "
                                  f"{lim.max_drawdown_pct:g}% below the peak "
                                  f"{self.peak_equity:.2f}")
        return self.halted_reason


def exit_side(position: Position) -> Side:
    return Side.SELL if position.side > 0 else Side.BUY
