"""The Bybit client: pybit HTTP underneath, our retry/rate-limit/time-sync layer on top.

Factory: `make_session(mode, endpoint=..., credentials=..., timestamp_ms=...)` builds the
pybit `HTTP` session through `trade.exchange_sim.pybit_client` (the one module that
touches pybit's private API: the redirect to another host, and the session class
`SyncedHTTP` that signs with `timestamp_ms()` (our corrected clock) instead of pybit's raw
system clock). pybit's own
retry loop is switched off (`max_retries=1`, no retry codes): it sleeps with `time.sleep`,
never retries non-200 statuses, and can sleep a negative time on a past rate-limit reset.

`BybitRest.call(method, path, params, auth=...)` sends one request through the rate
limiter, classifies failures (trade.live.errors) and retries transient ones with tenacity
(exponential backoff with jitter, waiting through the injected Clock, never `time.sleep`);
a timestamp error triggers a server-time resync before the retry, a rate-limit error
waits for the reset timestamp. Permanent errors are raised at once.

`create_order` is idempotent: every create carries an `orderLinkId`; after an unknown
outcome (timeout, connection drop, 5xx) the order is looked up by that id before the
request is sent again, and a duplicate-orderLinkId reply means "already placed".

Thread-safety: `BybitRest` may be called from any thread (pybit's requests.Session is
shared; requests documents Session as safe for this use with one connection pool).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from trade.core import Clock, InputError, WallClock
from trade.exchange_sim.pybit_client import (  # the one home of pybit's private hooks
    SyncedHTTP,
    make_http,
    no_pybit_retries,
    send_request,
)
from trade.live.errors import (
    AuthError,
    BybitError,
    DuplicateOrderLinkIdError,
    NetworkError,
    PermanentError,
    RateLimitError,
    ServerError,
    TimestampError,
    TransientError,
    classify,
)
from trade.live.ratelimit import RateLimiter
from trade.live.secrets import Credentials
from trade.live.timesync import TimeSync

log = logging.getLogger(__name__)

Mode = Literal["paper", "demo", "live"]
CATEGORY = "linear"
RATE_WINDOW_S = 1.5  # the longest wait a rate-limit reset may impose
# what requests raises for a URL it cannot use: permanent, never retried
_MALFORMED_URL = (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                  requests.exceptions.MissingSchema)


def ws_base_of(endpoint: str) -> str:
    """The WebSocket base of a REST endpoint: ``http://host:port`` -> ``ws://host:port``
    (``https`` -> ``wss``; a ws(s) URL is kept).

    Parameters
    ----------
    endpoint : str

    Returns
    -------
    str

    Raises
    ------
    InputError
        `endpoint` is not an http(s) or ws(s) URL.
    """
    endpoint = endpoint.rstrip("/")
    if endpoint.startswith("https://"):
        return "wss://" + endpoint.removeprefix("https://")
    if endpoint.startswith("http://"):
        return "ws://" + endpoint.removeprefix("http://")
    if endpoint.startswith(("ws://", "wss://")):
        return endpoint
    raise InputError(f"--endpoint must be an http(s):// URL, got {endpoint!r}")


def make_session(mode: Mode, *, endpoint: str | None = None,
                 credentials: Credentials | None = None,
                 timestamp_ms: Callable[[], int] | None = None,
                 timeout_s: float = 10.0, recv_window: int = 5000) -> SyncedHTTP:
    """The pybit HTTP session of a mode.

    Parameters
    ----------
    mode : {"paper", "demo", "live"}
        "paper" reads mainnet market data, "demo" uses Bybit's demo-trading host, "live"
        mainnet.
    endpoint : str, optional
        Another Bybit-compatible host (an http(s) URL) instead.
    credentials : Credentials, optional
        For signed endpoints.
    timestamp_ms : callable, optional
        The signing clock (a `TimeSync`'s); None: the system clock.
    timeout_s : float
        Seconds before a request counts as timed out.
    recv_window : int
        Bybit's recv_window in ms.

    Returns
    -------
    SyncedHTTP
        With pybit's own retries off (`BybitRest` retries).

    Raises
    ------
    InputError
        `endpoint` is not an http(s) URL with a host (refused at once, never retried).
    """
    if endpoint is not None:
        check_endpoint(endpoint)
    session = make_http(
        endpoint,  # None: pybit's own host for the mode; else the one redirect we have
        http_cls=SyncedHTTP,
        demo=(mode == "demo"),
        api_key=credentials.api_key if credentials else None,
        api_secret=credentials.api_secret if credentials else None,
        timeout=timeout_s,
        recv_window=recv_window,
        max_retries=1,
        force_retry=False,
        return_response_headers=True,
        logging_level=logging.WARNING,
    )
    assert isinstance(session, SyncedHTTP)
    no_pybit_retries(session)  # pybit's own retries sleep with time.sleep: ours instead
    session.timestamp_ms = timestamp_ms
    return session


def check_endpoint(endpoint: str) -> str:
    """`endpoint` if it is an http(s) URL with a host; InputError naming it otherwise."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--endpoint {endpoint!r} is not an http(s) URL with a host "
                         "(e.g. http://127.0.0.1:8099)")
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as exc:
        raise InputError(f"--endpoint {endpoint!r}: {exc}") from None
    return endpoint


def new_link_id(prefix: str = "t") -> str:
    """A fresh, random orderLinkId (at most 36 characters, Bybit's limit).

    Parameters
    ----------
    prefix : str
        Put in front (e.g. ``"panic"``).

    Returns
    -------
    str
    """
    return f"{prefix}-{uuid.uuid4().hex[:30]}"[:36]


class BybitRest:
    """Retrying, rate-limited, time-synced REST calls. See the module docstring."""

    def __init__(self, session: SyncedHTTP, *, clock: Clock | None = None,
                 limiter: RateLimiter | None = None, timesync: TimeSync | None = None,
                 max_attempts: int = 8, backoff_initial_s: float = 0.05,
                 backoff_max_s: float = 4.0, jitter_s: float = 0.05,
                 stop: threading.Event | None = None) -> None:
        self.session = session
        self.clock: Clock = clock or WallClock()
        self.stop = stop or threading.Event()
        self.timesync = timesync or TimeSync(self.clock)
        self.timesync.bind(self.server_time_ms)
        if session.timestamp_ms is None:
            session.timestamp_ms = self.timesync.timestamp_ms
        self.limiter = limiter or RateLimiter(self.clock, server_now_ms=self.timesync.timestamp_ms,
                                              stop=self.stop)
        self.max_attempts = max_attempts
        self._wait = wait_exponential_jitter(multiplier=backoff_initial_s, max=backoff_max_s,
                                             jitter=jitter_s)
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "resyncs": 0}
        self._stats_lock = threading.Lock()
        self._keys_checked = False

    # ----------------------------------------------------------------- plumbing
    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] = self.stats.get(name, 0) + 1

    def _sleep(self, seconds: float) -> None:
        if self.clock.wait(self.stop, seconds) or self.stop.is_set():
            raise NetworkError("REST retry abandoned: the client is shutting down")

    def _wait_for(self, state: RetryCallState) -> float:
        delay = float(self._wait(state))
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimitError) and exc.reset_ms is not None:
            until = (exc.reset_ms - self.timesync.timestamp_ms()) / 1000.0
            if until > RATE_WINDOW_S:
                # Bybit's windows are 1 s: a reset further away means our clock is off.
                self._resync_quietly()
                until = (exc.reset_ms - self.timesync.timestamp_ms()) / 1000.0
            delay = max(delay, min(until, RATE_WINDOW_S))
        return max(delay, 0.0)

    def _resync_quietly(self) -> None:
        self._count("resyncs")
        try:
            self.timesync.resync()
        except BybitError as sync_err:
            log.warning("server-time resync failed: %s", sync_err)

    def _before_sleep(self, state: RetryCallState) -> None:
        self._count("retries")
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info("retrying after %s (attempt %d)", exc, state.attempt_number)

    def retrying(self, attempts: int | None = None) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(attempts or self.max_attempts),
            wait=self._wait_for,
            retry=retry_if_exception_type(TransientError),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def send_once(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                  auth: bool = True) -> dict[str, Any]:
        """One attempt: rate limiter, signed request, classification. Returns `result`."""
        if self.stop.is_set():
            raise NetworkError("the REST client is stopped", path=path)
        try:
            self.limiter.acquire(path)
        except RuntimeError as exc:
            raise NetworkError(str(exc), path=path) from None
        if auth:
            try:
                self.timesync.maybe_resync()
            except BybitError as exc:  # the request itself will report a timestamp problem
                log.debug("periodic server-time sync failed: %s", exc)
        self._count("requests")
        try:
            reply = send_request(self.session, method, path, params or {}, auth=auth)
        except _MALFORMED_URL as exc:  # no retry can fix a URL
            raise PermanentError(f"malformed endpoint URL {self.session.endpoint!r}: "
                                 f"{type(exc).__name__}: {exc}", path=path) from None
        except (InvalidRequestError, FailedRequestError, requests.RequestException,
                ValueError) as exc:
            err = classify(exc, path=path)  # a ValueError that is not pybit's re-raises
            if isinstance(err, RateLimitError):
                now = self.timesync.timestamp_ms()
                reset = err.reset_ms if err.reset_ms is not None else now + 1000
                self.limiter.block_until(path, min(reset, now + int(RATE_WINDOW_S * 1000)))
            if isinstance(err, TimestampError):
                self._resync_quietly()
            raise err from None
        body, _elapsed, headers = reply
        self.limiter.observe(path, headers)
        result = body.get("result") if isinstance(body, dict) else None
        return result if isinstance(result, dict) else {}

    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
             auth: bool = True, attempts: int | None = None) -> dict[str, Any]:
        """`send_once` retried on transient errors (see the module docstring)."""
        for attempt in self.retrying(attempts):
            with attempt:
                return self.send_once(method, path, params, auth=auth)
        raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------- endpoints
    def server_time_ms(self) -> int:
        result = self.send_once("GET", "/v5/market/time", auth=False)
        nano = result.get("timeNano")
        if nano:
            return int(nano) // 1_000_000
        return int(result["timeSecond"]) * 1000

    def sync_time(self) -> int:
        """Measure the clock offset now (retried); returns it in ms. The first sync of a
        client with API keys also checks the keys (`check_credentials`), so wrong keys fail
        here, at start, with the exchange's reason."""
        offset: int | None = None
        for attempt in self.retrying():
            with attempt:
                offset = self.timesync.measure().offset_ms
        assert offset is not None
        if self.session.api_key and not self._keys_checked:
            self.check_credentials()
        return offset

    def check_credentials(self) -> dict[str, Any]:
        """One signed read of the key's own record (`/v5/user/query-api`). A refused key
        (retCode 10003/10004/10005 or HTTP 401/403) is permanent: AuthError at once, with
        the exchange's reason and never the key."""
        path = "/v5/user/query-api"
        try:
            info = self.call("GET", path, {})
        except PermanentError as exc:
            if isinstance(exc, AuthError) or exc.code in (401, 403):
                raise AuthError(f"the API key was refused by {self.session.endpoint}: {exc}",
                                code=exc.code) from None
            raise
        self._keys_checked = True
        return info

    def get(self, path: str, params: Mapping[str, Any], *, auth: bool = True) -> dict[str, Any]:
        return self.call("GET", path, params, auth=auth)

    def post(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", path, params, auth=True)

    def paged(self, path: str, params: Mapping[str, Any], *, max_pages: int = 20
              ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(max_pages):
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            result = self.get(path, q)
            rows.extend(result.get("list") or [])
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor:
                break
        return rows

    def find_order(self, symbol: str, order_link_id: str) -> dict[str, Any] | None:
        """The order with this orderLinkId (open or recently closed), or None."""
        q = {"category": CATEGORY, "symbol": symbol, "orderLinkId": order_link_id}
        rows = self.get("/v5/order/realtime", {**q, "openOnly": 0}).get("list") or []
        if not rows:
            rows = self.get("/v5/order/history", q).get("list") or []
        return rows[0] if rows else None

    def create_order(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Place an order exactly once (idempotent on `orderLinkId`, which it requires).

        Returns the exchange's `{"orderId", "orderLinkId"}`; `already_placed` is True when a
        lookup or a duplicate-id reply showed an earlier attempt had placed it."""
        link = str(params.get("orderLinkId") or "")
        if not link:
            raise ValueError("create_order needs an orderLinkId (idempotency key)")
        symbol = str(params["symbol"])
        path = "/v5/order/create"
        unknown = False  # an earlier attempt may have reached the exchange

        def once() -> dict[str, Any]:
            nonlocal unknown
            if unknown:
                found = self.find_order(symbol, link)
                if found is not None:
                    return {"orderId": found["orderId"], "orderLinkId": link,
                            "already_placed": True}
            try:
                result = self.send_once("POST", path, params)
            except DuplicateOrderLinkIdError:
                found = self.find_order(symbol, link)
                if found is None:
                    raise ServerError("orderLinkId reported duplicate but not found yet",
                                      path=path) from None
                return {"orderId": found["orderId"], "orderLinkId": link,
                        "already_placed": True}
            except (NetworkError, ServerError):
                unknown = True  # outcome unknown: look it up before sending again
                raise
            return {"orderId": result.get("orderId", ""), "orderLinkId": link,
                    "already_placed": False}

        for attempt in self.retrying():
            with attempt:
                return once()
        raise AssertionError("unreachable")  # pragma: no cover

    def cancel_order(self, symbol: str, *, order_id: str = "", order_link_id: str = ""
                     ) -> dict[str, Any]:
        q: dict[str, Any] = {"category": CATEGORY, "symbol": symbol}
        if order_id:
            q["orderId"] = order_id
        else:
            q["orderLinkId"] = order_link_id
        return self.post("/v5/order/cancel", q)

    def amend_order(self, symbol: str, *, order_id: str = "", order_link_id: str = "",
                    qty: str | None = None, price: str | None = None,
                    trigger_price: str | None = None) -> dict[str, Any]:
        q: dict[str, Any] = {"category": CATEGORY, "symbol": symbol}
        if order_id:
            q["orderId"] = order_id
        else:
            q["orderLinkId"] = order_link_id
        for k, v in (("qty", qty), ("price", price), ("triggerPrice", trigger_price)):
            if v is not None:
                q[k] = v
        return self.post("/v5/order/amend", q)

    def cancel_all(self, symbol: str | None = None) -> dict[str, Any]:
        q: dict[str, Any] = {"category": CATEGORY}
        if symbol:
            q["symbol"] = symbol
        else:
            q["settleCoin"] = "USDT"
        return self.post("/v5/order/cancel-all", q)

    def trading_stop(self, symbol: str, **fields: str) -> dict[str, Any]:
        return self.post("/v5/position/trading-stop",
                         {"category": CATEGORY, "symbol": symbol, "tpslMode": "Full",
                          "positionIdx": 0, **fields})

    def positions(self, symbol: str | None = None) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"category": CATEGORY}
        if symbol:
            q["symbol"] = symbol
        else:
            q["settleCoin"] = "USDT"
        return self.paged("/v5/position/list", q)

    def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        return self.paged("/v5/order/realtime",
                          {"category": CATEGORY, "symbol": symbol, "limit": 50})

    def executions(self, symbol: str, *, start_ms: int | None = None) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"category": CATEGORY, "symbol": symbol, "limit": 100}
        if start_ms is not None:
            q["startTime"] = start_ms
        return self.paged("/v5/execution/list", q)

    def wallet(self) -> dict[str, Any]:
        rows = self.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"}).get("list")
        if not rows:
            raise PermanentError("wallet-balance returned no account",
                                 path="/v5/account/wallet-balance")
        row: dict[str, Any] = rows[0]
        return row

    def klines(self, symbol: str, interval: str, *, start: int | None = None,
               end: int | None = None, limit: int = 1000) -> list[list[str]]:
        q: dict[str, Any] = {"category": CATEGORY, "symbol": symbol, "interval": interval,
                             "limit": limit}
        if start is not None:
            q["start"] = start
        if end is not None:
            q["end"] = end
        rows = self.get("/v5/market/kline", q, auth=False).get("list") or []
        return list(rows)

    def instrument(self, symbol: str) -> dict[str, Any] | None:
        rows = self.get("/v5/market/instruments-info", {"category": CATEGORY, "symbol": symbol},
                        auth=False).get("list") or []
        return rows[0] if rows else None

    def set_leverage(self, symbol: str, leverage: float) -> bool:
        """True when changed, False when it already was `leverage`."""
        text = f"{leverage:g}"
        try:
            self.post("/v5/position/set-leverage", {"category": CATEGORY, "symbol": symbol,
                                                    "buyLeverage": text, "sellLeverage": text})
        except PermanentError as exc:
            if exc.code == 110043:  # leverage not modified
                return False
            raise
        return True

    def set_dcp(self, time_window_s: int = 10) -> None:
        """Bybit's disconnect-cancel-all for derivatives (with the private `dcp.future` topic)."""
        self.post("/v5/order/disconnected-cancel-all",
                  {"product": "DERIVATIVES", "timeWindow": int(time_window_s)})
