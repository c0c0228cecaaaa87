"""PlayEngine: one engine that runs a Play bar by bar against any ExchangeAdapter.

Threading: a PlayEngine is not thread-safe and has one owner, the **engine thread**. Only that
thread calls `on_bar` / `finish`, and it is the only thread that touches the adapter through
the engine. Feeds (WebSocket callbacks, the backtest loop) hand it closed 1m bars in time
order; in live trading they enqueue them and the engine thread calls `on_bar`.

Per closed 1m bar (`on_bar`), after the exchange has processed that bar:

1. drain the adapter's events (fills, order and position updates) into the engine's state;
2. feed the bar to the streaming features (exec and every other timeframe, see
   trade.engine.features), with the funding rate and open interest known at its close
   (the market builtins; the feed supplies them: NaN when it has none);
3. if an exec bar closed on this minute: evaluate the Play's actions incrementally
   (`trade.play.ActionEvaluator.update`) on the exec values, and act;
4. otherwise, if some action reads `last_price` / `mark_price`: evaluate those actions only
   (`peek`, on the last closed exec values plus this 1m close) and act on what they emit
   (docs/play_reference.md, Conditions, last bullet);
5. circuit breaker (`account.max_drawdown_pct`): at each 1m close, once equity falls that
   far below its running peak, the engine cancels its entry order, closes the position with a
   reduce-only market order and takes no new decisions for the rest of the run;
6. "act" is `trade.engine.orders.act`: expire a resting entry limit, exit, enter, with sizing
   and brackets from the Play's `OrderPlan`, through `ExchangeAdapter.submit/cancel` only.

It never touches a simulator: the runner wires an adapter in (BacktestAdapter for backtests,
PaperAdapter or LiveAdapter live). From trade.sim it uses only the row rules
(trade.sim.rowact over the kernel's compiled `row_orders` / `entry_qty` / `entry_order`), the
same rules the batch kernel and the reference batch driver act with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from trade.core import (
    ExchangeAdapter,
    FillEvent,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
)
from trade.engine.features import StreamFeatures, market_reads, peek_values
from trade.engine.orders import DEFAULT_INSTRUMENT, Decision, OrderPlan, act, order_plan
from trade.play import (
    ActionDecision,
    ActionEvaluator,
    CompiledActions,
    Play,
    compiled_actions,
)
from trade.sim.rowact import EntryState


def intrabar_actions(compiled: CompiledActions) -> CompiledActions:
    """The blocks that read `last_price` / `mark_price`: evaluated again at every 1m close."""
    blocks = tuple(b for b in compiled.blocks if b.intrabar)
    return CompiledActions(blocks, compiled.mode, compiled.exit_mode)


def to_decision(d: ActionDecision) -> Decision:
    """One row of orders from one row of Play decisions.

    exit_pct: the percent of the exit that is set; with both exits set (only one can match
    the open position) the larger percent."""
    if d.exit_long and d.exit_short:
        pct = max(d.exit_long_pct, d.exit_short_pct)
    elif d.exit_long:
        pct = d.exit_long_pct
    elif d.exit_short:
        pct = d.exit_short_pct
    else:
        pct = 100.0
    return Decision(d.entry_long, d.entry_short, d.exit_long, d.exit_short, pct or 100.0)


@dataclass(slots=True)
class EngineStats:
    """What the engine has seen and done (for logs, tests and the live status line).

    Counts of 1m bars, exec bars, intrabar evaluations, fills and rejected orders, and the
    reject reasons in order. Written by the engine thread only."""

    bars_1m: int = 0
    exec_bars: int = 0
    intrabar_evaluations: int = 0
    fills: int = 0
    orders_rejected: int = 0
    reject_reasons: list[str] = field(default_factory=list)


class PlayEngine:
    """Runs one Play on one symbol through an `ExchangeAdapter`. See the module docstring.

    `plan` defaults to `order_plan(play)` on `DEFAULT_INSTRUMENT`. Not thread-safe: one
    owner, the engine thread, calls `on_bar` and `finish` and reads `position`, `orders`,
    `stats`, `halted`, `last_decision` and `last_entry` (the state it keeps from the
    adapter's events).
    `market_builtins`: the market builtins (`funding_rate`, `open_interest`) the Play reads,
    which its feed must pass to `on_bar` (the live runner reads them from the exchange)."""

    def __init__(self, play: Play, adapter: ExchangeAdapter, *,
                 plan: OrderPlan | None = None) -> None:
        self.play = play
        self.adapter = adapter
        self.plan = plan if plan is not None else order_plan(play, DEFAULT_INSTRUMENT)
        self.symbol = self.plan.symbol
        compiled = compiled_actions(play)
        self._full = ActionEvaluator(compiled)
        intra = intrabar_actions(compiled)
        self._intra = ActionEvaluator(intra) if intra.blocks else None
        self.features = StreamFeatures(play)
        self.market_builtins: frozenset[str] = market_reads(play)
        self._exec_values: dict[str, float] = dict(self.features.values)
        self._entry = EntryState()
        self._bar = -1
        self.position: Position | None = None
        self.orders: dict[str, Order] = {}
        self.stats = EngineStats()
        self.max_drawdown = play.account.max_drawdown_pct
        self.peak_equity = -math.inf
        self.halted = False
        # The decision the last `on_bar` acted on (read-only, for journals and tools); None
        # when that bar took none (not an exec close and no intrabar actions, or halted).
        self.last_decision: Decision | None = None
        # The entry order the last `on_bar` placed (its status says whether the venue
        # rejected it); None when that bar placed none. The event backtest counts entry
        # attempts and rejections from it, as the batch runner does.
        self.last_entry: Order | None = None

    # ------------------------------------------------------------------ events
    def _consume_events(self) -> None:
        for ev in self.adapter.drain_events():
            if isinstance(ev, FillEvent):
                self.stats.fills += 1
            elif isinstance(ev, OrderUpdate):
                order = ev.order
                if order.is_open:
                    self.orders[order.order_id] = order
                else:
                    self.orders.pop(order.order_id, None)
                    if order.reject_reason:
                        self.stats.orders_rejected += 1
                        self.stats.reject_reasons.append(order.reject_reason)
                    if order.order_id == self._entry.order_id:
                        self._entry = EntryState()  # the entry limit filled or ended
            elif isinstance(ev, PositionUpdate):
                self.position = ev.position

    # ------------------------------------------------------------------ bars
    def on_bar(self, ts: int, open: float, high: float, low: float, close: float,
               volume: float = 0.0, mark_price: float = math.nan, *,
               funding_rate: float = math.nan, open_interest: float = math.nan) -> None:
        """One closed 1m bar, after the exchange processed it (engine thread only).
        `funding_rate` / `open_interest`: the last settled funding rate and the open interest
        known at the bar's close (NaN when unknown), for the builtins of those names."""
        self._bar += 1
        self.stats.bars_1m += 1
        self.last_decision = None
        self.last_entry = None
        self._consume_events()
        if self.max_drawdown is not None and not self.halted:
            self._check_drawdown()
        if self.halted:
            return
        market = {"funding_rate": funding_rate, "open_interest": open_interest}
        exec_closed = self.features.on_1m(ts, open, high, low, close, volume, mark_price,
                                          market)
        if exec_closed:
            self.stats.exec_bars += 1
            self._exec_values = dict(self.features.values)
            d = self._full.update(self._exec_values)
            if self._intra is not None:
                self._intra.update(self._exec_values)  # keep its window state in step
            self.last_decision = decision = to_decision(d)
            self.last_entry = act(self.adapter, self.plan, decision, self._bar, close,
                                  self._exec_values, self._entry)
        elif self._intra is not None:
            self.stats.intrabar_evaluations += 1
            values = peek_values(self._exec_values, close, mark_price, market)
            d = self._intra.peek(values)
            self.last_decision = decision = to_decision(d)
            self.last_entry = act(self.adapter, self.plan, decision, self._bar, close, values,
                                  self._entry)

    def _check_drawdown(self) -> None:
        assert self.max_drawdown is not None
        equity = self.adapter.balance().equity
        self.peak_equity = max(self.peak_equity, equity)
        if equity > self.peak_equity * (1 - self.max_drawdown / 100):
            return
        self.halted = True  # the breaker trips once and stays tripped
        sym = self.symbol
        for order in self.adapter.open_orders(sym):
            if not order.request.reduce_only:
                self.adapter.cancel(sym, order.order_id)
        pos = self.adapter.position(sym)
        if pos.side != 0:
            side = Side.SELL if pos.side > 0 else Side.BUY
            self.adapter.submit(OrderRequest(sym, side, pos.size, reduce_only=True))

    def finish(self) -> None:
        """Collect the last events (call after the adapter's own end-of-data close)."""
        self._consume_events()
