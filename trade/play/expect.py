"""A Play's `expected:` block checked against a run's metrics (TRADE's validation plays).

`expected: {min_trades: 3, pnl_direction: positive}` states what a run of the Play should
show; `check_expected` compares it with a backtest's metrics, one line per expectation.
Percent fields are percents (`min_win_rate_pct: 40` = 40 %, `max_drawdown_pct: 20`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from trade.play.schema import Expected


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation: what the Play asked, what the run showed, whether it was met."""

    name: str
    wanted: str
    got: str
    ok: bool

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "MISS"
        return f"{mark} {self.name}: wanted {self.wanted}, got {self.got}"


def _num(metrics: Mapping[str, float | int | None], key: str) -> float:
    value = metrics.get(key)
    return math.nan if value is None else float(value)


def check_expected(expected: Expected, metrics: Mapping[str, float | int | None]) -> list[Check]:
    """Each stated expectation against `metrics` (a backtest's metrics.json)."""
    out: list[Check] = []
    trades = int(_num(metrics, "num_trades")) if not math.isnan(_num(metrics, "num_trades")) else 0
    if expected.min_trades is not None:
        out.append(Check("min_trades", f">= {expected.min_trades}", str(trades),
                         trades >= expected.min_trades))
    if expected.max_trades is not None:
        out.append(Check("max_trades", f"<= {expected.max_trades}", str(trades),
                         trades <= expected.max_trades))
    if expected.pnl_direction is not None and expected.pnl_direction != "any":
        pnl = _num(metrics, "net_pnl")
        # a run without trades has no direction: it meets neither positive nor negative
        ok = pnl > 0 if expected.pnl_direction == "positive" else pnl < 0
        out.append(Check("pnl_direction", expected.pnl_direction, f"net pnl {pnl:.2f}",
                         bool(ok) and not math.isnan(pnl)))
    if expected.min_win_rate_pct is not None:
        wr = _num(metrics, "win_rate") * 100.0
        out.append(Check("min_win_rate_pct", f">= {expected.min_win_rate_pct:g} %",
                         f"{wr:.1f} %", not math.isnan(wr) and wr >= expected.min_win_rate_pct))
    if expected.max_drawdown_pct is not None:
        dd = _num(metrics, "max_drawdown") * 100.0
        out.append(Check("max_drawdown_pct", f"<= {expected.max_drawdown_pct:g} %",
                         f"{dd:.1f} %", not math.isnan(dd) and dd <= expected.max_drawdown_pct))
    return out


def all_met(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)


def expectation_lines(expected: Expected | None,
                      metrics: Mapping[str, float | int | None]) -> list[str]:
    """What `trade backtest` prints after its summary for a Play with an `expected:` block:
    one line per expectation and a verdict (empty when the Play states none)."""
    if expected is None:
        return []
    checks = check_expected(expected, metrics)
    if not checks:
        return []
    verdict = "met" if all_met(checks) else "MISSED"
    return [f"expected: {verdict}", *(f"  {c}" for c in checks)]
