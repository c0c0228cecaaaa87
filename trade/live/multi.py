"""Several Plays in one process on one account: one `LiveRunner` per Play, each on its own
engine thread, with an `AccountGuard` over all of them.

Each Play keeps everything a single run has: its own session (streams, REST workers, book,
executor), its own journal, its own risk limits, the same protection, stale-bar, catch-up
and restart rules, and its engine thread owns its state exactly as in a single run. The
Plays meet only in the account guard (trade.live.account) and, on one exchange account, in
the wallet their orders are margined from. Two Plays may not trade the same symbol (one-way
mode: they would share one position).

Failure policy: a Play whose runner fails (an exception out of `LiveRunner.run`) is
reported at once (log ERROR, a `play_failed` record in every other Play's journal, a
notification) and the others **keep running**: stopping them would not close their
positions, it would only leave those positions without break-even, exits and the
protection-failure close. `run()` returns when every Play has ended; `failed` names the
failures, and the CLI exits non-zero.

Control (`control(action, play)`, `trade ctl`): status, pause, resume, flatten run on each
target Play's engine thread (`LiveSession.call`) and are journaled there; stop ends that Play
(or all). Threading: `run()` on one thread (it starts and joins the engine threads);
`stop`, `control`, `status` from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trade.core import InputError
from trade.live.account import AccountGuard
from trade.live.runner import LiveRunner, RunSummary
from trade.notify import Notifier

log = logging.getLogger(__name__)
ACTIONS = ("status", "pause", "resume", "stop", "flatten")


@dataclass(slots=True)
class PlayOutcome:
    """How one Play's run ended."""

    name: str
    summary: RunSummary | None = None
    error: BaseException | None = None


@dataclass(slots=True)
class MultiSummary:
    outcomes: list[PlayOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[PlayOutcome]:
        return [o for o in self.outcomes if o.error is not None]


class MultiRunner:
    """See the module docstring."""

    def __init__(self, runners: Sequence[LiveRunner], *, account: AccountGuard | None = None,
                 notifier: Notifier | None = None, call_timeout_s: float = 10.0) -> None:
        names = [r.name for r in runners]
        if len(set(names)) != len(names):
            raise InputError(f"two Plays share a name: {names}")
        symbols = [r.config.symbol for r in runners]
        for sym in symbols:
            if symbols.count(sym) > 1:
                raise InputError(f"two Plays trade {sym}: on one account they would share "
                                 "one position; run them in separate accounts")
        self.runners = list(runners)
        self.account = account
        self.notifier = notifier
        self.call_timeout_s = call_timeout_s
        self._threads: list[threading.Thread] = []
        self._outcomes = {r.name: PlayOutcome(r.name) for r in runners}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        if account is not None:
            account.on_trip = self._tripped

    # ------------------------------------------------------------ any thread
    def runner(self, name: str) -> LiveRunner:
        for r in self.runners:
            if r.name == name or r.config.symbol == name:
                return r
        raise InputError(f"no Play {name!r} in this run (running: "
                         f"{', '.join(r.name for r in self.runners)})")

    def stop(self) -> None:
        self._stopping.set()
        for r in self.runners:
            r.stop()

    def _tripped(self, reason: str) -> None:
        """The account guard tripped (on some Play's engine thread): every Play journals it
        on its own engine thread, and it is notified once."""
        log.error("account limit tripped: %s: every Play stops opening positions", reason)
        for r in self.runners:
            session = r.session
            if session is not None:
                from trade.live.events import Deferred

                session.post(Deferred(lambda r=r: r.note_account_halt(reason)))

    def control(self, action: str, play: str | None = None) -> dict[str, Any]:
        """Apply a `trade ctl` action to one Play (`play`: its name or symbol) or to all;
        returns what each Play says (status) or the error it gave."""
        if action not in ACTIONS:
            raise InputError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        targets = [self.runner(play)] if play else list(self.runners)
        out: dict[str, Any] = {}
        for r in targets:
            out[r.name] = self._one(r, action)
        result: dict[str, Any] = {"action": action, "plays": out}
        if self.account is not None:
            result["account"] = self.account.snapshot()
        return result

    def _one(self, r: LiveRunner, action: str) -> dict[str, Any]:
        outcome = self._outcomes[r.name]
        with self._lock:
            ended = outcome.summary is not None or outcome.error is not None
            error = outcome.error
        base = {"play": r.name, "symbol": r.config.symbol, "mode": r.config.mode}
        if ended:
            return base | {"state": f"failed: {error}" if error else "stopped"}
        session = r.session
        if action == "stop":
            if session is not None:
                session.journal.write("ctl", play=r.name, action="stop", by="ctl")
            r.stop()
            return base | {"state": "stopping"}
        if session is None or not r.ready.is_set():
            return base | {"state": "starting"}
        try:
            status: dict[str, Any] = session.call(lambda: r.control(action),
                                                  timeout_s=self.call_timeout_s)
        except TimeoutError:
            return base | {"state": "busy: the engine thread did not answer in time"}
        except InputError as exc:
            return base | {"error": str(exc)}
        return status | {"state": "running"}

    # ------------------------------------------------------------ the calling thread
    def run(self) -> MultiSummary:
        """Start every Play's engine thread and wait for all of them to end."""
        for r in self.runners:
            t = threading.Thread(target=self._run_one, args=(r,), name=f"live-engine-{r.name}")
            self._threads.append(t)
            t.start()
        for t in self._threads:
            while t.is_alive():
                t.join(0.2)  # short joins: the main thread stays free for signals
        return MultiSummary([self._outcomes[r.name] for r in self.runners])

    def _run_one(self, r: LiveRunner) -> None:
        outcome = self._outcomes[r.name]
        try:
            summary = r.run()
        except BaseException as exc:  # noqa: BLE001 - reported below and by the CLI's exit
            with self._lock:
                outcome.error = exc
            self._failed(r, exc)
            return
        with self._lock:
            outcome.summary = summary

    def _failed(self, r: LiveRunner, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        log.error("Play %s (%s) failed: %s; the other Plays keep running", r.name,
                  r.config.symbol, message)
        if self._stopping.is_set():
            return
        for other in self.runners:
            if other is r or other.session is None:
                continue
            other.session.journal.write("play_failed", play=r.name, symbol=r.config.symbol,
                                        error=message)
        if self.notifier is not None:
            self.notifier("play_failed", {"play": r.name, "symbol": r.config.symbol,
                                          "error": message})


__all__ = ["ACTIONS", "MultiRunner", "MultiSummary", "PlayOutcome"]
