"""Orders from a Play: sizing, SL/TP/trailing/break-even brackets, limit entries, policy.

One `OrderPlan` is derived from a Play (and the instrument) once. Both execution paths use
it: the batch path writes its per-row numbers into `SignalArrays`, the event path
(`PlayEngine`) computes the very same numbers at each decision and submits orders through the
adapter with `decide_entry`/`decide_exit`, which implement the rules of the
`trade.sim.signals` docstring line for line. That shared code is why the two paths agree.

Conventions (docs/play_reference.md, "Risk"):

* Every bracket is a fraction of the **entry fill price** (the simulator applies it when the
  opening fill happens), computed at the decision from data closed at that instant; the
  reference price `ref` is the close of the 1m bar on which the decision is taken (at an
  exec-bar close this is the exec bar's close).
* `percent` stop/take-profit and `stop_loss_pct` / `take_profit_pct` / `trailing_stop_pct` /
  `trailing_pct` are ROI percentages of margin: price fraction = pct / 100 / leverage.
* `atr_multiple` / `trailing_atr`: distance = k x ATR at the signal bar, as a fraction of `ref`.
* `fixed_points`: distance = value (price units) / `ref`.
* `structure`: distance = |ref - level| / ref for a level on the protective side (below `ref`
  for a long, above it for a short); otherwise no stop on that row.
* `rr_ratio` take profit: tp = value x stop distance.
* A trailing stop type (`trailing_pct`, `trailing_atr`) also sets the initial stop loss at the
  same distance (so risk-based sizing sees it); the trail then ratchets on 1m extremes.
* `stop_loss.activation_pct` (trailing types only; 0 or absent = armed at the fill) follows the
  trailing value's convention, an **ROI percentage of margin**: activation = pct / 100 /
  leverage as a fraction of the entry price, for `trailing_atr` too. The trail arms once the
  best price since entry has moved that far in favour; until then it neither ratchets nor
  triggers (the initial stop loss above still protects). Once armed it starts at best -
  distance and ratchets as before, checked from the next 1m bar.
* `break_even`: activation and offset are **price** percentages (fractions of entry / 100).
* `exit_mode: signal` attaches no take profit (exits come from signals); a declared stop
  loss is still attached as the protective stop. `sl_tp_only` ignores signal exits (done by
  the Play compiler).
* Sizing (the simulator's SizeMode): `fixed_usdt` = notional in USDT; `percent_equity` =
  percent of equity used as margin (notional = margin x leverage); `risk_based` = percent of
  equity lost at the stop (notional = equity x pct / 100 / stop distance). Without a
  `risk_model.sizing`, a Play uses percent_equity with `risk.max_position_pct`, at most 95
  (a 100 % margin order could not pay its own fee and would be rejected).
  Notional is capped at equity x leverage / (1 + leverage x taker fee) so the margin and the
  opening fee fit; qty = notional / ref floored to the instrument's
  qty step; an order under the min qty or min notional (the larger of the instrument's and
  `account.min_trade_notional_usdt`) is skipped.
* Limit entries: price = ref x (1 - offset) for a long (1 + offset for a short), offset =
  limit_offset_pct / 100, cancelled after `expire_after_bars` exec bars (counted in 1m
  bars: expire_after_bars x exec minutes; 0 = never). A flip is always a market order.
  `entry.time_in_force` applies to these limit entries: GTC rests until filled or expired;
  IOC and FOK (alike: the simulator fills whole) are cancelled when they do not fill on their
  first eligible 1m bar; PostOnly is rejected when its price would cross the last close. A
  cancelled or rejected entry is not retried; the next entry signal places a new one. For
  MARKET entries (and a LIMIT with offset 0, which is a market entry) the TIF is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trade.core import (
    Balance,
    ExchangeAdapter,
    InputError,
    Order,
    OrderRequest,
    Position,
    TimeInForce,
)
from trade.data.schema import Instrument
from trade.play import Play
from trade.play.timeframes import INTERVAL_MINUTES
from trade.sim.config import SizeMode
from trade.sim.rowact import (
    EntrySpec,
    EntryState,
    RowIntent,
    act_on_row,
    entry_qty,
)

F64 = npt.NDArray[np.float64]

#: Margin percent of the default sizing: a 100 % margin order cannot also pay its taker fee
#: and is rejected for insufficient balance, so the default leaves 5 % for fees and slippage.
DEFAULT_MARGIN_PCT = 95.0

#: Used when the store has no instrument for the symbol: Bybit BTCUSDT's linear contract
#: (tick 0.1 USDT, qty step and min qty 0.001, min notional 5 USDT, max leverage 100x).
DEFAULT_INSTRUMENT = Instrument()


@dataclass(frozen=True, slots=True)
class StopRule:
    """How one bracket distance is computed (see the module docstring)."""

    kind: str  # roi | atr | points | structure | none
    value: float = 0.0
    series: str | None = None  # the ATR feature or structure level series

    def series_names(self) -> tuple[str, ...]:
        return (self.series,) if self.series else ()


NO_RULE = StopRule("none")


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """Everything needed to turn one decision into orders; derived once from a Play.

    Sizing (mode and value), the stop, take-profit and trailing rules, break-even, the
    limit-entry offset, expiry and time in force, flipping, and the instrument's quantity
    and price rules. Immutable: the batch and event paths and every sweep thread share
    one."""

    symbol: str
    leverage: float
    size_mode: SizeMode
    size_value: float
    stop: StopRule
    take_profit: StopRule
    tp_rr: float  # > 0: take profit = tp_rr x stop distance
    trail: StopRule
    be_activation: float
    be_offset: float
    limit_offset: float  # 0 = market entries
    expire_bars_1m: int
    allow_flip: bool
    qty_step: float
    min_qty: float
    min_notional: float
    taker_fee: float = 0.0  # fraction; the sizing cap leaves room for the opening fee
    tick_size: float = 0.0  # order prices from offsets are rounded to it (0 = not rounded)
    trail_activation: float = 0.0  # fraction of entry that arms the trail; 0 = at the fill
    entry_tif: TimeInForce = TimeInForce.GTC  # time in force of limit entries
    # the share of the account's equity entries are sized on (a portfolio member's, as the
    # portfolio backtest sizes it; 1 alone)
    alloc: float = 1.0
    # split take-profits as (fraction of the fill price, fraction of what the earlier levels
    # leave), replacing the single take-profit; limit / mark-price brackets (Bybit Partial
    # mode, docs/fill_model.md rule 4, A-D)
    tp_levels: tuple[tuple[float, float], ...] = ()
    tp_limit: bool = False
    sl_limit: bool = False
    tp_by_mark: bool = False
    sl_by_mark: bool = False

    def series_names(self) -> frozenset[str]:
        """Feature series the bracket rules read (ATR features, structure levels)."""
        names = {*self.stop.series_names(), *self.take_profit.series_names(),
                 *self.trail.series_names()}
        return frozenset(names)

    # ------------------------------------------------------------ per decision
    def _distance(self, rule: StopRule, direction: int, ref: float,
                  values: Mapping[str, float]) -> float:
        if rule.kind == "none" or not (ref > 0 and math.isfinite(ref)):
            return 0.0
        if rule.kind == "roi":
            return rule.value / 100.0 / self.leverage  # ROI of margin -> price fraction
        if rule.kind == "points":
            return rule.value / ref
        x = float(values.get(rule.series or "", math.nan))
        if not math.isfinite(x):
            return 0.0  # indicator still warming up: no bracket on this row
        if rule.kind == "atr":
            return rule.value * x / ref  # k x ATR at the signal bar, as a fraction of ref
        # structure level: must lie on the protective side of ref
        d = (ref - x) / ref if direction > 0 else (x - ref) / ref
        return d if d > 0 else 0.0

    def brackets(self, direction: int, ref: float,
                 values: Mapping[str, float]) -> tuple[float, float, float]:
        """(sl, tp, trail) fractions of the entry fill price for an entry in `direction`;
        0 = none. Distances >= 1 (a stop beyond zero) are dropped."""
        sl = self._distance(self.stop, direction, ref, values)
        trail = self._distance(self.trail, direction, ref, values)
        if trail > 0 and sl == 0:
            sl = trail  # a trailing stop starts where its first stop would be
        if self.tp_rr > 0:
            tp = self.tp_rr * sl
        else:
            tp = self._distance(self.take_profit, direction, ref, values)
        sl = sl if sl < 1 else 0.0
        trail = trail if trail < 1 else 0.0
        return sl, tp, trail

    def _distance_at(self, rule: StopRule, direction: npt.NDArray[np.int8], ref: F64,
                     series: Mapping[str, F64], rows: npt.NDArray[np.intp]) -> F64 | float:
        """`_distance` on the rows `rows` at once (a float when it is the same on every row)."""
        if rule.kind == "none":
            return 0.0
        if rule.kind == "roi":
            return rule.value / 100.0 / self.leverage
        r = ref[rows]
        ok = (r > 0) & np.isfinite(r)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if rule.kind == "points":
                return np.where(ok, rule.value / r, 0.0)
            x = np.asarray(series[rule.series or ""], dtype=np.float64)[rows]
            ok &= np.isfinite(x)  # indicator still warming up: no bracket on that row
            if rule.kind == "atr":
                return np.where(ok, rule.value * x / r, 0.0)
            # structure level: must lie on the protective side of ref
            d = np.where(direction[rows] > 0, (r - x) / r, (x - r) / r)
            return np.where(ok & (d > 0), d, 0.0)

    def bracket_columns(self, direction: npt.NDArray[np.int8], ref: F64,
                        series: Mapping[str, F64]) -> tuple[F64 | float, F64 | float,
                                                            F64 | float]:
        """`brackets` of every row at once (direction 0 = no entry: 0 there): three columns,
        each a float when it is the same on every entry row (stop rules that read no price
        or feature), else one value per row."""
        rows = np.flatnonzero(direction)
        sl = self._distance_at(self.stop, direction, ref, series, rows)
        trail = self._distance_at(self.trail, direction, ref, series, rows)
        tp: F64 | float
        if isinstance(sl, float) and isinstance(trail, float):
            if trail > 0 and sl == 0:
                sl = trail  # a trailing stop starts where its first stop would be
        else:
            sl = np.where((np.asarray(trail) > 0) & (np.asarray(sl) == 0), trail, sl)
        if self.tp_rr > 0:
            tp = self.tp_rr * sl
        else:
            tp = self._distance_at(self.take_profit, direction, ref, series, rows)
        sl = (sl if sl < 1 else 0.0) if isinstance(sl, float) else np.where(sl < 1, sl, 0.0)
        trail = ((trail if trail < 1 else 0.0) if isinstance(trail, float)
                 else np.where(trail < 1, trail, 0.0))

        def column(v: F64 | float) -> F64 | float:
            if isinstance(v, float):
                return v
            out = np.zeros(len(direction), dtype=np.float64)
            out[rows] = v
            return out

        return column(sl), column(tp), column(trail)

    def entry_qty(self, equity: float, ref: float, sl: float) -> float:
        """Quantity of a new entry (0 = skip), the rules of trade.sim.signals step 3, sized on
        `alloc` x the account's `equity`."""
        return entry_qty(self.size_mode, self.size_value, equity=equity * self.alloc, ref=ref,
                         sl=sl,
                         leverage=self.leverage, taker_fee=self.taker_fee,
                         qty_step=self.qty_step, min_qty=self.min_qty,
                         min_notional=self.min_notional)


_ENTRY_TIF = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "PostOnly": TimeInForce.POST_ONLY,
}


def _leverage(play: Play) -> float:
    sizing = play.risk_model.sizing if play.risk_model else None
    lev = play.account.max_leverage
    if sizing is not None and sizing.max_leverage is not None:
        lev = min(lev, sizing.max_leverage)
    return float(lev)


def order_plan(play: Play, instrument: Instrument = DEFAULT_INSTRUMENT) -> OrderPlan:
    """Derive the order rules of `play` (InputError for combinations the simulator lacks).

    `risk_model:` entries override the simple `risk:` ones; without any sizing rule an
    entry uses `DEFAULT_MARGIN_PCT` of equity as margin; with `exit_mode: signal` the
    take-profit is dropped (exits come from signals, the stop stays).

    Parameters
    ----------
    play : Play
        A loaded Play.
    instrument : Instrument
        The traded contract: quantity step, minimum quantity and notional, tick size and
        maximum leverage (default `DEFAULT_INSTRUMENT`).

    Returns
    -------
    OrderPlan
        The rules; `symbol` is the Play's (callers running another symbol replace it).

    Raises
    ------
    InputError
        The Play's leverage exceeds the instrument's maximum, a stop's `activation_pct`
        is given for a non-trailing stop, or `entry.limit_offset_pct` is 100 or more.
    """
    lev = _leverage(play)
    if lev > instrument.max_leverage:
        raise InputError(f"{play.source}: leverage {lev:g} is above {instrument.symbol}'s "
                         f"maximum {instrument.max_leverage:g}")
    stop, tp, trail = NO_RULE, NO_RULE, NO_RULE
    trail_act = 0.0
    tp_rr = 0.0
    be_act = be_off = 0.0
    size_mode, size_value = SizeMode.PERCENT_EQUITY, DEFAULT_MARGIN_PCT
    if play.risk is not None:
        r = play.risk
        if r.stop_loss_pct is not None:
            stop = StopRule("roi", r.stop_loss_pct)
        if r.take_profit_pct is not None:
            tp = StopRule("roi", r.take_profit_pct)
        if r.trailing_stop_pct is not None:
            trail = StopRule("roi", r.trailing_stop_pct)
        size_value = min(r.max_position_pct, DEFAULT_MARGIN_PCT)
    rm = play.risk_model
    if rm is not None:
        if rm.stop_loss is not None:
            s = rm.stop_loss
            value = float(s.value or 0.0)
            if s.activation_pct and s.type not in ("trailing_pct", "trailing_atr"):
                raise InputError(f"{play.source}: risk_model.stop_loss.activation_pct applies "
                                 f"to trailing_pct / trailing_atr stops, not {s.type!r}")
            # ROI of margin, like the trailing value: a fraction of the entry price
            trail_act = float(s.activation_pct or 0.0) / 100.0 / lev
            if s.type == "percent":
                stop = StopRule("roi", value)
            elif s.type == "atr_multiple":
                stop = StopRule("atr", value, s.atr_feature_id)
            elif s.type == "fixed_points":
                stop = StopRule("points", value)
            elif s.type == "structure":
                stop = StopRule("structure", 0.0, s.level)
            elif s.type == "trailing_pct":
                trail = StopRule("roi", value)
            else:  # trailing_atr
                trail = StopRule("atr", value, s.atr_feature_id)
        if rm.take_profit is not None:
            t = rm.take_profit
            if t.type == "percent":
                tp = StopRule("roi", t.value)
            elif t.type == "rr_ratio":
                tp_rr = float(t.value)
            elif t.type == "atr_multiple":
                tp = StopRule("atr", t.value, t.atr_feature_id)
            else:
                tp = StopRule("points", t.value)
        if rm.sizing is not None:
            size_mode = {
                "fixed_usdt": SizeMode.FIXED_USDT,
                "percent_equity": SizeMode.PERCENT_EQUITY,
                "risk_based": SizeMode.RISK_BASED,
            }[rm.sizing.model]
            size_value = float(rm.sizing.value)
        if rm.break_even is not None:
            be_act = rm.break_even.activation_pct / 100.0
            be_off = rm.break_even.offset_pct / 100.0
    tp_levels: tuple[tuple[float, float], ...] = ()
    modes = {"tp_order_type": "Market", "sl_order_type": "Market",
             "tp_trigger_by": "LastPrice", "sl_trigger_by": "LastPrice"}
    for block in (play.risk, play.risk_model):  # risk_model's settings override risk's
        if block is None:
            continue
        if block.take_profit_levels:
            # level pcts are ROI percentages of margin, as take_profit_pct: pct / 100 / lev of
            # the fill price; size_pct of what the earlier levels leave
            tp_levels = tuple((lv.pct / 100.0 / lev, lv.size_pct / 100.0)
                              for lv in block.take_profit_levels)
        for key, default in modes.items():
            if getattr(block, key) != default:
                modes[key] = getattr(block, key)
    if play.position_policy.exit_mode == "signal":
        tp, tp_rr = NO_RULE, 0.0  # exits come from signals; the stop stays as protection
        tp_levels = ()
    limit_offset = 0.0
    expire = 0
    entry_tif = TimeInForce.GTC  # market entries: the TIF is ignored
    if play.entry.order_type == "LIMIT":
        entry_tif = _ENTRY_TIF[play.entry.time_in_force]
        limit_offset = play.entry.limit_offset_pct / 100.0
        if limit_offset >= 1:
            raise InputError(f"{play.source}: entry.limit_offset_pct must be < 100")
        expire = play.entry.expire_after_bars * INTERVAL_MINUTES[play.exec_tf]
    min_notional = max(instrument.min_notional, play.account.min_trade_notional_usdt)
    bt = play.backtest
    fees = bt.fee_model if bt is not None and bt.fee_model is not None else play.account.fee_model
    return OrderPlan(
        symbol=play.symbol,
        leverage=lev,
        size_mode=size_mode,
        size_value=size_value,
        stop=stop,
        take_profit=tp,
        tp_rr=tp_rr,
        trail=trail,
        be_activation=be_act,
        be_offset=be_off,
        limit_offset=limit_offset,
        expire_bars_1m=expire,
        allow_flip=play.position_policy.allow_flip,
        qty_step=instrument.qty_step,
        tick_size=instrument.tick_size,
        min_qty=instrument.min_qty,
        min_notional=min_notional,
        taker_fee=fees.taker_bps / 10_000,
        trail_activation=trail_act if trail.kind != "none" else 0.0,
        entry_tif=entry_tif,
        tp_levels=tp_levels,
        tp_limit=modes["tp_order_type"] == "Limit",
        sl_limit=modes["sl_order_type"] == "Limit",
        tp_by_mark=modes["tp_trigger_by"] == "MarkPrice",
        sl_by_mark=modes["sl_trigger_by"] == "MarkPrice",
    )


# ====================================================================== event path


#: One row of decisions (the event-path twin of one SignalArrays row).
Decision = RowIntent


class _BoundAdapter:
    """An ExchangeAdapter seen as the one-symbol venue the row rules act on."""

    def __init__(self, adapter: ExchangeAdapter, symbol: str) -> None:
        self._adapter, self._symbol = adapter, symbol

    def submit(self, request: OrderRequest) -> Order:
        return self._adapter.submit(request)

    def cancel(self, order_id: str) -> Order:
        return self._adapter.cancel(self._symbol, order_id)

    def position(self) -> Position:
        return self._adapter.position(self._symbol)

    def balance(self) -> Balance:
        return self._adapter.balance()

    def open_orders(self) -> list[Order]:
        return self._adapter.open_orders(self._symbol)


def act(adapter: ExchangeAdapter, plan: OrderPlan, d: Decision, bar: int, ref: float,
        values: Mapping[str, float], state: EntryState) -> Order | None:
    """Apply one row of decisions through the adapter, after 1m bar number `bar` closed at
    `ref`: expiry, exits, entries — the very rules of the batch path (trade.sim.rowact).
    Returns the entry order placed (its status says whether it was rejected), or None."""

    def entry_for(direction: int, equity: float) -> EntrySpec:
        sl, tp, trail = plan.brackets(direction, ref, values)
        return EntrySpec(plan.entry_qty(equity, ref, sl), sl, tp, trail, plan.be_activation,
                         plan.be_offset, plan.limit_offset, plan.trail_activation,
                         plan.tp_levels, plan.tp_limit, plan.sl_limit, plan.tp_by_mark,
                         plan.sl_by_mark)

    return act_on_row(_BoundAdapter(adapter, plan.symbol), plan.symbol, d, bar=bar, ref=ref,
                      state=state, allow_flip=plan.allow_flip, expire_bars=plan.expire_bars_1m,
                      qty_step=plan.qty_step, entry_for=entry_for, entry_tif=plan.entry_tif,
                      tick=plan.tick_size)
