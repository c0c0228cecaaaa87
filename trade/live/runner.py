"""LiveRunner: a bar-driven engine on live (or replayed) market data, in paper/demo/live.

The runner does not know what a Play is: `engine_factory(adapter)` builds the bar engine
(the CLI passes `trade.engine.PlayEngine`), so this layer imports nothing above it.

Start-up, on the calling thread (which becomes the engine thread):

1. REST session for the mode (`--endpoint` redirects it), server-time sync, instrument;
2. `LiveSession.open()`: public kline stream (and, with keys, the private stream),
   reconciliation of orders/positions/balance;
3. warm-up: the last `history_bars` closed 1m klines over REST go through the engine with a
   `NullAdapter` (indicators fill, nothing is sent), then the engine's adapter is swapped
   for the real one (PaperAdapter fed by the live bars, or LiveAdapter);
4. then every closed 1m kline from the stream (gaps are back-filled over REST, duplicates
   and late old bars ignored) is one `on_bar`: in demo/live once the state is settled (see
   "Settling"), the position marked to the close, the risk breakers fed. Before the engine
   decides, the session applies break-even (trade.live.breakeven), as the kernel does at
   the bar's close. A "signal" journal record lists the orders the bar placed and the
   engine's raw decision (`last_decision`, when the engine exposes one).

Market builtins: an engine whose `market_builtins` names `funding_rate` / `open_interest`
(PlayEngine: those its Play's conditions read) gets them with every bar, warm-up included,
as `on_bar(..., funding_rate=..., open_interest=...)`: the last settled funding rate and the
5-minute open interest known at the bar's close, read from Bybit's REST history by a
`trade.live.market.MarketFeed` with the backtest's carry-forward rule. The feed reads on a
worker thread started when a bar arrives, only at the closes where a new record can exist
(about one small public GET per 5 minutes, and one per funding interval); the decision
waits for that read at most `RunConfig.market_wait_s`, then goes on with the values known
before. An engine that reads neither costs nothing.

Settling (demo/live): the engine thread never waits on REST. A closed bar joins a queue.
The bar at its head, when no REST job is in flight and something may have changed on the
exchange (`LiveSession.dirty`), starts a reconciliation on a REST worker and the thread
goes back to consuming events; the bar is decided when the reconciliation lands (entries
allowed if it succeeded). It is decided at once, on the engine's current state with new
entries held (exits and protective actions go, reduce-only), when REST is still in flight
and a later live bar has arrived, when `settle_s` has passed, or when an earlier bar was
already decided that way and REST has not finished since. The held state is journaled
(`catch_up` / `order_refused` with the reason) and counted (`RunSummary.held_bars`,
`unsettled_bars`). A bar counts as done (`bars_done`, the `bar` journal record, the
listener) once the REST jobs its decision started have landed; `bars_decided` counts
decisions.

Resume: the journal's last processed bar is skipped on restart, and orderLinkIds are
deterministic per decision bar, so a restart never places an order twice. An open
position keeps its break-even across a restart (rebuilt from the journal and the warm-up
bars, `BreakEvenTracker.restore`) and gets its protection sent and confirmed before any
new entry (`LiveSession.repair`).

One catch-up rule (docs/live.md): bars the run did not receive live on the stream (closed
while it was down, before a restart; or lost in a WebSocket outage, back-filled over REST
when the stream reconnects or the next bar shows the gap) are replayed in order through the
engine; exits they signal are taken (at market, now), entries are not. A bar received live
whose close is older than `max_bar_age_ms` when the engine decides it (a backlog) is treated
the same way. The close-to-decision lag of every bar is measured on the exchange's bar clock
(`LiveSession.market_now_ms`) and reported in the journal (`bar.lag_ms`), the dashboard
state and the run summary. Missing-bar fetches run on a worker thread; the engine thread
keeps consuming events and queues later bars until the fetch lands. Paper mode holds
entries by the same rules (missed and stale bars), in its own simulated exchange.
Stop: `stop()` (any thread; the CLI calls it from SIGINT/SIGTERM) ends the loop within
~0.1 s; the session then closes streams and workers. Orders and TP/SL stay on the exchange.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from trade.core import (
    AdapterEvent,
    Balance,
    Clock,
    ExchangeAdapter,
    InputError,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    WallClock,
)
from trade.live.account import AccountGuard
from trade.live.client import BybitRest, make_session, ws_base_of
from trade.live.errors import BybitError
from trade.live.events import Deferred, Failure, KlinePush, StreamState
from trade.live.journal import Journal, JournalRepair, open_journal
from trade.live.market import MarketFeed
from trade.live.paper import JournaledPaperAdapter
from trade.live.protect import ProtectionPolicy
from trade.live.risk import RiskLimits, RiskManager
from trade.live.secrets import Credentials
from trade.live.session import LiveAdapter, LiveSession
from trade.notify import Notifier
from trade.sim import Bar, SimConfig

log = logging.getLogger(__name__)
MINUTE = 60_000
RunMode = Literal["paper", "demo", "live"]


class BarEngine(Protocol):
    """What the runner drives: `engine_factory(adapter)` builds one (the CLI passes
    `trade.engine.PlayEngine`); the runner swaps `adapter` from the warm-up `NullAdapter`
    to the real one when history replay ends."""

    adapter: Any

    def on_bar(self, ts: int, open: float, high: float, low: float, close: float,
               volume: float = 0.0, mark_price: float = math.nan, *,
               funding_rate: float = math.nan, open_interest: float = math.nan) -> None:
        """One closed 1m bar (`ts` its open time in ms), in time order; the engine decides
        and acts through `adapter`. `funding_rate` / `open_interest` are passed only to an
        engine whose `market_builtins` (optional attribute) names them."""
        ...

    def finish(self) -> None:
        """The run ends: no more bars."""
        ...


def decision_fields(decision: object) -> dict[str, Any] | None:
    """An engine's raw decision of a bar (e.g. PlayEngine.last_decision, a dataclass) as
    journal fields; None when it asks for nothing (every flag False) or is not a dataclass."""
    if decision is None or not dataclasses.is_dataclass(decision) or isinstance(decision,
                                                                                type):
        return None
    fields = dataclasses.asdict(decision)
    if not any(v is True for v in fields.values()):
        return None
    return fields


class NullAdapter:
    """Warm-up adapter: flat, `equity` USDT, every order rejected (nothing is sent)."""

    def __init__(self, equity: float = 10_000.0) -> None:
        self._balance = Balance(equity, equity, 0.0, equity)
        self.refused = 0

    def submit(self, request: OrderRequest) -> Order:
        self.refused += 1
        return Order(f"warmup-{self.refused}", request, OrderStatus.REJECTED, 0, 0,
                     reject_reason="warm-up: history bars are not traded")

    def cancel(self, symbol: str, order_id: str) -> Order:
        raise KeyError(order_id)

    def amend(self, symbol: str, order_id: str, *, qty: float | None = None,
              price: float | None = None, trigger_price: float | None = None) -> Order:
        raise KeyError(order_id)

    def set_trading_stop(self, symbol: str, *, take_profit: float | None = None,
                         stop_loss: float | None = None,
                         trailing_distance: float | None = None,
                         trailing_active_price: float | None = None) -> None:
        return None

    def open_orders(self, symbol: str) -> list[Order]:
        return []

    def position(self, symbol: str) -> Position:
        return Position(symbol)

    def balance(self) -> Balance:
        return self._balance

    def drain_events(self) -> list[AdapterEvent]:
        return []


@dataclass(slots=True)
class RunConfig:
    symbol: str
    mode: RunMode = "demo"
    endpoint: str | None = None
    credentials: Credentials | None = None
    journal_path: Path | None = None
    history_bars: int = 1000
    leverage: float | None = None
    sim_config: SimConfig | None = None  # paper mode
    risk_limits: RiskLimits = field(default_factory=RiskLimits)
    warmup_equity: float = 10_000.0
    tag: str = "t"
    stream_options: dict[str, Any] = field(default_factory=dict)
    rest_timeout_s: float = 5.0
    protection: ProtectionPolicy = field(default_factory=ProtectionPolicy)
    max_bar_age_ms: int = MINUTE  # older at decision: no entry (default: one exec bar)
    settle_s: float = 5.0  # longest a bar waits for its reconciliation (then: entries held)
    market_wait_s: float = 2.0  # longest a decision waits for funding / open-interest data


@dataclass(slots=True)
class RunSummary:
    bars: int = 0
    warmup_bars: int = 0
    orders: int = 0
    fills: int = 0
    backfilled: int = 0
    failures: list[str] = field(default_factory=list)
    held_bars: int = 0  # decided without entries: missed (caught up), stale or unsettled
    unsettled_bars: int = 0  # decided while REST (a reconciliation, a job) was in flight
    lag_ms: list[int] = field(default_factory=list)  # close-to-decision, per live bar
    protection: dict[str, int] = field(default_factory=dict)
    paused: str = ""
    journal_repair: str = ""

    def lag_stats(self) -> dict[str, int]:
        """p50 / p95 / max close-to-decision lag (ms) of the bars decided."""
        if not self.lag_ms:
            return {}
        xs = sorted(self.lag_ms)
        n = len(xs)
        return {"p50": xs[min(n - 1, n // 2)], "p95": xs[min(n - 1, int(0.95 * n))],
                "max": xs[-1]}


class LiveRunner:
    """See the module docstring. `run()` on the engine thread; `stop`, `wait_bars` and
    `summary` from any thread."""

    def __init__(self, config: RunConfig,
                 engine_factory: Callable[[ExchangeAdapter], BarEngine], *,
                 clock: Clock | None = None,
                 listener: Callable[[dict[str, Any]], None] | None = None,
                 notifier: Notifier | None = None, name: str = "",
                 account: AccountGuard | None = None) -> None:
        if config.mode != "paper" and config.credentials is None:
            raise ValueError(f"{config.mode} mode needs API credentials")
        if config.mode == "paper" and config.sim_config is None:
            raise ValueError("paper mode needs a SimConfig for the simulation kernel")
        self.config = config
        self.engine_factory = engine_factory
        self.clock: Clock = clock or WallClock()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.bars_done = 0
        self.last_bar_ts: int | None = None
        self.summary = RunSummary()
        self.session: LiveSession | None = None
        self.engine: BarEngine | None = None
        self.adapter: Any = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.listener = listener  # called on the engine thread after every bar
        # fills, rejections, pauses and errors also go out as notifications (never blocking)
        self.notifier = notifier
        self._backfilling = False
        self._fetchers: list[threading.Thread] = []
        self._waiting: list[KlinePush] = []  # bars that arrived while a back-fill ran
        self._held_run = 0  # consecutive bars decided without entries
        self._last_lag_ms = 0
        self.bars_decided = 0
        self._replaying = False  # bars queued now come from a back-fill (they force nothing)
        self._queue: deque[_PendingBar] = deque()  # closed bars not decided yet, in order
        self._sync_for: _PendingBar | None = None  # the bar whose reconciliation runs ...
        self._sync_token: int | None = None  # ... its job token ...
        self._sync_before = 0  # ... and the session's reconcile count when it started
        self._unsettled = False  # a bar was decided while REST was in flight, still is
        self._done: deque[_Decided] = deque()  # decided bars whose REST jobs are in flight
        self._advancing = False
        self.market: MarketFeed | None = None  # when the engine reads market builtins
        self.name = name or config.symbol  # the Play's label (several Plays in one process)
        # limits over every Play of the process (trade.live.account); None: this Play alone
        self.account = account
        self.control_pause = ""  # why `trade ctl pause` holds new entries (engine thread)
        self.halt_noted = ""  # the account halt this Play's journal recorded (engine thread)
        self._start_equity = math.nan  # at the first decision (status: the run's P&L)

    # ------------------------------------------------------------ any thread
    def stop(self) -> None:
        self._stop.set()
        session = self.session
        if session is not None:
            session.stopping.set()  # waits inside a bar give up; REST retries are abandoned
            session.rest.stop.set()

    def wait_bars(self, n: int, timeout_s: float) -> bool:
        """Wait until `n` bars are done (decided and their REST jobs landed)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.bars_done >= n or self.error is not None,
                                       timeout_s)

    def wait_decided(self, n: int, timeout_s: float) -> bool:
        """Wait until `n` bars are decided (their REST jobs may still be in flight)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.bars_decided >= n or self.error is not None, timeout_s)

    # ------------------------------------------------------------ engine thread
    def _build(self) -> LiveSession:
        cfg = self.config
        creds = None if cfg.mode == "paper" else cfg.credentials
        http = make_session(cfg.mode, endpoint=cfg.endpoint, credentials=creds,
                            timeout_s=cfg.rest_timeout_s)
        rest = BybitRest(http, clock=self.clock)
        journal = Journal(cfg.journal_path, self.clock)
        ws_base = ws_base_of(cfg.endpoint) if cfg.endpoint else None
        return LiveSession(rest, cfg.symbol, credentials=creds, clock=self.clock,
                           ws_base=ws_base, demo=cfg.mode == "demo", live=cfg.mode == "live",
                           risk=RiskManager(cfg.risk_limits), journal=journal, tag=cfg.tag,
                           public_topics=(f"kline.1.{cfg.symbol}",),
                           stream_options=cfg.stream_options, protection=cfg.protection)

    def read_journal(self) -> tuple[list[dict[str, Any]], JournalRepair | None]:
        """The earlier run's records, a torn tail cut first (nothing else is written: a
        refused journal raises InputError before the run opens it)."""
        path = self.config.journal_path
        return open_journal(path) if path is not None else ([], None)

    def run(self) -> RunSummary:
        try:
            return self._run()
        except BybitError as exc:
            if self._stop.is_set():  # a REST call cut short by stop(): a clean stop
                log.info("stopped during a REST call: %s", exc)
                return self.summary
            with self._cond:
                self.error = exc
                self._cond.notify_all()
            raise
        except BaseException as exc:
            with self._cond:
                self.error = exc
                self._cond.notify_all()
            raise

    def _run(self) -> RunSummary:
        cfg = self.config
        earlier, repaired = self.read_journal()  # before the journal is opened for append
        session = self._build()
        self.session = session
        if self.notifier is not None:
            session.on_notify = self.notifier
        listener = self.listener

        def on_stream(ev: StreamState) -> None:
            if ev.stream == "public" and ev.reconnected and self.engine is not None \
                    and self.last_bar_ts is not None and not self._backfilling:
                # bars closed during the outage: the catch-up rule, now, not at the next bar
                self._backfill(self.last_bar_ts, None)
            if listener is not None:
                # connection health reaches the listener as it changes, not only with bars
                listener({"connection": {f"{ev.stream}_ws": ev.state.value}})

        session.on_stream = on_stream
        if repaired is not None:
            self.summary.journal_repair = repaired.message()
            log.warning("%s", repaired.message())
            session.journal.write("journal_repaired", line=repaired.line,
                                  cut_bytes=repaired.cut_bytes)
        session.journaled_exec_ids = {str(r.get("exec_id")) for r in earlier
                                      if r.get("kind") == "fill"}
        try:
            resume_after = self._resume_point(earlier)
            session.open()
            if cfg.mode == "paper":
                assert cfg.sim_config is not None
                self.adapter = JournaledPaperAdapter(cfg.sim_config, session.journal)
            else:
                self.adapter = LiveAdapter(session)
                if cfg.leverage:
                    session.rest.set_leverage(cfg.symbol, cfg.leverage)
            history, missed = self._warm_up(session, resume_after)
            if cfg.mode != "paper" and earlier:
                # a position an earlier run opened keeps its break-even (trade.live.breakeven)
                session.breakeven.restore(earlier, session.book.position(cfg.symbol), history)
            if cfg.mode != "paper":
                # its protection is sent and confirmed before any new entry: the first
                # decision's barrier waits for this job
                session.repair(earlier)
            session.on_kline = self._on_kline
            session.after_event = self._advance
            session.journal.write("ready", mode=cfg.mode, symbol=cfg.symbol,
                                  last_bar=self.last_bar_ts, missed=len(missed))
            self.ready.set()
            if missed:
                self._catch_up(missed)
            while not self._stop.is_set():
                session.pump(0.1)
                self._advance()  # a bar whose settle time ran out is decided now
        finally:
            session.close()  # stops REST: a missing-bar fetch in flight gives up at once
            for thread in self._fetchers:
                thread.join(10)
            if self.market is not None:
                self.market.close(10)
            session.journal.close()
            self.summary.failures = list(session.failures)
            self.summary.protection = dict(session.protect_stats)
            self.summary.paused = session.paused
            if session.executor is not None:
                self.summary.fills = len(session.book.fills)
                self.summary.orders = len(session.book.orders)
            elif isinstance(self.adapter, JournaledPaperAdapter):
                self.summary.fills = self.adapter.fills
                self.summary.orders = len(self.adapter.placed)
        return self.summary

    @staticmethod
    def _resume_point(records: list[dict[str, Any]]) -> int | None:
        bars = [int(r["bar"]) for r in records if r.get("kind") == "bar"]
        return max(bars) if bars else None

    def _closed_klines(self, rest: BybitRest, *, start: int | None = None,
                       end: int | None = None, limit: int = 1000) -> list[tuple[float, ...]]:
        now = rest.timesync.timestamp_ms()
        rows = rest.klines(self.config.symbol, "1", start=start, end=end, limit=limit)
        out: list[tuple[float, ...]] = []
        for r in rows:
            t = int(r[0])
            if t + MINUTE <= now or end is not None:
                out.append((t, float(r[1]), float(r[2]), float(r[3]), float(r[4]),
                            float(r[5])))
        out.sort(key=lambda b: b[0])
        return out

    def _warm_up(self, session: LiveSession, resume_after: int | None
                 ) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
        """Feed the closed 1m history up to the journal's last bar to a fresh engine;
        returns (those bars, the bars after it: missed while down, to catch up on)."""
        cfg = self.config
        null = NullAdapter(cfg.warmup_equity)
        engine = self.engine_factory(null)
        bars = self._closed_klines(session.rest, limit=max(1, min(cfg.history_bars, 1000)))
        if bars:
            session.saw_bar_time(int(bars[-1][0]) + MINUTE)
        needs = frozenset(getattr(engine, "market_builtins", None) or ())
        if needs:
            self.market = MarketFeed(session.rest, cfg.symbol, needs,
                                     wait_s=cfg.market_wait_s)
            if bars:
                self.market.warm(int(bars[0][0]) + MINUTE, int(bars[-1][0]) + MINUTE)
        warm = [b for b in bars if resume_after is None or b[0] <= resume_after]
        missed = [b for b in bars if resume_after is not None and b[0] > resume_after]
        for ts, o, h, lo, c, v in warm:
            engine.on_bar(int(ts), o, h, lo, c, v, **self._market_at(int(ts)))
            self.last_bar_ts = int(ts)
        self.summary.warmup_bars = len(warm)
        if resume_after is not None and (self.last_bar_ts is None
                                         or resume_after > self.last_bar_ts):
            self.last_bar_ts = resume_after
        engine.adapter = (self.adapter if self.notifier is None
                          else self.notifier.wrap(self.adapter))
        self.engine = engine
        if warm:
            session.last_price = warm[-1][4]
        return warm, missed

    def _catch_up(self, bars: list[tuple[float, ...]]) -> None:
        """Missed bars, in order, through the engine: exits taken, entries held."""
        session = self.session
        assert session is not None
        last = self.last_bar_ts
        for ts, o, h, lo, c, v in bars:
            if last is not None and ts <= last:
                continue
            self._bar(int(ts), o, h, lo, c, v, missed=True)
            last = int(ts)

    def _lag(self, close_ms: int) -> int:
        """Close-to-decision lag of the bar closing at `close_ms`, on the bar clock."""
        session = self.session
        assert session is not None
        now = session.market_now_ms()
        lag = max(0, now - close_ms) if now else 0
        self._last_lag_ms = lag
        self.summary.lag_ms.append(lag)
        return lag

    def _held_note(self, ts: int, hold: str) -> None:
        """Say when the run starts and ends catching up without trading."""
        session = self.session
        assert session is not None
        if hold:
            self.summary.held_bars += 1
            if not self._held_run:
                log.warning("catching up from bar %d without new entries: %s", ts, hold)
                session.journal.write("catch_up", bar=ts, reason=hold)
            self._held_run += 1
        elif self._held_run:
            log.info("caught up after %d bars without new entries", self._held_run)
            session.journal.write("caught_up", bar=ts, bars=self._held_run)
            self._held_run = 0

    def _market_at(self, ts: int) -> dict[str, float]:
        """The market builtins known at the close of the bar opening at `ts` (empty when
        the engine reads none)."""
        if self.market is None:
            return {}
        return self.market.values(ts + MINUTE)

    def _decide(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        """The engine decides on the closed bar; a `signal` record when it acted."""
        session, engine = self.session, self.engine
        assert session is not None and engine is not None
        before = set(self._placed())
        market = self._market_at(ts)
        engine.on_bar(ts, o, h, lo, c, v, **market)
        new = [k for k in self._placed() if k not in before]
        decision = decision_fields(getattr(engine, "last_decision", None))
        if new or decision:
            sym = self.config.symbol
            # the market builtins the decision saw (null: unknown at the close)
            seen = {"market": {k: (x if math.isfinite(x) else None)
                               for k, x in market.items()}} if market else {}
            session.journal.write("signal", bar=ts, close=c, orders=new, decision=decision,
                                  equity=self.adapter.balance().equity,
                                  position=self.adapter.position(sym).size, **seen)

    def _placed(self) -> list[str]:
        """Every order this run has placed (paper: the adapter's; else the book's)."""
        if isinstance(self.adapter, JournaledPaperAdapter):
            return list(self.adapter.placed)
        assert self.session is not None
        return list(self.session.book.orders)

    def state(self, ts: int, close: float) -> dict[str, Any]:
        """A plain-data view of the account after a bar (for dashboards; engine thread)."""
        sym = self.config.symbol
        pos = self.adapter.position(sym)
        bal = self.adapter.balance()
        conn: dict[str, Any] = {}
        if self.session is not None:
            for name, stream in self.session.streams.items():
                conn[f"{name}_ws"] = stream.state.value
                conn[f"{name}_message_age_s"] = round(stream.health()["message_age_s"], 2)
        return {
            "ts": ts + MINUTE, "equity": bal.equity, "close": close,
            "position": {f: getattr(pos, f) for f in ("side", "size", "entry_price",
                                                       "mark_price", "unrealized_pnl",
                                                       "liq_price", "leverage")}
            | {"symbol": sym},
            "open_orders": [{"id": o.order_id, "side": o.request.side.bybit,
                             "qty": o.request.qty, "status": o.status.bybit}
                            for o in self.adapter.open_orders(sym)],
            "connection": conn,
            "lag_ms": self._last_lag_ms,
            "entries": self._entries_state(),
        }

    def _entries_state(self) -> str:
        """"open", or why new entries are held (dashboard)."""
        session = self.session
        if session is not None and session.paused:
            return f"paused: {session.paused}"
        gate = self._gate()
        if gate:
            return gate
        return "catching up" if self._held_run else "open"

    # ------------------------------------------------------------ control (engine thread)
    def _gate(self) -> str:
        """Why new entries are held besides the bar's own rules: `trade ctl pause` or an
        account limit over every Play ("" = neither)."""
        if self.control_pause:
            return f"paused by ctl: {self.control_pause}"
        if self.account is not None:
            reason = self.account.blocked()
            if reason:
                return f"account limit: {reason}"
        return ""

    def _report_account(self, close_ms: int, close: float) -> None:
        """This Play's part of the account at the close, to the account guard."""
        if self.adapter is None:
            return
        bal = self.adapter.balance()
        if math.isnan(self._start_equity):
            self._start_equity = bal.equity
        if self.account is None:
            return
        pos = self.adapter.position(self.config.symbol)
        upnl = pos.side * pos.size * (close - pos.entry_price) if pos.side else 0.0
        self.account.report(self.name, ts=close_ms, wallet=bal.wallet_balance, upnl=upnl,
                            equity=bal.equity, notional=pos.size * close)

    def note_account_halt(self, reason: str) -> None:
        """The account guard tripped: journal it in this Play's journal and notify (engine
        thread; the multi-Play runner posts it here)."""
        session = self.session
        if session is None or self.halt_noted == reason:
            return
        self.halt_noted = reason
        session.journal.write("account_halt", reason=reason, play=self.name)
        session.notify("account_halt", play=self.name, reason=reason)

    def status(self) -> dict[str, Any]:
        """What `trade ctl status` shows of this Play (engine thread)."""
        sym = self.config.symbol
        out: dict[str, Any] = {"play": self.name, "symbol": sym, "mode": self.config.mode,
                               "ready": self.ready.is_set(), "bars": self.bars_done}
        if self.adapter is None:
            return out
        pos = self.adapter.position(sym)
        bal = self.adapter.balance()
        out["position"] = {"side": pos.side, "size": pos.size, "entry_price": pos.entry_price,
                           "unrealized_pnl": pos.unrealized_pnl}
        out["open_orders"] = len(self.adapter.open_orders(sym))
        out["equity"] = bal.equity
        session = self.session
        if session is not None and session.executor is not None:
            # one wallet for every Play: this Play's P&L is its own fills' and position's
            fills = session.book.fills
            out["pnl"] = (sum(f.closed_pnl - f.fee for f in fills) + pos.unrealized_pnl)
        else:
            out["pnl"] = bal.equity - self._start_equity if math.isfinite(
                self._start_equity) else 0.0
        out["paused"] = self.control_pause or (session.paused if session else "") or ""
        out["entries"] = self._entries_state()
        return out

    def control(self, action: str, who: str = "ctl") -> dict[str, Any]:
        """Apply a `trade ctl` action to this Play and journal it (engine thread):
        pause (no new entries; exits, brackets and protection keep working), resume (undo
        a ctl pause: a protection failure's pause or an account halt stays), flatten
        (cancel the Play's open orders, close its position reduce-only at market, and
        pause), status."""
        session = self.session
        if action == "status":
            return self.status()
        if session is None or self.adapter is None:
            raise InputError(f"{self.name} is not running yet")
        record: dict[str, Any] = {"action": action, "by": who}
        if action == "pause":
            self.control_pause = self.control_pause or f"{who} pause"
        elif action == "resume":
            record["was"] = self.control_pause
            self.control_pause = ""
        elif action == "flatten":
            self.control_pause = self.control_pause or f"{who} flatten"
            record.update(self._flatten())
        else:
            raise InputError(f"unknown control action {action!r}")
        session.journal.write("ctl", play=self.name, **record)
        log.warning("%s: ctl %s", self.name, action)
        return self.status()

    def _flatten(self) -> dict[str, Any]:
        """Cancel this Play's open orders and close its position reduce-only at market."""
        sym = self.config.symbol
        adapter = self.adapter
        cancelled: list[str] = []
        for order in list(adapter.open_orders(sym)):
            try:
                adapter.cancel(sym, order.order_id)
            except KeyError:
                continue  # ended meanwhile
            cancelled.append(order.order_id)
        pos = adapter.position(sym)
        closed = 0.0
        if pos.side != 0 and pos.size > 0:
            side = Side.SELL if pos.side > 0 else Side.BUY
            adapter.submit(OrderRequest(sym, side, pos.size, reduce_only=True))
            closed = pos.size
        return {"cancelled": cancelled, "closed": closed}

    def _on_kline(self, k: KlinePush) -> None:
        cfg = self.config
        if k.symbol != cfg.symbol or k.interval != "1":
            return
        if self._backfilling:
            self._waiting.append(k)  # after the missing bars, in order
            return
        last = self.last_bar_ts
        if last is not None and k.start <= last:
            return  # a duplicate or a late, already processed bar
        if last is not None and k.start > last + MINUTE:
            self._backfill(last, k)
            return
        self._bar(k.start, k.open, k.high, k.low, k.close, k.volume)

    def _backfill(self, last: int, k: KlinePush | None) -> None:
        """Fetch the bars after `last` (and before `k`) on a worker; the engine thread
        goes on consuming events and queues later bars until they land."""
        session = self.session
        assert session is not None
        self._backfilling = True
        end = None if k is None else k.start - 1

        def fetch() -> None:
            bars: list[tuple[float, ...]] = []
            try:
                bars = self._closed_klines(session.rest, start=last + MINUTE, end=end)
            except BybitError as exc:
                log.error("missing bars after %d could not be fetched: %s", last, exc)
                session.post(Failure("backfill", str(exc)))
            session.post(Deferred(lambda: self._backfilled(bars, k)))

        thread = threading.Thread(target=fetch, name="live-backfill", daemon=True)
        self._fetchers = [t for t in self._fetchers if t.is_alive()] + [thread]
        thread.start()

    def _backfilled(self, bars: list[tuple[float, ...]], k: KlinePush | None) -> None:
        self._backfilling = False
        last = self.last_bar_ts
        self._replaying = True  # one batch: its bars settle one by one, none forces another
        try:
            for ts, o, h, lo, c, v in bars:
                if (last is None or ts > last) and (k is None or ts < k.start):
                    self.summary.backfilled += 1
                    self._bar(int(ts), o, h, lo, c, v, missed=True)
                    last = int(ts)
            waiting, self._waiting = self._waiting, []
            for push in ([k] if k is not None else []) + waiting:
                self._on_kline(push)
        finally:
            self._replaying = False

    def _hold(self, lag_ms: int, missed: bool) -> str:
        """Why this bar may not enter ("" = it may): the catch-up and stale-bar rules."""
        if missed:
            return "missed bar (catch-up: exits only)"
        if lag_ms > self.config.max_bar_age_ms:
            return (f"stale bar: closed {lag_ms / 1000:.1f} s before its decision "
                    f"(max {self.config.max_bar_age_ms / 1000:g} s)")
        return ""

    def _bar(self, ts: int, o: float, h: float, lo: float, c: float, v: float, *,
             missed: bool = False) -> None:
        """A closed bar: decided now (paper) or queued to be decided once settled."""
        session = self.session
        engine = self.engine
        assert session is not None and engine is not None
        if self._stop.is_set():
            return
        self.last_bar_ts = ts
        if self.market is not None:
            self.market.prefetch(ts + MINUTE)  # read while the bar settles
        bar = _PendingBar(ts, o, h, lo, c, v, missed, WallClock().monotonic(),
                          forces=not missed and not self._replaying)
        if self.config.mode == "paper":
            assert isinstance(self.adapter, JournaledPaperAdapter)
            self.adapter.step(Bar(ts, o, h, lo, c, v))
            session.last_price = c
            lag = self._lag(ts + MINUTE)
            hold = self._hold(lag, missed)
            self._held_note(ts, hold)
            self._report_account(ts + MINUTE, c)
            # a missed or stale bar never opens a position; its exits still go (nor does
            # one while paused by `trade ctl` or an account limit)
            self.adapter.entry_hold = hold or self._gate()
            try:
                self._decide(ts, o, h, lo, c, v)
            finally:
                self.adapter.entry_hold = ""
            self._decided(bar, frozenset(), hold)
            self._complete()
            return
        self._queue.append(bar)
        self._advance()

    def _advance(self) -> None:
        """Decide the queued bars that may be decided now (engine thread, never waits):
        see "Settling" in the module docstring. Called after every event and every pump."""
        session = self.session
        if self._advancing or session is None or session.executor is None:
            return
        ex = session.executor
        self._advancing = True
        try:
            if self._unsettled and not ex.inflight:
                self._unsettled = False  # REST caught up: the next bar settles again
                self._sync_for = self._sync_token = None
            while self._queue and not self._stop.is_set():
                head = self._queue[0]
                if self._unsettled:
                    self._decide_queued(head, "REST still in flight: state not confirmed")
                    continue
                settled = self._settle(head)
                if settled is not None:
                    self._decide_queued(head, settled)
                    continue
                later_live = any(b.forces for b in list(self._queue)[1:])
                if later_live or WallClock().monotonic() - head.queued > self.config.settle_s:
                    # REST in flight: decide now on what the engine knows, entries held
                    self._unsettled = True
                    self._decide_queued(head, "reconciliation in flight: state not confirmed")
                    continue
                break
            self._complete()
        finally:
            self._advancing = False

    def _settle(self, head: _PendingBar) -> str | None:
        """Advance `head`'s settling without waiting: None while REST is in flight, ""
        once the state is reconciled (or nothing could have changed), else why not."""
        session = self.session
        assert session is not None and session.executor is not None
        ex = session.executor
        if self._sync_for is not head:
            if ex.inflight:
                return None  # jobs first: the reconciliation must see what they did
            if not session.dirty():
                return ""
            self._sync_for = head
            self._sync_before = session.reconciles
            self._sync_token = session.start_reconcile()
            return None
        if ex.inflight:
            return None  # the reconciliation, or jobs its events started (protection)
        self._sync_for = self._sync_token = None
        if session.reconciles == self._sync_before:
            return "reconciliation failed (REST errors): state not confirmed"
        return ""

    def _decide_queued(self, bar: _PendingBar, unreconciled: str) -> None:
        """Decide the queue's head (demo/live) on the session's current state."""
        self._queue.popleft()
        if self._sync_for is bar and not self._unsettled:
            self._sync_for = self._sync_token = None
        session = self.session
        assert session is not None and session.executor is not None
        ex = session.executor
        ts, c = bar.ts, bar.c
        close_ms = ts + MINUTE
        session.book.mark(self.config.symbol, c, close_ms)
        session.last_price = c
        tripped = session.risk.update_equity(session.book.balance.equity, close_ms)
        if tripped:
            session.journal.write("halt", reason=tripped)
        ex.set_bar(ts)
        before = set(ex.inflight)
        session.on_bar_close(ts, bar.h, bar.lo, c)  # break-even, as the kernel's rule 5
        lag = self._lag(close_ms)
        hold = self._hold(lag, bar.missed) or unreconciled
        if unreconciled and self._unsettled:
            self.summary.unsettled_bars += 1
        self._held_note(ts, hold)
        self._report_account(close_ms, c)
        # a missed, stale or unsettled bar never opens a position; its exits still go (nor
        # does one while paused by `trade ctl` or an account limit)
        session.entry_hold = hold or self._gate()
        try:
            self._decide(ts, bar.o, bar.h, bar.lo, c, bar.v)
        finally:
            session.entry_hold = ""
        self._decided(bar, frozenset(ex.inflight - before), hold)

    def _decided(self, bar: _PendingBar, jobs: frozenset[int], hold: str) -> None:
        self._done.append(_Decided(bar.ts, bar.c, jobs, self._last_lag_ms, hold))
        with self._cond:
            self.bars_decided += 1
            self._cond.notify_all()

    def _complete(self) -> None:
        """Bars whose decision's REST jobs have all landed are done, in order."""
        session = self.session
        assert session is not None
        inflight = session.executor.inflight if session.executor is not None else set()
        while self._done and not (self._done[0].jobs & inflight):
            d = self._done.popleft()
            session.journal.write("bar", bar=d.ts, close=d.close, lag_ms=d.lag_ms,
                                  **({"held": True, "hold": d.hold} if d.hold else {}))
            if self.listener is not None:
                self.listener(self.state(d.ts, d.close))
            with self._cond:
                self.bars_done += 1
                self.summary.bars = self.bars_done
                self._cond.notify_all()


@dataclass(slots=True)
class _PendingBar:
    """A closed bar waiting for its decision."""

    ts: int
    o: float
    h: float
    lo: float
    c: float
    v: float
    missed: bool
    queued: float  # local monotonic time it joined the queue
    forces: bool  # a live bar: REST still in flight for the bars before it does not hold them


@dataclass(frozen=True, slots=True)
class _Decided:
    """A decided bar, done once the REST jobs its decision started have landed."""

    ts: int
    close: float
    jobs: frozenset[int]
    lag_ms: int
    hold: str  # why it was decided without entries ("" = it was not)
