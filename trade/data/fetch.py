"""Download 1m klines, funding history and instrument rules from an exchange into the store.

The fetcher is transport-agnostic: it talks to a `KlineSource` (Bybit's V5 market endpoints
reduced to four calls; `trade.data.bybit_source.BybitSource` is the pybit-backed one) and owns
everything else: pagination, retries, rate-limit waits, resumption and the store writes.

Klines. The requested range [start_ms, end_ms) is clamped to the last *closed* minute of the
source's clock (Bybit also returns the running candle; it is never stored). The part still to
fetch is the range minus the minutes already in the store minus the minutes the checkpoint
records as confirmed absent at the source. It is cut into chunks on a UTC grid (a day by
default), each chunk into pages of at most 1000 minutes, one request per page with
`start=page_start, end=page_end - 1` (Bybit's `end` is inclusive). Bybit answers newest first
with strings; rows are reversed, parsed, checked against the page window and validated. A chunk
is written to the store in one atomic write as soon as its pages are in, then the checkpoint is
updated, so an interruption loses at most the chunk in flight.

Gaps. Minutes the source does not have are never invented. A run of missing minutes is
*confirmed absent* once a later bar is known (fetched, or already stored); the checkpoint keeps
those runs so a resumed or repeated fetch does not ask again, and runs after the symbol's first
stored bar are merged into the store's gap table with status "exchange". Missing minutes at the
end of the range (nothing after them yet) stay unconfirmed and are asked for again next time.

Retries (tenacity): network errors (requests ConnectionError / Timeout), HTTP 5xx and 403,
Bybit retCode 10006 (rate limit: wait until X-Bapi-Limit-Reset-Timestamp), 10002 (timestamp /
recv_window) and 10000/10016 (server busy) are retried with exponential backoff and jitter;
anything else is raised at once. Every wait goes through `trade.core.Clock.wait`, so a
`SimulatedClock` makes a test's waits instant, and setting the `stop` event interrupts a wait
(raising `FetchInterrupted`).

Checkpoint: `<store root>/fetch/<SYMBOL>.json` (`Store.fs`, written atomically).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from trade.core.clock import Clock, WallClock
from trade.core.errors import InputError, TradeError
from trade.data.intervals import MINUTE_MS
from trade.data.schema import (
    BAR_SCHEMA,
    FUNDING_SCHEMA,
    OPEN_INTEREST_SCHEMA,
    Instrument,
    validate_bars,
)
from trade.data.store import GAP_SCHEMA, NoDataError, Store

log = logging.getLogger(__name__)

T = TypeVar("T")
Interval = tuple[int, int]  # [start_ms, end_ms)

KLINE_PAGE_LIMIT = 1000  # Bybit's maximum klines per request
FUNDING_PAGE_LIMIT = 200  # Bybit's maximum funding records per request
OPEN_INTEREST_PAGE_LIMIT = 200  # Bybit's maximum open-interest records per request
#: the open-interest granularity stored (Bybit's finest `intervalTime`)
OPEN_INTEREST_INTERVAL = "5min"
RATE_LIMIT_CODE = 10006
TIMESTAMP_CODE = 10002
SERVER_BUSY_CODES = frozenset({10000, 10016})
CHECKPOINT_VERSION = 1


# ----------------------------------------------------------------------------- source
@dataclass(frozen=True, slots=True)
class LimitStatus:
    """The last X-Bapi-Limit / -Status / -Reset-Timestamp headers a source saw."""

    limit: int
    remaining: int
    reset_ms: int


@runtime_checkable
class KlineSource(Protocol):
    """One symbol's public market history, as Bybit's V5 REST returns it (raw strings).

    Implementations raise `TransientSourceError` for what is worth retrying (network, 5xx,
    rate limit with its reset time, timestamp) and `SourceError` for the rest; plain
    `requests` ConnectionError / Timeout are also treated as transient."""

    @property
    def symbol(self) -> str:
        """The symbol this source serves (e.g. ``BTCUSDT``)."""
        ...

    @property
    def name(self) -> str:
        """Where the data comes from (recorded in the provenance), e.g. the endpoint URL."""
        ...

    def server_time_ms(self) -> int:
        """The exchange's time in ms since the epoch (the end of a download "until now")."""
        ...

    def get_kline(self, start_ms: int, end_ms: int, limit: int) -> list[list[str]]:
        """1m candles opening in [start_ms, end_ms] (both inclusive), newest first, at most
        `limit`; each [startTime, open, high, low, close, volume, turnover] as strings."""
        ...

    def get_funding_history(self, start_ms: int, end_ms: int, limit: int) -> list[dict[str, str]]:
        """Funding settlements in [start_ms, end_ms], newest first, at most `limit`; dicts with
        `fundingRateTimestamp` and `fundingRate` strings."""
        ...

    def get_open_interest(self, start_ms: int, end_ms: int, limit: int
                          ) -> list[dict[str, str]]:
        """Open interest every 5 minutes in [start_ms, end_ms], newest first, at most
        `limit`; dicts with `timestamp` and `openInterest` strings."""
        ...

    def get_instrument(self) -> dict[str, Any]:
        """The symbol's `/v5/market/instruments-info` entry."""
        ...

    def limit_status(self) -> LimitStatus | None:
        """Rate-limit headers of the last answer, None when unknown."""
        ...


class SourceError(TradeError):
    """A request failed for a reason retrying will not fix (bad parameters, unknown symbol)."""


class TransientSourceError(SourceError):
    """A request failed for a passing reason; `reset_ms` (server ms) is when to try again,
    when the server said so (rate limit)."""

    def __init__(self, kind: str, message: str, *, reset_ms: int | None = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.reset_ms = reset_ms


class FetchInterrupted(TradeError):
    """The `stop` event was set; everything fetched so far is stored and resumable."""


def classify(exc: BaseException) -> TransientSourceError | None:
    """The transient form of an exception, or None when it must not be retried."""
    if isinstance(exc, TransientSourceError):
        return exc
    if isinstance(exc, requests.Timeout):
        return TransientSourceError("timeout", str(exc))
    if isinstance(exc, requests.ConnectionError):
        return TransientSourceError("network", str(exc))
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Backoff: min(initial_s * 2**n, max_backoff_s) plus up to jitter_s.
    A rate-limit answer waits until its reset time (at most max_rate_limit_wait_s).
    `limit_reserve`: when the last answer left this few requests or fewer, wait for the
    reset before the next request."""

    max_attempts: int = 8
    initial_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter_s: float = 0.5
    max_rate_limit_wait_s: float = 60.0
    rate_limit_margin_s: float = 0.05
    limit_reserve: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("initial_s", "max_backoff_s", "jitter_s", "max_rate_limit_wait_s",
                     "rate_limit_margin_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


# ----------------------------------------------------------------------------- parsing
def _num(value: object, what: str) -> float:
    try:
        out = float(str(value))
    except ValueError:
        raise SourceError(f"{what}: {value!r} is not a number") from None
    return out


def parse_kline_rows(rows: Sequence[Sequence[str]], start_ms: int, end_ms: int) -> pa.Table:
    """Bybit kline rows (newest first, strings) -> a validated bars table, oldest first,
    holding only candles opening in [start_ms, end_ms). Exact repeats are collapsed; a repeated
    start time with other values, a malformed row or an invalid bar raises SourceError naming
    the row."""
    n = len(rows)
    ts = np.empty(n, dtype=np.int64)
    cols = np.empty((6, n), dtype=np.float64)
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) < 7:
            raise SourceError(f"kline row {i}: expected 7 fields "
                              f"[start, open, high, low, close, volume, turnover], got {row!r}")
        try:
            ts[i] = int(str(row[0]))
        except ValueError:
            raise SourceError(f"kline row {i}: start time {row[0]!r} is not an integer") from None
        for j in range(6):
            cols[j, i] = _num(row[j + 1], f"kline row {i} field {j + 1}")
    order = np.argsort(ts, kind="stable")  # Bybit sends newest first
    ts, cols = ts[order], cols[:, order]
    keep = (ts >= start_ms) & (ts < end_ms)
    if len(ts) > 1:
        same = np.r_[False, ts[1:] == ts[:-1]]
        if same.any():
            idx = np.flatnonzero(same)
            differs = (cols[:, idx] != cols[:, idx - 1]).any(axis=0)
            if differs.any():
                bad = int(ts[idx[np.flatnonzero(differs)[0]]])
                raise SourceError(f"kline start {bad} appears twice with different values")
            keep &= ~same  # an exact repeat of the previous row
    ts, cols = ts[keep], cols[:, keep]
    table = pa.Table.from_arrays([pa.array(ts), *(pa.array(c) for c in cols)], schema=BAR_SCHEMA)
    problems = validate_bars(table)
    if problems:
        raise SourceError("invalid klines from the source: " + "; ".join(map(str, problems[:5])))
    return table


def _parse_series_rows(rows: Sequence[Mapping[str, Any]], what: str, ts_key: str,
                       value_key: str, schema: pa.Schema, *, empty_is_zero: bool = False,
                       non_negative: bool = False) -> pa.Table:
    """Bybit (timestamp, value) records -> a (ts, value) table in `schema`, oldest first."""
    ts = np.empty(len(rows), dtype=np.int64)
    value = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        try:
            ts[i] = int(str(row[ts_key]))
            raw = row[value_key]
        except (KeyError, TypeError, ValueError):
            raise SourceError(f"{what} row {i}: bad or missing {ts_key}/{value_key} "
                              f"in {row!r}") from None
        value[i] = _num(raw if raw != "" or not empty_is_zero else "0",
                        f"{what} row {i} {value_key}")
        if non_negative and value[i] < 0:
            raise SourceError(f"{what} row {i}: negative {value_key} {raw!r}")
    order = np.argsort(ts, kind="stable")
    return pa.Table.from_arrays([pa.array(ts[order]), pa.array(value[order])], schema=schema)


def parse_funding_rows(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Bybit funding records -> (ts, rate) table, oldest first (an empty rate counts 0)."""
    return _parse_series_rows(rows, "funding", "fundingRateTimestamp", "fundingRate",
                              FUNDING_SCHEMA, empty_is_zero=True)


def parse_open_interest_rows(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Bybit open-interest records -> (ts, open_interest) table, oldest first."""
    return _parse_series_rows(rows, "open-interest", "timestamp", "openInterest",
                              OPEN_INTEREST_SCHEMA, non_negative=True)


def parse_instrument(info: Mapping[str, Any], symbol: str,
                     base: Instrument | None = None) -> Instrument:
    """An `/v5/market/instruments-info` entry -> Instrument. Bybit does not report the
    maintenance-margin rate there; it is kept from `base` (else the default)."""
    if info.get("symbol") != symbol:
        raise SourceError(f"instrument info is for {info.get('symbol')!r}, not {symbol!r}")
    try:
        price = info["priceFilter"]
        lot = info["lotSizeFilter"]
        lev = info["leverageFilter"]
        fields: dict[str, Any] = {
            "symbol": symbol,
            "tick_size": _num(price["tickSize"], "priceFilter.tickSize"),
            "qty_step": _num(lot["qtyStep"], "lotSizeFilter.qtyStep"),
            "min_qty": _num(lot["minOrderQty"], "lotSizeFilter.minOrderQty"),
            "max_leverage": _num(lev["maxLeverage"], "leverageFilter.maxLeverage"),
        }
        optional = (("min_notional", lot, "minNotionalValue"), ("max_qty", lot, "maxOrderQty"),
                    ("max_mkt_qty", lot, "maxMktOrderQty"))
        for key, block, name in optional:
            if block.get(name) not in (None, ""):
                fields[key] = _num(block[name], f"lotSizeFilter.{name}")
        for key, name in (("base_coin", "baseCoin"), ("quote_coin", "quoteCoin")):
            if isinstance(info.get(name), str) and info[name]:
                fields[key] = info[name]
        if str(info.get("launchTime") or "").isdigit():
            fields["launch_time"] = int(info["launchTime"])
    except (KeyError, TypeError) as exc:
        raise SourceError(f"instrument info for {symbol} lacks {exc}") from None
    if base is not None:
        fields["maintenance_margin_rate"] = base.maintenance_margin_rate
    try:
        return Instrument.from_dict(fields)
    except InputError as exc:
        raise SourceError(f"instrument info for {symbol} is invalid: {exc}") from None


# ----------------------------------------------------------------------------- intervals
def merge_intervals(items: Sequence[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, non-touching union of [a, b) intervals (empty ones dropped)."""
    out: list[Interval] = []
    for a, b in sorted((a, b) for a, b in items if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract_intervals(base: Interval, remove: Sequence[Interval]) -> list[Interval]:
    """[a, b) minus the union of `remove`."""
    a, b = base
    out: list[Interval] = []
    cur = a
    for x, y in merge_intervals(remove):
        if y <= cur or x >= b:
            continue
        if x > cur:
            out.append((cur, x))
        cur = max(cur, y)
    if cur < b:
        out.append((cur, b))
    return out


def present_runs(ts: np.ndarray[Any, np.dtype[np.int64]]) -> list[Interval]:
    """Runs of consecutive stored minutes as [first, last + 1 minute) intervals."""
    if len(ts) == 0:
        return []
    breaks = np.flatnonzero(np.diff(ts) != MINUTE_MS)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(ts) - 1]
    return [(int(ts[s]), int(ts[e]) + MINUTE_MS) for s, e in zip(starts, ends, strict=True)]


def _chunks(todo: Sequence[Interval], chunk_ms: int) -> list[Interval]:
    out: list[Interval] = []
    for a, b in todo:
        cur = a
        while cur < b:
            nxt = min(b, (cur // chunk_ms + 1) * chunk_ms)  # cut on the UTC chunk grid
            out.append((cur, nxt))
            cur = nxt
    return out


# ----------------------------------------------------------------------------- results
@dataclass(slots=True)
class FetchProgress:
    """What a progress callback sees (after every page and chunk)."""

    symbol: str
    phase: str  # "klines" | "funding" | "open_interest" | "instrument" | "done"
    total_minutes: int = 0
    done_minutes: int = 0
    pages: int = 0
    retries: int = 0
    rows_written: int = 0
    current_ms: int | None = None


@dataclass(slots=True)
class FetchResult:
    symbol: str
    start_ms: int
    end_ms: int  # after clamping to the last closed minute
    pages: int = 0
    retries: int = 0
    rows_written: int = 0
    minutes_already_stored: int = 0
    chunks_written: int = 0
    gaps: list[Interval] = field(default_factory=list)  # confirmed absent, inside the history
    unconfirmed_tail: Interval | None = None  # missing at the end; asked for again next time
    funding_rows: int = 0
    funding_pages: int = 0
    open_interest_rows: int = 0
    open_interest_pages: int = 0
    instrument: Instrument | None = None

    def summary(self) -> str:
        lines = [
            f"{self.symbol}: {self.rows_written} 1m bars written in {self.chunks_written} chunks "
            f"({self.pages} kline pages, {self.minutes_already_stored} minutes already stored, "
            f"{self.retries} retries)"
        ]
        if self.gaps:
            missing = sum(b - a for a, b in self.gaps) // MINUTE_MS
            lines.append(f"exchange gaps: {len(self.gaps)} ({missing} minutes), recorded in the "
                         "gap table")
        if self.unconfirmed_tail is not None:
            a, b = self.unconfirmed_tail
            lines.append(f"no bars yet for the last {(b - a) // MINUTE_MS} minutes "
                         f"(from ts {a}); a later fetch asks again")
        lines.append(f"funding: {self.funding_rows} rates added ({self.funding_pages} pages)")
        if self.open_interest_pages:
            lines.append(f"open interest: {self.open_interest_rows} values added "
                         f"({self.open_interest_pages} pages)")
        if self.instrument is not None:
            i = self.instrument
            lines.append(f"instrument: tick {i.tick_size}, qty step {i.qty_step}, "
                         f"min qty {i.min_qty}, max leverage {i.max_leverage}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- checkpoint
class Checkpoint:
    """The resume marker of one symbol: confirmed-absent minute ranges, the run in progress
    and its first unfetched minute. Stored as JSON beside the data, replaced atomically."""

    def __init__(self, store: Store, symbol: str) -> None:
        store.bars_dir(symbol)  # validates the symbol
        self.store = store
        self.symbol = symbol
        root = store.root
        self.path = f"{root}/fetch/{symbol}.json" if root else f"fetch/{symbol}.json"
        self.absent: list[Interval] = []
        self.in_progress: dict[str, Any] | None = None
        self.completed: list[Interval] = []

    def load(self) -> Checkpoint:
        fs = self.store.fs
        if fs.get_file_info(self.path).type != pafs.FileType.File:
            return self
        try:
            with fs.open_input_stream(self.path) as inp:
                data = json.loads(inp.read().decode())
            self.absent = merge_intervals([(int(a), int(b)) for a, b in data.get("absent", [])])
            self.completed = merge_intervals(
                [(int(a), int(b)) for a, b in data.get("completed", [])])
            self.in_progress = data.get("in_progress")
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            # the checkpoint only saves requests: a bad one costs a re-fetch, never data
            log.warning("ignoring unreadable fetch checkpoint %s: %s", self.path, exc)
            self.absent, self.completed, self.in_progress = [], [], None
        return self

    def save(self) -> None:
        fs = self.store.fs
        data = {
            "version": CHECKPOINT_VERSION,
            "symbol": self.symbol,
            "absent": [list(x) for x in self.absent],
            "completed": [list(x) for x in self.completed],
            "in_progress": self.in_progress,
        }
        head = self.path.rpartition("/")[0]
        if head:
            fs.create_dir(head, recursive=True)
        tmp = f"{head}/.{self.symbol}.json.tmp-{uuid.uuid4().hex}" if head else \
            f".{self.symbol}.json.tmp-{uuid.uuid4().hex}"
        with fs.open_output_stream(tmp) as out:
            out.write(json.dumps(data, indent=1, sort_keys=True).encode())
        fs.move(tmp, self.path)  # atomic replace on local disks

    def add_absent(self, ranges: Sequence[Interval]) -> None:
        self.absent = merge_intervals([*self.absent, *ranges])


# ----------------------------------------------------------------------------- fetcher
class HistoryFetcher:
    """Fetches one source's history into a store. Not thread-safe; one fetcher per symbol.

    `chunk_minutes`: the unit of atomic store writes and of work lost to an interruption
    (a UTC day by default; chunks are cut on a UTC grid of this size).
    `on_progress`: called after every page, chunk and phase.
    `stop`: set it (from any thread) to stop at the next page or wait: `FetchInterrupted`."""

    def __init__(
        self,
        store: Store,
        source: KlineSource,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        chunk_minutes: int = 1440,
        on_progress: Callable[[FetchProgress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if chunk_minutes < 1:
            raise ValueError(f"chunk_minutes must be >= 1, got {chunk_minutes}")
        self.store = store
        self.source = source
        self.symbol = source.symbol
        self.clock: Clock = clock or WallClock()
        self.policy = policy or RetryPolicy()
        self.chunk_ms = chunk_minutes * MINUTE_MS
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.retries = 0
        self.progress = FetchProgress(self.symbol, "klines")
        self.funding_page_limit = FUNDING_PAGE_LIMIT
        self.open_interest_page_limit = OPEN_INTEREST_PAGE_LIMIT
        self._rng = random.Random()  # jitter only; never decides data

    # ------------------------------------------------------------------ retries
    def _sleep(self, seconds: float) -> None:
        if self.clock.wait(self.stop, seconds):
            raise FetchInterrupted(f"{self.symbol}: fetch stopped during a wait")

    def _wait_s(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        err = classify(exc) if exc is not None else None
        if err is not None and err.reset_ms is not None:
            # rate limited: wait until the server's reset timestamp (its clock, roughly ours)
            wait = (err.reset_ms - self.clock.now_ms()) / 1000 + self.policy.rate_limit_margin_s
            return min(max(wait, self.policy.rate_limit_margin_s),
                       self.policy.max_rate_limit_wait_s)
        # exponential backoff with jitter, so that many clients do not retry in step
        exp = self.policy.initial_s * 2.0 ** (state.attempt_number - 1)
        return min(exp, self.policy.max_backoff_s) + self._rng.uniform(0, self.policy.jitter_s)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.retries += 1
        self.progress.retries = self.retries
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info("%s: attempt %d failed (%s); retrying in %.2f s", self.symbol,
                 state.attempt_number, exc, state.upcoming_sleep)
        self._report()

    def _pace(self) -> None:
        """Wait for the rate-limit window to reset when the last answer left no room."""
        status = self.source.limit_status()
        if status is None or status.remaining > self.policy.limit_reserve:
            return
        wait = (status.reset_ms - self.clock.now_ms()) / 1000
        if wait > 0:
            self._sleep(min(wait + self.policy.rate_limit_margin_s,
                            self.policy.max_rate_limit_wait_s))

    def call(self, fn: Callable[[], T]) -> T:
        """Run one source request with the retry policy."""

        def attempt() -> T:
            if self.stop.is_set():
                raise FetchInterrupted(f"{self.symbol}: fetch stopped")
            self._pace()
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=self._wait_s,
            retry=retry_if_exception(lambda e: classify(e) is not None),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    # ------------------------------------------------------------------ klines
    def _closed_end(self, end_ms: int) -> int:
        now = self.call(self.source.server_time_ms)
        # a candle opening at ts is closed once ts + 1m <= now: keep ts < floor(now to minute)
        last_closed_end = now - now % MINUTE_MS
        return min(end_ms, last_closed_end)

    def _stored_ts(self, start_ms: int, end_ms: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        try:
            table = self.store.read_bars(self.symbol, start_ms, end_ms)
        except NoDataError:
            return np.empty(0, dtype=np.int64)
        return np.asarray(table.column("ts").to_numpy(), dtype=np.int64)

    def _first_stored_ts(self) -> int | None:
        files = self.store.month_files(self.symbol)
        if not files:
            return None
        month = np.datetime64(next(iter(files)), "M")  # the oldest month file
        lo = int(month.astype("datetime64[ms]").astype(np.int64))
        hi = int((month + 1).astype("datetime64[ms]").astype(np.int64))
        table = self.store.read_bars(self.symbol, lo, hi)
        return int(table.column("ts")[0].as_py()) if table.num_rows else None

    def _fetch_chunk(self, a: int, b: int) -> pa.Table:
        tables = []
        page = a
        while page < b:
            page_end = min(b, page + KLINE_PAGE_LIMIT * MINUTE_MS)
            lo, hi = page, page_end
            rows = self.call(partial(self.source.get_kline, lo, hi - 1, KLINE_PAGE_LIMIT))
            tables.append(parse_kline_rows(rows, lo, hi))
            self.progress.pages += 1
            self.progress.current_ms = hi
            self._report()
            page = page_end
        return pa.concat_tables(tables).combine_chunks() if tables else BAR_SCHEMA.empty_table()

    def fetch_klines(self, start_ms: int, end_ms: int, result: FetchResult | None = None
                     ) -> FetchResult:
        """Fetch and store every missing 1m bar with start_ms <= ts < end_ms (resumable)."""
        _check_range(start_ms, end_ms)
        end = max(self._closed_end(end_ms), start_ms)
        res = result or FetchResult(self.symbol, start_ms, end)
        res.end_ms = end
        ckpt = Checkpoint(self.store, self.symbol).load()
        stored = self._stored_ts(start_ms, end)
        present = present_runs(stored)
        res.minutes_already_stored = len(stored)
        known = [*present, *ckpt.absent]
        todo = subtract_intervals((start_ms, end), known)
        pending: int | None = None  # first minute of a missing run not yet followed by a bar
        prev_end: int | None = None  # end of the last chunk fetched
        marker = ckpt.in_progress or {}
        if marker.get("pending_from") is not None and marker.get("next_ms") is not None:
            # an interrupted run had fetched up to next_ms with no bar since pending_from:
            # resume that state instead of asking for those minutes again
            pf, nx = int(marker["pending_from"]), int(marker["next_ms"])
            resumed = subtract_intervals((start_ms, end), [*known, (pf, nx)])
            if start_ms <= pf < nx <= end and all(x >= nx for x, _ in resumed):
                todo, pending, prev_end = resumed, pf, nx
        chunks = _chunks(todo, self.chunk_ms)
        self.progress.phase = "klines"
        self.progress.total_minutes = sum(b - a for a, b in todo) // MINUTE_MS
        self.progress.done_minutes = 0
        self._report()
        pages_before = self.progress.pages
        for a, b in chunks:
            if prev_end is not None and a != prev_end and pending is not None:
                # the minutes between were stored or known absent: a bar follows the run
                ckpt.add_absent([(pending, prev_end)])
                pending = None
            table = self._fetch_chunk(a, b)
            confirmed: list[Interval] = []
            if table.num_rows:
                ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
                head = a if pending is None else pending
                confirmed.append((head, int(ts[0])))
                holes = np.flatnonzero(np.diff(ts) != MINUTE_MS)
                confirmed += [(int(ts[i]) + MINUTE_MS, int(ts[i + 1])) for i in holes]
                last = int(ts[-1]) + MINUTE_MS
                pending = last if last < b else None
                # atomic, and published together with the provenance entry
                self.store.write_bars(self.symbol, table, provenance=self._provenance_entry())
                res.rows_written += table.num_rows
                res.chunks_written += 1
            elif pending is None:
                pending = a
            ckpt.add_absent(confirmed)
            ckpt.in_progress = {"start_ms": start_ms, "end_ms": end, "next_ms": b,
                                "pending_from": pending}
            ckpt.save()
            prev_end = b
            self.progress.done_minutes += (b - a) // MINUTE_MS
            self.progress.rows_written = res.rows_written
            self._report()
        if pending is not None and prev_end is not None and prev_end < end:
            ckpt.add_absent([(pending, prev_end)])
            pending = None
        if pending is not None and prev_end is not None:
            res.unconfirmed_tail = (pending, prev_end)
        ckpt.in_progress = None
        ckpt.completed = merge_intervals([*ckpt.completed, (start_ms, end)])
        ckpt.save()
        res.pages += self.progress.pages - pages_before
        res.retries = self.retries
        res.gaps = self._record_gaps(ckpt, start_ms, end)
        if res.rows_written:
            self.store.record_provenance(self.symbol, self._provenance_entry())
        return res

    def _provenance_entry(self) -> dict[str, Any]:
        return {"source": self.source.name, "source_interval": "1", "bridged_1m": False,
                "seed": None, "fetched": True}

    def _record_gaps(self, ckpt: Checkpoint, start_ms: int, end_ms: int) -> list[Interval]:
        """Merge the confirmed-absent runs after the first stored bar into the gap table."""
        first = self._first_stored_ts()
        if first is None:
            return []
        inside = [(max(a, first), b) for a, b in ckpt.absent if b > first and a < b]
        if not inside:
            return []
        old = self.store.read_gaps(self.symbol)
        keep = {(int(s), int(e)): st for s, e, st in zip(
            old.column("start_ms").to_pylist(), old.column("end_ms").to_pylist(),
            old.column("status").to_pylist(), strict=True)}
        for a, b in inside:
            keep[(a, b)] = "exchange"  # confirmed absent at the source: a real exchange gap
        rows = sorted(keep.items())
        table = pa.table({
            "start_ms": pa.array([k[0] for k, _ in rows], pa.int64()),
            "end_ms": pa.array([k[1] for k, _ in rows], pa.int64()),
            "missing": pa.array([(k[1] - k[0]) // MINUTE_MS for k, _ in rows], pa.int64()),
            "status": pa.array([s for _, s in rows], pa.string()),
        }, schema=GAP_SCHEMA)
        self.store.write_gaps(self.symbol, table)
        return [(a, b) for a, b in inside if a < end_ms and b > start_ms]

    # ------------------------------------------------------- funding, open interest
    def _fetch_series(self, phase: str, start_ms: int, end_ms: int,
                      get: Callable[[int, int, int], list[dict[str, str]]], limit: int,
                      parse: Callable[[Sequence[Mapping[str, Any]]], pa.Table],
                      write: Callable[[str, pa.Table], int]) -> tuple[int, int]:
        """Page a (ts, value) history in [start_ms, end_ms) backwards from end_ms (Bybit
        answers newest first) into the store; returns (rows added, pages)."""
        _check_range(start_ms, end_ms)
        self.progress.phase = phase
        self._report()
        added = pages = 0
        cursor = end_ms - 1  # Bybit's endTime is inclusive
        while cursor >= start_ms:
            hi = cursor
            rows = self.call(partial(get, start_ms, hi, limit))
            pages += 1
            table = parse(rows)
            ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
            inside = (ts >= start_ms) & (ts <= hi)
            table = table.filter(pa.array(inside))
            if table.num_rows:
                added += write(self.symbol, table)
            if len(rows) < limit or not inside.any():
                break
            oldest = int(table.column("ts")[0].as_py())
            if oldest > hi:
                raise SourceError(f"{phase.replace('_', ' ')} history did not move back "
                                  f"from {hi}")
            cursor = oldest - 1
            self.progress.pages += 1
            self._report()
        return added, pages

    def fetch_funding(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Store the funding settlements in [start_ms, end_ms); returns (rows added, pages)."""
        return self._fetch_series("funding", start_ms, end_ms, self.source.get_funding_history,
                                  self.funding_page_limit, parse_funding_rows,
                                  self.store.write_funding)

    def fetch_open_interest(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Store the open interest (every 5 minutes) in [start_ms, end_ms); returns (rows
        added, pages). Bybit keeps open interest for a limited past only; what it does not
        answer is simply not stored (the builtin is NaN there)."""
        return self._fetch_series("open_interest", start_ms, end_ms,
                                  self.source.get_open_interest,
                                  self.open_interest_page_limit, parse_open_interest_rows,
                                  self.store.write_open_interest)

    # ------------------------------------------------------------------ instrument
    def fetch_instrument(self) -> Instrument:
        self.progress.phase = "instrument"
        self._report()
        info = self.call(self.source.get_instrument)
        default = Instrument(symbol=self.symbol)
        base = self.store.read_instrument(self.symbol, default=default)
        inst = parse_instrument(info, self.symbol, base)
        self.store.write_instrument(inst)
        return inst

    # ------------------------------------------------------------------ all
    def fetch(self, start_ms: int, end_ms: int, *, klines: bool = True, funding: bool = True,
              instrument: bool = True, open_interest: bool = True) -> FetchResult:
        """Instrument info, then 1m klines, then funding and open-interest history for
        [start_ms, end_ms)."""
        _check_range(start_ms, end_ms)
        res = FetchResult(self.symbol, start_ms, end_ms)
        if instrument:
            res.instrument = self.fetch_instrument()
        if klines:
            self.fetch_klines(start_ms, end_ms, res)
        if funding:
            res.funding_rows, res.funding_pages = self.fetch_funding(start_ms, res.end_ms)
        if open_interest:
            res.open_interest_rows, res.open_interest_pages = self.fetch_open_interest(
                start_ms, res.end_ms)
        res.retries = self.retries
        self.progress.phase = "done"
        self._report()
        return res


def _check_range(start_ms: int, end_ms: int) -> None:
    if start_ms % MINUTE_MS or end_ms % MINUTE_MS:
        raise InputError(f"fetch range [{start_ms}, {end_ms}) must be on minute boundaries")
    if end_ms <= start_ms:
        raise InputError(f"fetch range is empty: end {end_ms} <= start {start_ms}")


def fetch_history(store: Store, source: KlineSource, start_ms: int, end_ms: int,
                  **kwargs: Any) -> FetchResult:
    """`HistoryFetcher(store, source, **kwargs).fetch(start_ms, end_ms)`."""
    return HistoryFetcher(store, source, **kwargs).fetch(start_ms, end_ms)


__all__ = [
    "FUNDING_PAGE_LIMIT",
    "KLINE_PAGE_LIMIT",
    "OPEN_INTEREST_INTERVAL",
    "OPEN_INTEREST_PAGE_LIMIT",
    "Checkpoint",
    "FetchInterrupted",
    "FetchProgress",
    "FetchResult",
    "HistoryFetcher",
    "KlineSource",
    "LimitStatus",
    "RetryPolicy",
    "SourceError",
    "TransientSourceError",
    "classify",
    "fetch_history",
    "merge_intervals",
    "parse_funding_rows",
    "parse_instrument",
    "parse_kline_rows",
    "parse_open_interest_rows",
    "present_runs",
    "subtract_intervals",
]
