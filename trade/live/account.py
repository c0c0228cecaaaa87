"""Account-level limits over every Play of one `trade run` process (one account).

Each Play's runner reports its part of the account at every decision (`AccountGuard.report`:
its wallet, its position's unrealized PnL and notional marked to the bar's close) and asks
`AccountGuard.blocked()` whether new entries may go out. The guard sums the parts:

* account equity: on a shared wallet (demo/live: one Bybit account) the newest wallet
  balance reported plus every Play's unrealized PnL; on separate wallets (paper: each Play
  has its own simulated account) the sum of the Plays' equities;
* gross exposure: the sum of every Play's |position| x close.

Limits (`AccountLimits`, 0 / None disables one):

* `max_gross_notional`: while the gross exposure is at or above it, entries are held (a
  gate, not a latch: it opens again when positions shrink; measured at each decision, so
  one entry may overshoot by its own size);
* `daily_loss_usdt` / `daily_loss_pct`: loss since the UTC day's first account equity
  reading; trips a latch that re-arms at the next UTC day;
* `max_drawdown_pct`: account equity this far below its running peak; latched for the run.

A tripped latch calls `on_trip(reason)` once (the multi-Play runner journals it in every
Play's journal and notifies). Exits, brackets and protection are never held by the guard.

State is not persisted: after a restart the day's first reading and the peak start again.

Threading: every method may be called from any thread (one lock); `on_trip` is called on
the reporting thread, outside the lock. The daily loss and drawdown are measured once every
Play (`plays`) has reported, so the day's first reading is the whole account's.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trade.core import InputError

DAY_MS = 86_400_000
_FIELDS = ("max_gross_notional", "daily_loss_usdt", "daily_loss_pct", "max_drawdown_pct")


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """Limits over every Play of the process; 0 / None disables one."""

    max_gross_notional: float | None = None
    daily_loss_usdt: float | None = None
    daily_loss_pct: float | None = None
    max_drawdown_pct: float | None = None

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise InputError(f"account limit {name} must be a number >= 0, got {value!r}")

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, name) for name in _FIELDS)


def load_account_limits(path: Path) -> AccountLimits:
    """Account limits from a YAML file of `name: number` lines (the `AccountLimits` fields).

    Parameters
    ----------
    path : Path
        The file, e.g. ``max_gross_notional: 20000`` and ``daily_loss_pct: 3``.

    Returns
    -------
    AccountLimits

    Raises
    ------
    InputError
        The file is missing, not a mapping, names an unknown limit or a value is not a
        number >= 0.
    """
    from trade.core.safe_yaml import safe_load

    if not path.is_file():
        raise InputError(f"--account-limits {path}: no such file")
    data = safe_load(path.read_text(encoding="utf-8"), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"--account-limits {path}: expected a mapping of limits")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise InputError(f"--account-limits {path}: unknown limit {unknown[0]!r} (known: "
                         f"{', '.join(_FIELDS)})")
    values: dict[str, float | None] = {}
    for key, value in data.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputError(f"--account-limits {path}: {key} must be a number, got {value!r}")
        values[str(key)] = None if value is None else float(value)
    return AccountLimits(**values)


@dataclass(slots=True)
class _Part:
    ts: int
    wallet: float
    upnl: float
    equity: float
    notional: float


class AccountGuard:
    """See the module docstring. Any thread."""

    def __init__(self, limits: AccountLimits, *, shared_wallet: bool, plays: int = 1,
                 on_trip: Callable[[str], None] | None = None) -> None:
        self.limits = limits
        self.shared_wallet = shared_wallet
        self.plays = plays  # the loss and drawdown latches count once every Play reported
        self.on_trip = on_trip
        self._lock = threading.Lock()
        self._parts: dict[str, _Part] = {}
        self._wallet_ts = -1
        self._wallet = math.nan
        self._day = -1
        self._day_start = math.nan
        self.peak = -math.inf
        self._latched = ""
        self.trips: list[str] = []

    def report(self, play: str, *, ts: int, wallet: float, upnl: float, equity: float,
               notional: float) -> str:
        """One Play's part of the account at the close `ts` (ms); returns the reason when a
        latch tripped now ("" otherwise). A report with a non-finite equity is ignored."""
        if not all(math.isfinite(x) for x in (wallet, upnl, equity, notional)):
            return ""
        with self._lock:
            self._parts[play] = _Part(ts, wallet, upnl, equity, abs(notional))
            if ts >= self._wallet_ts:
                self._wallet_ts, self._wallet = ts, wallet
            tripped = self._check(ts) if len(self._parts) >= self.plays else ""
        if tripped and self.on_trip is not None:
            self.on_trip(tripped)
        return tripped

    def _equity(self) -> float:
        """The account equity (caller holds the lock)."""
        if self.shared_wallet:
            return self._wallet + sum(p.upnl for p in self._parts.values())
        return sum(p.equity for p in self._parts.values())

    def _gross(self) -> float:
        return sum(p.notional for p in self._parts.values())

    def _check(self, ts: int) -> str:
        lim = self.limits
        equity = self._equity()
        day = ts // DAY_MS
        if day != self._day:
            self._day, self._day_start = day, equity
            if self._latched.startswith("account daily"):
                self._latched = ""  # the daily limit re-arms each UTC day
        self.peak = max(self.peak, equity)
        if self._latched:
            return ""
        loss = self._day_start - equity
        reason = ""
        if lim.daily_loss_usdt and loss >= lim.daily_loss_usdt:
            reason = (f"account daily loss {loss:.2f} USDT >= {lim.daily_loss_usdt:g} USDT "
                      "(all Plays)")
        elif lim.daily_loss_pct and loss >= self._day_start * lim.daily_loss_pct / 100:
            reason = (f"account daily loss {loss:.2f} USDT >= {lim.daily_loss_pct:g}% of "
                      f"{self._day_start:.2f} (all Plays)")
        elif lim.max_drawdown_pct and equity <= self.peak * (1 - lim.max_drawdown_pct / 100):
            reason = (f"account drawdown: equity {equity:.2f} is {lim.max_drawdown_pct:g}% "
                      f"below the peak {self.peak:.2f} (all Plays)")
        if reason:
            self._latched = reason
            self.trips.append(reason)
        return reason

    def blocked(self) -> str:
        """Why no Play may open a position now ("" = they may)."""
        with self._lock:
            if self._latched:
                return self._latched
            cap = self.limits.max_gross_notional
            gross = self._gross()
            if cap and gross >= cap:
                return (f"account gross exposure {gross:.2f} USDT >= {cap:g} USDT "
                        "(all Plays)")
            return ""

    def snapshot(self) -> dict[str, Any]:
        """The account as the guard sees it (status, dashboard)."""
        with self._lock:
            known = bool(self._parts)
            return {"equity": self._equity() if known else None,
                    "gross_notional": self._gross(),
                    "peak": self.peak if math.isfinite(self.peak) else None,
                    "halted": self._latched, "shared_wallet": self.shared_wallet,
                    "limits": {name: getattr(self.limits, name) for name in _FIELDS}}


__all__ = ["AccountGuard", "AccountLimits", "load_account_limits"]
