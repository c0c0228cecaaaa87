"""Bybit V5's default per-UID REST rate limits (requests per second), one table.

The exchange simulator enforces them; the live client starts its buckets from them until
the exchange's `X-Bapi-Limit*` headers say otherwise.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

BYBIT_RATE_LIMITS: Final = MappingProxyType({
    "/v5/order/create": 10,
    "/v5/order/amend": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/position/set-leverage": 10,
    "/v5/position/trading-stop": 10,
    "/v5/position/switch-isolated": 10,
    "/v5/account/wallet-balance": 50,
    "/v5/order/disconnected-cancel-all": 5,
})
