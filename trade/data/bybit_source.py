"""A `KlineSource` over an already-built pybit `HTTP` session (Bybit V5 public market data).

The session is built by the caller (the CLI: `pybit.unified_trading.HTTP(testnet=...)`, or
`trade.exchange_sim.pybit_client.make_http(url)` for another host). Public market endpoints
need no keys. `BybitSource` takes over the session's retry behaviour, because the fetcher
retries with its own policy and waits through the injected clock (pybit would `time.sleep`):
it sets `max_retries=1`, `force_retry=False`, an empty `retry_codes` and
`return_response_headers=True` on the session, so give it a session of its own.

Errors are translated for `trade.data.fetch`: network failures and timeouts, HTTP 5xx/403,
retCode 10006 (with `X-Bapi-Limit-Reset-Timestamp`), 10002 and 10000/10016 become
`TransientSourceError`; any other retCode or HTTP status becomes `SourceError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from trade.data.fetch import (
    OPEN_INTEREST_INTERVAL,
    RATE_LIMIT_CODE,
    SERVER_BUSY_CODES,
    TIMESTAMP_CODE,
    LimitStatus,
    SourceError,
    TransientSourceError,
)

log = logging.getLogger(__name__)


def _int_header(headers: Mapping[str, Any] | None, name: str) -> int | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


class BybitSource:
    """Bybit V5 market data of one symbol through pybit (`category` linear by default)."""

    def __init__(self, session: Any, symbol: str, *, category: str = "linear",
                 timeout_s: float | None = None) -> None:
        if not symbol:
            raise ValueError("symbol must not be empty")
        self.session = session
        self._symbol = symbol
        self.category = category
        session.max_retries = 1  # the fetcher retries (tenacity, injected clock)
        session.force_retry = False
        session.retry_codes = set()  # pybit would sleep on 10002/10006 itself
        session.return_response_headers = True
        if timeout_s is not None:
            session.timeout = timeout_s
        self._limit: LimitStatus | None = None

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def name(self) -> str:
        return f"bybit-v5:{getattr(self.session, 'endpoint', '?')}"

    def limit_status(self) -> LimitStatus | None:
        return self._limit

    # ------------------------------------------------------------------ requests
    def _request(self, what: str, fn: Callable[..., Any], **params: Any) -> dict[str, Any]:
        try:
            answer = fn(**params)
        except InvalidRequestError as exc:
            raise self._translate_ret_code(what, exc) from exc
        except FailedRequestError as exc:
            status = int(exc.status_code) if isinstance(exc.status_code, int) else 0
            if status >= 500:
                raise TransientSourceError("http_5xx", f"{what}: HTTP {status}") from exc
            if status == 403:  # Bybit: IP rate limit breached; back off
                raise TransientSourceError("http_403", f"{what}: HTTP 403 (IP limit)") from exc
            if status == 409:  # pybit: the body was not JSON (a proxy page, a cut answer)
                raise TransientSourceError("bad_response", f"{what}: {exc.message}") from exc
            raise SourceError(f"{what}: HTTP {status}: {exc.message}") from exc
        except requests.Timeout as exc:
            raise TransientSourceError("timeout", f"{what}: {exc}") from exc
        except requests.ConnectionError as exc:
            raise TransientSourceError("network", f"{what}: {exc}") from exc
        if isinstance(answer, tuple):  # return_response_headers: (json, elapsed, headers)
            body, headers = answer[0], answer[-1]
            self._remember_limit(headers)
        else:
            body = answer
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise SourceError(f"{what}: unexpected answer {str(body)[:200]!r}")
        return result

    def _remember_limit(self, headers: Mapping[str, Any] | None) -> None:
        limit = _int_header(headers, "X-Bapi-Limit")
        remaining = _int_header(headers, "X-Bapi-Limit-Status")
        reset = _int_header(headers, "X-Bapi-Limit-Reset-Timestamp")
        if limit is not None and remaining is not None and reset is not None:
            self._limit = LimitStatus(limit, remaining, reset)

    def _translate_ret_code(self, what: str, exc: InvalidRequestError) -> SourceError:
        code = exc.status_code
        text = f"{what}: retCode {code}: {exc.message}"
        if code == RATE_LIMIT_CODE:
            # the retry waits for this reset; pacing need not wait for it a second time
            reset = _int_header(exc.resp_headers, "X-Bapi-Limit-Reset-Timestamp")
            return TransientSourceError("rate_limit", text, reset_ms=reset)
        if code == TIMESTAMP_CODE:
            # pybit's own remedy: widen the receive window for the next try
            self.session.recv_window = int(getattr(self.session, "recv_window", 5000)) + 2500
            return TransientSourceError("timestamp", text)
        if code in SERVER_BUSY_CODES:
            return TransientSourceError("server_busy", text)
        return SourceError(text)

    # ------------------------------------------------------------------ KlineSource
    def server_time_ms(self) -> int:
        result = self._request("server time", self.session.get_server_time)
        try:
            if "timeNano" in result:
                return int(str(result["timeNano"])) // 1_000_000
            return int(str(result["timeSecond"])) * 1000
        except (KeyError, ValueError) as exc:
            raise SourceError(f"server time: unexpected result {result!r}") from exc

    def get_kline(self, start_ms: int, end_ms: int, limit: int) -> list[list[str]]:
        result = self._request(
            f"kline {self._symbol} [{start_ms}, {end_ms}]", self.session.get_kline,
            category=self.category, symbol=self._symbol, interval="1",
            start=start_ms, end=end_ms, limit=limit,
        )
        rows = result.get("list", [])
        if not isinstance(rows, list):
            raise SourceError(f"kline {self._symbol}: result.list is not a list")
        return rows

    def get_funding_history(self, start_ms: int, end_ms: int, limit: int) -> list[dict[str, str]]:
        result = self._request(
            f"funding history {self._symbol} [{start_ms}, {end_ms}]",
            self.session.get_funding_rate_history,
            category=self.category, symbol=self._symbol,
            startTime=start_ms, endTime=end_ms, limit=limit,
        )
        rows = result.get("list", [])
        if not isinstance(rows, list):
            raise SourceError(f"funding history {self._symbol}: result.list is not a list")
        return rows

    def get_open_interest(self, start_ms: int, end_ms: int, limit: int
                          ) -> list[dict[str, str]]:
        result = self._request(
            f"open interest {self._symbol} [{start_ms}, {end_ms}]",
            self.session.get_open_interest,
            category=self.category, symbol=self._symbol, intervalTime=OPEN_INTEREST_INTERVAL,
            startTime=start_ms, endTime=end_ms, limit=limit,
        )
        rows = result.get("list", [])
        if not isinstance(rows, list):
            raise SourceError(f"open interest {self._symbol}: result.list is not a list")
        return rows

    def get_instrument(self) -> dict[str, Any]:
        result = self._request(
            f"instruments-info {self._symbol}", self.session.get_instruments_info,
            category=self.category, symbol=self._symbol,
        )
        for row in result.get("list", []) or []:
            if isinstance(row, dict) and row.get("symbol") == self._symbol:
                return row
        raise SourceError(f"instruments-info: {self._symbol} is not a {self.category} symbol "
                          "on this exchange")
