"""Bybit's TP/SL options (tpslMode, tp/slOrderType, tp/slLimitPrice, tp/slTriggerBy) as the
simulator's step engine can hold them.

The kernel keeps, per position, a list of split take-profits (absolute price, fixed qty)
of one kind (market or limit, last-price or mark-price trigger) and one stop loss with its
own kind (docs/fill_model.md rule 4). Bybit's Partial TP/SL orders map onto that: every
Partial take-profit is one level; a Partial stop loss is the position's stop, so it must
cover the whole position. What the kernel cannot hold is refused with a params error
(10001), never approximated: a limit price other than the trigger price, partial TPs of
different kinds, a Partial stop of part of the position, triggers on the index price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trade.exchange_sim import protocol as p
from trade.exchange_sim.protocol import ApiError, param_float

#: the order types a TP/SL may be (tpOrderType / slOrderType)
ORDER_TYPES = ("Market", "Limit")
#: the prices a TP/SL may trigger on (tpTriggerBy / slTriggerBy); IndexPrice is refused
TRIGGER_BY = ("LastPrice", "MarkPrice")


@dataclass(frozen=True, slots=True)
class Kind:
    """How a take-profit or stop fills: a limit at its price or a market order, triggered
    by the last or the mark price."""

    limit: bool = False
    by_mark: bool = False

    @property
    def order_type(self) -> str:
        return "Limit" if self.limit else "Market"

    @property
    def trigger_by(self) -> str:
        return "MarkPrice" if self.by_mark else "LastPrice"

    @property
    def plain(self) -> bool:
        """A market order on the last price: what Full mode holds."""
        return not (self.limit or self.by_mark)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side (take-profit or stop loss) of a TP/SL request: its trigger price (0 =
    clear), size (None = not given) and kind."""

    price: float
    size: float | None
    kind: Kind


def mode_of(params: dict[str, Any]) -> str:
    """`tpslMode` (Full when not given); 10001 for anything else than Full or Partial."""
    mode = params.get("tpslMode")
    if mode in (None, ""):
        return "Full"
    if mode not in ("Full", "Partial"):
        raise ApiError(p.PARAM_ERROR, f"params error: tpslMode invalid ({mode!r})")
    return str(mode)


def leg(params: dict[str, Any], which: str, mode: str, tick: float) -> Leg | None:
    """The take-profit (`which` = "tp") or stop-loss ("sl") part of a request, None when the
    request does not set it. Refuses (10001) what Full mode or the simulator cannot hold."""
    name = "takeProfit" if which == "tp" else "stopLoss"
    price = param_float(params, name)
    otype = params.get(f"{which}OrderType") or "Market"
    by = params.get(f"{which}TriggerBy") or "LastPrice"
    limit_px = param_float(params, f"{which}LimitPrice")
    size = param_float(params, f"{which}Size")
    if otype not in ORDER_TYPES:
        raise ApiError(p.PARAM_ERROR, f"params error: {which}OrderType invalid ({otype!r})")
    if by not in TRIGGER_BY:
        raise ApiError(p.PARAM_ERROR, f"params error: {which}TriggerBy {by!r} not supported "
                                      f"(the simulator triggers on LastPrice or MarkPrice)")
    kind = Kind(limit=otype == "Limit", by_mark=by == "MarkPrice")
    if mode == "Full":
        if otype == "Limit" or limit_px:
            raise ApiError(p.PARAM_ERROR, f"params error: {which}OrderType Limit and "
                                          f"{which}LimitPrice need tpslMode Partial")
        if kind.by_mark:
            raise ApiError(p.PARAM_ERROR, f"params error: {which}TriggerBy MarkPrice needs "
                                          f"tpslMode Partial in the simulator")
        if size:
            raise ApiError(p.PARAM_ERROR, f"params error: {which}Size needs tpslMode Partial")
    if price is None:
        return None
    if kind.limit and price > 0:
        if limit_px is None or limit_px <= 0:
            raise ApiError(p.PARAM_ERROR, f"params error: {which}LimitPrice is required "
                                          f"with {which}OrderType Limit")
        if abs(limit_px - price) > tick / 2:
            # the kernel places the limit at the trigger price (fill_model.md rule 4 B/C)
            raise ApiError(p.PARAM_ERROR, f"params error: {which}LimitPrice {limit_px:g} must "
                                          f"equal {name} {price:g} in the simulator")
    return Leg(price, size, kind)


def check_trigger_by(params: dict[str, Any]) -> None:
    """A conditional order's own `triggerBy`: the simulator triggers on the last price."""
    by = params.get("triggerBy")
    if by not in (None, "", "LastPrice"):
        raise ApiError(p.PARAM_ERROR, f"params error: triggerBy {by!r} not supported "
                                      f"(conditional orders trigger on the last price)")


__all__ = ["ORDER_TYPES", "TRIGGER_BY", "Kind", "Leg", "check_trigger_by", "leg", "mode_of"]
