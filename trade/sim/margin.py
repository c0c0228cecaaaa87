"""Margin stress of a run, measured on every 1m bar: the figures a leveraged trader ranks on.

`MarginRisk` is what a run reports (the whole run, or one segment of a sweep); the compiled
batch runner records it in its nogil loop, and `MarginTracker` is the readable twin that the
batch driver and the bar-by-bar (event) backtest feed from any step engine's public state.
The differential tests hold the two together.

Definitions, per 1m bar after rules 1-7 (docs/fill_model.md), over the bars that end with a
position open (a bar with no position counts for none of them):

* equity = wallet balance + unrealised PnL at the bar's mark (its close when the data has no
  mark), used margin = position margin + margin reserved by resting orders;
* margin ratio = equity / used margin; its minimum is `min_margin_ratio`;
* a margin-call bar is one whose equity is below its used margin (`margin_call_bars`);
* liquidation distance = how far the bar's adverse extreme (its low for a long, its high for
  a short) stayed from the position's liquidation price, in percent of that extreme:
  100 - 100 x liq / low (long), 100 x liq / high - 100 (short); its minimum is
  `closest_liquidation_pct` (a bar that reaches the liquidation price liquidates the
  position and so ends flat: liquidations are counted by the `liquidations` metric);
* gross exposure = position value at the mark / equity x 100; its maximum is
  `max_gross_exposure_pct`;
* every entry order the signals place is an attempt; one the venue rejects (no margin, below
  the minimums) is a rejection.

TRADE reports the same family; where it differs: TRADE samples once per exec bar (here every
1m bar), starts its minimum margin ratio at 1.0 (so it reports 1.0 unless equity fell below
the used margin; here the true minimum), and measures liquidation proximity as the equity's
buffer over the maintenance margin at the mark (here the price distance at the bar's extreme,
the price the liquidation rule itself tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: MarginRisk's fields in the order of the kernel's output columns
MARGIN_FIELDS: tuple[str, ...] = (
    "min_margin_ratio",
    "margin_call_bars",
    "closest_liquidation_pct",
    "max_gross_exposure_pct",
    "entry_attempts",
    "entry_rejections",
)


@dataclass(frozen=True, slots=True)
class MarginRisk:
    """Margin stress of a run or a segment (see the module docstring for each definition).

    `min_margin_ratio` and `closest_liquidation_pct` are NaN when no bar ended with a
    position (or, for the ratio, no margin was in use); `max_gross_exposure_pct` is 0 then.
    Immutable."""

    min_margin_ratio: float
    margin_call_bars: int
    closest_liquidation_pct: float
    max_gross_exposure_pct: float
    entry_attempts: int
    entry_rejections: int

    @property
    def entry_rejection_rate(self) -> float:
        """Rejected entries / entry attempts (NaN without an attempt)."""
        if self.entry_attempts == 0:
            return math.nan
        return self.entry_rejections / self.entry_attempts

    @classmethod
    def from_row(cls, row: tuple[float, ...] | list[float]) -> MarginRisk:
        """Build from the kernel's row of MARGIN_FIELDS (counts come back as floats)."""
        ratio, calls, dist, expo, attempts, rejects = (float(x) for x in row)
        return cls(
            min_margin_ratio=ratio if math.isfinite(ratio) else math.nan,
            margin_call_bars=int(calls),
            closest_liquidation_pct=dist if math.isfinite(dist) else math.nan,
            max_gross_exposure_pct=expo,
            entry_attempts=int(attempts),
            entry_rejections=int(rejects),
        )


class MarginTracker:
    """Accumulates MarginRisk bar by bar from a step engine's public state.

    Not thread-safe: the thread that drives the engine owns the tracker."""

    def __init__(self) -> None:
        self._ratio = math.inf
        self._calls = 0
        self._dist = math.inf
        self._expo = 0.0
        self._attempts = 0
        self._rejects = 0

    def on_bar(self, *, equity: float, used_margin: float, side: int, size: float,
               mark: float, liq_price: float, low: float, high: float) -> None:
        """Record one 1m bar after its rules; `side` 0 (flat) records nothing."""
        if side == 0:
            return
        if used_margin > 0.0:
            ratio = equity / used_margin
            if ratio < self._ratio:
                self._ratio = ratio
        if equity < used_margin:
            self._calls += 1
        # the adverse extreme's distance from the liquidation price, in % of the extreme
        dist = 100.0 - 100.0 * liq_price / low if side > 0 else 100.0 * liq_price / high - 100.0
        if dist < self._dist:
            self._dist = dist
        if equity > 0.0:
            expo = size * mark / equity * 100.0
            if expo > self._expo:
                self._expo = expo

    def on_entry(self, *, rejected: bool) -> None:
        """Record one entry order placed by the signals (and whether it was rejected)."""
        self._attempts += 1
        if rejected:
            self._rejects += 1

    def result(self) -> MarginRisk:
        """The figures so far."""
        return MarginRisk.from_row(
            (self._ratio, self._calls, self._dist, self._expo, self._attempts, self._rejects)
        )
