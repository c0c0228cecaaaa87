"""The Notifier: fills, rejections, errors, breaker trips, reconnects and a daily summary,
sent through apprise without ever blocking or raising in the caller.

Flow: the caller's `notify(kind, fields)` formats the message, scrubs secrets out of it,
asks the kind's token bucket (`KindLimiter`, on the injected Clock) and puts it on a
bounded queue with `put_nowait` — it never waits. A message the bucket or a full queue
refuses is counted; the next message that goes out says how many of each kind were
dropped. One worker thread drains the queue and alone owns the `apprise.Apprise` object;
a delivery failure is logged with the kind and the redacted targets, never raised.

`Notifier` is a callable matching `LiveSession.on_notify` (`(kind, fields) -> None`);
`on_events` turns an adapter's events into fill/rejection messages; `on_state` is a
`LiveRunner` listener (reconnects, and a summary when a UTC day ends).

Thread ownership: `notify`, `__call__`, `on_events`, `on_state`, `summary` and `close`
may be called from any thread (the limiter and counters are locked; the day tracking of
`on_state` is for the one engine thread that calls the listener). The apprise object is
created and used only on the worker thread (`notify-worker`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apprise

from trade.core import AdapterEvent, ExchangeAdapter, FillEvent, OrderStatus, OrderUpdate
from trade.core.clock import Clock, WallClock
from trade.notify.adapter import NotifyingAdapter
from trade.notify.config import NotifyConfigError, redact_url
from trade.notify.ratelimit import KindLimiter, RateLimit
from trade.notify.scrub import Scrubber, url_secrets

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: the session hook's kinds (LiveSession.notify) and the categories they are limited as
CATEGORY: dict[str, str] = {
    "fill": "fill", "rejection": "rejection", "error": "error", "breaker": "breaker",
    "reconnect": "reconnect", "summary": "summary",
    "paused": "breaker",  # the session pauses entries when a breaker trips
    "unknown_position": "error",
}
_APPRISE_TYPE = {"error": apprise.NotifyType.FAILURE, "breaker": apprise.NotifyType.WARNING,
                 "rejection": apprise.NotifyType.WARNING, "fill": apprise.NotifyType.SUCCESS}


@dataclass(frozen=True, slots=True)
class Message:
    """One scrubbed notification, ready for the worker."""

    kind: str
    title: str
    body: str


_STOP = Message("", "", "")  # the worker's stop sentinel


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


class Notifier:
    """See the module docstring."""

    def __init__(self, urls: Sequence[str], *, clock: Clock | None = None,
                 limits: dict[str, RateLimit] | None = None, queue_size: int = 100,
                 secrets: Iterable[str] = (), redact: Callable[[str], str] | None = None,
                 tag: str = "trade") -> None:
        if not urls:
            raise NotifyConfigError("no notification URLs given")
        for url in urls:  # validated here, on the caller's thread, with a throwaway object
            if not apprise.Apprise().add(url):
                raise NotifyConfigError(f"not a notification URL apprise knows: "
                                        f"{redact_url(url)}")
        self._urls = list(urls)
        self.targets = [redact_url(u) for u in urls]  # what logs may show
        self.clock: Clock = clock or WallClock()
        self.limiter = KindLimiter(self.clock, limits)
        self.scrubber = Scrubber(secrets, redact)
        for url in urls:
            for part in url_secrets(url):
                self.scrubber.add(part)
        self.tag = tag
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self.sent = 0  # messages apprise delivered (worker)
        self.failed = 0  # messages apprise could not deliver (worker)
        self.accepted = 0  # messages queued (callers)
        self.counts: Counter[str] = Counter()  # fills/rejections seen, for the daily summary
        self._closing = threading.Event()
        self._day: int | None = None
        self._day_open_equity: float | None = None
        self._last_equity: float | None = None
        self._conn: dict[str, str] = {}
        self._worker = threading.Thread(target=self._run, name="notify-worker", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------ any thread
    def __call__(self, kind: str, fields: Mapping[str, Any]) -> None:
        """`LiveSession.on_notify`: `session.on_notify = notifier`."""
        self.notify(kind, fields)

    def notify(self, kind: str, fields: Mapping[str, Any] | None = None, *,
               text: str = "") -> bool:
        """Queue one message; True if queued. Never waits, never raises on delivery."""
        if self._closing.is_set():
            return False
        category = CATEGORY.get(kind, kind)
        if not self.limiter.allow(category):
            return False  # counted by the limiter; summarised in the next message
        body_lines = [text] if text else []
        body_lines += [f"{k}: {_fmt(v)}" for k, v in (fields or {}).items()]
        dropped = self.limiter.take_dropped()
        if dropped:
            listed = ", ".join(f"{k} {n}" for k, n in sorted(dropped.items()))
            body_lines.append(f"(not sent since the last message, rate-limited or queue "
                              f"full: {listed})")
        msg = Message(category, self.scrubber.scrub(f"{self.tag}: {kind}"),
                      self.scrubber.scrub("\n".join(body_lines) or kind))
        try:
            self._queue.put_nowait(msg)
        except queue.Full:
            # the worker is behind (a slow or hung receiver): drop, count, never wait
            self.limiter.give_back(dropped)  # the summary goes with the next message
            self.limiter.count_dropped(category)
            return False
        with self._lock:
            self.accepted += 1
        return True

    def on_events(self, events: Iterable[AdapterEvent]) -> None:
        """Fills and rejections from an adapter's drained events."""
        for ev in events:
            if isinstance(ev, FillEvent):
                f = ev.fill
                with self._lock:
                    self.counts["fill"] += 1
                self.notify("fill", {"symbol": f.symbol, "side": f.side.bybit, "qty": f.qty,
                                     "price": f.price, "fee": f.fee,
                                     "exec_type": f.exec_type.name.lower(),
                                     "closed_pnl": f.closed_pnl})
            elif isinstance(ev, OrderUpdate) and ev.order.status is OrderStatus.REJECTED:
                o = ev.order
                with self._lock:
                    self.counts["rejection"] += 1
                self.notify("rejection", {"symbol": o.request.symbol,
                                          "side": o.request.side.bybit, "qty": o.request.qty,
                                          "reason": o.reject_reason})

    def on_state(self, state: Mapping[str, Any]) -> None:
        """A `LiveRunner` listener: a reconnect when a stream comes back to `subscribed`
        after being away; a daily summary when a bar of a new UTC day arrives."""
        for stream, value in dict(state.get("connection") or {}).items():
            if stream.endswith("_message_age_s"):
                continue
            before = self._conn.get(stream)
            self._conn[stream] = str(value)
            # a reconnect = back to subscribed from a state that was not subscribed
            if str(value) == "subscribed" and before not in (None, "subscribed"):
                self.notify("reconnect", {"stream": stream, "was": before})
        ts, equity = state.get("ts"), state.get("equity")
        if isinstance(ts, int) and isinstance(equity, int | float):
            day = ts // DAY_MS
            if self._day is not None and day > self._day and self._last_equity is not None:
                self.summary(self._day, self._day_open_equity or self._last_equity,
                             self._last_equity)
                self._day_open_equity = self._last_equity
            if self._day is None:
                self._day_open_equity = float(equity)
            self._day = day if self._day is None else max(day, self._day)
            self._last_equity = float(equity)

    def summary(self, day: int, open_equity: float, close_equity: float) -> bool:
        """The daily summary of UTC day `day` (days since the epoch)."""
        with self._lock:
            counts = dict(self.counts)
            self.counts.clear()
        pnl = close_equity - open_equity
        return self.notify("summary", {
            "day": _day_text(day), "equity_open": round(open_equity, 2),
            "equity_close": round(close_equity, 2), "pnl": round(pnl, 2),
            "fills": counts.get("fill", 0), "rejections": counts.get("rejection", 0),
            "dropped_total": sum(self.limiter.dropped_total.values())})

    def close(self, timeout_s: float = 10.0) -> bool:
        """Deliver what is queued, then stop the worker; True if it stopped in time."""
        self._closing.set()
        # a full queue: the worker checks `_closing` once the queue is empty
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._worker.join(timeout_s)
        return not self._worker.is_alive()

    def wrap(self, adapter: ExchangeAdapter) -> NotifyingAdapter:
        """`adapter` with its fills and rejections sent here (see NotifyingAdapter)."""
        return NotifyingAdapter(adapter, self)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ worker thread
    def _run(self) -> None:
        sender = apprise.Apprise()  # owned by this thread alone
        sender.add(self._urls)
        while True:
            msg = self._queue.get()
            if msg is _STOP:
                return
            self._deliver(sender, msg)
            if self._closing.is_set() and self._queue.empty():
                return

    def _deliver(self, sender: apprise.Apprise, msg: Message) -> None:
        try:
            ok = bool(sender.notify(body=msg.body, title=msg.title,
                                    notify_type=_APPRISE_TYPE.get(msg.kind,
                                                                  apprise.NotifyType.INFO)))
        except Exception:  # a plugin's failure must not end the worker: logged, counted
            log.exception("notification %r to %s raised; it is dropped", msg.title,
                          self.targets)
            ok = False
        else:
            if not ok:
                log.warning("notification %r could not be delivered to %s", msg.title,
                            self.targets)
        with self._lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1


def _day_text(day: int) -> str:
    import datetime as dt

    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def chain_listeners(*listeners: Callable[[dict[str, Any]], None] | None
                    ) -> Callable[[dict[str, Any]], None] | None:
    """One `LiveRunner` listener calling each given one in turn.

    Parameters
    ----------
    *listeners : callable or None
        State listeners; None ones are skipped.

    Returns
    -------
    callable or None
        None when none was given, the one itself when one was.
    """
    given = [f for f in listeners if f is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def both(state: dict[str, Any]) -> None:
        for f in given:
            f(state)

    return both


def notifier_from_env(*, clock: Clock | None = None, path: Path | None = None,
                      secrets: Iterable[str] = (),
                      redact: Callable[[str], str] | None = None) -> Notifier | None:
    """A `Notifier` from `path` / `$TRADE_NOTIFY_FILE` / `$TRADE_NOTIFY_URLS`.

    Parameters
    ----------
    clock : Clock, optional
        For rate limits (default: the wall clock).
    path : Path, optional
        A 0600 file of URLs, one a line.
    secrets : iterable of str
        More strings to mask in every message.
    redact : callable, optional
        Applied to every message (the live stack passes `trade.live.redact`).

    Returns
    -------
    Notifier or None
        None when no URL is configured.

    Raises
    ------
    NotifyConfigError
        A bad file or URL (one line, the secret parts masked).
    """
    from trade.notify.config import load_urls

    urls = load_urls(path)
    if not urls:
        return None
    return Notifier(urls, clock=clock, secrets=secrets, redact=redact)


__all__ = ["CATEGORY", "Message", "Notifier", "chain_listeners", "notifier_from_env"]
