"""Market-data endpoints (`/v5/market/...`): public, unsigned, read the replayed history.

Only bars closed by the market clock are visible (`fed`), so nothing looks ahead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trade.core.instrument import Instrument
from trade.exchange_sim import protocol as p
from trade.exchange_sim.account import CATEGORIES
from trade.exchange_sim.base import Listing, ServerBase
from trade.exchange_sim.market import INTERVALS, MINUTE_MS
from trade.exchange_sim.protocol import ApiError, num
from trade.exchange_sim.routing import Route, int_param, limit_param, page


def instrument_info(inst: Instrument) -> dict[str, Any]:
    """An instruments-info row (linear perpetual) for `inst`."""
    return {
        "symbol": inst.symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": inst.base_coin,
        "quoteCoin": inst.quote_coin,
        "launchTime": str(inst.launch_time),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(inst.price_scale),
        "leverageFilter": {
            "minLeverage": "1",
            "maxLeverage": num(inst.max_leverage),
            "leverageStep": "0.01",
        },
        "priceFilter": {
            "minPrice": num(inst.tick_size),
            "maxPrice": "1999999.8",
            "tickSize": num(inst.tick_size),
        },
        "lotSizeFilter": {
            "maxOrderQty": num(inst.max_qty),
            "minOrderQty": num(inst.min_qty),
            "qtyStep": num(inst.qty_step),
            "postOnlyMaxOrderQty": num(inst.max_qty),
            "maxMktOrderQty": num(inst.max_mkt_qty),
            "minNotionalValue": num(inst.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": inst.quote_coin,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
    }


OI_INTERVALS = {"5min": 5 * MINUTE_MS, "15min": 15 * MINUTE_MS, "30min": 30 * MINUTE_MS,
                "1h": 60 * MINUTE_MS, "4h": 240 * MINUTE_MS, "1d": 1440 * MINUTE_MS}


class MarketRoutes(ServerBase):
    def _market_routes(self) -> dict[str, Route]:
        return {
            "/v5/market/time": Route("GET", self._market_time, False),
            "/v5/market/kline": Route("GET", self._kline, False),
            "/v5/market/mark-price-kline": Route("GET", self._mark_kline, False),
            "/v5/market/tickers": Route("GET", self._tickers, False),
            "/v5/market/instruments-info": Route("GET", self._instruments, False),
            "/v5/market/funding/history": Route("GET", self._funding, False),
            "/v5/market/orderbook": Route("GET", self._orderbook, False),
            "/v5/market/recent-trade": Route("GET", self._recent_trades, False),
            "/v5/market/open-interest": Route("GET", self._open_interest, False),
        }

    def _category(self, params: dict[str, Any]) -> str:
        """Bybit's four products; only `linear` lists anything here (others answer empty)."""
        category = params.get("category", "linear")
        if category not in CATEGORIES:
            raise ApiError(p.PARAM_ERROR, f"params error: category invalid ({category!r})")
        return str(category)

    def _check_market(self, params: dict[str, Any]) -> Listing:
        category = params.get("category", "linear")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        return self.listing(params.get("symbol"))

    async def _market_time(self, params: dict[str, Any], path: str) -> Any:
        now = self.reported_now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    async def _kline(self, params: dict[str, Any], path: str) -> Any:
        return self._kline_rows(params, mark=False)

    async def _mark_kline(self, params: dict[str, Any], path: str) -> Any:
        return self._kline_rows(params, mark=True)

    def _kline_rows(self, params: dict[str, Any], *, mark: bool) -> dict[str, Any]:
        lst = self._check_market(params)
        interval = str(params.get("interval", ""))
        if interval not in INTERVALS:
            raise ApiError(p.PARAM_ERROR, f"params error: interval invalid ({interval!r})")
        rows = lst.market.klines(
            interval,
            visible=lst.fed,
            start=int_param(params, "start"),
            end=int_param(params, "end"),
            limit=limit_param(params, 200, 1000),
            mark=mark,
        )
        if mark:
            out = [[str(r.start), num(r.open), num(r.high), num(r.low), num(r.close)] for r in rows]
        else:
            out = [
                [str(r.start), num(r.open), num(r.high), num(r.low), num(r.close), num(r.volume),
                 num(r.turnover)]
                for r in rows
            ]
        return {"category": "linear", "symbol": lst.symbol, "list": out}

    async def _tickers(self, params: dict[str, Any], path: str) -> Any:
        category = self._category(params)
        if category != "linear":
            return {"category": category, "list": []}
        symbol = params.get("symbol")
        listed = list(self.listings.values()) if symbol is None else [self.listing(symbol)]
        rows = [self.ticker_at(lst, lst.fed - 1, self.market_now_ms(), live=True)
                for lst in listed if lst.fed > 0]
        return {"category": "linear", "list": rows}

    async def _instruments(self, params: dict[str, Any], path: str) -> Any:
        category = self._category(params)
        if category != "linear":
            return {"category": category, "list": [], "nextPageCursor": ""}
        symbol = params.get("symbol")
        rows = [instrument_info(lst.instrument) for lst in self.listings.values()
                if symbol in (None, lst.symbol)]
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    async def _funding(self, params: dict[str, Any], path: str) -> Any:
        lst = self._check_market(params)
        start = int_param(params, "startTime")
        end = int_param(params, "endTime")
        if start is not None and end is None:
            raise ApiError(p.PARAM_ERROR, "params error: endTime is required with startTime")
        rows = lst.market.funding_history(
            now_ms=self.market_now_ms(), start=start, end=end, limit=limit_param(params, 200, 200)
        )
        return {
            "category": "linear",
            "list": [
                {"symbol": lst.symbol, "fundingRate": num(rate) if rate else "0",
                 "fundingRateTimestamp": str(t)}
                for t, rate in rows
            ],
        }

    async def _orderbook(self, params: dict[str, Any], path: str) -> Any:
        lst = self._check_market(params)
        depth = limit_param(params, 25, 500)
        now = self.market_now_ms()
        if lst.fed == 0:
            return {"s": lst.symbol, "b": [], "a": [], "ts": now, "u": 0, "seq": 0, "cts": now}
        bids, asks = self.book_at(lst, lst.fed - 1, depth, live=True).rows()
        return {"s": lst.symbol, "b": bids, "a": asks, "ts": now, "u": lst.fed,
                "seq": lst.fed, "cts": now}

    async def _recent_trades(self, params: dict[str, Any], path: str) -> Any:
        """Public trades: the replay has one synthetic trade per closed 1m bar (as on the
        `publicTrade` stream): at its close, for its volume, taker side by the bar's direction."""
        lst = self._check_market(params)
        limit = limit_param(params, 500, 1000)
        rows = []
        for i in range(lst.fed - 1, max(lst.fed - 1 - limit, -1), -1):
            ts, o, _h, _lo, c, v = lst.market.bar(i)
            rows.append({
                "execId": f"sim-{ts}", "symbol": lst.symbol, "price": num(c), "size": num(v),
                "side": "Buy" if c >= o else "Sell", "time": str(ts + MINUTE_MS - 1),
                "isBlockTrade": False, "isRPITrade": False,
            })
        return {"category": "linear", "list": rows}

    async def _open_interest(self, params: dict[str, Any], path: str) -> Any:
        """Open interest at each `intervalTime` mark, from the bars' `open_interest` column
        (the value at the close of the 1m bar ending on the mark); without that column
        the replay has no open interest and the list is empty."""
        lst = self._check_market(params)
        market = lst.market
        interval = str(params.get("intervalTime", ""))
        step = OI_INTERVALS.get(interval)
        if step is None:
            raise ApiError(p.PARAM_ERROR, f"params error: intervalTime invalid ({interval!r})")
        limit = limit_param(params, 50, 200)
        start = int_param(params, "startTime")
        end = int_param(params, "endTime")
        rows: list[dict[str, str]] = []
        oi = market.open_interest
        if oi is not None and lst.fed > 0:
            last_close = int(market.ts[lst.fed - 1]) + MINUTE_MS
            t = last_close - last_close % step if end is None else min(end, last_close)
            t -= t % step
            while t >= market.first_ts + MINUTE_MS and len(rows) < 10_000:
                if start is not None and t < start:
                    break
                i = int(np.searchsorted(market.ts, t - MINUTE_MS, side="left"))
                if i < lst.fed and int(market.ts[i]) == t - MINUTE_MS \
                        and np.isfinite(oi[i]):
                    rows.append({"openInterest": num(float(oi[i])), "timestamp": str(t)})
                t -= step
        out = page(rows, params, limit, category="linear")
        return {**out, "symbol": lst.symbol}
