"""Account and position endpoints (`/v5/account/...`, `/v5/position/list`,
`switch-isolated`): signed reads of the wallet and the position, and margin settings.
"""

from __future__ import annotations

from typing import Any

from trade.exchange_sim import protocol as p
from trade.exchange_sim.base import ServerBase
from trade.exchange_sim.protocol import ApiError
from trade.exchange_sim.routing import Route


class AccountRoutes(ServerBase):
    def _account_routes(self) -> dict[str, Route]:
        return {
            "/v5/position/list": Route("GET", self._positions, True),
            "/v5/position/switch-isolated": Route("POST", self._switch_isolated, True),
            "/v5/account/wallet-balance": Route("GET", self._wallet, True),
        }

    async def _switch_isolated(self, params: dict[str, Any], path: str) -> Any:
        return self.venue.switch_isolated(params)

    async def _positions(self, params: dict[str, Any], path: str) -> Any:
        category = params.get("category")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is None and params.get("settleCoin") is None:
            raise ApiError(p.PARAM_ERROR, "params error: symbol or settleCoin is required")
        if symbol is not None and symbol != self.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")
        assert self._state is not None
        async with self._state:
            row = self.venue.position_row(self.venue.engine.position())
        return {"category": "linear", "list": [row], "nextPageCursor": ""}

    async def _wallet(self, params: dict[str, Any], path: str) -> Any:
        account = params.get("accountType")
        if account not in ("UNIFIED", "CONTRACT"):
            raise ApiError(p.PARAM_ERROR, f"params error: accountType invalid ({account!r})")
        assert self._state is not None
        async with self._state:
            row = self.venue.wallet_row()
        row["accountType"] = account
        return {"list": [row]}
