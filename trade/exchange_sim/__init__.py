"""A Bybit V5-compatible exchange server for offline runs and tests.

    from trade.exchange_sim import ExchangeSimServer, make_http, make_websocket
    with ExchangeSimServer(bars, api_keys={"k": "s"}, clock=SimulatedClock(t0)) as sim:
        http = make_http(sim.base_url, api_key="k", api_secret="s")
        http.place_order(category="linear", symbol="BTCUSDT", side="Buy",
                         orderType="Market", qty="0.01")
        sim.step()  # the next 1m bar: the market order fills at its open

Fills come from the backtest kernel (`trade.sim.SimExchange`), so replaying history
through the simulator gives the backtest's fills.
"""

from trade.exchange_sim.clock import ReplayClock
from trade.exchange_sim.dcp import DcpMonitor, DcpTrigger
from trade.exchange_sim.faults import FaultConfig, FaultInjector
from trade.exchange_sim.market import MarketData
from trade.exchange_sim.protocol import ApiError
from trade.exchange_sim.pybit_client import RedirectedWebSocket, make_http, make_websocket
from trade.exchange_sim.ratelimit import DEFAULT_LIMITS, RateLimiter
from trade.exchange_sim.server import (
    ExchangeSimServer,
    load_bars,
    store_instrument,
    store_symbols,
)
from trade.exchange_sim.venue import (
    EngineFactory,
    Instrument,
    SimEngine,
    Venue,
    default_engine_factory,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ApiError",
    "DcpMonitor",
    "DcpTrigger",
    "EngineFactory",
    "ExchangeSimServer",
    "FaultConfig",
    "FaultInjector",
    "Instrument",
    "MarketData",
    "RateLimiter",
    "RedirectedWebSocket",
    "ReplayClock",
    "SimEngine",
    "Venue",
    "default_engine_factory",
    "load_bars",
    "make_http",
    "make_websocket",
    "store_instrument",
    "store_symbols",
]
