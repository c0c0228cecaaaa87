"""The simulated account: Bybit requests in, kernel calls, Bybit-shaped rows and pushes out.

`Venue` owns one matching engine (the compiled `trade.sim.SimExchange`, or any object
with the same step API) and the exchange-side records the engine does not keep: the
Bybit view of every order, `orderLinkId`s, executions, leverage. It is not thread-safe:
the server calls it from its event-loop thread only.

Every engine call is followed by `drain_events()`; each event becomes a private-stream
push (`order`, `execution`, `position`, `wallet`) *and* updates the REST view, in that
order, so a client never sees REST ahead of the stream.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trade.core import (
    AdapterEvent,
    Balance,
    BalanceUpdate,
    ExecType,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    TimeInForce,
)
from trade.core.instrument import Instrument as Instrument  # re-exported: the one type
from trade.exchange_sim import protocol as p
from trade.exchange_sim.intrabar import PricePath, walk_book
from trade.exchange_sim.protocol import ApiError, grid_text, num, param_float, step_decimals
from trade.exchange_sim.tpsl import Kind, Leg, check_trigger_by, leg, mode_of
from trade.sim.config import SimConfig
from trade.sim.rejects import RejectCode
from trade.sim.step import StepEngine

# the simulator drives any step engine; the default is the backtest kernel itself
SimEngine = StepEngine

#: makes the step engine of a Venue from its SimConfig (tests pass the reference simulator)
EngineFactory = Callable[[SimConfig], SimEngine]


def default_engine_factory(config: SimConfig) -> SimEngine:
    """The backtest kernel itself, so the simulator's fills are the backtest's fills.

    Parameters
    ----------
    config : SimConfig
        The venue's settings (symbol, balance, fees, leverage, instrument rules).

    Returns
    -------
    SimEngine
        A new `trade.sim.SimExchange` for `config`.
    """
    from trade.sim import SimExchange

    engine: SimEngine = SimExchange(config)
    return engine


@dataclass(slots=True)
class OrderRecord:
    order: Order
    created_ms: int
    updated_ms: int
    last_price_on_created: float
    cancel_type: str = "UNKNOWN"
    # a Partial TP/SL order the venue keeps for the position (PartialTakeProfit /
    # PartialStopLoss; "" = an order of the engine) and the price it triggers on
    stop_order_type: str = ""
    trigger_by: str = ""


@dataclass(slots=True)
class Pushes:
    """Private-stream messages produced by one venue call, in order: (topic, data rows)."""

    items: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def add(self, topic: str, row: dict[str, Any]) -> None:
        if self.items and self.items[-1][0] == topic:
            self.items[-1][1].append(row)
        else:
            self.items.append((topic, [row]))


def _parse_bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name, False)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(p.PARAM_ERROR, f"params error: {name} must be a boolean")


def _on_step(value: float, step: float) -> bool:
    if step <= 0:
        return True
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-6


MINUTE_MS = 60_000
_LINK_ID = re.compile(r"[0-9A-Za-z_-]{1,36}")
MAX_ACTIVE_ORDERS = 500  # Bybit: active orders per symbol (110020)
MAX_CONDITIONAL_ORDERS = 10  # Bybit: conditional orders per symbol (110009)
_TPSL_OPTIONS = ("tpslMode", "tpOrderType", "slOrderType", "tpLimitPrice", "slLimitPrice",
                 "tpTriggerBy", "slTriggerBy", "tpSize", "slSize")
MAX_PARTIAL_TP = 16  # take-profit levels the kernel holds per position (MAX_TP_LEVELS)
PARTIAL_TP = "PartialTakeProfit"
PARTIAL_SL = "PartialStopLoss"


def _check_order_options(params: dict[str, Any], *, tpsl: bool = True) -> None:
    """Options Bybit accepts that the simulator does not model are refused (10001), never
    silently ignored: hedge-mode position indexes, conditional orders triggered by the mark
    or index price, SMP. TP/SL options (Partial mode, limit TP/SL, mark-price triggers) are
    read by `trade.exchange_sim.tpsl`; without `tpsl` (amend) they are refused."""
    idx = params.get("positionIdx", 0)
    if idx not in (0, "0"):
        # one-way mode: positionIdx 0 only (1/2 are hedge-mode buy/sell sides)
        raise ApiError(p.PARAM_ERROR, f"params error: position idx not match position mode "
                                      f"({idx!r}; the simulator is in one-way mode)")
    check_trigger_by(params)
    if not tpsl:
        for name in _TPSL_OPTIONS:
            if params.get(name) not in (None, ""):
                raise ApiError(p.PARAM_ERROR, f"params error: {name} cannot be amended here "
                                              f"(set TP/SL with trading-stop)")
    smp = params.get("smpType")
    if smp not in (None, "", "None"):
        raise ApiError(p.PARAM_ERROR, f"params error: smpType {smp!r} not supported")


class SharedWallet:
    """One USDT wallet for every symbol of a server (one unified account).

    Each symbol's engine keeps its own ledger; with isolated margin a position's margin
    and liquidation depend on that position alone, so the wallet is `initial` plus every
    engine's change, its used margin their sum. With several symbols the server starts
    each engine with the whole wallet times the number of symbols, so that an engine's
    own margin check does not refuse what the wallet can carry (unless the other symbols
    gained more than that extra): the venue checks the wallet's available balance
    (`Venue.create`, leverage changes).
    """

    def __init__(self, first: Venue) -> None:
        self.initial = first.initial_wallet  # the account's starting balance
        self.venues: list[Venue] = [first]
        # every symbol's records in the order they were booked (newest last)
        self.executions: list[dict[str, Any]] = []
        self.ledger: list[dict[str, Any]] = []
        self.closed_pnl: list[dict[str, Any]] = []

    def join(self, venue: Venue) -> None:
        venue.wallet = self
        self.venues.append(venue)

    def balance(self) -> Balance:
        bals = [v.engine.balance() for v in self.venues]
        if len(bals) == 1:
            return bals[0]
        wallet = self.initial + sum(b.wallet_balance - v.initial_wallet
                                    for b, v in zip(bals, self.venues, strict=True))
        upl = sum(b.equity - b.wallet_balance for b in bals)
        used = sum(b.used_margin for b in bals)
        return Balance(wallet_balance=wallet, equity=wallet + upl, used_margin=used,
                       available_balance=wallet - used, ts=max(b.ts for b in bals))

    def cash(self) -> float:
        """The wallet as the ledgers have explained it so far."""
        if len(self.venues) == 1:
            return self.venues[0]._cash
        return self.initial + sum(v._cash - v.initial_wallet for v in self.venues)


class Venue:
    """The exchange side of one account trading one symbol.

    Turns Bybit V5 request parameters into calls on its step engine (the backtest kernel
    by default, from `engine_factory`) and the engine's events into Bybit-shaped rows and
    WebSocket pushes. Request methods return (the REST `result`, the pushes) and refuse a
    bad request with `ApiError` carrying Bybit's retCode. Construction raises ValueError
    when `config` and `instrument` name different symbols. Not thread-safe: the server's
    event-loop thread is its only writer (other threads go through
    `ExchangeSimServer.inspect`)."""

    def __init__(
        self,
        config: SimConfig,
        instrument: Instrument,
        engine_factory: EngineFactory = default_engine_factory,
    ) -> None:
        if config.symbol != instrument.symbol:
            raise ValueError(
                f"SimConfig.symbol {config.symbol!r} != instrument {instrument.symbol!r}"
            )
        if config.tick_size != instrument.tick_size:
            # the venue's tick is the simulator's (the one clients read from instruments-info
            # and round to): bracket levels from offsets land on its grid
            config = dataclasses.replace(config, tick_size=instrument.tick_size)
        self.config = config
        self.instrument = instrument
        self._factory = engine_factory
        self.engine: SimEngine = engine_factory(config)
        self.leverage = config.leverage
        self.orders: dict[str, OrderRecord] = {}
        self.link_ids: dict[str, str] = {}
        self.executions: list[dict[str, Any]] = []
        self.last_bar: tuple[int, float, float, float, float, float] | None = None
        self.last_mark = math.nan
        self._seq = 0
        self._filled: dict[str, float] = {}  # order id -> qty executed so far
        self._price_decimals = step_decimals(instrument.tick_size)
        self.initial_wallet = config.initial_balance  # cumRealisedPnl counts from here, always
        self.ledger: list[dict[str, Any]] = []  # /v5/account/transaction-log, oldest first
        self.closed_pnl: list[dict[str, Any]] = []  # /v5/position/closed-pnl, oldest first
        self._cash = config.initial_balance  # wallet as the ledger has explained it so far
        self.id_prefix = ""  # before engine ids, so ids never repeat across symbols
        self.wallet = SharedWallet(self)
        self.split_bar: tuple[int, float, float, float, float, float] | None = None
        # intrabar fills (real time, see intrabar.py): the kernel gets the path of the
        # forming minute in sub-bars; a sub-bar ending `y` ms into the minute opening at T
        # carries ts T - 60 s + y, so the minute's last one is T (funding at its close, as
        # in the backtest) and a kernel time plus 60 s is the moment it happened
        self.intrabar = False
        self.intrabar_step_ms = 250  # path steps while orders rest or a position is open
        self._path: PricePath | None = None
        self._path_bar: tuple[int, float, float, float, float, float] | None = None
        self._path_ms = 0  # how far into the forming minute the kernel has been fed
        self._path_live = False  # a forming minute exists now (else orders queue)
        self._path_mark = math.nan
        self._path_funding = math.nan
        self.path_price = math.nan
        # Partial TP/SL (tpsl.py, docs/exchange_sim.md): the position's take-profit levels
        # and stop as Bybit orders the venue lists; the engine holds the levels themselves
        self.partial_tps: list[OrderRecord] = []  # open ones, nearest first (as the engine)
        self.partial_sl: OrderRecord | None = None
        self._tp_partial = False  # the position's take-profit(s) are in Partial mode
        self._sl_partial = False
        self._tp_kind = Kind()
        self._sl_kind = Kind()
        self._attach: dict[str, tuple[bool, bool]] = {}  # Partial create: (tp, sl) attached
        self._side_seen = 0  # the position's side at the last sync
        self._opened = False  # a Partial create opened (or flipped) the position just now
        self._pseq = 0

    # --- helpers ---------------------------------------------------------------------
    @property
    def last_price(self) -> float:
        """The last traded price: on the forming minute's price path with intrabar fills,
        else the last closed bar's close (NaN before the first bar)."""
        if self.intrabar and self._path_live and math.isfinite(self.path_price):
            return self.path_price
        return self.last_bar[4] if self.last_bar else math.nan

    def oid(self, engine_id: str) -> str:
        """An order id as clients see it (unique across the server's symbols)."""
        return self.id_prefix + engine_id

    def _kernel_ms(self, ts: int) -> int:
        """A kernel time as the market time it stands for (see `intrabar` above)."""
        return ts + MINUTE_MS if self.intrabar and ts else ts

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def check_symbol(self, params: dict[str, Any], *, required: bool = True) -> None:
        """Refuse a request for another category, or (when `required`) for a missing or
        different symbol, with Bybit's codes."""
        category = params.get("category")
        if category != "linear":
            raise ApiError(p.PARAM_ERROR, f"params error: category {category!r} not supported")
        symbol = params.get("symbol")
        if symbol is None and not required:
            return
        if symbol != self.instrument.symbol:
            raise ApiError(p.PARAM_ERROR, f"params error: symbol invalid ({symbol!r})")

    # --- numbers as Bybit writes them: prices at the tick's decimals, quantities on the
    # quantity step, USDT amounts at 8 decimals (never 9999.722918050002) -------------
    def _p(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return ""
        return num(round(value, self._price_decimals))

    @staticmethod
    def _x(value: float) -> str:
        """A fill or average price: exact, without binary noise (30014.9, not
        30014.899999999998); see docs/exchange_sim.md."""
        return num(round(value, 10)) if math.isfinite(value) else ""

    def _pz(self, value: float | None) -> str:
        """Optional prices (TP/SL/trigger/liquidation) Bybit reports as "0" when unset."""
        if value is None or value == 0 or not math.isfinite(value):
            return "0"
        return self._p(value)

    def _q(self, value: float) -> str:
        return grid_text(value, self.instrument.qty_step)

    @staticmethod
    def _m(value: float) -> str:
        return num(round(value, 8)) if math.isfinite(value) else ""

    def _reject_enum(self, order: Order) -> str:
        """Bybit's rejectReason enum for an order (EC_NoError unless refused/cancelled)."""
        if order.status is not OrderStatus.REJECTED and not order.reject_reason:
            return "EC_NoError"
        code = RejectCode(self.engine.reject_code(order.order_id))
        return p.BYBIT_REJECT[code][1]

    def _check_active_limits(self, conditional: bool) -> None:
        active = [o for o in self.engine.open_orders() if not o.status.is_terminal]
        stops = sum(1 for o in active if o.request.order_type.is_conditional)
        if conditional and stops >= MAX_CONDITIONAL_ORDERS:
            raise ApiError(p.TOO_MANY_STOP_ORDERS)
        if not conditional and len(active) - stops >= MAX_ACTIVE_ORDERS:
            raise ApiError(p.TOO_MANY_ACTIVE_ORDERS)

    def find(self, params: dict[str, Any]) -> OrderRecord:
        """The order named by `orderId` or `orderLinkId` (both must agree when both are
        given); ApiError when neither is given or no such order exists."""
        order_id = str(params.get("orderId") or "")
        link = params.get("orderLinkId") or ""
        if order_id:
            if not order_id.startswith(self.id_prefix):
                raise ApiError(p.ORDER_NOT_FOUND)
            order_id = order_id[len(self.id_prefix):]  # the engine's own id
        if not order_id and not link:
            raise ApiError(p.PARAM_ERROR, "params error: orderId or orderLinkId is required")
        if not order_id:
            order_id = self.link_ids.get(link, "")
        rec = self.orders.get(order_id)
        if rec is None or (link and rec.order.order_link_id != link):
            raise ApiError(p.ORDER_NOT_FOUND)
        return rec

    # --- event translation ----------------------------------------------------------
    def _absorb(self, events: list[AdapterEvent], now_ms: int, pushes: Pushes) -> None:
        filled = any(isinstance(ev, FillEvent) for ev in events)
        if filled and not any(isinstance(ev, PositionUpdate) for ev in events):
            # Bybit pushes the position after every execution, whatever the engine reports.
            events = [*events, PositionUpdate(self.engine.position(), now_ms)]
        if filled and not any(isinstance(ev, BalanceUpdate) for ev in events):
            events = [*events, BalanceUpdate(self.engine.balance(), now_ms)]
        for ev in events:
            if isinstance(ev, OrderUpdate):
                self._absorb_order(ev.order, now_ms, pushes)
            elif isinstance(ev, FillEvent):
                fill = ev.fill
                if self.intrabar:
                    fill = dataclasses.replace(fill, ts=self._kernel_ms(fill.ts))
                fill = self._partial_fill(fill, now_ms, pushes)
                row = self.execution_row(fill)
                pushes.add("execution", row)
                self.executions.append(row)
                self.wallet.executions.append(row)
                self._book_fill(fill, row)
            elif isinstance(ev, PositionUpdate):
                pushes.add("position", self.position_row(ev.position, ws=True))
            elif isinstance(ev, BalanceUpdate):
                pushes.add("wallet", self.wallet_row(ev.balance))
        self._sync_partials(now_ms, pushes)

    # --- Partial TP/SL orders (tpsl.py) ------------------------------------------------
    def _partial_fill(self, fill: Fill, now_ms: int, pushes: Pushes) -> Fill:
        """A take-profit or stop fill of the engine (no order id) is the nearest Partial
        order's: it gets that order's id and the order is Filled. A fill of a Partial
        create that opens the position puts the position's TP/SL in Partial mode."""
        spec = self._attach.pop(fill.order_id, None)
        side_now = int(self.engine.position().side)
        if spec is not None and side_now and side_now != self._side_seen:
            # it opened the position (from flat, or flipping it)
            rec = self.orders.get(fill.order_id)
            if rec is not None:
                req = rec.order.request
                self._tp_partial, self._sl_partial = spec
                self._tp_kind = Kind(req.tp_limit, req.tp_by_mark)
                self._sl_kind = Kind(req.sl_limit, req.sl_by_mark)
            self._side_seen = 0  # the sync drops the old side's orders, keeps these modes
            self._opened = True
        if fill.order_id:
            return fill
        rec = None
        if fill.exec_type is ExecType.TAKE_PROFIT and self.partial_tps:
            rec = self.partial_tps.pop(0)
        elif fill.exec_type is ExecType.STOP_LOSS and self.partial_sl is not None:
            rec, self.partial_sl = self.partial_sl, None
        if rec is None:
            return fill
        o = rec.order
        rec.order = dataclasses.replace(o, status=OrderStatus.FILLED, updated_ts=now_ms,
                                        filled_qty=fill.qty, avg_fill_price=fill.price,
                                        cum_fee=fill.fee)
        rec.updated_ms = now_ms
        pushes.add("order", self.order_row(rec))
        return dataclasses.replace(fill, order_id=o.order_id)

    def _partial_record(self, stop_type: str, price: float, qty: float, kind: Kind,
                        now_ms: int, pushes: Pushes) -> OrderRecord:
        """A new Untriggered Partial TP/SL order of the position (pushed)."""
        side = int(self.engine.position().side)
        tp = stop_type == PARTIAL_TP
        self._pseq += 1
        oid = f"{'ptp' if tp else 'psl'}-{self._pseq}"
        request = OrderRequest(
            symbol=self.instrument.symbol,
            side=Side.SELL if side > 0 else Side.BUY,
            qty=qty,
            order_type=OrderType.STOP_LIMIT if kind.limit else OrderType.STOP_MARKET,
            price=price if kind.limit else None,
            trigger_price=price,
            trigger_direction=1 if tp == (side > 0) else 2,  # 1: rises to it, 2: falls
            reduce_only=True,
            close_on_trigger=True,
        )
        rec = OrderRecord(Order(oid, request, OrderStatus.UNTRIGGERED, now_ms, now_ms),
                          now_ms, now_ms, self.last_price, stop_order_type=stop_type,
                          trigger_by=kind.trigger_by)
        self.orders[oid] = rec
        pushes.add("order", self.order_row(rec))
        return rec

    def _end_partial(self, rec: OrderRecord, status: OrderStatus, cancel_type: str,
                     now_ms: int, pushes: Pushes) -> None:
        rec.order = dataclasses.replace(rec.order, status=status, updated_ts=now_ms)
        rec.cancel_type = cancel_type
        rec.updated_ms = now_ms
        pushes.add("order", self.order_row(rec))

    def _sync_partials(self, now_ms: int, pushes: Pushes) -> None:
        """Keep the listed Partial orders in step with the engine's position: gone with
        the position (Deactivated), one order per take-profit level the engine holds, the
        Partial stop at the position's stop."""
        pos = self.engine.position()
        side = int(pos.side)
        opened, self._opened = self._opened, False
        if side == 0 or (self._side_seen and side != self._side_seen) or opened:
            for rec in [*self.partial_tps, *([self.partial_sl] if self.partial_sl else [])]:
                self._end_partial(rec, OrderStatus.DEACTIVATED, "CancelByTpSlTsClear",
                                  now_ms, pushes)
            self.partial_tps, self.partial_sl = [], None
            if side == 0 or not opened:  # flat, or flipped by a plain order: Full mode
                self._tp_partial = self._sl_partial = False
            if side == 0:
                # a Partial create still open may open the next position
                self._attach = {k: v for k, v in self._attach.items()
                                if not (k in self.orders
                                        and self.orders[k].order.status.is_terminal)}
        self._side_seen = side
        if side == 0:
            return
        if self._tp_partial:
            levels = self.engine.take_profit_levels()
            if not levels and not self.partial_tps and pos.take_profit > 0:
                # a Partial market take-profit attached by a create: the engine holds it as
                # the position's (Full) take-profit; make it one level of the opening size
                self.engine.set_take_profit_levels([(float(pos.take_profit), float(pos.size))],
                                                   limit=self._tp_kind.limit,
                                                   by_mark=self._tp_kind.by_mark)
                self.engine.drain_events()
                levels = self.engine.take_profit_levels()
                pushes.add("position", self.position_row(self.engine.position(), ws=True))
            n = len(self.partial_tps)
            for price, qty in levels[n:]:
                self.partial_tps.append(self._partial_record(
                    PARTIAL_TP, price, qty, self._tp_kind, now_ms, pushes))
            for gone in self.partial_tps[len(levels):]:
                self._end_partial(gone, OrderStatus.DEACTIVATED, "CancelByTpSlTsClear",
                                  now_ms, pushes)
            del self.partial_tps[len(levels):]
        if self._sl_partial:
            stop = float(pos.stop_loss)
            psl = self.partial_sl
            if stop > 0 and psl is None:
                self.partial_sl = self._partial_record(PARTIAL_SL, stop, float(pos.size),
                                                       self._sl_kind, now_ms, pushes)
            elif psl is not None and stop <= 0:
                self._end_partial(psl, OrderStatus.DEACTIVATED, "CancelByTpSlTsClear",
                                  now_ms, pushes)
                self.partial_sl = None
            elif psl is not None and psl.order.request.trigger_price != stop:
                # the stop moved (a trail): the order follows it
                req = dataclasses.replace(psl.order.request, trigger_price=stop,
                                          price=stop if self._sl_kind.limit else None)
                psl.order = dataclasses.replace(psl.order, request=req, updated_ts=now_ms)
                psl.updated_ms = now_ms
                pushes.add("order", self.order_row(psl))

    @staticmethod
    def _book(own: list[dict[str, Any]], shared: list[dict[str, Any]],
              row: dict[str, Any]) -> None:
        """A record in this symbol's list and the wallet's (every symbol, booking order)."""
        own.append(row)
        if shared is not own:
            shared.append(row)

    def _book_fill(self, fill: Fill, row: dict[str, Any]) -> None:
        """A fill's ledger entry (TRADE) and, when it closed size, its closed-PnL record."""
        change = fill.closed_pnl - fill.fee  # the kernel's wallet moves by gross PnL - fee
        self._cash += change
        self._book(self.ledger, self.wallet.ledger, {
            "symbol": fill.symbol, "category": "linear", "side": fill.side.bybit,
            "transactionTime": str(fill.ts), "type": "TRADE", "qty": self._q(fill.qty),
            "size": self._q(fill.qty), "currency": "USDT", "tradePrice": self._x(fill.price),
            "funding": "", "fee": self._m(fill.fee), "cashFlow": self._m(fill.closed_pnl),
            "change": self._m(change), "cashBalance": self._m(self.wallet.cash()),
            "feeRate": row["feeRate"], "bonusChange": "", "tradeId": row["execId"],
            "orderId": row["orderId"], "orderLinkId": row["orderLinkId"], "id": row["execId"],
        })
        if fill.closed_pnl == 0.0 or fill.qty <= 0:
            return
        # gross = (exit - entry) x qty x position side; the position side is the fill's opposite
        entry = fill.price + fill.closed_pnl / (fill.qty * int(fill.side))
        rec = self.orders.get(fill.order_id)
        req = rec.order.request if rec is not None else None
        self._book(self.closed_pnl, self.wallet.closed_pnl, {
            "symbol": fill.symbol, "orderId": row["orderId"], "side": fill.side.bybit,
            "qty": self._q(req.qty if req is not None else fill.qty),
            "orderPrice": self._p(req.price) if req is not None and req.price else "0",
            "orderType": req.order_type.bybit if req is not None else "Market",
            "execType": fill.exec_type.bybit, "closedSize": self._q(fill.qty),
            "cumEntryValue": self._m(entry * fill.qty), "avgEntryPrice": self._x(entry),
            "cumExitValue": self._m(fill.price * fill.qty), "avgExitPrice": self._x(fill.price),
            "closedPnl": self._m(fill.closed_pnl - fill.fee), "fillCount": "1",
            "leverage": num(self.leverage), "openFee": "", "closeFee": self._m(fill.fee),
            "createdTime": str(fill.ts), "updatedTime": str(fill.ts),
        })

    def _book_settlement(self, now_ms: int) -> None:
        """Wallet moves that no fill explains are funding settlements (SETTLEMENT)."""
        wallet = self.engine.balance().wallet_balance
        change = wallet - self._cash
        if abs(change) < 1e-9:
            return
        self._cash = wallet
        pos = self.engine.position()
        self._book(self.ledger, self.wallet.ledger, {
            "symbol": self.instrument.symbol, "category": "linear",
            "side": {1: "Buy", -1: "Sell"}.get(int(pos.side), "None"),
            "transactionTime": str(now_ms), "type": "SETTLEMENT",
            "qty": self._q(float(pos.size)), "size": self._q(float(pos.size)), "currency": "USDT",
            "tradePrice": self._x(self.last_mark), "funding": self._m(-change), "fee": "0",
            "cashFlow": "0", "change": self._m(change),
            "cashBalance": self._m(self.wallet.cash()),
            "feeRate": "", "bonusChange": "", "tradeId": "", "orderId": "", "orderLinkId": "",
            "id": f"settle-{now_ms}",
        })

    def _absorb_order(self, order: Order, now_ms: int, pushes: Pushes) -> None:
        rec = self.orders.get(order.order_id)
        if rec is None:
            rec = OrderRecord(order, now_ms, now_ms, self.last_price)
            self.orders[order.order_id] = rec
            if order.order_link_id:
                self.link_ids[order.order_link_id] = order.order_id
        rec.order = order
        rec.updated_ms = now_ms
        pushes.add("order", self.order_row(rec))

    def _drain(self, now_ms: int, pushes: Pushes, returned: Order | None = None) -> None:
        events = self.engine.drain_events()
        self._absorb(events, now_ms, pushes)
        if returned is not None:
            rec = self.orders.get(returned.order_id)
            if rec is None or rec.order != returned:
                # The engine did not report this state change as an event: push it ourselves.
                self._absorb_order(returned, now_ms, pushes)

    # --- requests ---------------------------------------------------------------------
    def create(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Place an order (`POST /v5/order/create` parameters); the result holds `orderId`
        and `orderLinkId`. ApiError for a bad or refused request, with Bybit's code."""
        self.check_symbol(params)
        side_text = params.get("side")
        try:
            side = Side.from_bybit(str(side_text))
        except ValueError:
            raise ApiError(p.PARAM_ERROR, f"params error: side invalid ({side_text!r})") from None
        kind = params.get("orderType")
        if kind not in ("Market", "Limit"):
            raise ApiError(p.PARAM_ERROR, f"params error: orderType invalid ({kind!r})")
        _check_order_options(params)
        qty = param_float(params, "qty", required=True)
        assert qty is not None
        price = param_float(params, "price")
        trigger = param_float(params, "triggerPrice")
        inst = self.instrument
        pos_now = self.engine.position()
        closing = _parse_bool(params, "reduceOnly") or _parse_bool(params, "closeOnTrigger")
        if qty == 0 and closing:
            # Bybit (linear): a closing order with qty "0" closes the whole position
            if pos_now.side == 0:
                raise ApiError(p.REDUCE_ONLY_RULE)
            qty = float(pos_now.size)
        self._check_active_limits(trigger is not None and trigger > 0)
        if qty <= 0 or qty < inst.min_qty - 1e-12:
            raise ApiError(p.PARAM_ERROR, f"params error: qty {num(qty)} below min {inst.min_qty}")
        if qty > (inst.max_mkt_qty if kind == "Market" else inst.max_qty):
            raise ApiError(p.PARAM_ERROR, f"params error: qty {num(qty)} above the maximum")
        if not _on_step(qty, inst.qty_step):
            raise ApiError(p.PARAM_ERROR, f"params error: qty {num(qty)} not a multiple of step")
        if kind == "Limit":
            if price is None or price <= 0:
                raise ApiError(p.PARAM_ERROR, "params error: price is required for Limit orders")
            if not _on_step(price, inst.tick_size):
                raise ApiError(p.PARAM_ERROR, f"params error: price {num(price)} off tick size")
        ref = price if kind == "Limit" else (trigger or self.last_price)
        if ref is not None and math.isfinite(ref) and qty * ref < inst.min_notional:
            raise ApiError(p.BELOW_MIN_NOTIONAL)
        link = str(params.get("orderLinkId") or "")
        if len(link) > 36:
            raise ApiError(p.PARAM_ERROR, "params error: orderLinkId longer than 36 characters")
        if link and not _LINK_ID.fullmatch(link):
            # Bybit: numbers, letters (upper and lower case), dashes and underscores
            raise ApiError(p.PARAM_ERROR, f"params error: orderLinkId invalid ({link!r})")
        if link and link in self.link_ids:
            raise ApiError(p.DUPLICATE_ORDER_LINK_ID)
        tif_text = str(params.get("timeInForce") or "GTC")
        try:
            tif = TimeInForce.from_bybit(tif_text)
        except ValueError:
            raise ApiError(p.PARAM_ERROR, f"params error: timeInForce {tif_text!r}") from None
        if kind == "Market":
            tif = TimeInForce.GTC  # Bybit treats Market as IOC; the kernel fills it whole
        reduce_only = _parse_bool(params, "reduceOnly")
        close_on_trigger = _parse_bool(params, "closeOnTrigger")
        position = self.engine.position()
        if reduce_only and (position.side == 0 or position.side == int(side)):
            raise ApiError(p.REDUCE_ONLY_RULE)  # a reduce-only order would open or increase
        if len(self.wallet.venues) > 1 and not (reduce_only or close_on_trigger) \
                and position.side in (0, int(side)) and ref is not None and math.isfinite(ref):
            # one wallet: an opening order's margin and fee come from what every symbol
            # leaves available (see SharedWallet)
            need = qty * ref * (1 / self.leverage + self.config.taker_fee)
            if need > self.wallet.balance().available_balance + 1e-9:
                raise ApiError(p.INSUFFICIENT_AB)
        direction = 0
        if trigger is not None and trigger > 0:
            raw_dir = params.get("triggerDirection")
            if raw_dir not in (1, 2, "1", "2"):
                raise ApiError(p.PARAM_ERROR, "params error: triggerDirection must be 1 or 2")
            direction = int(raw_dir)
            otype = OrderType.STOP_MARKET if kind == "Market" else OrderType.STOP_LIMIT
        else:
            trigger = None
            otype = OrderType.MARKET if kind == "Market" else OrderType.LIMIT
        mode = mode_of(params)
        tp_leg = leg(params, "tp", mode, inst.tick_size)
        sl_leg = leg(params, "sl", mode, inst.tick_size)
        tp = tp_leg.price if tp_leg is not None and tp_leg.price > 0 else None
        sl = sl_leg.price if sl_leg is not None and sl_leg.price > 0 else None
        tp_kind = tp_leg.kind if tp is not None and tp_leg is not None else Kind()
        sl_kind = sl_leg.kind if sl is not None and sl_leg is not None else Kind()
        try:
            request = OrderRequest(
                symbol=inst.symbol,
                side=side,
                qty=qty,
                order_type=otype,
                price=price if kind == "Limit" else None,
                trigger_price=trigger,
                trigger_direction=direction,
                time_in_force=tif,
                reduce_only=reduce_only,
                close_on_trigger=close_on_trigger,
                take_profit=tp,
                stop_loss=sl,
                order_link_id=link,
                tp_limit=tp_kind.limit,
                tp_by_mark=tp_kind.by_mark,
                sl_limit=sl_kind.limit,
                sl_by_mark=sl_kind.by_mark,
            )
        except ValueError as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        try:
            order = self.engine.submit(request)
        except ValueError as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        if mode == "Partial" and (tp is not None or sl is not None):
            # Bybit attaches them as Partial orders of the order's qty at the opening fill
            self._attach[order.order_id] = (tp is not None, sl is not None)
        events = self.engine.drain_events()
        if order.status is OrderStatus.REJECTED:
            code = p.BYBIT_REJECT[RejectCode(self.engine.reject_code(order.order_id))][0]
            if code is not None:
                # Bybit refuses these synchronously: the order never exists.
                raise ApiError(code, p.MESSAGES[code] + f" ({order.reject_reason})")
        pushes = Pushes()
        self._absorb(events, now_ms, pushes)
        if order.order_id not in self.orders:
            self._absorb_order(order, now_ms, pushes)
        rec = self.orders[order.order_id]
        rec.created_ms = now_ms
        rec.last_price_on_created = self.last_price
        if (self.intrabar and self._path_live and self._path_ms < MINUTE_MS
                and otype in (OrderType.MARKET, OrderType.LIMIT)
                and tif is not TimeInForce.POST_ONLY and not rec.order.status.is_terminal):
            # Bybit matches at once: a market order (and a marketable limit) takes the book
            # at the path's price now; an IOC/FOK limit that cannot fill is cancelled now
            px = self._taker_price(qty, side is Side.BUY)
            self._path_kernel_bar(self._path_ms + 1, px, px, px, px, now_ms, pushes)
        return {"orderId": self.oid(order.order_id), "orderLinkId": link}, pushes

    def amend(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Change an open order's qty, price or trigger price (`/v5/order/amend`);
        ApiError when the order is not open, nothing changes, or the engine refuses."""
        self.check_symbol(params)
        _check_order_options(params, tpsl=False)
        rec = self.find(params)
        if rec.order.status.is_terminal:
            raise ApiError(p.ORDER_NOT_FOUND)
        if rec.stop_order_type:
            return self._amend_partial(rec, params, now_ms)
        qty = param_float(params, "qty")
        price = param_float(params, "price")
        trigger = param_float(params, "triggerPrice")
        if qty is None and price is None and trigger is None:
            raise ApiError(p.PARAM_ERROR, "params error: nothing to amend")
        if qty is not None and not _on_step(qty, self.instrument.qty_step):
            raise ApiError(p.PARAM_ERROR, f"params error: qty {num(qty)} not a multiple of step")
        try:
            returned = self.engine.amend(
                rec.order.order_id, qty=qty, price=price, trigger_price=trigger
            )
        except (ValueError, KeyError) as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        pushes = Pushes()
        self._drain(now_ms, pushes, returned if isinstance(returned, Order) else None)
        return {"orderId": self.oid(rec.order.order_id),
                "orderLinkId": rec.order.order_link_id}, pushes

    def cancel(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Cancel one open order (`/v5/order/cancel`); ApiError when it is not open."""
        self.check_symbol(params)
        rec = self.find(params)
        if rec.order.status.is_terminal:
            raise ApiError(p.ORDER_NOT_FOUND)
        pushes = Pushes()
        self._cancel_one(rec, now_ms, pushes)
        return {"orderId": self.oid(rec.order.order_id),
                "orderLinkId": rec.order.order_link_id}, pushes

    def _cancel_one(
        self, rec: OrderRecord, now_ms: int, pushes: Pushes, cancel_type: str = "CancelByUser"
    ) -> None:
        if rec.stop_order_type:
            self._cancel_partial(rec, now_ms, pushes)
            return
        try:
            returned = self.engine.cancel(rec.order.order_id)
        except KeyError:
            raise ApiError(p.ORDER_NOT_FOUND) from None
        except ValueError as exc:
            raise ApiError(p.ORDER_NOT_FOUND, f"{p.MESSAGES[p.ORDER_NOT_FOUND]} ({exc})") from None
        rec.cancel_type = cancel_type
        self._drain(now_ms, pushes, returned if isinstance(returned, Order) else None)

    def dcp_cancel(self, now_ms: int) -> tuple[list[str], Pushes]:
        """Disconnect-cancel-all fired: cancel every active order, touch nothing else.

        The position and its TP/SL/trailing stop stay (DCP cancels orders only).
        """
        pushes = Pushes()
        done: list[str] = []
        for rec in list(self.orders.values()):
            if rec.order.status.is_terminal or rec.stop_order_type:
                continue  # a position's Partial TP/SL stays, as its Full TP/SL does
            self._cancel_one(rec, now_ms, pushes, cancel_type="CancelByDCP")  # Bybit's enum
            done.append(self.oid(rec.order.order_id))
        return done, pushes

    def cancel_all(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Cancel every open order (`/v5/order/cancel-all`; `orderFilter` Order or
        StopOrder narrows it, as Bybit's linear does); the result lists them."""
        self.check_symbol(params, required=False)
        pushes = Pushes()
        done: list[dict[str, str]] = []
        kind = params.get("orderFilter") or None
        if kind not in (None, "Order", "StopOrder"):
            raise ApiError(p.PARAM_ERROR, f"params error: orderFilter invalid ({kind!r})")
        for rec in list(self.orders.values()):
            if rec.order.status.is_terminal:
                continue
            # Bybit (linear): Order = active orders, StopOrder = conditional ones; without a
            # filter every kind goes, the position's Partial TP/SL orders included
            conditional = rec.order.request.order_type.is_conditional
            if kind is not None and (rec.stop_order_type
                                     or conditional != (kind == "StopOrder")):
                continue
            self._cancel_one(rec, now_ms, pushes)
            done.append({"orderId": self.oid(rec.order.order_id),
                         "orderLinkId": rec.order.order_link_id})
        return {"list": done, "success": "1"}, pushes

    def trading_stop(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Set the position's take-profit, stop-loss and trailing stop
        (`/v5/position/trading-stop`); ApiError without a position or for bad values."""
        self.check_symbol(params)
        _check_order_options(params)
        if self.engine.position().side == 0:
            raise ApiError(p.PARAM_ERROR, "can not set tp/sl/ts for zero position")
        mode = mode_of(params)
        tick = self.instrument.tick_size
        tp_leg = leg(params, "tp", mode, tick)
        sl_leg = leg(params, "sl", mode, tick)
        if mode == "Partial":
            return self._trading_stop_partial(params, tp_leg, sl_leg, now_ms)
        tp = tp_leg.price if tp_leg is not None else None
        sl = sl_leg.price if sl_leg is not None else None
        if tp and self._tp_partial:
            raise ApiError(p.PARAM_ERROR, "params error: the position has Partial take-profits "
                                          "(the simulator holds Full or Partial ones, not both)")
        if tp == 0 and self._tp_partial:
            tp = None  # clearing the Full take-profit leaves the Partial ones
        trail = param_float(params, "trailingStop")
        active = param_float(params, "activePrice")
        if active is not None and not trail:
            # Bybit's activePrice belongs to a trailing stop set in the same request
            active = None
        try:
            self.engine.set_trading_stop(take_profit=tp, stop_loss=sl, trailing_distance=trail,
                                         trailing_active_price=active)
            if sl is not None and self._sl_partial:
                # one stop per position: a Full stopLoss replaces the Partial stop
                self.engine.set_stop_mode(limit=False, by_mark=False)
        except ValueError as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        pushes = Pushes()
        if sl is not None and self._sl_partial:
            self._sl_partial = False
            if self.partial_sl is not None:
                self._end_partial(self.partial_sl, OrderStatus.DEACTIVATED,
                                  "CancelByTpSlTsClear", now_ms, pushes)
                self.partial_sl = None
        events = self.engine.drain_events()
        self._absorb(events, now_ms, pushes)
        if not any(isinstance(e, PositionUpdate) for e in events):
            pushes.add("position", self.position_row(self.engine.position(), ws=True))
        return {}, pushes

    def _nearest_first(self, levels: list[tuple[float, float]]) -> list[tuple[float, float]]:
        side = int(self.engine.position().side)
        return sorted(levels, key=lambda lv: lv[0] * side)

    def _tp_levels(self) -> list[tuple[float, float]]:
        return [(float(r.order.request.trigger_price or 0.0), r.order.request.qty)
                for r in self.partial_tps]

    def _trading_stop_partial(self, params: dict[str, Any], tp_leg: Leg | None,
                              sl_leg: Leg | None, now_ms: int
                              ) -> tuple[dict[str, Any], Pushes]:
        """trading-stop with tpslMode Partial: adds one Partial take-profit (takeProfit +
        tpSize) and/or sets the Partial stop (stopLoss + slSize = the whole position)."""
        if params.get("trailingStop") not in (None, "", "0", 0):
            raise ApiError(p.PARAM_ERROR, "params error: trailingStop needs tpslMode Full")
        if tp_leg is None and sl_leg is None:
            raise ApiError(p.PARAM_ERROR, "params error: takeProfit or stopLoss is required")
        pos = self.engine.position()
        size = float(pos.size)
        step = self.instrument.qty_step
        for one, which in ((tp_leg, "tp"), (sl_leg, "sl")):
            if one is None:
                continue
            if one.price <= 0:
                raise ApiError(p.PARAM_ERROR, f"params error: a Partial {which.upper()} is "
                                              f"cancelled by its orderId, not set to 0")
            if not one.size or not _on_step(one.size, step):
                raise ApiError(p.PARAM_ERROR, f"params error: {which}Size is required with "
                                              f"tpslMode Partial (a multiple of {num(step)})")
        if tp_leg is not None:
            if self.partial_tps and tp_leg.kind != self._tp_kind:
                raise ApiError(p.PARAM_ERROR, f"params error: the position's Partial "
                                              f"take-profits are {self._tp_kind.order_type} on "
                                              f"{self._tp_kind.trigger_by}; the simulator "
                                              f"holds one kind per position")
            if not self._tp_partial and float(pos.take_profit) > 0:
                raise ApiError(p.PARAM_ERROR, "params error: the position has a Full "
                                              "take-profit (clear it first: the simulator "
                                              "holds Full or Partial ones, not both)")
            if len(self.partial_tps) >= MAX_PARTIAL_TP:
                raise ApiError(p.TOO_MANY_STOP_ORDERS)
        if sl_leg is not None and sl_leg.size is not None and sl_leg.size < size - step / 2:
            raise ApiError(p.PARAM_ERROR, f"params error: slSize {num(sl_leg.size)} must be "
                                          f"the position's size {num(size)} (the simulator "
                                          f"holds one stop per position)")
        pushes = Pushes()
        try:
            if tp_leg is not None:
                assert tp_leg.size is not None
                levels = self._nearest_first([*self._tp_levels(), (tp_leg.price, tp_leg.size)])
                self.engine.set_take_profit_levels(levels, limit=tp_leg.kind.limit,
                                                   by_mark=tp_leg.kind.by_mark)
            if sl_leg is not None:
                self.engine.set_trading_stop(stop_loss=sl_leg.price)
                self.engine.set_stop_mode(limit=sl_leg.kind.limit, by_mark=sl_leg.kind.by_mark)
        except ValueError as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        if tp_leg is not None:
            assert tp_leg.size is not None
            self._tp_partial, self._tp_kind = True, tp_leg.kind
            rec = self._partial_record(PARTIAL_TP, tp_leg.price, tp_leg.size, tp_leg.kind,
                                       now_ms, pushes)
            side = int(pos.side)
            # after the levels at the same or a nearer price (as the engine orders them)
            at = sum(1 for r in self.partial_tps
                     if float(r.order.request.trigger_price or 0.0) * side <= tp_leg.price * side)
            self.partial_tps.insert(at, rec)
        if sl_leg is not None:
            if self.partial_sl is not None:
                # one stop per position: the new Partial stop replaces the old one
                self._end_partial(self.partial_sl, OrderStatus.DEACTIVATED,
                                  "CancelByTpSlTsClear", now_ms, pushes)
            self._sl_partial, self._sl_kind = True, sl_leg.kind
            self.partial_sl = self._partial_record(PARTIAL_SL, sl_leg.price, size,
                                                   sl_leg.kind, now_ms, pushes)
        self._absorb(self.engine.drain_events(), now_ms, pushes)
        pushes.add("position", self.position_row(self.engine.position(), ws=True))
        return {}, pushes

    def _cancel_partial(self, rec: OrderRecord, now_ms: int, pushes: Pushes) -> None:
        """Cancel a Partial TP/SL order: the engine forgets that level or the stop."""
        try:
            if rec.stop_order_type == PARTIAL_TP:
                rest = [r for r in self.partial_tps if r is not rec]
                levels = [(float(r.order.request.trigger_price or 0.0), r.order.request.qty)
                          for r in rest]
                self.engine.set_take_profit_levels(levels, limit=self._tp_kind.limit,
                                                   by_mark=self._tp_kind.by_mark)
                self.partial_tps = rest
                self._tp_partial = bool(rest)
            else:
                self.engine.set_trading_stop(stop_loss=0.0)
                self.engine.set_stop_mode(limit=False, by_mark=False)
                self.partial_sl = None
                self._sl_partial = False
        except ValueError as exc:
            raise ApiError(p.ORDER_NOT_FOUND, f"{p.MESSAGES[p.ORDER_NOT_FOUND]} ({exc})") from None
        self._end_partial(rec, OrderStatus.CANCELLED, "CancelByUser", now_ms, pushes)
        self._absorb(self.engine.drain_events(), now_ms, pushes)

    def _amend_partial(self, rec: OrderRecord, params: dict[str, Any], now_ms: int
                       ) -> tuple[dict[str, Any], Pushes]:
        """Amend the Partial stop's triggerPrice (and its limit price, which must equal it);
        a Partial take-profit is cancelled and set again instead."""
        if rec.stop_order_type != PARTIAL_SL:
            raise ApiError(p.PARAM_ERROR, "params error: the simulator amends a Partial "
                                          "take-profit by cancelling it and setting it again")
        trigger = param_float(params, "triggerPrice")
        price = param_float(params, "price")
        if trigger is None or trigger <= 0 or param_float(params, "qty"):
            raise ApiError(p.PARAM_ERROR, "params error: a Partial stop amends its "
                                          "triggerPrice only")
        if price and abs(price - trigger) > self.instrument.tick_size / 2:
            raise ApiError(p.PARAM_ERROR, "params error: the Partial stop's limit price must "
                                          "equal its triggerPrice in the simulator")
        try:
            self.engine.set_trading_stop(stop_loss=trigger)
        except ValueError as exc:
            raise ApiError(p.PARAM_ERROR, f"params error: {exc}") from None
        pushes = Pushes()
        self._absorb(self.engine.drain_events(), now_ms, pushes)  # the sync moves the order
        return {"orderId": self.oid(rec.order.order_id), "orderLinkId": ""}, pushes

    def set_leverage(self, params: dict[str, Any], now_ms: int) -> tuple[dict[str, Any], Pushes]:
        """Change the leverage (`/v5/position/set-leverage`, buy = sell: one-way mode);
        ApiError when invalid, unchanged, above the instrument's maximum, while a bar is
        being processed, or when the account cannot carry the new margin."""
        self.check_symbol(params)
        buy = param_float(params, "buyLeverage", required=True)
        sell = param_float(params, "sellLeverage", required=True)
        assert buy is not None and sell is not None
        if buy != sell:
            # one-way mode: Bybit wants buyLeverage == sellLeverage
            raise ApiError(p.PARAM_ERROR, "params error: buy leverage must equal sell leverage")
        if buy < 1 or not _on_step(buy, 0.01):
            raise ApiError(p.PARAM_ERROR, f"params error: leverage {num(buy)} invalid")
        if buy > self.instrument.max_leverage:
            raise ApiError(p.LEVERAGE_RISK_LIMIT)  # above the risk limit's maximum leverage
        if buy == self.leverage:
            raise ApiError(p.LEVERAGE_NOT_MODIFIED)
        if self.split_bar is not None:
            raise ApiError(p.PARAM_ERROR, "params error: a bar is being processed; retry")
        self._check_leverage_margin(buy)
        self.engine.set_leverage(buy)  # same engine: ids, history and PnL carry on
        self.leverage = buy
        self.config = dataclasses.replace(self.config, leverage=buy)
        pushes = Pushes()
        self._absorb(self.engine.drain_events(), now_ms, pushes)
        if not any(topic == "position" for topic, _ in pushes.items):
            pushes.add("position", self.position_row(self.engine.position(), ws=True))
        return {}, pushes

    def _check_leverage_margin(self, leverage: float) -> None:
        """Bybit refuses a leverage change the account cannot carry (isolated margin)."""
        pos = self.engine.position()
        bal = self.engine.balance()
        free = self.wallet.balance().available_balance  # what the one wallet has free
        reserved_now = max(bal.used_margin - (float(pos.margin) if pos.side else 0.0), 0.0)
        reserved_new = reserved_now * self.leverage / leverage  # resting orders re-reserve
        if pos.side == 0:
            if reserved_new - reserved_now > free + 1e-9:
                raise ApiError(p.INSUFFICIENT_BALANCE_LEVERAGE)
            return
        entry, size, side = float(pos.entry_price), float(pos.size), int(pos.side)
        mmr = self.config.maintenance_margin_rate
        # isolated linear: liq = entry x (1 -/+ 1/lev +/- mmr), as the kernel sets it
        liq = entry * (1 - 1 / leverage + mmr) if side > 0 else entry * (1 + 1 / leverage - mmr)
        mark = self.last_mark if math.isfinite(self.last_mark) else self.last_price
        if math.isfinite(mark) and (mark <= liq if side > 0 else mark >= liq):
            raise ApiError(p.WOULD_LIQUIDATE)  # the new leverage would liquidate at once
        extra = entry * size / leverage - float(pos.margin) + (reserved_new - reserved_now)
        if extra > free + 1e-9:
            raise ApiError(p.INSUFFICIENT_BALANCE_LEVERAGE)  # more margin than is free

    def switch_isolated(self, params: dict[str, Any]) -> dict[str, Any]:
        """`/v5/position/switch-isolated`: the simulator trades isolated margin only, so this
        always raises ApiError (not modified for isolated, refused for cross)."""
        self.check_symbol(params)
        mode = params.get("tradeMode")
        if mode in (1, "1"):
            raise ApiError(p.MARGIN_MODE_NOT_MODIFIED)
        if mode in (0, "0"):
            raise ApiError(p.PARAM_ERROR, "params error: the simulator trades isolated margin only")
        raise ApiError(p.PARAM_ERROR, f"params error: tradeMode invalid ({mode!r})")

    # --- the intrabar path (real-time fills; intrabar.py) ------------------------------
    def path_to(
        self,
        bar: tuple[int, float, float, float, float, float],
        offset_ms: int,
        mark: float,
        funding_rate: float,
        now_ms: int,
        *,
        force: bool,
    ) -> Pushes:
        """`bar` is forming and `offset_ms` (< 60 s) of it have passed: walk its path that
        far into the kernel. `force` (a request is about to change the account) walks it
        always; otherwise only while something could fill, in steps of `intrabar_step_ms`."""
        pushes = Pushes()
        if self._path_bar is None or self._path_bar[0] != bar[0]:
            self._path_bar = bar
            self._path = PricePath.of(bar[1], bar[2], bar[3], bar[4], self.instrument.tick_size)
            self._path_ms = 0
        self._path_mark, self._path_funding = mark, funding_rate
        self._path_live = True
        assert self._path is not None
        offset_ms = min(max(offset_ms, 0), MINUTE_MS - 1)
        if offset_ms > self._path_ms and (force or (
                offset_ms - self._path_ms >= self.intrabar_step_ms and self._has_work())):
            o, h, lo, c = self._path.segment(self._path_ms / MINUTE_MS, offset_ms / MINUTE_MS)
            self._path_kernel_bar(offset_ms, o, h, lo, c, now_ms, pushes)
        self.path_price = self._path.price(max(offset_ms, self._path_ms) / MINUTE_MS)
        return pushes

    @property
    def live_price(self) -> float | None:
        """The forming minute's price now (intrabar fills), else None."""
        if self.intrabar and self._path_live and math.isfinite(self.path_price):
            return self.path_price
        return None

    def path_gap(self) -> None:
        """No minute is forming now (a gap in the history, or its end): orders queue."""
        self._path_live = False

    def _has_work(self) -> bool:
        return self.engine.position().side != 0 or any(
            not o.status.is_terminal for o in self.engine.open_orders())

    def _taker_price(self, qty: float, buy: bool) -> float:
        inst = self.instrument
        volume = self.last_bar[5] if self.last_bar else (self._path_bar or (0,) * 6)[5]
        return walk_book(self.path_price, qty, buy, volume, tick=inst.tick_size,
                         qty_step=inst.qty_step, min_qty=inst.min_qty)

    def _path_kernel_bar(self, y: int, o: float, h: float, lo: float, c: float, now_ms: int,
                         pushes: Pushes) -> None:
        """One sub-bar of the forming minute, from `_path_ms` to `y` ms into it."""
        bar = self._path_bar
        assert bar is not None
        final = y >= MINUTE_MS  # the minute's close: its mark and funding apply
        self.engine.on_bar(bar[0] - MINUTE_MS + y, o, h, lo, c,
                           bar[5] * (y - self._path_ms) / MINUTE_MS,
                           self._path_mark if final else math.nan,
                           self._path_funding if final else math.nan)
        self._path_ms = y
        self.last_mark = self._path_mark if final and math.isfinite(self._path_mark) else c
        self._drain(now_ms, pushes)

    def on_bar(
        self,
        bar: tuple[int, float, float, float, float, float],
        mark: float,
        funding_rate: float,
        now_ms: int,
    ) -> Pushes:
        """One whole 1m bar (rules 1-7) in a single step; with an intrabar path begun on
        it, the rest of its path."""
        ts, o, h, lo, c, v = bar
        if self.intrabar and self._path_bar is not None and self._path_bar[0] == ts:
            pushes = Pushes()
            self._path_mark, self._path_funding = mark, funding_rate
            if self._path_ms < MINUTE_MS:
                assert self._path is not None
                o2, h2, lo2, c2 = self._path.segment(self._path_ms / MINUTE_MS, 1.0)
                self._path_kernel_bar(MINUTE_MS, o2, h2, lo2, c2, now_ms, pushes)
            self._path_bar, self._path, self._path_live = None, None, False
            self.path_price = math.nan
            pushes.items.extend(self._bar_done(bar, mark, now_ms).items)
            return pushes
        self.engine.on_bar(ts, o, h, lo, c, v, mark, funding_rate)
        return self._bar_done(bar, mark, now_ms)

    def on_bar_open(
        self, bar: tuple[int, float, float, float, float, float], now_ms: int
    ) -> tuple[Pushes, bool]:
        """First half of a bar: queued market orders fill at its open (rule 1).

        Returns the pushes and whether a fill at the open left an open position that a
        client may now protect with a fill-relative trading stop before `on_bar_rest`.
        """
        ts, o = bar[0], bar[1]
        self.engine.on_bar_open(ts, o)
        self.split_bar = bar
        events = self.engine.drain_events()
        filled = any(isinstance(ev, FillEvent) for ev in events)
        pushes = Pushes()
        self._absorb(events, now_ms, pushes)
        return pushes, filled and self.engine.position().side != 0

    def on_bar_rest(
        self,
        bar: tuple[int, float, float, float, float, float],
        mark: float,
        funding_rate: float,
        now_ms: int,
    ) -> Pushes:
        """Second half of the bar `on_bar_open` started: rules 2-7."""
        ts, o, h, lo, c, v = bar
        self.engine.on_bar_rest(ts, o, h, lo, c, v, mark, funding_rate)
        self.split_bar = None
        return self._bar_done(bar, mark, now_ms)

    def _bar_done(self, bar: tuple[int, float, float, float, float, float], mark: float,
                  now_ms: int) -> Pushes:
        """The bar is whole: remember it and push what it changed."""
        self.last_bar = bar
        self.last_mark = mark
        pushes = Pushes()
        self._drain(now_ms, pushes)
        self._book_settlement(now_ms)
        return pushes

    # --- Bybit rows -------------------------------------------------------------------
    def order_row(self, rec: OrderRecord) -> dict[str, Any]:
        """The order as a Bybit V5 order row (REST lists and the `order` topic)."""
        o = rec.order
        req = o.request
        is_market = req.order_type in (OrderType.MARKET, OrderType.STOP_MARKET)
        price = req.price if req.price is not None else 0.0
        leaves = o.leaves_qty if not o.status.is_terminal else 0.0
        return {
            "category": "linear",
            "symbol": o.symbol,
            "orderId": self.oid(o.order_id),
            "orderLinkId": o.order_link_id,
            "blockTradeId": "",
            "side": req.side.bybit,
            "positionIdx": 0,
            "orderStatus": o.status.bybit,
            "cancelType": rec.cancel_type if o.status.is_terminal else "UNKNOWN",
            "rejectReason": self._reject_enum(o),
            "timeInForce": "IOC" if is_market else req.time_in_force.bybit,
            "isLeverage": "",
            "price": self._p(price),
            "qty": self._q(req.qty),
            "avgPrice": self._x(o.avg_fill_price) if o.filled_qty > 0 else "",
            "leavesQty": self._q(leaves),
            "leavesValue": self._m(leaves * price),
            "cumExecQty": self._q(o.filled_qty),
            "cumExecValue": self._m(o.filled_qty * o.avg_fill_price),
            "cumExecFee": self._m(o.cum_fee),
            "orderType": req.order_type.bybit,
            "stopOrderType": rec.stop_order_type or (
                "Stop" if req.order_type.is_conditional else ""),
            "orderIv": "",
            "triggerPrice": self._pz(req.trigger_price),
            "takeProfit": self._pz(req.take_profit),
            "stopLoss": self._pz(req.stop_loss),
            "triggerBy": rec.trigger_by or ("LastPrice" if req.order_type.is_conditional
                                            else ""),
            "tpTriggerBy": "LastPrice" if req.take_profit else "",
            "slTriggerBy": "LastPrice" if req.stop_loss else "",
            "triggerDirection": req.trigger_direction,
            "placeType": "",
            "lastPriceOnCreated": self._p(rec.last_price_on_created),
            "closeOnTrigger": req.close_on_trigger,
            "reduceOnly": req.reduce_only,
            "smpGroup": 0,
            "smpType": "None",
            "smpOrderId": "",
            "tpslMode": "Partial" if rec.stop_order_type else (
                "Full" if (req.take_profit or req.stop_loss) else ""),
            "tpLimitPrice": "0",
            "slLimitPrice": "0",
            "createdTime": str(rec.created_ms),
            "updatedTime": str(rec.updated_ms),
        }

    def execution_row(self, fill: Fill) -> dict[str, Any]:
        """The fill as a Bybit V5 execution row (REST list and the `execution` topic)."""
        rec = self.orders.get(fill.order_id)
        req = rec.order.request if rec else None
        value = fill.qty * fill.price
        done = self._filled.get(fill.order_id, 0.0) + fill.qty
        self._filled[fill.order_id] = done
        leaves = max(req.qty - done, 0.0) if req is not None else 0.0
        link = fill.order_link_id or (rec.order.order_link_id if rec is not None else "")
        create_type = {
            ExecType.STOP_LOSS: "CreateByStopLoss",
            ExecType.TAKE_PROFIT: "CreateByTakeProfit",
            ExecType.TRAILING_STOP: "CreateByTrailingStop",
            ExecType.BUST_TRADE: "CreateByLiq",
        }.get(fill.exec_type, "CreateByUser")
        stop_type = {
            ExecType.STOP_LOSS: "StopLoss",
            ExecType.TAKE_PROFIT: "TakeProfit",
            ExecType.TRAILING_STOP: "TrailingStop",
        }.get(fill.exec_type, "Stop" if req is not None and req.order_type.is_conditional else "")
        if rec is not None and rec.stop_order_type:
            stop_type = rec.stop_order_type  # PartialTakeProfit / PartialStopLoss
            create_type = f"CreateBy{stop_type}"
        return {
            "category": "linear",
            "symbol": fill.symbol,
            "isLeverage": "",
            "orderId": self.oid(fill.order_id),
            "orderLinkId": link,
            "side": fill.side.bybit,
            "orderPrice": self._p(req.price) if req is not None and req.price else "0",
            "orderQty": self._q(req.qty) if req is not None else self._q(fill.qty),
            "leavesQty": self._q(round(leaves, 12)),
            "createType": create_type,
            "orderType": req.order_type.bybit if req is not None else "Market",
            "stopOrderType": stop_type,
            "execFee": self._m(fill.fee),
            "execId": self.id_prefix + fill.exec_id,
            "execPrice": self._x(fill.price),
            "execQty": self._q(fill.qty),
            "execType": fill.exec_type.bybit,
            "execValue": self._m(value),
            "execTime": str(fill.ts),
            "isMaker": fill.is_maker,
            "feeRate": num(round(fill.fee / value, 8)) if value else "0",
            "tradeIv": "",
            "markIv": "",
            "markPrice": self._p(self.last_mark if math.isfinite(self.last_mark) else fill.price),
            "indexPrice": self._p(
                self.last_price if math.isfinite(self.last_price) else fill.price),
            "underlyingPrice": "",
            "blockTradeId": "",
            "closedSize": self._q(fill.qty) if fill.closed_pnl else "0",
            "closedPnl": self._m(fill.closed_pnl),
            "seq": self._next_seq(),
        }

    def position_row(self, pos: Position, *, ws: bool = False) -> dict[str, Any]:
        """The position as a Bybit V5 position row (`ws`: the `position` topic's shape)."""
        side = {1: "Buy", -1: "Sell"}.get(int(pos.side), "")
        size = float(pos.size) if pos.side else 0.0
        entry = float(pos.entry_price) if pos.side else 0.0
        mark = float(pos.mark_price) if pos.mark_price else self.last_mark
        wallet = self.engine.balance().wallet_balance
        mmr = self.config.maintenance_margin_rate
        updated = self._kernel_ms(int(pos.updated_ts)) if pos.updated_ts else 0
        row: dict[str, Any] = {
            "category": "linear",
            "symbol": self.instrument.symbol,
            "positionIdx": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "side": side,
            "size": self._q(size),
            "positionValue": self._m(size * entry),
            "tradeMode": 1,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": num(self.leverage),
            "markPrice": self._p(mark) if math.isfinite(mark) else "0",
            "liqPrice": self._pz(float(pos.liq_price) if pos.side else 0.0),
            "bustPrice": self._pz(float(pos.bust_price) if pos.side else 0.0),
            "positionIM": self._m(float(pos.margin) if pos.side else 0.0),
            "positionMM": self._m(size * (mark if math.isfinite(mark) else 0.0) * mmr),
            "positionBalance": self._m(float(pos.margin) if pos.side else 0.0),
            "takeProfit": self._pz(float(pos.take_profit) if pos.side else 0.0),
            # a Partial stop is an order (PartialStopLoss), not the position's stopLoss
            "stopLoss": self._pz(float(pos.stop_loss) if pos.side and not self._sl_partial
                                 else 0.0),
            "trailingStop": self._pz(float(pos.trailing_distance) if pos.side else 0.0),
            "sessionAvgPrice": "",
            "unrealisedPnl": self._m(float(pos.unrealized_pnl) if pos.side else 0.0),
            "curRealisedPnl": self._m(
                float(pos.realized_pnl) - float(pos.fees_paid) - float(pos.funding_paid)
            ),
            "cumRealisedPnl": self._m(wallet - self.initial_wallet),
            "adlRankIndicator": 2 if pos.side else 0,
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "createdTime": str(self._kernel_ms(int(pos.opened_ts)) if pos.side else 0),
            "updatedTime": str(updated),
            "tpslMode": "Partial" if (self._tp_partial or self._sl_partial) else "Full",
            "seq": self._next_seq(),
        }
        if ws:
            row["entryPrice"] = self._x(entry)
        else:
            row["avgPrice"] = self._x(entry)
        return row

    def wallet_row(self, bal: Balance | None = None) -> dict[str, Any]:
        """The one USDT wallet every symbol trades from (`bal`: this engine's own, which
        is the wallet when the server lists one symbol)."""
        venues = self.wallet.venues
        bal = bal if bal is not None and len(venues) == 1 else self.wallet.balance()
        upl = pos_im = mm = 0.0
        for v in venues:
            pos = v.engine.position()
            if pos.side:
                mark = v.last_mark if math.isfinite(v.last_mark) else 0.0
                upl += float(pos.unrealized_pnl)
                pos_im += float(pos.margin)
                mm += float(pos.size) * mark * v.config.maintenance_margin_rate
        order_im = max(bal.used_margin - pos_im, 0.0)
        equity = bal.equity
        return {
            "accountType": "UNIFIED",
            "accountIMRate": num(round(bal.used_margin / equity, 6)) if equity > 0 else "0",
            "accountMMRate": num(round(mm / equity, 6)) if equity > 0 else "0",
            "accountLTV": "0",
            "totalEquity": self._m(equity),
            "totalWalletBalance": self._m(bal.wallet_balance),
            "totalMarginBalance": self._m(equity),
            "totalAvailableBalance": self._m(bal.available_balance),
            "totalPerpUPL": self._m(upl),
            "totalInitialMargin": self._m(bal.used_margin),
            "totalMaintenanceMargin": self._m(mm),
            "coin": [
                {
                    "coin": "USDT",
                    "equity": self._m(equity),
                    "usdValue": self._m(equity),
                    "walletBalance": self._m(bal.wallet_balance),
                    "free": "",
                    "locked": "0",
                    "spotHedgingQty": "0",
                    "borrowAmount": "0",
                    "availableToBorrow": "",
                    "availableToWithdraw": self._m(bal.available_balance),
                    "accruedInterest": "0",
                    "totalOrderIM": self._m(order_im),
                    "totalPositionIM": self._m(pos_im),
                    "totalPositionMM": self._m(mm),
                    "unrealisedPnl": self._m(upl),
                    "cumRealisedPnl": self._m(bal.wallet_balance - self.wallet.initial),
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                }
            ],
        }
