"""Trading endpoints (`/v5/order/...`, `/v5/position/trading-stop`, `set-leverage`,
`/v5/execution/list`, disconnect-cancel-all): the signed requests that change or read
orders. Every change goes through the `Venue` under the server's state lock, publishes its
private-stream pushes, and waits for them to reach the sockets before REST answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trade.exchange_sim import dcp as d
from trade.exchange_sim import protocol as p
from trade.exchange_sim.base import ServerBase
from trade.exchange_sim.protocol import ApiError, WithExtInfo
from trade.exchange_sim.routing import Handler, Route, int_param, limit_param, page
from trade.exchange_sim.venue import OrderRecord, Venue

BATCH_MAX = 10  # Bybit: linear orders per batch request


def _ends_grace(params: dict[str, Any]) -> bool:
    """Does this trading-stop end a bracket grace? A Partial take-profit alone does not: a
    client sends one per level, then its stop (Partial or Full), which ends it."""
    if params.get("tpslMode") != "Partial":
        return True
    return params.get("stopLoss") not in (None, "", "0", 0)


class TradingRoutes(ServerBase):
    def _trading_routes(self) -> dict[str, Route]:
        return {
            "/v5/order/create": Route("POST", self._mutate("create"), True),
            "/v5/order/amend": Route("POST", self._mutate("amend"), True),
            "/v5/order/cancel": Route("POST", self._mutate("cancel"), True),
            "/v5/order/cancel-all": Route("POST", self._mutate("cancel_all"), True),
            "/v5/order/disconnected-cancel-all": Route("POST", self._set_dcp, True),
            "/v5/account/query-dcp-info": Route("GET", self._dcp_info, True),
            "/v5/order/realtime": Route("GET", self._realtime, True),
            "/v5/order/history": Route("GET", self._history, True),
            "/v5/position/set-leverage": Route("POST", self._mutate("set_leverage"), True),
            "/v5/position/trading-stop": Route("POST", self._mutate("trading_stop"), True),
            "/v5/execution/list": Route("GET", self._executions, True),
            "/v5/order/create-batch": Route("POST", self._batch("create"), True),
            "/v5/order/amend-batch": Route("POST", self._batch("amend"), True),
            "/v5/order/cancel-batch": Route("POST", self._batch("cancel"), True),
        }

    def _batch(self, name: str) -> Handler:
        """Batch place/amend/cancel: each item is its own request, answered in order; the
        item's outcome is in `retExtInfo.list` (Bybit: at most 10 linear orders a batch)."""

        async def handler(params: dict[str, Any], path: str) -> Any:
            category = params.get("category")
            if category != "linear":
                raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
            items = params.get("request")
            if not isinstance(items, list) or not items or \
                    not all(isinstance(i, dict) for i in items):
                raise ApiError(p.PARAM_ERROR, "params error: request must be a list of orders")
            if len(items) > BATCH_MAX:
                raise ApiError(p.PARAM_ERROR, f"params error: at most {BATCH_MAX} orders a batch")
            rows: list[dict[str, Any]] = []
            codes: list[dict[str, Any]] = []
            assert self._state is not None
            async with self._state:
                for item in items:
                    await self._catch_up()
                    now = self.market_now_ms()
                    row = {"category": "linear", "symbol": str(item.get("symbol", "")),
                           "orderId": "", "orderLinkId": str(item.get("orderLinkId") or "")}
                    try:
                        method = getattr(self.listing(item.get("symbol")).venue, name)
                        result, pushes = method({**item, "category": "linear"}, now)
                    except ApiError as err:
                        codes.append({"code": err.ret_code, "msg": err.message})
                    else:
                        self._publish_private(pushes, now)
                        row.update(orderId=result["orderId"], orderLinkId=result["orderLinkId"])
                        codes.append({"code": 0, "msg": "OK"})
                    if name == "create":
                        row["createAt"] = str(now) if row["orderId"] else ""
                    rows.append(row)
                await self._flush()
            return WithExtInfo({"list": rows}, {"list": codes})

        return handler

    def _mutate(self, name: str) -> Handler:
        async def apply(params: dict[str, Any]) -> Any:
            await self._catch_up()
            if name == "cancel_all" and params.get("symbol") is None:
                return self._cancel_everywhere(params)
            method = getattr(self.listing(params.get("symbol")).venue, name)
            result, pushes = method(params, self.market_now_ms())
            self._publish_private(pushes, self.market_now_ms())
            await self._flush()  # the stream hears of a change before REST answers
            return result

        async def handler(params: dict[str, Any], path: str) -> Any:
            assert self._state is not None
            grace = self._grace
            if name == "trading_stop" and grace is not None and not grace.is_set():
                # a bracket grace holds `_state` for this very request (see replay._feed)
                self.grace_used = True
                ends = True
                try:
                    result = await apply(params)
                    ends = _ends_grace(params)
                    return result
                finally:
                    if ends:
                        grace.set()
            async with self._state:
                if name == "trading_stop":
                    self.grace_misses = 0  # this client does send trading-stops
                return await apply(params)

        return handler

    def _cancel_everywhere(self, params: dict[str, Any]) -> dict[str, Any]:
        """cancel-all without a symbol (Bybit: by settleCoin USDT): every symbol's orders."""
        done: list[dict[str, str]] = []
        for lst in self.listings.values():
            result, pushes = lst.venue.cancel_all(params, self.market_now_ms())
            self._publish_private(pushes, self.market_now_ms())
            done.extend(result["list"])
        return {"list": done, "success": "1"}

    async def _set_dcp(self, params: dict[str, Any], path: str) -> Any:
        product = params.get("product", d.DEFAULT_PRODUCT)
        if product not in d.PRODUCTS:
            raise ApiError(p.PARAM_ERROR, f"params error: product invalid ({product!r})")
        raw = params.get("timeWindow")
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ApiError(p.PARAM_ERROR, f"params error: timeWindow invalid ({raw!r})")
        window = int_param(params, "timeWindow")
        if window is None:
            raise ApiError(p.PARAM_ERROR, "params error: timeWindow is required")
        assert self._state is not None
        async with self._state:
            try:
                self.dcp.configure(str(product), window)
            except ValueError as exc:
                raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        return {}

    async def _dcp_info(self, params: dict[str, Any], path: str) -> Any:
        return {"dcpInfos": self.dcp.info()}

    def _check_account(self, params: dict[str, Any]) -> None:
        category = params.get("category")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is not None:
            self.listing(symbol)

    def _venues(self, params: dict[str, Any]) -> list[Venue]:
        symbol = params.get("symbol")
        if symbol is not None:
            return [self.listing(symbol).venue]
        return [lst.venue for lst in self.listings.values()]

    async def _realtime(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            records = self._select_orders(params)
            open_only = str(params.get("openOnly", "0"))
            if not (params.get("orderId") or params.get("orderLinkId")) and open_only != "2":
                records = [(v, r) for v, r in records if not r.order.status.is_terminal]
            rows = [v.order_row(r) for v, r in records]
        return page(rows, params, limit_param(params, 20, 50))

    async def _history(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            records = self._select_orders(params)
            status = params.get("orderStatus")
            if status:
                records = [(v, r) for v, r in records if r.order.status.bybit == status]
            rows = [v.order_row(r) for v, r in records]
        return page(rows, params, limit_param(params, 20, 50))

    def _select_orders(self, params: dict[str, Any]) -> list[tuple[Venue, OrderRecord]]:
        records = sorted(
            ((v, r) for v in self._venues(params) for r in v.orders.values()),
            key=lambda vr: (vr[1].created_ms, vr[0].oid(vr[1].order.order_id)),
            reverse=True,
        )
        oid = params.get("orderId")
        link = params.get("orderLinkId")
        if oid:
            records = [(v, r) for v, r in records if v.oid(r.order.order_id) == oid]
        if link:
            records = [(v, r) for v, r in records if r.order.order_link_id == link]
        return records

    async def _executions(self, params: dict[str, Any], path: str) -> Any:
        self._check_account(params)
        assert self._state is not None
        async with self._state:
            venues = self._venues(params)
            # newest first; without a symbol, every symbol's in the order they happened
            rows: Iterable[dict[str, Any]] = reversed(
                venues[0].executions if len(venues) == 1 else venues[0].wallet.executions)
            for key in ("orderId", "orderLinkId", "execType"):
                want = params.get(key)
                if want:
                    rows = [r for r in rows if r[key] == want]
            start = int_param(params, "startTime")
            end = int_param(params, "endTime")
            out = [
                r for r in rows
                if (start is None or int(r["execTime"]) >= start)
                and (end is None or int(r["execTime"]) <= end)
            ]
        return page(out, params, limit_param(params, 50, 100))
