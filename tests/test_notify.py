"""trade.notify against a local HTTP receiver (apprise's json:// schema POSTs to it).

* messages arrive, with the fields of fills/rejections/reconnects/summary;
* rate limiting per kind on a SimulatedClock, and the dropped ones are summarised;
* notify() never waits when the receiver hangs (a bounded queue; proven with Events);
* a URL file looser than 0600 is refused in one line that does not echo the URL's secret;
* a secret placed in an event never reaches the receiver.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core import (
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
    SimulatedClock,
)
from trade.notify import (
    KindLimiter,
    Notifier,
    NotifyConfigError,
    RateLimit,
    Scrubber,
    load_urls,
    read_url_file,
    redact_url,
)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; `hold` makes it hang."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.cond = threading.Condition()
        self.hold = threading.Event()  # set: requests wait for `release`
        self.release = threading.Event()
        self.entered = threading.Event()  # a request is being held
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.hold.is_set():
                    outer.entered.set()
                    outer.release.wait(30)
                with outer.cond:
                    outer.raw.append(data)
                    outer.bodies.append(json.loads(data))
                    outer.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.bodies) >= n, timeout)

    def messages(self) -> list[str]:
        with self.cond:
            return [b["message"] for b in self.bodies]

    def titles(self) -> list[str]:
        with self.cond:
            return [b["title"] for b in self.bodies]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()
    r.thread.join(10)


def _fill(qty: float = 0.01, price: float = 30_000.0) -> FillEvent:
    return FillEvent(Fill("e1", "o1", "BTCUSDT", Side.BUY, qty, price, 0.165, False, 1), 1)


def test_events_arrive_at_the_receiver(receiver: Receiver) -> None:
    with Notifier([receiver.url], clock=SimulatedClock()) as n:
        n.on_events([_fill()])
        req = OrderRequest("BTCUSDT", Side.SELL, 0.5, reduce_only=True)
        n.on_events([OrderUpdate(Order("o2", req, OrderStatus.REJECTED, 1, 1,
                                       reject_reason="reduce-only: no position"), 1)])
        n("paused", {"reason": "drawdown 10% reached"})  # the LiveSession.on_notify call
        assert receiver.wait_for(3)
    titles, msgs = receiver.titles(), receiver.messages()
    assert titles == ["trade: fill", "trade: rejection", "trade: paused"]
    assert "qty: 0.01" in msgs[0] and "price: 30000" in msgs[0] and "side: Buy" in msgs[0]
    assert "reduce-only: no position" in msgs[1]
    assert "drawdown 10% reached" in msgs[2]
    assert n.sent == 3 and n.failed == 0


def test_reconnect_and_daily_summary_from_the_runner_listener(receiver: Receiver) -> None:
    day = 86_400_000
    with Notifier([receiver.url], clock=SimulatedClock()) as n:
        n.on_state({"ts": day * 100 + 60_000, "equity": 10_000.0,
                    "connection": {"private_ws": "subscribed"}})
        n.on_events([_fill()])
        n.on_state({"connection": {"private_ws": "reconnecting"}})
        n.on_state({"connection": {"private_ws": "subscribed"}})
        n.on_state({"ts": day * 100 + 120_000, "equity": 10_050.0})
        n.on_state({"ts": day * 101 + 60_000, "equity": 10_040.0})  # a new UTC day
        assert receiver.wait_for(3)
    titles, msgs = receiver.titles(), receiver.messages()
    assert titles == ["trade: fill", "trade: reconnect", "trade: summary"]
    assert "was: reconnecting" in msgs[1]
    summary = msgs[2]
    assert "day: 1970-04-11" in summary and "pnl: 50" in summary and "fills: 1" in summary


@settings(max_examples=50, deadline=None)
@given(burst=st.integers(1, 5), per_minute=st.integers(1, 60),
       gaps=st.lists(st.integers(0, 120_000), min_size=1, max_size=60))
def test_token_bucket_never_exceeds_its_rate(burst: int, per_minute: int,
                                             gaps: list[int]) -> None:
    clock = SimulatedClock()
    lim = KindLimiter(clock, {"fill": RateLimit(burst, per_minute)})
    allowed = 0
    for g in gaps:
        clock.advance(g)
        allowed += lim.allow("fill")
    elapsed_min = sum(gaps) / 60_000
    # a token bucket lets through at most burst + rate * elapsed
    assert allowed <= burst + per_minute * elapsed_min + 1e-9
    assert allowed + lim.take_dropped().get("fill", 0) == len(gaps)
    assert lim.allow("other")  # another kind has its own (full) bucket
    # the first message always passes: a full bucket
    assert KindLimiter(clock, {"fill": RateLimit(burst, per_minute)}).allow("fill")


def test_rate_limit_drops_are_summarised_in_the_next_message(receiver: Receiver) -> None:
    clock = SimulatedClock()
    limits = {"fill": RateLimit(burst=2, per_minute=1), "error": RateLimit(2, 1)}
    with Notifier([receiver.url], clock=clock, limits=limits) as n:
        results = [n.notify("fill", {"i": i}) for i in range(5)]
        assert results == [True, True, False, False, False]
        assert n.notify("error", {"what": "x"})  # another kind: its own bucket
        clock.advance(60_000)  # one token back
        assert n.notify("fill", {"i": 5})
        assert not n.notify("fill", {"i": 6})
        assert receiver.wait_for(4)
    msgs = receiver.messages()
    assert len(msgs) == 4
    assert "fill 3" in msgs[2] and "not sent" in msgs[2]  # the error carries the summary
    assert "not sent" not in msgs[3]  # already reported once
    assert n.limiter.dropped_total["fill"] == 4


def test_notify_never_waits_for_a_hung_receiver(receiver: Receiver) -> None:
    receiver.hold.set()
    limits = {"fill": RateLimit(burst=1000, per_minute=1)}
    n = Notifier([receiver.url], clock=SimulatedClock(), limits=limits, queue_size=3)
    try:
        assert n.notify("fill", {"i": 0})
        assert receiver.entered.wait(10)  # the worker is stuck inside the delivery
        results = [n.notify("fill", {"i": i}) for i in range(1, 21)]
        # we got here while the receiver still hangs: nothing returned late or raised
        assert not receiver.release.is_set() and len(receiver.bodies) == 0
        assert results[:3] == [True] * 3 and not any(results[3:])  # queue of 3, then drops
        assert n.limiter.dropped_total["fill"] == 17
        receiver.release.set()
        assert receiver.wait_for(4)  # the four queued ones went out: the queue is empty
        assert n.notify("error", {"what": "after"})  # carries the count of what was dropped
    finally:
        receiver.release.set()
        assert n.close()
    assert receiver.wait_for(5)
    msgs = receiver.messages()
    assert len(msgs) == 5 and [m.split("\n")[0] for m in msgs[:4]] == [f"i: {i}" for i in range(4)]
    assert "fill 17" in msgs[4] and "what: after" in msgs[4]


def test_delivery_failures_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with Notifier([f"json://user:hunter2pass@127.0.0.1:{port}/x"],
                  clock=SimulatedClock()) as n:
        assert n.notify("error", {"what": "boom"})
    assert n.failed == 1 and n.sent == 0
    text = caplog.text
    assert "could not be delivered" in text and "trade: error" in text
    assert "hunter2pass" not in text


def test_a_secret_in_an_event_never_reaches_the_receiver(receiver: Receiver) -> None:
    key, secret = "AbCdEfGh1234567890", "sEcReTvAlUe0987654321zyxwvuTSRQ"
    with Notifier([receiver.url], clock=SimulatedClock(), secrets=[key, secret]) as n:
        n.notify("error", {"api_key": key, "detail": f"auth failed for {key}/{secret}",
                           "endpoint": "https://bob:pa55word9@api.example.com/v5",
                           "headers": "X-BAPI-SIGN: 9f8e7d6c5b4a", "token": "tok_live_42xyz"},
                 text=f"request api_secret={secret} failed")
        n("paused", {"reason": f"key {key} banned"})
        assert receiver.wait_for(2)
    raw = b"".join(receiver.raw)
    for leaked in (key, secret, "pa55word9", "9f8e7d6c5b4a", "tok_live_42xyz"):
        assert leaked.encode() not in raw, leaked
    assert b"***" in raw and b"api.example.com" in raw  # masked, the rest kept


@settings(max_examples=100, deadline=None)
@given(secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8,
                      max_size=40),
       before=st.text(max_size=30), after=st.text(max_size=30))
def test_registered_secrets_are_masked_wherever_they_appear(secret: str, before: str,
                                                            after: str) -> None:
    out = Scrubber([secret]).scrub(before + secret + after)
    assert secret not in out


def test_url_file_must_be_0600_and_errors_never_echo_secrets(tmp_path: Path) -> None:
    path = tmp_path / "notify.urls"
    path.write_text("# targets\ntgram://123456:BOTSECRETTOKEN/4242\n\njson://127.0.0.1:9/x\n")
    path.chmod(0o644)
    with pytest.raises(NotifyConfigError) as err:
        read_url_file(path)
    msg = str(err.value)
    assert str(path) in msg and "0644" in msg and "chmod 600" in msg and "\n" not in msg
    assert "BOTSECRETTOKEN" not in msg
    path.chmod(0o600)
    assert read_url_file(path) == ["tgram://123456:BOTSECRETTOKEN/4242", "json://127.0.0.1:9/x"]
    assert load_urls(env={"TRADE_NOTIFY_FILE": str(path)}) == read_url_file(path)
    bad = tmp_path / "bad.urls"
    bad.write_text("ok://a.b/c\nslack://T000/B000/SUPERSECRETXX extra\n")
    bad.chmod(0o600)
    with pytest.raises(NotifyConfigError, match=r"bad\.urls:2:") as err2:
        read_url_file(bad)
    assert "SUPERSECRETXX" not in str(err2.value)
    with pytest.raises(NotifyConfigError, match="folder"):
        read_url_file(tmp_path)


def test_env_urls_and_unknown_urls_are_refused_without_their_secret() -> None:
    assert load_urls(env={"TRADE_NOTIFY_URLS": "json://127.0.0.1:1/a, form://127.0.0.1:2/b"}
                     ) == ["json://127.0.0.1:1/a", "form://127.0.0.1:2/b"]
    assert load_urls(env={}) == []
    with pytest.raises(NotifyConfigError) as err:
        Notifier(["nosuchscheme://user:TOPSECRET1@host.example/path"])
    assert "TOPSECRET1" not in str(err.value) and "host.example" in str(err.value)
    assert redact_url("discord://webhook_id/webhook_token") == "discord://***/***"
    assert redact_url("json://u:p@127.0.0.1:8080/x?token=1") == "json://127.0.0.1:8080/***"


def test_a_wrapped_adapters_fills_and_rejections_reach_the_receiver(receiver: Receiver) -> None:
    from trade.sim import BacktestAdapter, Bar, SimConfig

    sim = BacktestAdapter(SimConfig(symbol="BTCUSDT", initial_balance=10_000.0))
    with Notifier([receiver.url], clock=SimulatedClock()) as n:
        a = n.wrap(sim)
        sim.step(Bar(0, 30_000, 30_010, 29_990, 30_000))
        a.submit(OrderRequest("BTCUSDT", Side.BUY, 0.01))
        a.submit(OrderRequest("BTCUSDT", Side.SELL, 0.5, reduce_only=True))  # nothing to reduce
        sim.step(Bar(60_000, 30_005, 30_020, 29_995, 30_010))
        events = a.drain_events()
        assert receiver.wait_for(2)
    assert any(isinstance(e, FillEvent) for e in events)  # the engine still gets every event
    assert receiver.titles() == ["trade: rejection", "trade: fill"]  # refused at submit: first
    assert "side: Buy" in receiver.messages()[1] and "qty: 0.01" in receiver.messages()[1]


def test_chain_listeners_calls_each_in_turn() -> None:
    from trade.notify import chain_listeners

    seen: list[tuple[str, dict[str, Any]]] = []
    both = chain_listeners(lambda s: seen.append(("a", s)), None,
                           lambda s: seen.append(("b", s)))
    assert both is not None
    both({"x": 1})
    assert seen == [("a", {"x": 1}), ("b", {"x": 1})]
    assert chain_listeners(None, None) is None
