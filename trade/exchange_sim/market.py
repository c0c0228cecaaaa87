"""Replayed 1m history: kline aggregation, tickers, funding history, a synthetic order book.

Only *closed* 1m bars are visible: a bar whose open time is `ts` becomes visible once the
market clock reaches `ts + 60_000`, so nothing the server publishes looks ahead.
Higher intervals are aggregated from the visible 1m bars; the newest bucket may be partial
(Bybit's running candle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core import InputError

MINUTE_MS = 60_000
FUNDING_PERIOD_MS = 8 * 3_600_000
_WEEK_MS = 7 * 86_400_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday; Bybit weeks start on Monday
INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def interval_minutes(interval: str) -> int:
    """Nominal length of an interval in minutes (a month counts 31 days, an upper bound)."""
    if interval == "D":
        return 1440
    if interval == "W":
        return 7 * 1440
    if interval == "M":
        return 31 * 1440
    return int(interval)


def bucket_floor(ts: I64, interval: str) -> I64:
    """Open time of the interval bucket that contains each timestamp (UTC)."""
    if interval == "M":
        months = ts.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype(np.int64)
    if interval == "W":
        shifted = ts - _MONDAY_OFFSET_MS
        return shifted - shifted % _WEEK_MS + _MONDAY_OFFSET_MS
    length = interval_minutes(interval) * MINUTE_MS
    return ts - ts % length


def bucket_end(start: int, interval: str) -> int:
    """Open time of the bucket after the one starting at `start`."""
    if interval == "M":
        month = np.array([start], dtype=np.int64).astype("datetime64[ms]").astype("datetime64[M]")
        return int((month + 1).astype("datetime64[ms]").astype(np.int64)[0])
    return start + interval_minutes(interval) * MINUTE_MS


@dataclass(frozen=True, slots=True)
class KlineRow:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float


def _column(table: pa.Table, name: str) -> F64 | None:
    if name not in table.column_names:
        return None
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _required(table: pa.Table, name: str) -> F64:
    col = _column(table, name)
    assert col is not None
    return col


class MarketData:
    """1m bars of one symbol, validated once; read-only afterwards (safe to share).

    Holds the bar columns as arrays (optional volume, turnover, mark price, funding rate
    and open interest) and answers the public endpoints: klines of any interval, tickers,
    funding history, open interest. `funding_rate` is the constant rate used where the
    bars carry none. Construction raises InputError for an empty table or a missing OHLC
    column."""

    def __init__(self, symbol: str, bars: pa.Table, *, funding_rate: float = 0.0) -> None:
        if bars.num_rows == 0:
            raise InputError(f"no bars for {symbol}: the replay needs at least one 1m bar")
        missing = [c for c in ("ts", "open", "high", "low", "close") if c not in bars.column_names]
        if missing:
            raise InputError(f"bars table for {symbol} lacks column(s) {missing}")
        self.symbol = symbol
        self.ts: I64 = np.asarray(bars.column("ts").to_numpy(zero_copy_only=False)).astype(np.int64)
        self.open: F64 = _required(bars, "open")
        self.high: F64 = _required(bars, "high")
        self.low: F64 = _required(bars, "low")
        self.close: F64 = _required(bars, "close")
        n = len(self.ts)
        vol = _column(bars, "volume")
        self.volume: F64 = vol if vol is not None else np.zeros(n)
        turnover = _column(bars, "turnover")
        self.turnover: F64 = turnover if turnover is not None else self.volume * self.close
        self.mark: F64 | None = _column(bars, "mark_price")
        self.funding: F64 | None = _column(bars, "funding_rate")
        self.open_interest: F64 | None = _column(bars, "open_interest")
        self.funding_rate = float(funding_rate)
        self._validate()

    def _validate(self) -> None:
        ts = self.ts
        diffs = np.diff(ts)
        if np.any(diffs <= 0):
            row = int(np.argmax(diffs <= 0)) + 1
            raise InputError(f"{self.symbol} bars: ts not strictly increasing at row {row}")
        if np.any(ts % MINUTE_MS != 0):
            row = int(np.argmax(ts % MINUTE_MS != 0))
            raise InputError(f"{self.symbol} bars: ts at row {row} is not on a minute boundary")
        for name in ("open", "high", "low", "close"):
            col = getattr(self, name)
            bad = ~np.isfinite(col) | (col <= 0)
            if np.any(bad):
                raise InputError(f"{self.symbol} bars: bad {name} at row {int(np.argmax(bad))}")
        bad = self.high < np.maximum(self.open, self.close)
        bad |= self.low > np.minimum(self.open, self.close)
        if np.any(bad):
            row = int(np.argmax(bad))
            raise InputError(f"{self.symbol} bars: high/low inconsistent at row {row}")

    # --- time ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ts)

    @property
    def first_ts(self) -> int:
        """Open time (ms) of the first bar."""
        return int(self.ts[0])

    @property
    def end_ms(self) -> int:
        """Close time of the last bar: the market clock at which all history is visible."""
        return int(self.ts[-1]) + MINUTE_MS

    def closed_count(self, now_ms: int) -> int:
        """How many bars have closed by `now_ms`."""
        return int(np.searchsorted(self.ts, now_ms - MINUTE_MS, side="right"))

    def bar(self, i: int) -> tuple[int, float, float, float, float, float]:
        """Bar `i` as (ts, open, high, low, close, volume)."""
        return (
            int(self.ts[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )

    def mark_price(self, i: int) -> float:
        """The mark price at bar `i`'s close: the mark column where finite, else the close."""
        if self.mark is not None and math.isfinite(self.mark[i]):
            return float(self.mark[i])
        return float(self.close[i])

    def funding_rate_at(self, i: int) -> float:
        """The funding rate settled at bar i's close (if that close is an 8h mark)."""
        if self.funding is not None and math.isfinite(self.funding[i]):
            return float(self.funding[i])
        return self.funding_rate

    # --- klines ---------------------------------------------------------------------
    def klines(
        self,
        interval: str,
        *,
        visible: int,
        start: int | None,
        end: int | None,
        limit: int,
        mark: bool = False,
    ) -> list[KlineRow]:
        """Bybit's kline window, newest first.

        `end` given (with or without `start`): the newest `limit` candles opening in
        [start, end]. Only `start`: the oldest `limit` candles from `start` on. Neither:
        the newest `limit` candles.
        """
        ts = self.ts[:visible]
        if len(ts) == 0:
            return []
        per_bucket = interval_minutes(interval)
        i0 = 0
        i1 = len(ts)
        if start is not None:
            floor = int(bucket_floor(np.array([start], dtype=np.int64), interval)[0])
            i0 = int(np.searchsorted(ts, floor, side="left"))
        if end is not None:
            i1 = int(np.searchsorted(ts, bucket_end(end, interval), side="left"))
        take_newest = end is not None or start is None
        span = (limit + 1) * per_bucket
        if take_newest:
            i0 = max(i0, i1 - span)
        else:
            i1 = min(i1, i0 + span)
        if i1 <= i0:
            return []
        seg = slice(i0, i1)
        keys = bucket_floor(ts[seg], interval)
        starts_idx = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        o_src, h_src, l_src, c_src = self.open, self.high, self.low, self.close
        if mark and self.mark is not None:
            o_src = h_src = l_src = c_src = self.mark
        ends_idx = np.r_[starts_idx[1:], len(keys)] - 1
        opens = o_src[seg][starts_idx]
        closes = c_src[seg][ends_idx]
        highs = np.maximum.reduceat(h_src[seg], starts_idx)
        lows = np.minimum.reduceat(l_src[seg], starts_idx)
        vols = np.add.reduceat(self.volume[seg], starts_idx)
        turns = np.add.reduceat(self.turnover[seg], starts_idx)
        rows = [
            KlineRow(int(keys[s]), float(o), float(h), float(lo), float(c), float(v), float(t))
            for s, o, h, lo, c, v, t in zip(
                starts_idx, opens, highs, lows, closes, vols, turns, strict=True
            )
        ]
        rows = [
            r
            for r in rows
            if (start is None or r.start >= start) and (end is None or r.start <= end)
        ]
        rows = rows[-limit:] if take_newest else rows[:limit]
        rows.reverse()
        return rows

    # --- funding ------------------------------------------------------------------
    def funding_history(
        self, *, now_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[tuple[int, float]]:
        """Settlements (time, rate) newest first, for 8h marks within the visible history."""
        visible = self.closed_count(now_ms)
        if visible == 0:
            return []
        last_close = int(self.ts[visible - 1]) + MINUTE_MS
        hi = last_close if end is None else min(end, last_close)
        lo = self.first_ts + MINUTE_MS if start is None else max(start, self.first_ts + MINUTE_MS)
        first_mark = -(-lo // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
        out: list[tuple[int, float]] = []
        t = hi - hi % FUNDING_PERIOD_MS
        while t >= first_mark and len(out) < limit:
            i = int(np.searchsorted(self.ts, t - MINUTE_MS, side="left"))
            rate = self.funding_rate
            if i < len(self.ts) and int(self.ts[i]) == t - MINUTE_MS:
                rate = self.funding_rate_at(i)
            out.append((t, rate))
            t -= FUNDING_PERIOD_MS
        return out

    def open_interest_at(self, i: int) -> float:
        """Open interest known at the close of bar `i` (0 where the replay has none)."""
        oi = self.open_interest
        if oi is None or not math.isfinite(oi[i]):
            return 0.0
        return float(oi[i])

    # --- tickers / book ------------------------------------------------------------
    def ticker(self, i: int, now_ms: int, tick: float) -> dict[str, Any]:
        """The Bybit V5 linear ticker after bar `i` closed, as `/v5/market/tickers` and the
        `tickers.` topic send it: 24h and 1h figures over the bars up to `i`, mark, open
        interest, the next funding time after `now_ms` and its rate, and a synthetic best
        bid/ask one `tick` either side of the last price."""
        from trade.exchange_sim.protocol import num

        lo = max(0, i - 1439)
        prev = float(self.close[lo - 1]) if lo > 0 else float(self.open[0])
        prev_1h = float(self.close[i - 60]) if i >= 60 else float(self.open[0])
        last = float(self.close[i])
        pcnt = (last - prev) / prev if prev else 0.0
        next_funding = (now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
        j = int(np.searchsorted(self.ts, next_funding - MINUTE_MS, side="left"))
        rate = self.funding_rate_at(j) if j < len(self.ts) else self.funding_rate
        prev_close = float(self.close[i - 1]) if i > 0 else float(self.open[i])
        return {
            "symbol": self.symbol,
            "tickDirection": "PlusTick" if last >= prev_close else "MinusTick",
            "price24hPcnt": num(round(pcnt, 6)),
            "lastPrice": num(last),
            "prevPrice24h": num(prev),
            "highPrice24h": num(float(np.max(self.high[lo : i + 1]))),
            "lowPrice24h": num(float(np.min(self.low[lo : i + 1]))),
            "prevPrice1h": num(prev_1h),
            "markPrice": num(self.mark_price(i)),
            "indexPrice": num(last),
            "openInterest": num(self.open_interest_at(i)),
            "openInterestValue": num(round(self.open_interest_at(i) * last, 4)),
            "turnover24h": num(round(float(np.sum(self.turnover[lo : i + 1])), 4)),
            "volume24h": num(round(float(np.sum(self.volume[lo : i + 1])), 6)),
            "nextFundingTime": str(next_funding),
            "fundingRate": num(rate),
            "bid1Price": num(round(last - tick, 10)),
            "bid1Size": "1",
            "ask1Price": num(round(last + tick, 10)),
            "ask1Size": "1",
        }
