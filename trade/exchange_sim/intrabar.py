"""The replay's price inside a 1m bar, for fills at real-time speed (docs/exchange_sim.md).

History holds only each minute's open, high, low and close. The simulator walks them on
one fixed path per bar: a bar that closes at or above its open dips first, then rallies
(O -> L -> H -> C); a bar that closes below its open rallies first (O -> H -> L -> C). The
price moves along the path at constant speed: the fraction `f` of the minute elapsed on
the market clock is the fraction of the path's length travelled. Prices between the four
corners are rounded to the tick grid (nearest), as a traded price is.

`PricePath.segment(f0, f1)` is the (open, high, low, close) of the stretch travelled
between two moments: the venue hands such stretches to the kernel as sub-bars, so limits
fill and triggers fire when the path crosses them, and a market order fills at once at
the path's price (`walk_book`: through the synthetic book's spread and depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trade.exchange_sim.book import BOOK_LEVELS_BASE
from trade.sim.config import round_to_tick


@dataclass(frozen=True, slots=True)
class PricePath:
    """The documented path through one bar: corners at path-length fractions."""

    corners: tuple[float, float, float, float]
    at: tuple[float, float, float, float]  # fraction of the path at each corner
    tick: float

    @classmethod
    def of(cls, o: float, h: float, lo: float, c: float, tick: float) -> PricePath:
        # the bar's direction decides which extreme comes first
        corners = (o, lo, h, c) if c >= o else (o, h, lo, c)
        legs = [abs(corners[k + 1] - corners[k]) for k in range(3)]
        total = sum(legs)
        if total <= 0:
            at = (0.0, 1 / 3, 2 / 3, 1.0)
        else:
            at = (0.0, legs[0] / total, (legs[0] + legs[1]) / total, 1.0)
        return cls(corners, at, tick)

    def price(self, f: float) -> float:
        """The price after the fraction `f` (0..1) of the minute."""
        f = min(max(f, 0.0), 1.0)
        for k in range(3):
            a, b = self.at[k], self.at[k + 1]
            if f <= b:
                if f == a:
                    return self.corners[k]
                if f == b:
                    return self.corners[k + 1]
                x = self.corners[k] + (self.corners[k + 1] - self.corners[k]) * (f - a) / (b - a)
                return round_to_tick(x, self.tick) if self.tick > 0 else x
        return self.corners[3]

    def segment(self, f0: float, f1: float) -> tuple[float, float, float, float]:
        """(open, high, low, close) of the path between fractions `f0` < `f1`."""
        o, c = self.price(f0), self.price(f1)
        inside = [self.corners[k] for k in (1, 2) if f0 < self.at[k] < f1]
        return o, max(o, c, *inside), min(o, c, *inside), c


def walk_book(price: float, qty: float, buy: bool, volume: float, *, tick: float,
              qty_step: float, min_qty: float) -> float:
    """The price a taker of `qty` pays (buy) or gets (sell) against the synthetic book drawn
    at `price` (book.py: best bid on the tick at or below it, ask one tick above, level k
    holding `volume / 100 x (1 + k / 10)`): the volume-weighted price of the levels it
    takes, rounded onto the tick grid against the taker. Without volume the book has no
    known depth and the touch fills it whole."""
    best_bid = math.floor(price / tick + 1e-9) * tick if tick > 0 else price
    touch = best_bid + tick if buy else best_bid
    base = max(volume, 0.0) / (2 * BOOK_LEVELS_BASE)
    if base <= 0 or tick <= 0:
        return round_to_tick(touch, tick)
    left, cost, k = qty, 0.0, 0
    while left > 1e-12 and k < 100_000:
        size = base * (1 + k / 10)
        if qty_step > 0:
            size = math.floor(size / qty_step + 1e-9) * qty_step
        size = max(size, min_qty, qty_step, 1e-12)
        take = min(size, left)
        level = touch + k * tick if buy else touch - k * tick
        if level <= 0:
            break
        cost += take * level
        left -= take
        k += 1
    avg = cost / (qty - left) if qty > left else touch
    n = math.ceil(avg / tick - 1e-9) if buy else math.floor(avg / tick + 1e-9)
    return round_to_tick(n * tick, tick)
