"""What a Play gets for each field it leaves out: TRADE's defaults (its config/defaults.yml).

One table, so the Play reference can list it and the schema reads its defaults from it.
Where a value is ours on purpose it is in `OUR_DIFFERENCES`, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: dotted Play path -> the value used when the Play omits it (as in TRADE)
TRADE_DEFAULTS: Mapping[str, float | str] = MappingProxyType({
    "account.starting_equity_usdt": 10_000.0,
    "account.max_leverage": 1.0,
    "account.margin_mode": "isolated_usdt",
    "account.fee_model.taker_bps": 5.5,
    "account.fee_model.maker_bps": 2.0,
    "account.slippage_bps": 2.0,
    "account.min_trade_notional_usdt": 10.0,
    "account.maintenance_margin_rate": 0.005,
    "account.risk_per_trade_pct": 1.0,
    "position_policy.mode": "long_only",
    "position_policy.exit_mode": "sl_tp_only",
    "position_policy.max_positions_per_symbol": 1,
    "risk.max_position_pct": 10.0,
    "risk_model.sizing": "percent_equity 10",
    "entry.order_type": "MARKET",
    "entry.time_in_force": "GTC",
    "risk.tp_order_type": "Market",
    "risk.sl_order_type": "Market",
})

#: where `trade` keeps its own behaviour on purpose, and why
OUR_DIFFERENCES: Mapping[str, str] = MappingProxyType({
    "stop/target reference": "stops and targets are measured from the fill price, on the tick "
                             "grid (TRADE: from the signal bar's close)",
    "take-profit slippage": "a take-profit limit fill has no slippage (TRADE charges it)",
    "RSI/ATR seeding": "RSI and ATR are seeded as TA-Lib does (SMA of the first values)",
    "account.max_drawdown_pct": "no circuit breaker unless the Play sets one (TRADE halts at "
                                "20 % when omitted): a breaker needs the bar-by-bar path, and "
                                "sweeps rank Plays on the fast signal path",
})

DEFAULT_MAX_POSITION_PCT = float(TRADE_DEFAULTS["risk.max_position_pct"])
