"""What every part of the exchange server shares: its state, declared once.

`ExchangeSimServer` is assembled from one mixin per concern (`routing`, `market_routes`,
`trading`, `account`, `streams`, `replay`); each reads and writes the attributes declared
here, which the server's constructor sets. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from trade.core import Clock
from trade.exchange_sim import protocol as p
from trade.exchange_sim.book import Book, synthetic_book
from trade.exchange_sim.clock import reports_market_clock
from trade.exchange_sim.dcp import DcpMonitor, DcpTrigger
from trade.exchange_sim.faults import FaultInjector
from trade.exchange_sim.market import MarketData
from trade.exchange_sim.protocol import ApiError, num
from trade.exchange_sim.ratelimit import RateLimiter
from trade.exchange_sim.venue import Instrument, Pushes, Venue


@dataclass(slots=True)
class Listing:
    """One symbol the server lists: its replayed bars, instrument and account side (every
    listing's venue shares one wallet, see venue.SharedWallet)."""

    symbol: str
    market: MarketData
    instrument: Instrument
    venue: Venue
    fed: int = 0  # bars fed to its engine so far


class ServerBase:
    """State shared by the server's parts (set by `ExchangeSimServer.__init__`).

    `symbol`, `market`, `instrument` and `venue` are those of the first listed symbol;
    `listings` holds every symbol (in the order given)."""

    symbol: str
    market: MarketData
    instrument: Instrument
    venue: Venue
    listings: dict[str, Listing]
    api_keys: dict[str, str]
    clock: Clock
    server_clock: Clock
    faults: FaultInjector
    limiter: RateLimiter
    host: str
    port: int
    poll_interval_s: float
    ws_ack_delay_s: float
    requests_seen: int
    dcp_clock: Clock
    dcp: DcpMonitor
    dcp_legacy_topic: bool
    dcp_triggers: list[DcpTrigger]
    bracket_grace_s: float
    intrabar: bool  # fills inside the forming minute (real time); else whole 1m bars
    bracket_grace_misses: int
    grace_misses: int
    grace_used: bool  # a trading-stop came during the current grace
    graces: dict[str, int]
    _routes: dict[str, Any]  # path -> routing.Route
    _state: asyncio.Lock | None
    _grace: asyncio.Event | None
    _hanging: set[asyncio.Task[Any]]
    _loop: asyncio.AbstractEventLoop | None
    _thread: threading.Thread | None
    _runner: web.AppRunner | None

    @property
    def fed(self) -> int:
        """Bars of the first symbol fed to its engine so far."""
        return self.listings[self.symbol].fed

    def listing(self, symbol: object) -> Listing:
        """The listing a request names (10001 for a symbol this server does not list)."""
        found = self.listings.get(symbol) if isinstance(symbol, str) else None
        if found is None:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")
        return found

    # --- time (see clock.py for how the two clocks relate) ----------------------------
    def market_now_ms(self) -> int:
        """The replay's clock: bars, orders and executions carry this time."""
        return self.clock.now_ms()

    def server_now_ms(self) -> int:
        """The wall clock signatures, rate limits and DCP are checked against."""
        return self.server_clock.now_ms() + self.faults.clock_skew_ms

    def reported_now_ms(self) -> int:
        """What `/v5/market/time` and the envelope `time` say: the market clock of a
        replay faster than real time, else the server clock (see clock.py)."""
        if reports_market_clock(self.clock):
            return self.clock.now_ms() + self.faults.clock_skew_ms
        return self.server_now_ms()

    # --- what market data and streams both show --------------------------------------------
    def book_at(self, lst: Listing, i: int, depth: int, *, live: bool = False) -> Book:
        """The synthetic book after bar `i` closed (see book.py); `live` (REST, intrabar
        fills): drawn at the forming minute's price now, with bar `i`'s depth."""
        inst = lst.instrument
        price = lst.venue.live_price if live else None
        return synthetic_book(float(lst.market.close[i]) if price is None else price,
                              float(lst.market.volume[i]),
                              tick=inst.tick_size, qty_step=inst.qty_step,
                              min_qty=inst.min_qty, depth=depth)

    def ticker_at(self, lst: Listing, i: int, now_ms: int, *,
                  live: bool = False) -> dict[str, Any]:
        """The ticker after bar `i`, its best bid/ask from the synthetic book; `live` as
        in `book_at` (the last price is then the forming minute's)."""
        row = lst.market.ticker(i, now_ms, lst.instrument.tick_size)
        price = lst.venue.live_price if live else None
        if price is not None:
            row["lastPrice"] = num(price)
        book = self.book_at(lst, i, 1, live=live)
        (bid, bid_qty), (ask, ask_qty) = book.bids[0], book.asks[0]
        row.update(bid1Price=num(bid), bid1Size=num(bid_qty), ask1Price=num(ask),
                   ask1Size=num(ask_qty))
        return row

    # --- route tables: market_routes.py, trading.py, account.py --------------------------
    def _market_routes(self) -> dict[str, Any]:
        raise NotImplementedError

    def _trading_routes(self) -> dict[str, Any]:
        raise NotImplementedError

    def _account_routes(self) -> dict[str, Any]:
        raise NotImplementedError

    # --- implemented by streams.py ------------------------------------------------------
    def _publish_private(self, pushes: Pushes, now_ms: int) -> None:
        raise NotImplementedError

    def _publish_public(self, lst: Listing, i: int, now_ms: int) -> None:
        raise NotImplementedError

    async def _flush(self) -> None:
        raise NotImplementedError

    # --- implemented by replay.py -------------------------------------------------------
    async def _catch_up(self) -> None:
        raise NotImplementedError
