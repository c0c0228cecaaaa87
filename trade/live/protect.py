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
    if request.take_profit is None and request.take_profit_offset is not None:
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


__all__ = ["ProtectionPolicy", "UnknownPolicy", "decision_price", "entry_levels",
           "find_row", "held_levels", "journal_entry_for", "merge_held", "position_side",
           "verdict", "wanted", "with_provisional"]
