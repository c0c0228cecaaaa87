"""`panic`: cancel every order and close every position, over REST, at once.

Threading: any thread (it only uses the thread-safe REST client).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trade.live.book import fnum
from trade.live.client import BybitRest, new_link_id
from trade.live.errors import BybitError


@dataclass(slots=True)
class PanicReport:
    cancelled: int = 0
    closed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def panic(rest: BybitRest, symbol: str | None = None) -> PanicReport:
    """Cancel all orders and close each open position with a reduce-only market order.

    Failures do not stop it: each is recorded and the rest is still attempted.

    Parameters
    ----------
    rest : BybitRest
        A signed session.
    symbol : str, optional
        Only this symbol (default: every USDT perpetual).

    Returns
    -------
    PanicReport
        Orders cancelled, symbols closed and the errors met.
    """
    report = PanicReport()
    try:
        res = rest.cancel_all(symbol)
        report.cancelled = len(res.get("list") or [])
    except BybitError as exc:
        report.errors.append(f"cancel-all: {exc}")
    try:
        rows = rest.positions(symbol)
    except BybitError as exc:
        report.errors.append(f"positions: {exc}")
        return report
    for row in rows:
        size = fnum(row, "size")
        side = str(row.get("side") or "")
        if size <= 0 or side not in ("Buy", "Sell"):
            continue
        sym = str(row["symbol"])
        try:
            rest.create_order({
                "category": "linear", "symbol": sym,
                "side": "Sell" if side == "Buy" else "Buy", "orderType": "Market",
                "qty": str(row["size"]), "reduceOnly": True, "positionIdx": 0,
                "orderLinkId": new_link_id("panic"),
            })
            report.closed.append(sym)
        except BybitError as exc:
            report.errors.append(f"close {sym}: {exc}")
    return report
