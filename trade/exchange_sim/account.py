"""Account, asset, user and position endpoints: signed reads of the wallet, the position,
the ledger and the account's settings, and the margin settings a linear account can change.

The simulator is one unified (UTA) account trading USDT perpetuals with isolated margin in
one-way mode: settings that already hold are acknowledged, the others refused with 10001.
"""

from __future__ import annotations

from typing import Any

from trade.exchange_sim import protocol as p
from trade.exchange_sim.base import ServerBase
from trade.exchange_sim.protocol import ApiError, num
from trade.exchange_sim.routing import Route, int_param, limit_param, page

CATEGORIES = ("spot", "linear", "inverse", "option")
ACCOUNT_CREATED = "2024-01-01T00:00:00Z"


def category_of(params: dict[str, Any], *, required: bool = True) -> str:
    """Bybit's `category`: one of its four products (10001 otherwise)."""
    category = params.get("category")
    if category is None and not required:
        return "linear"
    if category not in CATEGORIES:
        raise ApiError(p.PARAM_ERROR, f"params error: category invalid ({category!r})")
    return str(category)


class AccountRoutes(ServerBase):
    def _account_routes(self) -> dict[str, Route]:
        return {
            "/v5/position/list": Route("GET", self._positions, True),
            "/v5/position/closed-pnl": Route("GET", self._closed_pnl, True),
            "/v5/position/switch-isolated": Route("POST", self._switch_isolated, True),
            "/v5/position/switch-mode": Route("POST", self._switch_mode, True),
            "/v5/position/set-tpsl-mode": Route("POST", self._set_tpsl_mode, True),
            "/v5/account/wallet-balance": Route("GET", self._wallet, True),
            "/v5/account/info": Route("GET", self._account_info, True),
            "/v5/account/fee-rate": Route("GET", self._fee_rate, True),
            "/v5/account/transaction-log": Route("GET", self._transaction_log, True),
            "/v5/account/set-margin-mode": Route("POST", self._set_margin_mode, True),
            "/v5/asset/coin/query-info": Route("GET", self._coin_info, True),
            "/v5/user/query-api": Route("GET", self._query_api, True),
        }

    def _symbol_filter(self, params: dict[str, Any]) -> bool:
        """False when the request names a symbol this server does not list (empty answer)."""
        symbol = params.get("symbol")
        return symbol is None or symbol in self.listings

    def _wanted(self, params: dict[str, Any], row: dict[str, Any]) -> bool:
        symbol = params.get("symbol")
        return symbol is None or row.get("symbol") == symbol

    # --- user / asset ---------------------------------------------------------------------
    async def _query_api(self, params: dict[str, Any], path: str) -> Any:
        """The API key's own information; `uta: 1` (a unified trading account)."""
        return {
            "id": "1", "note": "exchange-sim", "apiKey": "", "readOnly": 0, "secret": "",
            "permissions": {"ContractTrade": ["Order", "Position"], "Spot": [],
                            "Wallet": ["AccountTransfer"], "Options": [],
                            "Derivatives": ["DerivativesTrade"], "CopyTrading": [],
                            "BlockTrade": [], "Exchange": [], "NFT": [], "Affiliate": []},
            "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "",
            "createdAt": ACCOUNT_CREATED, "unified": 0, "uta": 1, "userID": 1,
            "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
            "rsaPublicKey": "", "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }

    async def _coin_info(self, params: dict[str, Any], path: str) -> Any:
        coins = [self.instrument.quote_coin]
        for lst in self.listings.values():
            if lst.instrument.base_coin not in coins:
                coins.append(lst.instrument.base_coin)
        want = params.get("coin")
        rows = [
            {"name": coin, "coin": coin, "remainAmount": "0", "chains": []}
            for coin in coins if want in (None, "", coin)
        ]
        return {"rows": rows}

    # --- account ---------------------------------------------------------------------------
    async def _account_info(self, params: dict[str, Any], path: str) -> Any:
        return {
            "marginMode": "ISOLATED_MARGIN", "updatedTime": str(self.market_now_ms()),
            "unifiedMarginStatus": 5, "dcpStatus": "ON" if self.dcp.windows else "OFF",
            "timeWindow": max(self.dcp.windows.values(), default=0), "smpGroup": 0,
            "isMasterTrader": False, "spotHedgingStatus": "OFF",
        }

    async def _set_margin_mode(self, params: dict[str, Any], path: str) -> Any:
        mode = params.get("setMarginMode")
        if mode == "ISOLATED_MARGIN":
            return {"reasons": []}
        if mode in ("REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            raise ApiError(p.PARAM_ERROR,
                           "params error: the simulator trades isolated margin only")
        raise ApiError(p.PARAM_ERROR, f"params error: setMarginMode invalid ({mode!r})")

    async def _fee_rate(self, params: dict[str, Any], path: str) -> Any:
        category = category_of(params)
        rows: list[dict[str, Any]] = []
        if category == "linear" and self._symbol_filter(params):
            rows = [{"symbol": lst.symbol,
                     "takerFeeRate": num(lst.venue.config.taker_fee),
                     "makerFeeRate": num(lst.venue.config.maker_fee)}
                    for lst in self.listings.values()]
            rows = [r for r in rows if self._wanted(params, r)]
        return {"list": rows}

    async def _transaction_log(self, params: dict[str, Any], path: str) -> Any:
        account = params.get("accountType", "UNIFIED")
        if account != "UNIFIED":
            raise ApiError(p.PARAM_ERROR, f"params error: accountType invalid ({account!r})")
        category = params.get("category")
        if category is not None and category not in CATEGORIES:
            raise ApiError(p.PARAM_ERROR, f"params error: category invalid ({category!r})")
        currency = params.get("currency")
        kind = params.get("type")
        start = int_param(params, "startTime")
        end = int_param(params, "endTime")
        assert self._state is not None
        async with self._state:
            rows = list(reversed(self.venue.wallet.ledger))  # newest first, every symbol
        rows = [
            r for r in rows
            if category in (None, "linear") and currency in (None, "", "USDT")
            and kind in (None, "", r["type"]) and self._wanted(params, r)
            and (start is None or int(r["transactionTime"]) >= start)
            and (end is None or int(r["transactionTime"]) <= end)
        ]
        return page(rows, params, limit_param(params, 20, 50), category=None)

    async def _wallet(self, params: dict[str, Any], path: str) -> Any:
        account = params.get("accountType")
        if account not in ("UNIFIED", "CONTRACT"):
            raise ApiError(p.PARAM_ERROR, f"params error: accountType invalid ({account!r})")
        assert self._state is not None
        async with self._state:
            row = self.venue.wallet_row()
        row["accountType"] = account
        coin = params.get("coin")
        if coin:
            wanted = set(str(coin).split(","))
            row["coin"] = [c for c in row["coin"] if c["coin"] in wanted]
        return {"list": [row]}

    # --- position ---------------------------------------------------------------------------
    async def _positions(self, params: dict[str, Any], path: str) -> Any:
        category = category_of(params)
        symbol = params.get("symbol")
        if symbol is None and params.get("settleCoin") is None and category == "linear":
            raise ApiError(p.PARAM_ERROR, "params error: symbol or settleCoin is required")
        rows: list[dict[str, Any]] = []
        if category == "linear" and self._symbol_filter(params) \
                and params.get("settleCoin") in (None, "USDT"):
            assert self._state is not None
            async with self._state:
                rows = [lst.venue.position_row(lst.venue.engine.position())
                        for lst in self.listings.values()]
                rows = [r for r in rows if self._wanted(params, r)]
        return {"category": category, "list": rows, "nextPageCursor": ""}

    async def _closed_pnl(self, params: dict[str, Any], path: str) -> Any:
        category = category_of(params)
        start = int_param(params, "startTime")
        end = int_param(params, "endTime")
        assert self._state is not None
        async with self._state:
            rows = list(reversed(self.venue.wallet.closed_pnl))
        rows = [
            r for r in rows
            if category == "linear" and self._wanted(params, r)
            and (start is None or int(r["createdTime"]) >= start)
            and (end is None or int(r["createdTime"]) <= end)
        ]
        return page(rows, params, limit_param(params, 50, 200), category=category)

    async def _switch_isolated(self, params: dict[str, Any], path: str) -> Any:
        return self.listing(params.get("symbol")).venue.switch_isolated(params)

    async def _switch_mode(self, params: dict[str, Any], path: str) -> Any:
        """Position mode: 0 one-way (the simulator's only mode), 3 hedge (refused)."""
        category_of(params)
        mode = params.get("mode")
        if mode in (0, "0"):
            raise ApiError(p.POSITION_MODE_NOT_MODIFIED)
        if mode in (3, "3"):
            raise ApiError(p.PARAM_ERROR, "params error: the simulator trades one-way mode only")
        raise ApiError(p.PARAM_ERROR, f"params error: mode invalid ({mode!r})")

    async def _set_tpsl_mode(self, params: dict[str, Any], path: str) -> Any:
        """TP/SL mode: acknowledged (Full or Partial); each create and trading-stop says
        its own `tpslMode` (Full when not given), as Bybit's V5 requests do."""
        self.listing(params.get("symbol")).venue.check_symbol(params)
        mode = params.get("tpSlMode")
        if mode in ("Full", "Partial"):
            return {"tpSlMode": mode}
        raise ApiError(p.PARAM_ERROR, f"params error: tpSlMode invalid ({mode!r})")
