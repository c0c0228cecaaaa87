"""The live stack: Bybit REST/WS clients, the one-writer account book, the order executor,
risk checks, LiveAdapter and the paper/demo/live runner.

Public API:

* `make_session(mode, endpoint=None, credentials=None, timestamp_ms=None) -> SyncedHTTP`,
  `BybitRest(session, clock=..., ...)` (retrying, rate-limited, time-synced, idempotent
  `create_order`); errors: `BybitError` > `TransientError` / `PermanentError` > ...;
* `StreamManager` (one WebSocket with explicit `ConnState`, health monitor, own reconnect);
* `AccountBook`, `OrderHandle`, `OrderExecutor`, `RiskLimits`, `RiskManager`;
* `LiveSession` (the engine thread's world) and `LiveAdapter` (trade.core.ExchangeAdapter);
* `LiveRunner(RunConfig, engine_factory)`; `panic(rest, symbol)`;
* `venue_instrument(rest, symbol, base=None)` / `fetch_instrument(mode, symbol, endpoint=...,
  base=...)`: the venue's instrument rules (instruments-info) as a
  `trade.core.instrument.Instrument`;
* break-even, which Bybit lacks, is done by the session (trade.live.breakeven);
* credentials: `load_credentials(mode, key_file=None)`, `Credentials`, `redact`.
"""

from trade.exchange_sim.pybit_client import SyncedHTTP
from trade.live.book import AccountBook, OrderHandle, position_from_row
from trade.live.client import BybitRest, make_session, new_link_id, ws_base_of
from trade.live.errors import (
    AuthError,
    BybitError,
    DuplicateOrderLinkIdError,
    InsufficientBalanceError,
    InvalidParamsError,
    NetworkError,
    OrderNotFoundError,
    PermanentError,
    RateLimitError,
    ReduceOnlyError,
    RiskRejected,
    ServerError,
    TimestampError,
    TransientError,
    classify,
)
from trade.live.events import ConnState
from trade.live.executor import OrderExecutor
from trade.live.instrument import fetch_instrument, venue_instrument
from trade.live.journal import Journal, JournalRepair, open_journal, read_journal
from trade.live.panic import PanicReport, panic
from trade.live.paper import JournaledPaperAdapter
from trade.live.protect import ProtectionPolicy
from trade.live.ratelimit import RateLimiter
from trade.live.risk import RiskLimits, RiskManager
from trade.live.runner import LiveRunner, NullAdapter, RunConfig, RunSummary
from trade.live.secrets import Credentials, RedactingFilter, load_credentials, redact
from trade.live.session import LiveAdapter, LiveSession, SessionError
from trade.live.timesync import TimeSync
from trade.live.ws import StreamManager

__all__ = [
    "AccountBook", "AuthError", "BybitError", "BybitRest", "ConnState", "Credentials",
    "DuplicateOrderLinkIdError", "InsufficientBalanceError",
    "InvalidParamsError", "Journal", "JournalRepair", "JournaledPaperAdapter", "LiveAdapter",
    "LiveRunner",
    "LiveSession",
    "NetworkError", "NullAdapter", "OrderExecutor", "OrderHandle", "OrderNotFoundError",
    "PanicReport", "PermanentError", "ProtectionPolicy", "RateLimitError", "RateLimiter",
    "RedactingFilter",
    "ReduceOnlyError", "RiskLimits", "RiskManager", "RiskRejected", "RunConfig", "RunSummary",
    "ServerError", "SessionError", "StreamManager", "SyncedHTTP", "TimeSync", "TimestampError",
    "TransientError", "classify", "fetch_instrument", "load_credentials", "make_session",
    "new_link_id", "open_journal", "panic", "position_from_row", "read_journal", "redact",
    "venue_instrument", "ws_base_of",
]
