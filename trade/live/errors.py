"""Typed Bybit errors: what to retry and what to raise at once.

`BybitError` > `TransientError` (retried with backoff by the REST client) and
`PermanentError` (raised at once). `classify(exc)` maps whatever pybit or `requests`
raised into this hierarchy. Messages never carry API keys or secrets: every message goes
through `trade.live.secrets.redact` before it is stored.

Thread-safety: plain immutable exceptions and a pure function; any thread.
"""

from __future__ import annotations

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from trade.core import TradeError
from trade.live.secrets import redact

# Bybit V5 retCodes (https://bybit-exchange.github.io/docs/v5/error)
PARAM_ERROR = 10001
TIMESTAMP_ERROR = 10002
INVALID_API_KEY = 10003
SIGN_ERROR = 10004
PERMISSION_DENIED = 10005
RATE_LIMIT = 10006
SERVER_BUSY = 10016
ORDER_NOT_FOUND = 110001
INSUFFICIENT_BALANCE = 110007
INSUFFICIENT_BALANCE_2 = 110004
INSUFFICIENT_BALANCE_3 = 110012
INSUFFICIENT_BALANCE_4 = 110044
REDUCE_ONLY_RULE = 110017
LEVERAGE_NOT_MODIFIED = 110043
DUPLICATE_ORDER_LINK_ID = 110072
BELOW_MIN_NOTIONAL = 110094
TOO_MANY_REQUESTS = 10018


class BybitError(TradeError):
    """Anything the exchange (or the way to it) refused. `code` is Bybit's retCode or the
    HTTP status, 0 for network failures."""

    def __init__(self, message: str, *, code: int = 0, path: str = "") -> None:
        self.code = code
        self.path = path
        text = redact(message)
        super().__init__(f"{path}: {text}" if path else text)


class TransientError(BybitError):
    """Worth retrying: the same request may succeed a moment later."""


class NetworkError(TransientError):
    """Connection refused/reset or a timeout: the outcome of the request is unknown."""


class ServerError(TransientError):
    """HTTP 5xx (or another non-200 status pybit does not retry)."""


class RateLimitError(TransientError):
    """retCode 10006 / 10018 or HTTP 403/429: wait for the window to reset."""

    def __init__(self, message: str, *, code: int = RATE_LIMIT, path: str = "",
                 reset_ms: int | None = None) -> None:
        super().__init__(message, code=code, path=path)
        self.reset_ms = reset_ms


class TimestampError(TransientError):
    """retCode 10002: our clock is off; retried after a server-time resync."""


class PermanentError(BybitError):
    """Retrying cannot help: fix the request (or the account)."""


class InvalidParamsError(PermanentError):
    """retCode 10001: a parameter is missing or invalid."""


class AuthError(PermanentError):
    """Bad API key, signature or permission."""


class InsufficientBalanceError(PermanentError):
    """retCode 110007 (and kin): not enough available balance for the order."""


class ReduceOnlyError(PermanentError):
    """retCode 110017 (and kin): a reduce-only order would not reduce the position."""


class OrderNotFoundError(PermanentError):
    """retCode 110001: no such order (already filled, cancelled or never placed)."""


class DuplicateOrderLinkIdError(PermanentError):
    """The orderLinkId was used before: the order already exists."""


class RiskRejected(PermanentError):
    """A pre-trade check or the circuit breaker refused the order (never sent)."""


_BY_CODE: dict[int, type[BybitError]] = {
    PARAM_ERROR: InvalidParamsError,
    BELOW_MIN_NOTIONAL: InvalidParamsError,
    LEVERAGE_NOT_MODIFIED: InvalidParamsError,
    TIMESTAMP_ERROR: TimestampError,
    INVALID_API_KEY: AuthError,
    SIGN_ERROR: AuthError,
    PERMISSION_DENIED: AuthError,
    SERVER_BUSY: ServerError,
    ORDER_NOT_FOUND: OrderNotFoundError,
    INSUFFICIENT_BALANCE: InsufficientBalanceError,
    INSUFFICIENT_BALANCE_2: InsufficientBalanceError,
    INSUFFICIENT_BALANCE_3: InsufficientBalanceError,
    INSUFFICIENT_BALANCE_4: InsufficientBalanceError,
    REDUCE_ONLY_RULE: ReduceOnlyError,
    DUPLICATE_ORDER_LINK_ID: DuplicateOrderLinkIdError,
}


def _header_int(headers: object, name: str) -> int | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    raw = getter(name)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def from_ret_code(code: int, message: str, *, path: str = "",
                  headers: object = None) -> BybitError:
    """The typed error of a Bybit envelope with retCode != 0."""
    if code in (RATE_LIMIT, TOO_MANY_REQUESTS):
        return RateLimitError(message, code=code, path=path,
                              reset_ms=_header_int(headers, "X-Bapi-Limit-Reset-Timestamp"))
    cls = _BY_CODE.get(code, PermanentError)
    return cls(f"{message} (retCode {code})", code=code, path=path)


def classify(exc: BaseException, *, path: str = "") -> BybitError:
    """Map an exception from pybit, requests or the network into the `BybitError` hierarchy.

    Parameters
    ----------
    exc : BaseException
        What a REST call raised.
    path : str
        The request path, kept on the error.

    Returns
    -------
    BybitError
        `exc` itself when it is one; else a `TransientError` (network, 5xx, rate limit,
        timestamp) or a `PermanentError` subclass chosen by Bybit's retCode or the HTTP
        status.

    Raises
    ------
    BaseException
        `exc` itself, re-raised, when it is none of those (a bug is not classified).
    """
    if isinstance(exc, BybitError):
        return exc
    if isinstance(exc, InvalidRequestError):
        return from_ret_code(int(exc.status_code), str(exc.message), path=path,
                             headers=exc.resp_headers)
    if isinstance(exc, FailedRequestError):
        status = int(exc.status_code)
        if status in (403, 429):
            return RateLimitError(f"HTTP {status}: {exc.message}", code=status, path=path)
        if status == 409:  # pybit: the body was not JSON (a proxy error page)
            return ServerError(f"unreadable response: {exc.message}", code=status, path=path)
        if status >= 500 or status in (408, 400):
            return ServerError(f"HTTP {status}: {exc.message}", code=status, path=path)
        return PermanentError(f"HTTP {status}: {exc.message}", code=status, path=path)
    if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
        return NetworkError(f"{type(exc).__name__}: {exc}", path=path)
    if isinstance(exc, requests.exceptions.RequestException):
        return NetworkError(f"{type(exc).__name__}: {exc}", path=path)
    if isinstance(exc, ValueError) and "sleep length must be non-negative" in str(exc):
        # pybit slept until a rate-limit reset timestamp that was already past.
        return RateLimitError(f"rate limited (reset already past): {exc}", path=path)
    raise exc
