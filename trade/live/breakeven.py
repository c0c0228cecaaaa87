"""Break-even for live positions: Bybit has no native break-even, so the session does it.

The rule is the kernel's (docs/fill_model.md rule 5, "Break-even"), checked at the same
instant: at the close of every 1m bar, after the exchange has processed that bar, the
best price since entry (the highest 1m high for a long, the lowest low for a short, from
the entry's own bar on, starting at the opening fill price) is compared with the entry
price; once `(best - entry) / entry * side >= activation` the stop loss moves to
`entry * (1 + side * offset)` on the tick grid, unless the position's stop is already
tighter (break-even never loosens a stop). It is decided once per position. The session
sends the new stop with trading-stop before the next bar starts, so it is effective from
the next bar, as in the kernel.

Where the configuration comes from (`OrderRequest.break_even_activation` /
`break_even_offset`, fractions of the entry price), as in the kernel:

* an opening fill from flat (or a flip) starts a new position: best = that fill's price,
  the break-even settings are the order's (none when the order has none);
* a fill that adds to the position keeps the best price; an adding order with
  break-even settings replaces them and re-arms the rule (the kernel's `be_done = False`);
* a flat position (or one whose side no longer matches) forgets everything.

Threading: engine thread only (the session calls it once the bar has settled).

Restart: `restore` rebuilds the state of a position an earlier run opened from that run's
journal (its `order`, `fill` and `break_even` records, replayed as above) and the 1m bars
since the entry (the warm-up history), provided the replayed position matches the
exchange's in side and size; otherwise (a journal that missed fills) nothing is restored
and the position has no break-even. Fills are attributed to the 1m bar of their `execTime`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trade.core import Order, Position, Side
from trade.sim.config import round_to_tick

MINUTE = 60_000
log = logging.getLogger(__name__)


@dataclass(slots=True)
class BreakEvenState:
    """What the kernel keeps for one position (`e.best`, `be_activation`, `be_offset`,
    `be_done`)."""

    side: int
    best: float
    from_ts: int  # open time of the entry's 1m bar: bars from it on count for `best`
    activation: float = 0.0  # 0 = no break-even on this position
    offset: float = 0.0
    done: bool = False


@dataclass(frozen=True, slots=True)
class BreakEvenAction:
    """The stop break-even asks for (`level`), and whether the bar already closed beyond
    it (`through`: a stop there would be refused by Bybit, so the session closes instead)."""

    level: float
    through: bool


class BreakEvenTracker:
    """See the module docstring. Engine thread only."""

    def __init__(self, symbol: str, tick: float = 0.0) -> None:
        self.symbol = symbol
        self.tick = tick  # the instrument's price tick (0 = levels are not rounded)
        self.state: BreakEvenState | None = None

    def on_entry(self, order: Order, fill_ts: int) -> None:
        """A non reduce-only order of ours has filled (at `order.avg_fill_price`)."""
        r = order.request
        if r.symbol != self.symbol or r.reduce_only or order.filled_qty <= 0:
            return
        side = 1 if r.side is Side.BUY else -1
        st = self.state
        if st is None or st.side != side:
            # a new position (from flat, or a flip): best starts at the opening fill price
            st = BreakEvenState(side, order.avg_fill_price, fill_ts - fill_ts % MINUTE)
            self.state = st
        act = r.break_even_activation
        if act is not None and act > 0:
            # the order's break-even replaces the position's and is decided afresh
            st.activation, st.offset, st.done = act, r.break_even_offset, False

    def restore(self, records: Iterable[Mapping[str, Any]], position: Position,
                bars: Sequence[Sequence[float]]) -> BreakEvenState | None:
        """Rebuild the state of the open `position` from an earlier run's journal `records`
        and the closed 1m `bars` (ts, open, high, low, close, ...) that followed its entry.

        Returns the restored state (None: flat, or the journal does not account for the
        position; see the module docstring)."""
        self.state = None
        if position.side == 0 or position.size <= 0:
            return None
        orders: dict[str, Mapping[str, Any]] = {}
        applied: set[str] = set()
        seen: set[str] = set()
        net = 0.0
        st: BreakEvenState | None = None
        for rec in records:
            kind = rec.get("kind")
            if kind == "order":
                orders[str(rec.get("link"))] = rec
            elif kind == "fill":
                exec_id = str(rec.get("exec_id") or "")
                if exec_id in seen:
                    continue  # a fill journaled again (recovered by a reconcile)
                seen.add(exec_id)
                sign = 1 if rec.get("side") == "Buy" else -1
                net = round(net + sign * float(rec["qty"]), 12)
                if net == 0:
                    st = None  # flat: the position is over
                    continue
                side = 1 if net > 0 else -1
                ts = int(rec["exec_ts"])
                if st is None or st.side != side:
                    # a new position (from flat, or a flip): best starts at the fill price
                    st = BreakEvenState(side, float(rec["price"]), ts - ts % MINUTE)
                link = str(rec.get("link") or "")
                order = orders.get(link)
                if order is None or order.get("reduce_only") or link in applied:
                    continue
                applied.add(link)  # an order's settings apply once, at its first fill
                act = order.get("be_act")
                if act is not None and float(act) > 0:
                    st.activation = float(act)
                    st.offset = float(order.get("be_off") or 0.0)
                    st.done = False
            elif kind == "break_even" and st is not None and int(rec["bar"]) >= st.from_ts:
                st.done = True  # decided once per position
        if st is None or st.side != position.side or abs(abs(net) - position.size) > 1e-9:
            log.warning("break-even not restored: the journal does not account for the "
                        "open position (journal net %s, exchange %s x %s)", net,
                        position.side, position.size)
            return None
        for bar in bars:
            if int(bar[0]) >= st.from_ts:
                # rule 5's best price since entry, over the bars this process did not see
                st.best = max(st.best, bar[2]) if st.side > 0 else min(st.best, bar[3])
        self.state = st
        return st

    def on_bar(self, ts: int, high: float, low: float, close: float,
               position: Position) -> BreakEvenAction | None:
        """The closed 1m bar `ts` (open time), after the exchange processed it. Returns the
        stop to set when break-even triggers on this bar, else None."""
        st = self.state
        if position.side == 0 or st is None or st.side != position.side:
            self.state = None  # flat (or turned by something else): nothing to track
            return None
        if ts < st.from_ts:
            return None  # a bar before the entry's own bar
        long_ = st.side > 0
        # rule 5: best = the highest high (lowest low) since entry, this bar included
        st.best = max(st.best, high) if long_ else min(st.best, low)
        if st.activation <= 0 or st.done or position.entry_price <= 0:
            return None
        entry = position.entry_price
        excursion = (st.best - entry) / entry * st.side
        if excursion < st.activation:
            return None
        st.done = True  # decided once per position
        # the stop as the exchange will hold it, on the tick grid (the kernel rounds it too)
        level = round_to_tick(entry * (1 + st.offset * st.side), self.tick)
        sl = position.stop_loss
        # break-even never loosens an existing stop
        if sl > 0 and (sl >= level if long_ else sl <= level):
            return None
        through = close <= level if long_ else close >= level
        return BreakEvenAction(level, through)


__all__ = ["BreakEvenAction", "BreakEvenState", "BreakEvenTracker"]
