"""Bybit V5 wire conventions: the response envelope, retCodes, number formatting, signatures.

Every retCode here was checked against Bybit's published error table (V5 "Error Codes"
page) before use; the simulator answers each simulated error with the same code.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

import numpy as np

from trade.sim.rejects import RejectCode

# --- retCodes (Bybit V5) -------------------------------------------------------------
OK = 0
PARAM_ERROR = 10001  # request parameter error (also: unknown symbol, qty below minimum)
TIMESTAMP_ERROR = 10002  # request time outside the recv_window
INVALID_API_KEY = 10003  # API key is invalid
SIGN_ERROR = 10004  # error sign
RATE_LIMIT = 10006  # too many visits
ROUTE_NOT_FOUND = 10017  # route not found
ORDER_NOT_FOUND = 110001  # order does not exist (or is no longer active)
INSUFFICIENT_AB = 110007  # available balance not enough for the new order
TOO_MANY_STOP_ORDERS = 110009  # the number of stop orders exceeds maximum limit allowed
WOULD_LIQUIDATE = 110011  # any adjustments made will trigger immediate liquidation
INSUFFICIENT_BALANCE_LEVERAGE = 110012  # insufficient available balance
LEVERAGE_RISK_LIMIT = 110013  # cannot set leverage due to risk limit level
REDUCE_ONLY_RULE = 110017  # reduce-only rule not satisfied
TOO_MANY_ACTIVE_ORDERS = 110020  # cannot have more than 500 active orders
POSITION_MODE_NOT_MODIFIED = 110025  # position mode is not modified
MARGIN_MODE_NOT_MODIFIED = 110026  # cross/isolated margin mode is not modified
LEVERAGE_NOT_MODIFIED = 110043  # set leverage not modified
DUPLICATE_ORDER_LINK_ID = 110072  # OrderLinkedID is duplicate
BELOW_MIN_NOTIONAL = 110094  # order value below the minimum order value

MESSAGES: dict[int, str] = {
    OK: "OK",
    PARAM_ERROR: "params error",
    TIMESTAMP_ERROR: "invalid request, please check your server timestamp or recv_window param",
    INVALID_API_KEY: "API key is invalid.",
    SIGN_ERROR: "error sign! origin_string[{}]",
    RATE_LIMIT: "Too many visits!",
    ROUTE_NOT_FOUND: "route not found",
    ORDER_NOT_FOUND: "order not exists or too late to cancel",
    INSUFFICIENT_AB: "ab not enough for new order",
    WOULD_LIQUIDATE: "Any adjustments made will trigger immediate liquidation",
    INSUFFICIENT_BALANCE_LEVERAGE: "Insufficient available balance.",
    LEVERAGE_RISK_LIMIT: "Cannot set leverage due to risk limit level.",
    REDUCE_ONLY_RULE: "reduce-only rule not satisfied",
    TOO_MANY_STOP_ORDERS: "The number of stop orders exceeds maximum limit allowed",
    TOO_MANY_ACTIVE_ORDERS: "Cannot have more than 500 active orders.",
    POSITION_MODE_NOT_MODIFIED: "Position mode is not modified",
    MARGIN_MODE_NOT_MODIFIED: "Cross/isolated margin mode is not modified",
    LEVERAGE_NOT_MODIFIED: "leverage not modified",
    DUPLICATE_ORDER_LINK_ID: "OrderLinkedID is duplicate",
    BELOW_MIN_NOTIONAL: "The order value must exceed the minimum order value",
}


# The one table from the kernel's rejection (trade.sim.rejects.RejectCode) to Bybit: the
# retCode a refused create answers with (None: accepted, then pushed as Rejected, as Bybit
# does with a crossing post-only), and the order's rejectReason enum value.
BYBIT_REJECT: dict[RejectCode, tuple[int | None, str]] = {
    RejectCode.NONE: (None, "EC_NoError"),
    RejectCode.FINISHED: (PARAM_ERROR, "EC_InvalidSymbolStatus"),
    RejectCode.NO_PRICE: (PARAM_ERROR, "EC_InvalidSymbolStatus"),
    RejectCode.MIN_QTY: (PARAM_ERROR, "EC_Others"),
    RejectCode.POST_ONLY: (None, "EC_PostOnlyWillTakeLiquidity"),
    RejectCode.RO_FLAT: (REDUCE_ONLY_RULE, "EC_Others"),
    RejectCode.RO_INCREASE: (REDUCE_ONLY_RULE, "EC_Others"),
    RejectCode.MIN_NOTIONAL: (BELOW_MIN_NOTIONAL, "EC_Others"),
    RejectCode.BALANCE: (INSUFFICIENT_AB, "EC_Others"),
    RejectCode.RO_CANCEL: (None, "EC_Others"),
}


class ApiError(Exception):
    """An error the simulator answers with Bybit's envelope (HTTP 200, retCode != 0)."""

    def __init__(self, ret_code: int, message: str | None = None) -> None:
        self.ret_code = ret_code
        self.message = message if message is not None else MESSAGES.get(ret_code, "error")
        super().__init__(f"{ret_code}: {self.message}")


class WithExtInfo:
    """A handler's result that also fills the envelope's `retExtInfo` (batch endpoints)."""

    def __init__(self, result: Any, ext_info: dict[str, Any]) -> None:
        self.result = result
        self.ext_info = ext_info


def param_float(params: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    """A request's non-negative decimal parameter (None when absent or empty); anything
    else, or a missing required one, is Bybit's 10001 naming the parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(PARAM_ERROR, f"params error: {name} is required")
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(PARAM_ERROR, f"params error: {name} invalid ({raw!r})") from None
    if not math.isfinite(value) or value < 0:
        raise ApiError(PARAM_ERROR, f"params error: {name} invalid ({raw!r})")
    return value


def envelope(result: Any, now_ms: int, ret_code: int = OK, ret_msg: str = "OK") -> dict[str, Any]:
    """Bybit's V5 response envelope."""
    ext: dict[str, Any] = {}
    if isinstance(result, WithExtInfo):
        result, ext = result.result, result.ext_info
    return {
        "retCode": ret_code,
        "retMsg": ret_msg,
        "result": result if result is not None else {},
        "retExtInfo": ext,
        "time": now_ms,
    }


def num(value: float | None) -> str:
    """A number as Bybit writes it: a plain decimal string, shortest round-trip, no exponent."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if value == 0:
        return "0"
    text: str = np.format_float_positional(float(value), trim="-", precision=12, unique=True)
    return text


def step_decimals(step: float) -> int:
    """Decimals of a grid step as Bybit writes it (0.1 -> 1, 0.001 -> 3, 5 -> 0)."""
    text = num(step)
    return len(text.split(".")[1]) if "." in text else 0


def on_grid(value: float, step: float) -> float:
    """`value` rounded to the nearest multiple of `step`, without binary noise."""
    if step <= 0:
        return value
    return round(round(value / step) * step, step_decimals(step))


def grid_text(value: float, step: float) -> str:
    """A number on the instrument's grid as Bybit sends it ("30014.9", not 30014.899999...)."""
    if step <= 0:
        return num(value)
    return num(on_grid(value, step))


def price_or_zero(value: float | None) -> str:
    """Optional prices (TP/SL/trigger) that Bybit reports as "0" when unset."""
    if value is None or value == 0 or (isinstance(value, float) and not math.isfinite(value)):
        return "0"
    return num(value)


def hmac_sha256(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def rest_sign_payload(timestamp: str, api_key: str, recv_window: str, payload: bytes) -> bytes:
    """timestamp + api_key + recv_window + (raw query string | raw body), as Bybit signs it."""
    return (timestamp + api_key + recv_window).encode("utf-8") + payload


def ws_auth_signature(secret: str, expires: int) -> str:
    """The private-WebSocket auth signature: HMAC-SHA256 of "GET/realtime" + expires."""
    return hmac_sha256(secret, f"GET/realtime{expires}".encode())


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.lower(), given.strip().lower())
