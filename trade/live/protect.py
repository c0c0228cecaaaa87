"""Position protection: provisional stops on the entry, confirmed trading-stops, repair.

Rules (docs/live.md, "Protection"):

* **Provisional levels.** An entry with a fill-relative stop loss (and take profit) carries
  absolute `stopLoss`/`takeProfit` on the create itself, computed from the decision price
  `ref` (the last close; a limit's price; a stop entry's trigger) and looser than the Play's
  level by `margin` (a fraction of price): a long's stop at `ref x (1 - off - margin)`,
  its take profit at `ref x (1 + off + margin)` (mirrored for a short). Bybit attaches them
  to the position at the fill, so a position is never without a stop, even for the
  milliseconds before trading-stop moves them to the exact fill-relative levels. They fire
  only where the backtest's stop would have fired too, unless the fill lands beyond the
  decision price by more than about `margin` in the losing direction (a long filled that
  far *below* `ref`); then the provisional stop is the tighter one until trading-stop
  replaces it, which is what the exact levels are confirmed for.
* **Confirmation.** A trading-stop counts only once the position read back over REST shows
  it (`verdict`): a stop at least as tight as asked (a break-even or trail may have moved it
  further), the take profit on the asked tick, a trail set. Unconfirmed, it is sent again
  with exponential backoff until `deadline_s`; then the position is closed reduce-only, the
  Play is paused and the journal, the log and the notification hook say why.
* **Repair on start.** Every open position gets the levels its journal (the last entry
  order on its side) calls for, confirmed before any new entry; a position the journal does
  not know follows `unknown_position`: `attach` (default: the Play's stop relative to the
  position's entry price), `close`, or `report` (leave it, say so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from trade.core import InputError, OrderRequest, OrderType, Side
from trade.sim.config import round_to_tick

UnknownPolicy = Literal["attach", "close", "report"]


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    """Provisional margin, confirmation timing and the unknown-position policy."""

    margin: float = 0.005  # provisional levels this much (fraction of price) looser
    deadline_s: float = 6.0  # confirm within this, else close reduce-only and pause
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 2.0
    unknown_position: UnknownPolicy = "attach"
    # the Play's own stop / take profit as fractions of the entry price (for `attach`)
    fallback_sl_offset: float | None = None
    fallback_tp_offset: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.margin < 0.5:
            raise InputError(f"--protect-margin is a fraction in [0, 0.5), got {self.margin}")
        if self.deadline_s <= 0:
            raise InputError(f"--protect-deadline must be > 0 s, got {self.deadline_s}")


def decision_price(request: OrderRequest, last_price: float) -> float:
    """The price an entry is expected to fill near: its limit, its trigger, else `last`."""
    if request.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and request.price:
        return request.price
    if request.order_type.is_conditional and request.trigger_price:
        return request.trigger_price
    return last_price


def with_provisional(request: OrderRequest, ref: float, margin: float, tick: float
                     ) -> OrderRequest:
    """The entry with its provisional stopLoss/takeProfit (see the module docstring)."""
    if request.reduce_only or ref <= 0:
        return request
    sign = 1.0 if request.side is Side.BUY else -1.0
    changes: dict[str, float] = {}
    if request.stop_loss is None and request.stop_loss_offset is not None:
        # looser by `margin`: a long's stop further below, a short's further above; floored
        # away from the price on the tick grid so rounding never tightens it
        raw = ref * (1 - sign * (request.stop_loss_offset + margin))
        changes["stop_loss"] = _away(raw, tick, -sign)
    if request.take_profit is None and request.take_profit_offset is not None \
            and not uses_partial(request)[0]:
        # a Partial take-profit (split, limit, mark) is set once filled, never provisionally:
        # a Full one would stand beside it on Bybit and take the whole position
        raw = ref * (1 + sign * (request.take_profit_offset + margin))
        changes["take_profit"] = _away(raw, tick, sign)
    if not changes or changes.get("stop_loss", 1.0) <= 0:
        return request
    return replace(request, **changes)  # type: ignore[arg-type]


def _away(price: float, tick: float, direction: float) -> float:
    """`price` on the tick grid, rounded in `direction` (+1 up, -1 down)."""
    if tick <= 0:
        return price
    on = round_to_tick(price, tick)
    if (on - price) * direction < -1e-12:
        on = round_to_tick(on + direction * tick, tick)
    return on


def wanted(levels: Mapping[str, float], tick: float) -> dict[str, float]:
    """Levels as the exchange will hold them (on the tick grid; 0 = cleared)."""
    return {k: (round_to_tick(v, tick) if v > 0 else 0.0) for k, v in levels.items()}


def _num(row: Mapping[str, Any], name: str) -> float:
    try:
        return float(row.get(name) or 0.0)
    except (TypeError, ValueError):
        return 0.0


def position_side(row: Mapping[str, Any] | None) -> int:
    if row is None or _num(row, "size") <= 0:
        return 0
    return {"Buy": 1, "Sell": -1}.get(str(row.get("side")), 0)


def find_row(rows: Sequence[Mapping[str, Any]], symbol: str) -> Mapping[str, Any] | None:
    for row in rows:
        if str(row.get("symbol")) == symbol and _num(row, "size") > 0:
            return row
    return None


def held_levels(row: Mapping[str, Any] | None) -> dict[str, float]:
    """What the exchange holds on a position row (0 = none)."""
    if row is None:
        return {}
    return {k: _num(row, k) for k in ("stopLoss", "takeProfit", "trailingStop")}


def verdict(row: Mapping[str, Any] | None, want: Mapping[str, float], side: int,
            tick: float) -> tuple[bool, str]:
    """(confirmed, why): does the position read back hold `want` (see the module docstring)?
    A flat position, or one on the other side, has nothing left to protect: confirmed."""
    pside = position_side(row)
    if pside == 0:
        return True, "flat"
    if pside != side:
        return True, "the position changed side"
    assert row is not None
    half = tick / 2 if tick > 0 else 1e-9
    for key, level in want.items():
        have = _num(row, key)
        if key == "activePrice":
            continue  # not on the position row; it goes with the trail
        if level <= 0:
            if have > 0:
                return False, f"{key} {have:g} still set (asked to clear it)"
            continue
        if have <= 0:
            return False, f"no {key} on the position"
        if key == "stopLoss":
            # at least as tight: a break-even or a trail may already have moved it further
            ok = have >= level - half if side > 0 else have <= level + half
            if not ok:
                return False, f"stopLoss {have:g}, asked {level:g}"
        elif key == "takeProfit" and abs(have - level) > half:
            return False, f"takeProfit {have:g}, asked {level:g}"
    return True, "held"


def entry_levels(order_rec: Mapping[str, Any], side: int, entry: float
                 ) -> dict[str, float]:
    """The fill-relative levels of a journaled entry `order` record at `entry`."""
    sign = float(side)
    out: dict[str, float] = {}
    sl_off, tp_off = order_rec.get("sl_off"), order_rec.get("tp_off")
    trail_off, act = order_rec.get("trail_off"), order_rec.get("trail_act")
    if sl_off:
        out["stopLoss"] = entry * (1 - sign * float(sl_off))
    elif order_rec.get("sl"):
        out["stopLoss"] = float(order_rec["sl"])
    if tp_off:
        out["takeProfit"] = entry * (1 + sign * float(tp_off))
    elif order_rec.get("tp"):
        out["takeProfit"] = float(order_rec["tp"])
    if trail_off:
        out["trailingStop"] = entry * float(trail_off)
        if act:
            out["activePrice"] = entry * (1 + sign * float(act))
    return out


def journal_entry_for(records: Sequence[Mapping[str, Any]], side: int
                      ) -> Mapping[str, Any] | None:
    """The last entry (not reduce-only) `order` record on `side` in a journal."""
    want = "Buy" if side > 0 else "Sell"
    found: Mapping[str, Any] | None = None
    for rec in reversed(records):
        if rec.get("kind") == "order" and not rec.get("reduce_only") \
                and rec.get("side") == want:
            found = rec
            break
    return found


def merge_held(levels: dict[str, float], held: Mapping[str, float], side: int
               ) -> dict[str, float]:
    """Repair levels that never loosen what the exchange already holds: a tighter stop
    (break-even, a ratcheted trail) is kept, and a trail already set is not re-sent."""
    out = dict(levels)
    have_sl = held.get("stopLoss", 0.0)
    if "stopLoss" in out and have_sl > 0:
        tighter = have_sl > out["stopLoss"] if side > 0 else have_sl < out["stopLoss"]
        if tighter:
            out["stopLoss"] = have_sl
    if held.get("trailingStop", 0.0) > 0:
        out.pop("trailingStop", None)
        out.pop("activePrice", None)
    return out


# --- Partial brackets (Bybit tpslMode Partial) ------------------------------------------
PARTIAL_TP = "PartialTakeProfit"
PARTIAL_SL = "PartialStopLoss"


@dataclass(frozen=True, slots=True)
class PartialPlan:
    """Brackets Bybit holds as Partial TP/SL orders (docs/live.md, "Partial TP/SL"): split
    take-profits (one order per level, each a fixed qty), limit take-profits or stops,
    mark-price triggers. `take_profits` are absolute (price, qty), nearest first, for the
    position as it was filled (`size`); `stop_loss` > 0 is a Partial stop of the whole
    position."""

    take_profits: tuple[tuple[float, float], ...] = ()
    tp_limit: bool = False
    tp_by_mark: bool = False
    stop_loss: float = 0.0
    sl_limit: bool = False
    sl_by_mark: bool = False
    size: float = 0.0  # the position the levels were cut from

    def __bool__(self) -> bool:
        return bool(self.take_profits) or self.stop_loss > 0

    def record(self) -> dict[str, Any]:
        """The plan as journal fields."""
        return {"tp_levels": [list(lv) for lv in self.take_profits], "tp_limit": self.tp_limit,
                "tp_by_mark": self.tp_by_mark, "partial_sl": self.stop_loss,
                "sl_limit": self.sl_limit, "sl_by_mark": self.sl_by_mark, "size": self.size}


def uses_partial(request: OrderRequest) -> tuple[bool, bool]:
    """(take-profit, stop) of an entry that Bybit must hold in Partial mode: split levels,
    a limit order type or a mark-price trigger (a plain market stop on the last price
    stays Full)."""
    tp = bool(request.take_profit_levels) or request.tp_limit or request.tp_by_mark
    return tp, request.sl_limit or request.sl_by_mark


def floor_step(value: float, step: float) -> float:
    """`value` rounded down to the `step` grid (unchanged without a step)."""
    # the kernel's own rounding (trade.sim.reference), so the levels are the backtest's
    return math.floor(value / step + 1e-9) * step if step > 0 else value


def split_levels(price: float, side: int, size: float,
                 levels: Sequence[tuple[float, float]], tick: float, step: float
                 ) -> tuple[tuple[float, float], ...]:
    """Split take-profits of a position of `size` filled at `price` (fill_model.md rule 4,
    A): level i at price x (1 + side x pct_i) on the tick grid, qty_i = size_i of what the
    earlier levels leave (rounded down to the qty step), the last closing what is left.
    A level left with no qty is dropped."""
    out: list[tuple[float, float]] = []
    left = size
    for k, (pct, frac) in enumerate(levels):
        qty = left if k == len(levels) - 1 else floor_step(left * frac, step)
        if qty <= 0:
            continue
        out.append((round_to_tick(price * (1 + pct * side), tick), qty))
        left -= qty
    return tuple(out)


def plan_from(request: OrderRequest, side: int, price: float, size: float,
              levels: dict[str, float], tick: float, step: float) -> PartialPlan | None:
    """Move what must go Partial out of the Full `levels` (trade.live.executor
    bracket_prices of an entry filled at `price` for `size`) into a PartialPlan; None when
    the entry uses none of it."""
    r = request
    return _plan(r.take_profit_levels, (r.tp_limit, r.tp_by_mark, r.sl_limit, r.sl_by_mark),
                 side, price, size, levels, tick, step)


def entry_plan(order_rec: Mapping[str, Any], side: int, entry: float,
               levels: dict[str, float], tick: float, step: float) -> PartialPlan | None:
    """`plan_from` for a journaled entry `order` record (repair on restart): the levels cut
    from the entry's qty at `entry`; the ones the position has closed since are found by
    `partial_missing` from the position's size."""
    pcts = tuple((float(a), float(b)) for a, b in order_rec.get("tp_levels") or ())
    flags = (bool(order_rec.get("tp_limit")), bool(order_rec.get("tp_by_mark")),
             bool(order_rec.get("sl_limit")), bool(order_rec.get("sl_by_mark")))
    return _plan(pcts, flags, side, entry, float(order_rec.get("qty") or 0.0), levels,
                 tick, step)


def _plan(pcts: Sequence[tuple[float, float]], flags: tuple[bool, bool, bool, bool],
          side: int, price: float, size: float, levels: dict[str, float], tick: float,
          step: float) -> PartialPlan | None:
    tp_limit, tp_by_mark, sl_limit, sl_by_mark = flags
    p_tp, p_sl = bool(pcts) or tp_limit or tp_by_mark, sl_limit or sl_by_mark
    if not (p_tp or p_sl) or size <= 0:
        return None
    tps: tuple[tuple[float, float], ...] = ()
    if p_tp:
        tp = levels.pop("takeProfit", 0.0)
        if pcts:
            tps = split_levels(price, side, size, pcts, tick, step)
        elif tp > 0:
            tps = ((round_to_tick(tp, tick) if tick > 0 else tp, size),)
    sl = levels.pop("stopLoss", 0.0) if p_sl else 0.0
    return PartialPlan(tps, tp_limit, tp_by_mark, sl, sl_limit, sl_by_mark, size)


def _kind_ok(row: Mapping[str, Any], limit: bool, by_mark: bool) -> bool:
    return (str(row.get("orderType")) == ("Limit" if limit else "Market")
            and str(row.get("triggerBy") or "LastPrice")
            == ("MarkPrice" if by_mark else "LastPrice"))


def partial_missing(plan: PartialPlan, orders: Sequence[Mapping[str, Any]],
                    row: Mapping[str, Any] | None, side: int, tick: float, step: float
                    ) -> tuple[list[tuple[float, float]], bool, str]:
    """(take-profits to send, send the stop, why) for `plan` against the open orders read
    back. Levels the position has already closed (its size is below the plan's by their
    qty, nearest first) are not wanted any more; a flat position wants nothing."""
    pside = position_side(row)
    if pside == 0 or pside != side:
        return [], False, "flat" if pside == 0 else "the position changed side"
    size = _num(row or {}, "size")
    half_t = tick / 2 if tick > 0 else 1e-9
    half_q = step / 2 if step > 0 else 1e-12
    closed = plan.size - size
    want: list[tuple[float, float]] = []
    done = 0.0
    for price, qty in plan.take_profits:
        if not want and done + qty <= closed + half_q:
            done += qty  # filled already: this level closed part of the position
            continue
        want.append((price, qty))
    open_tps = [o for o in orders if str(o.get("stopOrderType")) == PARTIAL_TP
                and _kind_ok(o, plan.tp_limit, plan.tp_by_mark)]
    missing: list[tuple[float, float]] = []
    for price, qty in want:
        hit = next((o for o in open_tps if abs(_num(o, "triggerPrice") - price) <= half_t
                    and abs(_num(o, "qty") - qty) <= half_q), None)
        if hit is None:
            missing.append((price, qty))
        else:
            open_tps.remove(hit)
    send_sl = False
    if plan.stop_loss > 0:
        level = round_to_tick(plan.stop_loss, tick) if tick > 0 else plan.stop_loss
        held = [o for o in orders if str(o.get("stopOrderType")) == PARTIAL_SL
                and _kind_ok(o, plan.sl_limit, plan.sl_by_mark)
                and _num(o, "qty") >= size - half_q]
        tight = [o for o in held if (_num(o, "triggerPrice") >= level - half_t if side > 0
                                     else _num(o, "triggerPrice") <= level + half_t)]
        send_sl = not tight
    why = []
    if missing:
        why.append(f"{len(missing)} Partial take-profit(s) not listed")
    if send_sl:
        why.append("no Partial stop at least as tight as asked")
    return missing, send_sl, "; ".join(why) or "held"


__all__ = [
    "PARTIAL_SL",
    "PARTIAL_TP",
    "PartialPlan",
    "ProtectionPolicy",
    "UnknownPolicy",
    "decision_price",
    "entry_levels",
    "entry_plan",
    "find_row",
    "floor_step",
    "held_levels",
    "journal_entry_for",
    "merge_held",
    "partial_missing",
    "plan_from",
    "position_side",
    "split_levels",
    "uses_partial",
    "verdict",
    "wanted",
    "with_provisional",
]
