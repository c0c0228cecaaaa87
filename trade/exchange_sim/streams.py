"""WebSocket streams: public (`/v5/public/linear`) and private (`/v5/private`)
connections, auth, subscriptions, and the fan-out of pushes with WebSocket faults.

Each connection has one writer task draining its queue, so pushes leave in order;
`_flush` waits until every queued push has been handed to its socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from trade.exchange_sim import dcp as d
from trade.exchange_sim import protocol as p
from trade.exchange_sim.base import Listing, ServerBase
from trade.exchange_sim.book import WS_DEPTHS
from trade.exchange_sim.clock import expires_ok
from trade.exchange_sim.market import INTERVALS, MINUTE_MS, bucket_end
from trade.exchange_sim.protocol import num
from trade.exchange_sim.routing import DUMPS
from trade.exchange_sim.venue import Pushes

log = logging.getLogger(__name__)

PRIVATE_TOPICS = frozenset({"order", "execution", "position", "wallet"})


@dataclass(eq=False)
class Conn:
    """One WebSocket connection and its outgoing queue (written by its writer task)."""

    cid: str
    kind: Literal["public", "private", "trade"]
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue[tuple[str, bool]] = field(default_factory=asyncio.Queue)
    topics: set[str] = field(default_factory=set)
    snapshot_sent: set[str] = field(default_factory=set)
    authed: bool = False
    pushes: int = 0
    held: str | None = None
    writer: asyncio.Task[None] | None = None


class Streams(ServerBase):
    """Public and private WebSocket endpoints and the push fan-out."""

    _conns: dict[str, Conn]
    _conn_ids: itertools.count[int]
    _msg_ids: itertools.count[int]

    # --------------------------------------------------------------- publishing
    def _publish_private(self, pushes: Pushes, now_ms: int) -> None:
        if not pushes.items:
            return
        for topic, rows in pushes.items:
            message = DUMPS(
                {
                    "id": f"{next(self._msg_ids)}",
                    "topic": topic,
                    "creationTime": now_ms,
                    "data": rows,
                }
            )
            for conn in self._conns.values():
                if conn.kind == "private" and conn.authed and topic in conn.topics:
                    self._enqueue(conn, message, faulty=True)

    def _publish_public(self, lst: Listing, i: int, now_ms: int) -> None:
        cache: dict[str, str] = {}
        for conn in list(self._conns.values()):
            if conn.kind != "public":
                continue
            for topic in sorted(conn.topics):
                if _topic_symbol(topic) != lst.symbol:
                    continue  # another symbol's bar
                if topic.startswith("tickers."):
                    self._send_ticker(conn, topic, lst, i, now_ms)
                    continue
                if topic not in cache:
                    cache[topic] = self._public_message(topic, lst, i, now_ms)
                self._enqueue(conn, cache[topic], faulty=True)

    def _public_message(self, topic: str, lst: Listing, i: int, now_ms: int) -> str:
        kind, _, rest = topic.partition(".")
        ts, o, _h, _lo, c, v = lst.market.bar(i)
        if kind == "orderbook":
            # each closed bar redraws the book: a snapshot, which a client must take whole
            depth = int(rest.partition(".")[0])
            bids, asks = self.book_at(lst, i, depth).rows()
            data = {"s": lst.symbol, "b": bids, "a": asks, "u": i + 1, "seq": i + 1}
            return DUMPS({"topic": topic, "type": "snapshot", "ts": now_ms, "data": data,
                          "cts": now_ms})
        if kind == "kline":
            interval = rest.partition(".")[0]
            rows = lst.market.klines(
                interval, visible=i + 1, start=None, end=None, limit=1
            )
            row = rows[0]
            end = bucket_end(row.start, interval)
            data = {
                "start": row.start,
                "end": end - 1,
                "interval": interval,
                "open": num(row.open),
                "close": num(row.close),
                "high": num(row.high),
                "low": num(row.low),
                "volume": num(row.volume),
                "turnover": num(row.turnover),
                "confirm": ts + MINUTE_MS >= end,
                "timestamp": now_ms,
            }
            return DUMPS({"topic": topic, "data": [data], "ts": now_ms, "type": "snapshot"})
        # publicTrade: one synthetic trade per 1m bar, at its close, for its volume.
        trade = {
            "T": ts + MINUTE_MS - 1,
            "s": lst.symbol,
            "S": "Buy" if c >= o else "Sell",
            "v": num(v),
            "p": num(c),
            "L": "PlusTick" if c >= o else "MinusTick",
            "i": f"sim-{ts}",
            "BT": False,
        }
        return DUMPS({"topic": topic, "type": "snapshot", "ts": now_ms, "data": [trade]})

    def _send_ticker(self, conn: Conn, topic: str, lst: Listing, i: int, now_ms: int) -> None:
        data = self.ticker_at(lst, i, now_ms)
        kind = "delta" if topic in conn.snapshot_sent else "snapshot"
        conn.snapshot_sent.add(topic)
        message = {"topic": topic, "type": kind, "data": data, "cs": i + 1, "ts": now_ms}
        self._enqueue(conn, DUMPS(message), faulty=kind == "delta")

    def _enqueue(self, conn: Conn, message: str, *, faulty: bool) -> None:
        conn.queue.put_nowait((message, faulty))

    async def _flush(self) -> None:
        """Wait until every queued push has been handed to its socket."""
        for conn in list(self._conns.values()):
            if conn.writer is not None and not conn.writer.done():
                await conn.queue.join()

    async def _writer(self, conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message, faulty = await conn.queue.get()
            try:
                if not faulty:
                    await self._send(conn, message)
                    continue
                await self._send_faulty(conn, message, loop)
            finally:
                conn.queue.task_done()

    async def _send_faulty(
        self, conn: Conn, message: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        cfg = self.faults.config
        action = self.faults.ws_action()
        if action == "drop":
            return
        if action == "delay":
            loop.call_later(cfg.ws_delay_s, lambda: loop.create_task(self._send(conn, message)))
            return
        if action == "reorder" and conn.held is None:
            conn.held = message  # goes out right after the next message
            return
        await self._send(conn, message)
        if action == "duplicate":
            await self._send(conn, message)
        if conn.held is not None and conn.held is not message:
            held, conn.held = conn.held, None
            await self._send(conn, held)
        conn.pushes += 1
        if cfg.ws_close_after is not None and conn.pushes >= cfg.ws_close_after:
            await self._close_conn(conn, abort=True)

    async def _send(self, conn: Conn, message: str) -> None:
        if conn.ws.closed:
            return
        try:
            await conn.ws.send_str(message)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("push to %s failed: %s", conn.cid, exc)

    async def _close_conn(self, conn: Conn, *, abort: bool) -> None:
        if self._conns.pop(conn.cid, None) is not None and conn.kind == "private":
            self.dcp.closed(conn.cid, self.dcp_clock.monotonic())
        if abort:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.close(code=1001, message=b"server shutdown")
        if conn.writer is not None and conn.writer is not asyncio.current_task():
            conn.writer.cancel()
        # Unblock anyone flushing this connection.
        while not conn.queue.empty():
            conn.queue.get_nowait()
            conn.queue.task_done()

    # ---------------------------------------------------------------- WebSocket
    async def _ws_public(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, "public")

    async def _ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._ws(request, "private")

    async def _ws(
        self, request: web.Request, kind: Literal["public", "private"]
    ) -> web.StreamResponse:
        return await self._serve_ws(request, f"sim-{kind}", kind, self._on_ws_message)

    async def _serve_ws(self, request: web.Request, prefix: str,
                        kind: Literal["public", "private", "trade"],
                        on_text: Callable[[Conn, str], Awaitable[None]]
                        ) -> web.StreamResponse:
        """One WebSocket connection's life: registered with its writer task, each text frame
        handed to `on_text`, closed and unregistered when the client goes (every endpoint)."""
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = Conn(f"{prefix}-{next(self._conn_ids)}", kind, ws, request)
        conn.writer = asyncio.get_running_loop().create_task(self._writer(conn))
        self._conns[conn.cid] = conn
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await on_text(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            if conn.cid in self._conns:
                await self._close_conn(conn, abort=False)
            if conn.writer is not None:
                conn.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await conn.writer
        return ws

    async def _on_ws_message(self, conn: Conn, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            self._enqueue(conn, DUMPS({"success": False, "ret_msg": "invalid json",
                                        "conn_id": conn.cid, "op": ""}), faulty=False)
            return
        if not isinstance(msg, dict):
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            if conn.kind == "public":
                reply: dict[str, Any] = {"success": True, "ret_msg": "pong",
                                         "conn_id": conn.cid, "op": "ping"}
                if req_id:
                    reply["req_id"] = req_id
            else:
                reply = {"req_id": req_id or "", "op": "pong",
                         "args": [str(self.reported_now_ms())], "conn_id": conn.cid}
            self._enqueue(conn, DUMPS(reply), faulty=False)
        elif op == "auth":
            self._enqueue(conn, DUMPS(self._ws_auth(conn, msg.get("args"))), faulty=False)
        elif op in ("subscribe", "unsubscribe"):
            self._ws_subscribe(conn, op, req_id, msg.get("args"))
        else:
            reply = {"success": False, "ret_msg": f"error:unknown op {op!r}",
                     "conn_id": conn.cid, "op": op}
            self._enqueue(conn, DUMPS(reply), faulty=False)

    def _ws_auth(self, conn: Conn, args: object) -> dict[str, Any]:
        def fail(why: str) -> dict[str, Any]:
            return {"success": False, "ret_msg": why, "op": "auth", "conn_id": conn.cid}

        if conn.kind != "private":
            return fail("auth is only available on the private stream")
        if not (isinstance(args, list) and len(args) == 3):
            return fail("Params Error")
        api_key, expires, signature = args
        secret = self.api_keys.get(str(api_key))
        if secret is None:
            return fail("Invalid apikey")
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return fail("Params Error")
        if not expires_ok(expires_ms, self.server_now_ms(), self.clock):
            return fail("Params Error: auth expired")  # the signature must not be expired
        if not p.signatures_match(p.ws_auth_signature(secret, expires_ms), str(signature)):
            return fail("Invalid sign")
        conn.authed = True
        return {"success": True, "ret_msg": "", "op": "auth", "conn_id": conn.cid}

    def _valid_topic(self, conn: Conn, topic: str) -> bool:
        if conn.kind == "private":
            return topic in PRIVATE_TOPICS or self._dcp_products(topic) is not None
        m = re.fullmatch(r"kline\.([0-9A-Z]+)\.([A-Z0-9]+)", topic)
        if m:
            return m.group(1) in INTERVALS and m.group(2) in self.listings
        m = re.fullmatch(r"orderbook\.([0-9]+)\.([A-Z0-9]+)", topic)
        if m:
            return int(m.group(1)) in WS_DEPTHS and m.group(2) in self.listings
        m = re.fullmatch(r"(tickers|publicTrade)\.([A-Z0-9]+)", topic)
        return bool(m) and m is not None and m.group(2) in self.listings

    def _dcp_products(self, topic: str) -> tuple[str, ...] | None:
        if topic == d.LEGACY_TOPIC and self.dcp_legacy_topic:
            return d.PRODUCTS  # the deprecated topic armed DCP for every product
        return d.TOPICS.get(topic)

    def _ws_subscribe(self, conn: Conn, op: str, req_id: object, args: object) -> None:
        topics = [str(a) for a in args] if isinstance(args, list) else []
        bad = [t for t in topics if not self._valid_topic(conn, t)]
        ok = bool(topics) and not bad
        ret_msg = ""
        if conn.kind == "private" and not conn.authed:
            ok, ret_msg = False, "Request not authorized"
        elif not ok:
            ret_msg = f"error:handler not found,topic:{','.join(bad) or '(none)'}"
        reply: dict[str, Any] = {"success": ok, "ret_msg": ret_msg, "conn_id": conn.cid,
                                 "op": op}
        if req_id:
            reply["req_id"] = req_id
        message = DUMPS(reply)
        loop = asyncio.get_running_loop()

        def activate() -> None:
            # Like Bybit's network latency, the ack is not instant: pybit registers a
            # topic's callback only after sending the subscribe, so it must not race.
            if conn.cid not in self._conns:
                return
            self._enqueue(conn, message, faulty=False)
            if not ok:
                return
            dcp_products = tuple(prod for t in topics for prod in self._dcp_products(t) or ())
            if op == "unsubscribe":
                conn.topics.difference_update(topics)
                conn.snapshot_sent.difference_update(topics)
                self.dcp.unsubscribed(conn.cid, dcp_products)
                return
            conn.topics.update(topics)
            if conn.kind == "private":
                self.dcp.subscribed(conn.cid, dcp_products)
            if conn.kind == "public":
                for topic in topics:
                    lst = self.listings[_topic_symbol(topic)]
                    if lst.fed == 0:
                        continue
                    if topic.startswith("tickers."):
                        self._send_ticker(conn, topic, lst, lst.fed - 1, self.market_now_ms())
                    elif topic.startswith("orderbook."):  # Bybit starts a book with a snapshot
                        book = self._public_message(topic, lst, lst.fed - 1,
                                                    self.market_now_ms())
                        self._enqueue(conn, book, faulty=False)

        if self.ws_ack_delay_s > 0:
            loop.call_later(self.ws_ack_delay_s, activate)
        else:
            activate()


def _topic_symbol(topic: str) -> str:
    """The symbol a public topic names: its last dot-separated part."""
    return topic.rpartition(".")[2]
