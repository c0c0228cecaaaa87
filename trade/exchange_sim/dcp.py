"""Bybit's disconnect-cancel-all (DCP), as the simulator implements it.

What Bybit documents (V5 "Set Disconnect Cancel All", "Get DCP Info" and the private
WebSocket "Dcp" page), and what this module does with it:

* `POST /v5/order/disconnected-cancel-all` sets the window of one product: `product` is
  OPTIONS (the default when omitted), DERIVATIVES or SPOT; `timeWindow` is an integer
  number of seconds in [3, 300]. Anything else is answered with retCode 10001. The
  result is empty.
* `GET /v5/account/query-dcp-info` lists `dcpInfos`: one row per configured product
  with `product`, `dcpStatus` ("ON") and `timeWindow` (a string, seconds).
* DCP is armed by the private WebSocket topics `dcp.future` (DERIVATIVES, i.e. the
  USDT perpetuals this simulator trades), `dcp.spot` and `dcp.option`. The older plain
  `dcp` topic is deprecated and no longer in Bybit's docs, so the simulator refuses it
  like any unknown topic unless the server is built with `dcp_legacy_topic=True`, where
  it arms every product.
* It fires when *every* private connection subscribed to a product's dcp topic has
  been dead for longer than that product's window (strictly longer: the timing starts
  at the first disconnection). A connection that subscribes the topic again within the
  window resets the timing. A connection that unsubscribes the topic (still alive)
  simply leaves the set; if it was the last one, nothing is armed any more.
* When it fires, every active order of the product is cancelled with
  `cancelType` "CancelByDCP" (Bybit's enum) and the order updates are pushed to any
  private connection still listening. Positions are never touched, and neither are
  the TP/SL/trailing stops attached to a position: Bybit's documentation says DCP
  cancels *orders* only and never closes a position, and a position's trading stop is
  a position setting here (`/v5/position/trading-stop`), not an order. An entry order
  that carries its own takeProfit/stopLoss is an order, so it is cancelled.
* It fires once per outage: a new subscription re-arms it.

Times are seconds from the injected `Clock`'s `monotonic()` (the server clock by
default), so a test can expire a window by advancing a SimulatedClock, never by waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PRODUCTS = ("OPTIONS", "DERIVATIVES", "SPOT")
DEFAULT_PRODUCT = "OPTIONS"  # Bybit's default when `product` is omitted
MIN_WINDOW_S, MAX_WINDOW_S = 3, 300
TOPICS: dict[str, tuple[str, ...]] = {
    "dcp.future": ("DERIVATIVES",),
    "dcp.spot": ("SPOT",),
    "dcp.option": ("OPTIONS",),
}
LEGACY_TOPIC = "dcp"  # deprecated by Bybit; accepted only with dcp_legacy_topic=True


@dataclass(frozen=True, slots=True)
class DcpTrigger:
    """One DCP firing: the product, when (server ms) and which orders it cancelled."""

    product: str
    at_ms: int
    order_ids: tuple[str, ...]


@dataclass(slots=True)
class DcpMonitor:
    """DCP state of the simulated account. Not thread-safe: the server loop owns it."""

    windows: dict[str, int] = field(default_factory=dict)  # product -> seconds
    _alive: dict[str, set[str]] = field(default_factory=dict)  # product -> connection ids
    _down_since: dict[str, float] = field(default_factory=dict)  # product -> monotonic s

    def configure(self, product: str, window_s: int) -> None:
        """Enable DCP for `product` with a window of `window_s` seconds (replacing one set
        before). ValueError for an unknown product or a window outside [3, 300]."""
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {', '.join(PRODUCTS)}, got {product!r}")
        if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
            raise ValueError(f"timeWindow must be in [{MIN_WINDOW_S}, {MAX_WINDOW_S}] s, "
                             f"got {window_s}")
        self.windows[product] = window_s

    def info(self) -> list[dict[str, str]]:
        """`dcpInfos` rows of /v5/account/query-dcp-info, in Bybit's product order."""
        return [
            {"product": prod, "dcpStatus": "ON", "timeWindow": str(self.windows[prod])}
            for prod in PRODUCTS
            if prod in self.windows
        ]

    def subscribed(self, cid: str, products: tuple[str, ...]) -> None:
        """A live connection subscribed a dcp topic: it is alive, the timing is reset."""
        for prod in products:
            self._alive.setdefault(prod, set()).add(cid)
            self._down_since.pop(prod, None)  # reconnected within the window: reset

    def unsubscribed(self, cid: str, products: tuple[str, ...]) -> None:
        """A live connection left the topic: it no longer counts, and starts no timer."""
        for prod in products:
            self._alive.get(prod, set()).discard(cid)

    def closed(self, cid: str, now_s: float) -> None:
        """A private connection died: when it was the last one of a product, time starts."""
        for prod, cids in self._alive.items():
            if cid not in cids:
                continue
            cids.discard(cid)
            if not cids:
                self._down_since.setdefault(prod, now_s)  # timing starts at the disconnection

    def connections(self, product: str) -> int:
        """Live private connections subscribed to the product's dcp topic."""
        return len(self._alive.get(product, ()))

    def down_since(self, product: str) -> float | None:
        """When (clock seconds) the product's last dcp connection died; None while one is
        alive, before any died, or after the window fired."""
        return self._down_since.get(product)

    def due(self, now_s: float) -> list[str]:
        """Products whose window has run out (each fires once; a new subscription re-arms)."""
        fired: list[str] = []
        for prod, since in list(self._down_since.items()):
            window = self.windows.get(prod)
            if window is None:
                continue  # DCP not enabled for this product: a dead connection cancels nothing
            if now_s - since > window:  # strictly longer than the window (Bybit: "more than")
                fired.append(prod)
                del self._down_since[prod]
        return fired
