"""The bar driver: feeds the engine every 1m bar the market clock has closed, walks the
forming minute's price path at real time (intrabar fills, see intrabar.py), and the
bracket grace of the stepped replay (a fill at a bar's open waits for the client's
trading-stop).

The driver task runs on the server loop every `poll_interval_s`; `sync()`/`step()` run the
same code on demand. The caller of `_feed` holds `_state`, so no request sees a
half-processed bar.
"""

from __future__ import annotations

import asyncio
import logging
import math

from trade.exchange_sim.base import Listing, ServerBase
from trade.exchange_sim.dcp import DcpTrigger
from trade.exchange_sim.market import MINUTE_MS
from trade.exchange_sim.venue import Pushes

log = logging.getLogger(__name__)


class ReplayDriver(ServerBase):
    """Feeds closed bars to the venue; fires DCP windows that ran out."""

    async def _drive(self) -> None:
        while True:
            await self._sync()
            await self._check_dcp()
            await asyncio.sleep(self.poll_interval_s)

    async def _check_dcp(self) -> list[DcpTrigger]:
        assert self._state is not None
        fired: list[DcpTrigger] = []
        async with self._state:
            for product in self.dcp.due(self.dcp_clock.monotonic()):
                now = self.market_now_ms()
                ids: list[str] = []
                if product == "DERIVATIVES":  # the simulator's only product: USDT perpetuals
                    for lst in self.listings.values():
                        done, pushes = lst.venue.dcp_cancel(now)
                        ids.extend(done)
                        self._publish_private(pushes, now)
                trigger = DcpTrigger(product, now, tuple(ids))
                log.info("DCP fired for %s: cancelled %d order(s)", product, len(ids))
                self.dcp_triggers.append(trigger)
                fired.append(trigger)
            if fired:
                await self._flush()
        return fired

    async def _sync(self) -> int:
        assert self._state is not None
        async with self._state:
            now = self.clock.now_ms()
            count = await self._feed_closed(now)
            moved = False
            if self.intrabar:
                for lst in self.listings.values():
                    pushes = self._advance_path(lst, now, force=False)
                    self._publish_private(pushes, now)
                    moved = moved or bool(pushes.items)
            if count or moved:
                await self._flush()
            return count

    async def _feed_closed(self, now: int) -> int:
        """Feed every bar closed by `now`, of every symbol, in the order they closed."""
        count = 0
        while True:
            due = [(int(lst.market.ts[lst.fed]), k, lst)
                   for k, lst in enumerate(self.listings.values())
                   if lst.fed < lst.market.closed_count(now)]
            if not due:
                return count
            await self._feed(min(due, key=lambda d: d[:2])[2])
            count += 1

    def _advance_path(self, lst: Listing, now: int, *, force: bool) -> Pushes:
        """Walk a symbol's forming minute up to `now` (the caller holds `_state` and has
        fed every closed bar)."""
        i, market = lst.fed, lst.market
        if i >= len(market) or int(market.ts[i]) > now:
            lst.venue.path_gap()
            return Pushes()
        funding = math.nan
        if market.funding is not None:
            funding = float(market.funding[i])
        return lst.venue.path_to(market.bar(i), now - int(market.ts[i]),
                                 market.mark_price(i), funding, now, force=force)

    async def _catch_up(self) -> None:
        """Before a request changes the account (the caller holds `_state`): with intrabar
        fills, feed the bars closed by now and walk the forming one's path to now, so the
        request meets the market where it is (a market order then fills at once)."""
        if not self.intrabar:
            return
        now = self.clock.now_ms()
        await self._feed_closed(now)
        for lst in self.listings.values():
            self._publish_private(self._advance_path(lst, now, force=True), now)

    async def _feed(self, lst: Listing) -> None:
        """Feed a symbol's next bar (the caller holds `_state`); a fill at its open earns
        a grace.

        On Bybit a client attaches fill-relative TP/SL with trading-stop milliseconds after
        its entry fills, so the entry's own bar already runs against them, as in the
        backtest (docs/fill_model.md rule 4). The simulator models that latency: it fills
        at the open (rule 1) and pushes the executions, then waits up to
        `bracket_grace_s` real seconds (ending as soon as a trading-stop has been applied)
        before the rest of the bar (rules 2-7). `_state` stays held throughout, so no other
        request sees the half-processed bar; only trading-stop is let through (see
        `_mutate`). Bars without a fill at the open cost nothing, and so do fills once
        `bracket_grace_misses` graces in a row ran out unused (until a trading-stop comes).

        The grace belongs to the stepped replay (bar fills), which keeps the backtest's 1m
        semantics exactly: there a market order can only fill at the next bar's open, so
        without the grace the entry's own bar would run before any trading-stop could
        arrive. With intrabar fills the order fills when it is placed and a trading-stop
        sent after the acknowledgement applies from that moment on, as on Bybit: no grace.
        """
        i, venue = lst.fed, lst.venue
        bar = lst.market.bar(i)
        mark = lst.market.mark_price(i)
        funding = math.nan
        if lst.market.funding is not None:
            funding = float(lst.market.funding[i])
        now = max(self.clock.now_ms(), bar[0] + MINUTE_MS)
        if self.bracket_grace_s <= 0 or self.intrabar:
            pushes = venue.on_bar(bar, mark, funding, now)
        else:
            pushes, opened = venue.on_bar_open(bar, now)
            if opened and self.grace_misses < self.bracket_grace_misses:
                self._publish_private(pushes, now)
                await self._flush()
                used = await self._bracket_grace()
                self.grace_misses = 0 if used else self.grace_misses + 1
                self.graces["granted"] += 1
                self.graces["used"] += used
                pushes = Pushes()
            rest = venue.on_bar_rest(bar, mark, funding, now)
            pushes.items.extend(rest.items)
        lst.fed += 1
        self._publish_private(pushes, now)
        self._publish_public(lst, i, now)

    async def _bracket_grace(self) -> bool:
        """Wait, `_state` held, until a trading-stop that ends it is applied (True) or the
        grace runs out (False, unless Partial take-profits came: they do not end it)."""
        applied = asyncio.Event()
        self._grace = applied
        self.grace_used = False  # a trading-stop came (Partial take-profits do not end it)
        try:
            await asyncio.wait_for(applied.wait(), self.bracket_grace_s)
            return True
        except TimeoutError:
            return self.grace_used
        finally:
            self._grace = None
