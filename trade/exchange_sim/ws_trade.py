"""Order entry over WebSocket (`/v5/trade`): `auth`, `ping`, `order.create`,
`order.amend`, `order.cancel`, answered as Bybit's WebSocket trade guideline describes.

Each order op runs exactly the REST handler of its endpoint (same validation, state lock,
pushes and retCodes); its `X-BAPI-TIMESTAMP` header is checked like a REST signature's
timestamp and it counts against the same rate limit as the REST endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from trade.exchange_sim import protocol as p
from trade.exchange_sim.clock import expires_ok, timestamp_ok
from trade.exchange_sim.protocol import ApiError
from trade.exchange_sim.ratelimit import LimitStatus
from trade.exchange_sim.routing import DUMPS
from trade.exchange_sim.streams import Conn, Streams

OP_PATHS = {"order.create": "/v5/order/create", "order.amend": "/v5/order/amend",
            "order.cancel": "/v5/order/cancel"}
NOT_FOUND = 10404  # op type not found, or category not supported
REQ_ID_DUPLICATE = 20006
REPEAT_AUTH = 20001


class WsTrade(Streams):
    """The `/v5/trade` WebSocket endpoint."""

    async def _ws_trade(self, request: web.Request) -> web.StreamResponse:
        req_ids: set[str] = set()  # this connection's reqIds (a repeated one is refused)

        async def on_text(conn: Conn, text: str) -> None:
            reply = await self._trade_message(conn, text, req_ids)
            self._enqueue(conn, DUMPS(reply), faulty=False)

        return await self._serve_ws(request, "sim-trade", "trade", on_text)

    async def _trade_message(self, conn: Conn, text: str,
                             req_ids: set[str]) -> dict[str, Any]:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            return {"retCode": p.PARAM_ERROR, "retMsg": "invalid json", "op": "",
                    "connId": conn.cid}
        op = str(msg.get("op", ""))
        req_id = msg.get("reqId")
        reply: dict[str, Any] = {"op": op, "connId": conn.cid}
        if req_id is not None:
            reply["reqId"] = req_id
        if op == "ping":
            return {"retCode": 0, "retMsg": "OK", "op": "pong",
                    "data": [str(self.reported_now_ms())], "connId": conn.cid}
        if op == "auth":
            code, text_ = self._trade_auth(conn, msg.get("args"))
            return {**reply, "retCode": code, "retMsg": text_}
        path = OP_PATHS.get(op)
        if path is None:
            return {**reply, "retCode": NOT_FOUND, "retMsg": f"op {op!r} not found"}
        if not conn.authed:
            return {**reply, "retCode": p.INVALID_API_KEY, "retMsg": "Request not authorized"}
        if req_id is not None:
            if str(req_id) in req_ids:
                return {**reply, "retCode": REQ_ID_DUPLICATE, "retMsg": "reqId is duplicated"}
            req_ids.add(str(req_id))
        quota: list[LimitStatus] = []
        try:
            data = await self._trade_op(conn, path, msg, quota)
        except ApiError as err:
            return {**reply, "retCode": err.ret_code, "retMsg": err.message, "data": {},
                    "header": self._trade_header(quota)}
        return {**reply, "retCode": 0, "retMsg": "OK", "data": data,
                "header": self._trade_header(quota)}

    def _trade_auth(self, conn: Conn, args: object) -> tuple[int, str]:
        if conn.authed:
            return REPEAT_AUTH, "repeat auth"
        if not (isinstance(args, list) and len(args) == 3):
            return p.PARAM_ERROR, "param error"
        api_key, expires, signature = args
        secret = self.api_keys.get(str(api_key))
        if secret is None:
            return p.INVALID_API_KEY, "API key is invalid."
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return p.PARAM_ERROR, "param error"
        if not expires_ok(expires_ms, self.server_now_ms(), self.clock):
            return p.PARAM_ERROR, "param error: auth expired"
        if not p.signatures_match(p.ws_auth_signature(secret, expires_ms), str(signature)):
            return p.SIGN_ERROR, "invalid sign"
        conn.authed = True
        conn.topics.add(f"key:{api_key}")  # the rate-limit client of this connection
        return 0, "OK"

    def _trade_client(self, conn: Conn) -> str:
        return next((t[4:] for t in conn.topics if t.startswith("key:")), conn.cid)

    async def _trade_op(self, conn: Conn, path: str, msg: dict[str, Any],
                        quota: list[LimitStatus]) -> Any:
        header = msg.get("header")
        if not isinstance(header, dict):
            raise ApiError(p.PARAM_ERROR, "params error: header is required")
        try:
            ts = int(header.get("X-BAPI-TIMESTAMP", ""))
            recv = int(header.get("X-BAPI-RECV-WINDOW", "5000") or "5000")
        except (TypeError, ValueError):
            raise ApiError(p.PARAM_ERROR, "params error: X-BAPI-TIMESTAMP/RECV-WINDOW") from None
        now = self.server_now_ms()
        if not timestamp_ok(ts, recv, now, self.clock):
            raise ApiError(p.TIMESTAMP_ERROR)
        args = msg.get("args")
        if not (isinstance(args, list) and len(args) == 1 and isinstance(args[0], dict)):
            raise ApiError(p.PARAM_ERROR, "params error: args takes one order")
        params = dict(args[0])
        if params.get("category") != "linear":
            raise ApiError(NOT_FOUND, f"category {params.get('category')!r} not supported")
        status = self.limiter.check(self._trade_client(conn), path, now)
        quota.append(status)
        if not status.allowed:
            raise ApiError(p.RATE_LIMIT)
        return await self._routes[path].handler(params, path)

    def _trade_header(self, quota: list[LimitStatus]) -> dict[str, str]:
        now = self.reported_now_ms()
        header = {"Traceid": f"sim-{now}", "Timenow": str(now)}
        if quota:
            header.update(quota[0].headers())
        return header
