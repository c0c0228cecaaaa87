"""Bybit kline intervals: names, aliases, lengths and UTC bucket alignment."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trade.core.errors import InputError

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; the first Monday 00:00 UTC is 4 days after the epoch.
_MONDAY_OFFSET_MS = 4 * DAY_MS

MINUTE_INTERVALS: tuple[str, ...] = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720")
#: Bybit's kline interval names (minutes, then day, week, month)
INTERVALS: tuple[str, ...] = (*MINUTE_INTERVALS, "D", "W", "M")

_ALIASES: dict[str, str] = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "60m": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "d": "D",
    "1w": "W",
    "w": "W",
    "1mo": "M",
    "1mon": "M",
}


def normalize_interval(interval: str | int) -> str:
    """The Bybit name of an interval or one of its aliases.

    Aliases: 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d (and 1w, 1mo). "M" means month,
    "m" suffixes mean minutes.

    Parameters
    ----------
    interval : str or int
        E.g. ``"15m"``, ``15``, ``"15"``, ``"1d"``, ``"D"``.

    Returns
    -------
    str
        ``"1"`` .. ``"720"``, ``"D"``, ``"W"`` or ``"M"``.

    Raises
    ------
    InputError
        Neither a Bybit interval nor an alias.
    """
    text = str(interval).strip()
    if text in INTERVALS:
        return text
    key = text if text == "M" else text.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise InputError(
        f"unknown interval {interval!r}: use one of {', '.join(INTERVALS)} "
        "or an alias 1m/3m/5m/15m/30m/1h/2h/4h/6h/12h/1d"
    )


def interval_ms(interval: str | int) -> int:
    """Nominal length of one bar in ms.

    A month counts 30 days here (its true length varies); use `bucket_start` /
    `bucket_end` for exact month edges.

    Parameters
    ----------
    interval : str or int
        A Bybit interval or alias (`normalize_interval`).

    Returns
    -------
    int

    Raises
    ------
    InputError
        `interval` is not an interval.
    """
    name = normalize_interval(interval)
    if name == "D":
        return DAY_MS
    if name == "W":
        return WEEK_MS
    if name == "M":
        return 30 * DAY_MS
    return int(name) * MINUTE_MS


def bucket_start(ts_ms: npt.NDArray[np.int64], interval: str | int) -> npt.NDArray[np.int64]:
    """Open time (UTC ms) of the bar of `interval` that contains each timestamp.

    Minute intervals and D align to the epoch (so 4h bars open at 00, 04, ... UTC, as
    Bybit's do); W opens Monday 00:00 UTC; M opens on the 1st of the month 00:00 UTC.

    Parameters
    ----------
    ts_ms : numpy.ndarray of int64
        Timestamps in ms since the epoch.
    interval : str or int
        A Bybit interval or alias (`normalize_interval`).

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    InputError
        `interval` is not an interval.
    """
    name = normalize_interval(interval)
    ts = np.asarray(ts_ms, dtype=np.int64)
    if name == "M":
        return ts.astype("datetime64[ms]").astype("datetime64[M]").astype("datetime64[ms]").astype(
            np.int64
        )
    if name == "W":
        # weeks start Monday 00:00 UTC, like Bybit's weekly klines
        return ((ts - _MONDAY_OFFSET_MS) // WEEK_MS) * WEEK_MS + _MONDAY_OFFSET_MS
    step = interval_ms(name)
    return (ts // step) * step


def bucket_end(start_ms: npt.NDArray[np.int64], interval: str | int) -> npt.NDArray[np.int64]:
    """Close time (exclusive, UTC ms) of bars that open at `start_ms`.

    Parameters
    ----------
    start_ms : numpy.ndarray of int64
        Bar open times (as from `bucket_start`).
    interval : str or int
        A Bybit interval or alias (`normalize_interval`); months end on the next 1st.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    InputError
        `interval` is not an interval.
    """
    name = normalize_interval(interval)
    start = np.asarray(start_ms, dtype=np.int64)
    if name == "M":
        months = start.astype("datetime64[ms]").astype("datetime64[M]") + np.timedelta64(1, "M")
        return months.astype("datetime64[ms]").astype(np.int64)
    return start + interval_ms(name)
