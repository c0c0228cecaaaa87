"""The synthetic order book of a replayed 1m bar (REST `/v5/market/orderbook`, the
`orderbook.{depth}.{symbol}` stream and the ticker's best bid/ask all read it).

History has no book, so the simulator draws one from the last closed bar, the same way
every time: the best bid is the close rounded down to the tick grid and the best ask one
tick above it (a one-tick spread, as on a liquid perpetual); level k (0-based) on either
side lies k ticks further out and holds `volume / (2 x 50) x (1 + k / 10)` rounded down to
the quantity step (never below the minimum quantity), so depth grows away from the touch
and scales with the bar's traded volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trade.exchange_sim.protocol import num, on_grid

BOOK_LEVELS_BASE = 50  # the bar's volume is spread as if over 50 levels a side
WS_DEPTHS = (1, 50, 200, 500)  # Bybit's linear orderbook stream depths


@dataclass(frozen=True, slots=True)
class Book:
    bids: list[tuple[float, float]]  # best first
    asks: list[tuple[float, float]]

    def rows(self) -> tuple[list[list[str]], list[list[str]]]:
        return ([[num(p), num(q)] for p, q in self.bids], [[num(p), num(q)] for p, q in self.asks])


def synthetic_book(close: float, volume: float, *, tick: float, qty_step: float,
                   min_qty: float, depth: int) -> Book:
    """`depth` levels a side around `close` (see the module doc)."""
    best_bid = math.floor(close / tick + 1e-9) * tick if tick > 0 else close
    base = max(volume, 0.0) / (2 * BOOK_LEVELS_BASE)
    bids: list[tuple[float, float]] = []
    asks: list[tuple[float, float]] = []
    for k in range(depth):
        size = base * (1 + k / 10)
        size = math.floor(size / qty_step + 1e-9) * qty_step if qty_step > 0 else size
        size = on_grid(max(size, min_qty), qty_step)
        bid = on_grid(best_bid - k * tick, tick)
        if bid > 0:
            bids.append((bid, size))
        asks.append((on_grid(best_bid + (k + 1) * tick, tick), size))
    return Book(bids, asks)
