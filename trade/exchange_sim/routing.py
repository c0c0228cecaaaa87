"""REST routing and authentication: path -> handler, signature and recv-window checks,
rate limits, REST faults, and the request-parameter helpers every handler uses.

Each endpoint lives in the module of its concern (`market_routes`, `trading`, `account`);
each of those contributes a `{path: Route}` table and `RestRouter` merges them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from trade.exchange_sim import protocol as p
from trade.exchange_sim.base import ServerBase
from trade.exchange_sim.clock import timestamp_ok
from trade.exchange_sim.protocol import ApiError, envelope
from trade.exchange_sim.ratelimit import LimitStatus

Handler = Callable[[dict[str, Any], str], Awaitable[Any]]
DUMPS = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    handler: Handler
    private: bool


# --------------------------------------------------------------------- parameter helpers
def loads_object(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(p.PARAM_ERROR, "params error: body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(p.PARAM_ERROR, "params error: body must be a JSON object")
    return data


def int_param(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError(p.PARAM_ERROR, f"params error: {name} invalid ({raw!r})") from None


def limit_param(params: dict[str, Any], default: int, maximum: int) -> int:
    value = int_param(params, "limit", default)
    assert value is not None
    if not 1 <= value <= maximum:
        raise ApiError(p.PARAM_ERROR, f"params error: limit must be in [1, {maximum}]")
    return value


def page(rows: list[dict[str, Any]], params: dict[str, Any], limit: int,
         category: str | None = "linear") -> dict[str, Any]:
    """Cursor pagination: the cursor is the offset of the next page (opaque to clients)."""
    cursor = params.get("cursor") or "0"
    try:
        offset = int(cursor)
    except ValueError:
        raise ApiError(p.PARAM_ERROR, f"params error: cursor invalid ({cursor!r})") from None
    chunk = rows[offset : offset + limit]
    nxt = str(offset + limit) if offset + limit < len(rows) else ""
    out: dict[str, Any] = {"list": chunk, "nextPageCursor": nxt}
    if category is not None:
        out = {"category": category, **out}
    return out


class RestRouter(ServerBase):
    """Dispatches `/v5/...` requests to the route tables of the concern modules."""

    def _build_routes(self) -> dict[str, Route]:
        return {**self._market_routes(), **self._trading_routes(), **self._account_routes()}

    def _json(
        self, payload: dict[str, Any], limit: LimitStatus | None = None, status: int = 200
    ) -> web.Response:
        headers = limit.headers() if limit is not None else {}
        return web.Response(
            status=status, text=DUMPS(payload), content_type="application/json", headers=headers
        )

    def _error(self, err: ApiError, limit: LimitStatus | None = None) -> web.Response:
        return self._json(
            envelope({}, self.reported_now_ms(), err.ret_code, err.message), limit
        )

    async def _http(self, request: web.Request) -> web.StreamResponse:
        self.requests_seen += 1
        path = request.path
        route = self._routes.get(path)
        if route is None or route.method != request.method:
            return self._json(
                envelope({}, self.reported_now_ms(), p.ROUTE_NOT_FOUND, "route not found"),
                status=404,
            )
        fault = self.faults.rest_fault(path)
        if fault == "http_error":
            status = self.faults.config.rest_error_status
            return web.Response(status=status, text=f"<html><body>{status}</body></html>",
                                content_type="text/html")
        if fault == "timeout":
            return await self._hang(request)
        query = request.raw_path.partition("?")[2]
        body = await request.read()
        client = request.remote or "?"
        try:
            if route.private:
                client = self._authenticate(request, query, body)
        except ApiError as err:
            return self._error(err)
        now = self.server_now_ms()
        if fault == "rate_limit":
            limit = self.limiter.limit_for(path)
            return self._error(ApiError(p.RATE_LIMIT), LimitStatus(False, limit, 0, now + 1000))
        quota = self.limiter.check(client, path, now)
        if not quota.allowed:
            return self._error(ApiError(p.RATE_LIMIT), quota)
        try:
            if request.method == "GET":
                params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
            else:
                params = loads_object(body)
            result = await route.handler(params, path)
        except ApiError as err:
            return self._error(err, quota)
        return self._json(envelope(result, self.reported_now_ms()), quota)

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        """Timeout fault: hold the request, then drop the connection without an answer."""
        task = asyncio.current_task()
        assert task is not None
        self._hanging.add(task)
        try:
            await asyncio.sleep(self.faults.config.rest_timeout_s)
        finally:
            self._hanging.discard(task)
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()  # never reaches the client: the socket is gone

    def _authenticate(self, request: web.Request, query: str, body: bytes) -> str:
        headers = request.headers
        api_key = headers.get("X-BAPI-API-KEY", "")
        secret = self.api_keys.get(api_key)
        if not api_key or secret is None:
            raise ApiError(p.INVALID_API_KEY)
        ts_text = headers.get("X-BAPI-TIMESTAMP", "")
        recv_text = headers.get("X-BAPI-RECV-WINDOW", "5000") or "5000"
        try:
            ts = int(ts_text)
            recv_window = int(recv_text)
        except ValueError:
            raise ApiError(p.PARAM_ERROR, "params error: X-BAPI-TIMESTAMP/RECV-WINDOW") from None
        now = self.server_now_ms()
        if not timestamp_ok(ts, recv_window, now, self.clock):
            raise ApiError(
                p.TIMESTAMP_ERROR,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]",
            )
        payload = query.encode("utf-8") if request.method == "GET" else body
        signed = p.rest_sign_payload(ts_text, api_key, recv_text, payload)
        expected = p.hmac_sha256(secret, signed)
        if not p.signatures_match(expected, headers.get("X-BAPI-SIGN", "")):
            raise ApiError(p.SIGN_ERROR, p.MESSAGES[p.SIGN_ERROR].format(signed.decode(
                "utf-8", "replace")))
        return api_key
