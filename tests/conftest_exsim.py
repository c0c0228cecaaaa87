"""Shared helpers for the exchange-simulator tests (imported explicitly, not a conftest)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from trade.core import SimulatedClock
from trade.exchange_sim import ExchangeSimServer
from trade.sim import SimConfig

KEY, SECRET = "test-key", "test-secret"
DATA = Path(__file__).resolve().parent / "data"  # real price files kept in the repository
T0 = 1_700_000_000_000 - 1_700_000_000_000 % (8 * 3_600_000)  # an 8h funding mark


def es_bars() -> pa.Table:
    """Real E-mini S&P 1m bars (tests/data); fails clearly when the file is missing."""
    path = DATA / "es_futures_1m.csv.gz"
    assert path.is_file(), f"test data missing: {path}"
    t = pacsv.read_csv(path)
    return pa.table({
        "ts": t.column("ts_ms").cast(pa.int64()),
        "open": t.column("open").cast(pa.float64()),
        "high": t.column("high").cast(pa.float64()),
        "low": t.column("low").cast(pa.float64()),
        "close": t.column("close").cast(pa.float64()),
        "volume": t.column("volume").cast(pa.float64()),
    })


def synthetic_bars(n: int = 600, t0: int = T0, seed: int = 7, price: float = 30_000.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    close = price + np.cumsum(rng.normal(0, 15, n))
    open_ = np.r_[price, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 10, n)
    low = np.minimum(open_, close) - rng.uniform(0, 10, n)
    return pa.table({
        "ts": t0 + np.arange(n, dtype=np.int64) * 60_000,
        "open": open_, "high": high, "low": low, "close": close,
        "volume": rng.uniform(1, 20, n),
    })


def make_server(bars: pa.Table | None = None, *, warm: int = 5, symbol: str = "BTCUSDT",
                **kwargs: Any) -> ExchangeSimServer:
    """A server on a SimulatedClock with `warm` bars already closed (not started)."""
    bars = bars if bars is not None else synthetic_bars()
    first = int(bars.column("ts")[0].as_py())
    clock = SimulatedClock(first + warm * 60_000)
    kwargs.setdefault("sim_config", SimConfig(symbol=symbol, initial_balance=10_000.0))
    return ExchangeSimServer(bars, symbol=symbol, api_keys={KEY: SECRET}, clock=clock,
                             ws_ack_delay_s=0.02, **kwargs)


class Collector:
    """Thread-safe message sink for pybit callbacks; tests wait on conditions, not sleeps."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.items.append(message)
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: pred(self.items), timeout)

    def rows(self, topic: str) -> list[dict[str, Any]]:
        with self._cond:
            return [r for m in self.items if m.get("topic") == topic for r in m["data"]]

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.items)


def ws_kwargs() -> dict[str, Any]:
    """websocket-client's reader thread may only notice a close after `ping_timeout` (its
    poll() is not woken when another thread closes the socket), so tests keep it short."""
    return {"ping_interval": 5, "ping_timeout": 1}


def close_ws(*sockets: Any) -> None:
    """Exit pybit WebSockets and join their threads (so thread-leak checks are exact)."""
    for ws in sockets:
        ws.exit()
        thread = getattr(ws, "wst", None)
        if thread is not None:
            thread.join(timeout=10)
            assert not thread.is_alive(), "pybit WebSocket thread did not stop"


def iter_threads() -> Iterator[threading.Thread]:
    return iter(threading.enumerate())


_FAST_CROSS_PLAY = """
version: "3.0.0"
name: {name}
description: fast EMA cross, so a few replayed minutes open a position
symbol: BTCUSDT
timeframes: {low_tf: 1m, exec: low_tf}
account:
  starting_equity_usdt: 10000
  max_leverage: 2
  fee_model: {taker_bps: 5.5, maker_bps: 2.0}
  slippage_bps: 2
features:
  ema_fast: {indicator: ema, params: {length: 3}}
  ema_slow: {indicator: ema, params: {length: 8}}
actions:
  entry_long: [ema_fast, cross_above, ema_slow]
  exit_long: [ema_fast, cross_below, ema_slow]
  entry_short: [ema_fast, cross_below, ema_slow]
  exit_short: [ema_fast, cross_above, ema_slow]
position_policy: {mode: long_short, allow_flip: false}
"""


def fast_cross_play_yaml(name: str) -> str:
    """A 1m EMA(3/8) cross Play, long and short: a few replayed minutes open a position."""
    return _FAST_CROSS_PLAY.replace("{name}", name)


class RawClient:
    """A raw signed V5 client (requests + HMAC, as Bybit's docs describe), no SDK."""

    def __init__(self, base_url: str, key: str = KEY, secret: str = SECRET,
                 recv_window: int = 5000) -> None:
        import requests

        self.base_url = base_url
        self.key, self.secret = key, secret
        self.recv_window = str(recv_window)
        self.shift_ms = 0  # added to the local clock when signing (a client's own offset)
        self.session = requests.Session()

    def _headers(self, payload: str) -> dict[str, str]:
        import hashlib
        import hmac
        import time

        ts = str(time.time_ns() // 1_000_000 + self.shift_ms)
        sign = hmac.new(self.secret.encode(), (ts + self.key + self.recv_window + payload).encode(),
                        hashlib.sha256).hexdigest()
        return {"X-BAPI-API-KEY": self.key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-SIGN": sign,
                "X-BAPI-RECV-WINDOW": self.recv_window, "Content-Type": "application/json"}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        from urllib.parse import urlencode

        query = urlencode(params)
        r = self.session.get(f"{self.base_url}{path}?{query}", headers=self._headers(query),
                             timeout=10)
        out: dict[str, Any] = r.json()
        return out

    def post(self, path: str, **body: Any) -> dict[str, Any]:
        import json

        text = json.dumps(body)
        r = self.session.post(f"{self.base_url}{path}", data=text, headers=self._headers(text),
                              timeout=10)
        out: dict[str, Any] = r.json()
        return out
