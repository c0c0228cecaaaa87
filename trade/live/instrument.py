"""The instrument a live run sizes and rounds with: the venue's own rules.

`trade run` used to build its order plan from `DEFAULT_INSTRUMENT` (Bybit BTCUSDT's rules).
`venue_instrument` reads the symbol's `/v5/market/instruments-info` entry instead (tick
size, qty step, min qty, min notional, max leverage), so the plan's sizing and rounding
match the venue the orders go to. Bybit does not report the maintenance-margin rate there,
so that one is kept from `base` (the store's instrument, else the default). The parsing is
the data layer's (`trade.data.fetch.parse_instrument`), the same as `trade data fetch`.

Threading: any thread (one REST call through a `BybitRest`).
"""

from __future__ import annotations

from trade.core import Clock, InputError
from trade.data.fetch import SourceError, parse_instrument
from trade.data.schema import Instrument
from trade.exchange_sim.pybit_client import close_http
from trade.live.client import BybitRest, Mode, make_session


def venue_instrument(rest: BybitRest, symbol: str, base: Instrument | None = None
                     ) -> Instrument:
    """`symbol`'s trading rules from the exchange behind `rest`.

    Parameters
    ----------
    rest : BybitRest
    symbol : str
    base : Instrument, optional
        Supplies the maintenance-margin rate, which instruments-info lacks (default:
        `Instrument`'s).

    Returns
    -------
    Instrument
        Tick size, quantity step, minimums and maximum leverage as the venue states them.

    Raises
    ------
    InputError
        The exchange does not list `symbol` (category linear) or its entry cannot be read.
    BybitError
        The request failed after its retries.
    """
    row = rest.instrument(symbol)
    if row is None:
        raise InputError(f"{symbol} is not listed by the exchange's "
                         f"/v5/market/instruments-info (category linear)")
    try:
        return parse_instrument(row, symbol, base or Instrument(symbol=symbol))
    except SourceError as exc:
        raise InputError(str(exc)) from None


def fetch_instrument(mode: Mode, symbol: str, *, endpoint: str | None = None,
                     base: Instrument | None = None, timeout_s: float = 5.0,
                     clock: Clock | None = None) -> Instrument:
    """`venue_instrument` over a fresh public REST session (no credentials needed).

    Parameters
    ----------
    mode : {"paper", "demo", "live"}
        Which Bybit host (paper reads mainnet market data).
    symbol : str
    endpoint : str, optional
        Another Bybit-compatible host (e.g. the exchange simulator).
    base : Instrument, optional
        Supplies the maintenance-margin rate, which instruments-info lacks.
    timeout_s : float
        Seconds before a request counts as timed out (then retried).
    clock : Clock, optional
        For the retry waits (default: the wall clock).

    Returns
    -------
    Instrument

    Raises
    ------
    InputError
        The exchange does not list `symbol`, its entry cannot be read, or `endpoint` is
        not an http(s) URL.
    BybitError
        The request failed after its retries.
    """
    rest = BybitRest(make_session(mode, endpoint=endpoint, timeout_s=timeout_s), clock=clock)
    try:
        return venue_instrument(rest, symbol, base)
    finally:
        rest.stop.set()
        close_http(rest.session)  # release pybit's pooled connections


__all__ = ["fetch_instrument", "venue_instrument"]
