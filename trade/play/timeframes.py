"""Bybit kline intervals and duration strings."""

from __future__ import annotations

import re

from trade.core.errors import InputError

MINUTE_MS = 60_000

#: Valid Bybit intervals, in minutes (M is counted as 30 days for ordering only).
INTERVAL_MINUTES: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "12h": 720,
    "D": 1440,
    "W": 10080,
    "M": 43200,
}

ROLES: tuple[str, ...] = ("low_tf", "med_tf", "high_tf")

_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_UNIT_MIN = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def interval_ms(interval: str) -> int:
    """Milliseconds of one bar of a Bybit interval.

    Parameters
    ----------
    interval : str
        A Play interval: ``1m`` ... ``12h``, ``D``, ``W``, ``M`` (M counts 30 days).

    Returns
    -------
    int

    Raises
    ------
    InputError
        `interval` is not a Bybit interval.
    """
    try:
        return INTERVAL_MINUTES[interval] * MINUTE_MS
    except KeyError:
        raise InputError(f"unknown interval {interval!r}") from None


def parse_duration_ms(text: str) -> int:
    """A duration in milliseconds: ``"4h"`` -> 14_400_000.

    Parameters
    ----------
    text : str
        ``<n>m``, ``<n>h``, ``<n>d`` or ``<n>w`` with n > 0, or the intervals ``D`` / ``W``.

    Returns
    -------
    int

    Raises
    ------
    InputError
        `text` is not such a duration.
    """
    if text in ("D", "W"):
        return interval_ms(text)
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) <= 0:
        raise InputError(f"invalid duration {text!r}, expected e.g. '30m', '4h', '1d'")
    return int(m.group(1)) * _DURATION_UNIT_MIN[m.group(2).lower()] * MINUTE_MS
