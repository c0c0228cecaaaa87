"""The Bybit REST client against the exchange simulator: retries, typed errors,
idempotent creates, time sync, rate limiting, and no secrets anywhere."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from tests.conftest_exsim import KEY, SECRET, make_server
from trade.core import InputError, SimulatedClock
from trade.exchange_sim import ExchangeSimServer, FaultConfig
from trade.live import (
    AuthError,
    BybitRest,
    Credentials,
    InsufficientBalanceError,
    InvalidParamsError,
    Journal,
    NetworkError,
    RateLimiter,
    RateLimitError,
    ReduceOnlyError,
    ServerError,
    classify,
    load_credentials,
    make_session,
    new_link_id,
    read_journal,
)
from trade.live.secrets import RedactingFilter, read_key_file

SYM = "BTCUSDT"


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server() as server:
        yield server


def _rest(sim: ExchangeSimServer, secret: str = SECRET, **kw: object) -> BybitRest:
    session = make_session("demo", endpoint=sim.base_url,
                           credentials=Credentials(KEY, secret), timeout_s=0.5)
    return BybitRest(session, **kw)  # type: ignore[arg-type]


def _limit(link: str, price: str = "20000") -> dict[str, str]:
    return {"category": "linear", "symbol": SYM, "side": "Buy", "orderType": "Limit",
            "qty": "0.01", "price": price, "orderLinkId": link}


def test_creates_under_faults_are_retried_and_never_duplicated(sim: ExchangeSimServer) -> None:
    rest = _rest(sim)
    rest.session.timeout = 0.2
    rest.sync_time()
    sim.configure_faults(FaultConfig(seed=3, rest_error_rate=0.25, rest_timeout_rate=0.1,
                                     rest_timeout_s=0.3, rest_rate_limit_rate=0.08))
    links = [new_link_id() for _ in range(6)]
    ids = [rest.create_order(_limit(link))["orderId"] for link in links]
    sim.configure_faults(FaultConfig())
    venue_links = sim.inspect(lambda v: sorted(r.order.order_link_id
                                               for r in v.orders.values()))
    assert venue_links == sorted(links)  # each exactly once
    assert len(set(ids)) == 6
    assert rest.stats["retries"] > 0  # the faults really happened


def test_an_earlier_placement_is_found_not_repeated(sim: ExchangeSimServer) -> None:
    rest = _rest(sim)
    link = new_link_id()
    first = rest.create_order(_limit(link))
    again = rest.create_order(_limit(link))  # e.g. a retry after a lost reply
    assert again["already_placed"] is True and again["orderId"] == first["orderId"]
    assert sim.inspect(lambda v: len(v.orders)) == 1


def test_permanent_errors_are_typed_and_not_retried(sim: ExchangeSimServer) -> None:
    rest = _rest(sim)
    rest.sync_time()
    sent = rest.stats["requests"]
    with pytest.raises(ReduceOnlyError):
        rest.create_order({**_limit(new_link_id()), "reduceOnly": True})
    with pytest.raises(InvalidParamsError):
        rest.create_order({**_limit(new_link_id()), "qty": "0.0001"})
    with pytest.raises(InsufficientBalanceError):
        rest.create_order({**_limit(new_link_id(), price="30000"), "qty": "50"})
    assert rest.stats["requests"] - sent == 3 and rest.stats["retries"] == 0


def test_timestamp_error_resyncs_the_clock_then_succeeds(sim: ExchangeSimServer) -> None:
    rest = _rest(sim)
    rest.sync_time()
    sim.configure_faults(FaultConfig(clock_skew_ms=20_000))  # the server jumps ahead 20 s
    rows = rest.positions(SYM)
    assert rows and rest.stats["resyncs"] >= 1
    assert rest.timesync.offset_ms == pytest.approx(20_000, abs=1_000)


def test_classification_of_pybit_and_network_failures() -> None:
    headers = {"X-Bapi-Limit-Reset-Timestamp": "123"}
    rl = classify(InvalidRequestError("r", "Too many visits!", 10006, "t", headers))
    assert isinstance(rl, RateLimitError) and rl.reset_ms == 123
    assert isinstance(classify(FailedRequestError("r", "bad", 503, "t", None)), ServerError)
    assert isinstance(classify(FailedRequestError("r", "ban", 403, "t", None)), RateLimitError)
    assert isinstance(classify(requests.exceptions.ReadTimeout("slow")), NetworkError)
    assert isinstance(classify(requests.exceptions.ConnectionError("down")), NetworkError)
    # pybit's time.sleep on a rate-limit reset already in the past
    assert isinstance(classify(ValueError("sleep length must be non-negative")),
                      RateLimitError)
    with pytest.raises(ValueError, match="unrelated"):
        classify(ValueError("unrelated"))


def test_rate_limiter_waits_through_the_clock_and_obeys_headers() -> None:
    clock = SimulatedClock(1_000_000)
    lim = RateLimiter(clock, limits={"/v5/order/create": 10})
    for _ in range(25):
        lim.acquire("/v5/order/create")
    assert clock.now_ms() - 1_000_000 >= 1400  # 10 free, then 15 at 10/s
    start = clock.now_ms()
    lim.observe("/v5/order/cancel", {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                                     "X-Bapi-Limit-Reset-Timestamp": str(start + 700)})
    lim.acquire("/v5/order/cancel")
    assert clock.now_ms() >= start + 700
    lim.acquire("/v5/market/kline")  # other endpoints are not held back
    assert clock.now_ms() < start + 800


def test_key_file_permissions_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "keys"
    f.write_text("api_key=file-key-123\napi_secret=file-secret-456\n")
    os.chmod(f, 0o644)
    with pytest.raises(InputError, match="chmod 600"):
        read_key_file(f)
    os.chmod(f, stat.S_IRUSR | stat.S_IWUSR)
    assert read_key_file(f).api_key == "file-key-123"
    env = {"BYBIT_DEMO_API_KEY": "dk-1234", "BYBIT_DEMO_API_SECRET": "ds-5678",
           "BYBIT_API_KEY": "lk-1234", "BYBIT_API_SECRET": "ls-5678"}
    assert load_credentials("demo", env=env).api_key == "dk-1234"
    assert load_credentials("live", env=env).api_key == "lk-1234"  # never the demo keys
    with pytest.raises(InputError, match="no API keys"):
        load_credentials("live", env={"BYBIT_DEMO_API_KEY": "x1234",
                                      "BYBIT_DEMO_API_SECRET": "y1234"})
    assert "file-secret" not in repr(read_key_file(f))


def test_secrets_never_reach_logs_journal_or_errors(sim: ExchangeSimServer, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    secret = "wrong-secret-XYZZY-0042"
    rest = _rest(sim, secret=secret)
    journal = Journal(tmp_path / "j.jsonl", SimulatedClock(0))
    caplog.set_level(logging.DEBUG)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    with pytest.raises(AuthError) as info:
        rest.positions(SYM)
    journal.write("error", message=str(info.value), detail=f"key {KEY} secret {secret}")
    logging.getLogger("trade.live.test").error("leak attempt %s %s", secret, KEY)
    journal.close()
    texts = [str(info.value), repr(info.value), (tmp_path / "j.jsonl").read_text(),
             caplog.text]
    for text in texts:
        assert secret not in text and KEY not in text
    assert read_journal(tmp_path / "j.jsonl")[0]["kind"] == "error"


def test_one_redirect_function_serves_the_live_session_and_the_simulator_tools(
        sim: ExchangeSimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import trade.live.client as live_client
    from trade.exchange_sim.pybit_client import make_http
    from trade.live import SyncedHTTP

    # without an endpoint each mode keeps pybit's own host
    assert make_session("demo").endpoint == "https://api-demo.bybit.com"
    assert make_session("live").endpoint == "https://api.bybit.com"
    # make_http builds the subclass it is given, redirected
    http = make_http(sim.base_url + "/", http_cls=SyncedHTTP, api_key=KEY, api_secret=SECRET)
    assert isinstance(http, SyncedHTTP) and http.endpoint == sim.base_url
    # make_session goes through make_http: the redirect lives in one function
    seen: list[tuple[str | None, type]] = []

    def spy(base_url: str | None, **kw: object) -> object:
        seen.append((base_url, kw["http_cls"]))  # type: ignore[arg-type]
        return make_http(base_url, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(live_client, "make_http", spy)
    rest = BybitRest(make_session("demo", endpoint=sim.base_url,
                                  credentials=Credentials(KEY, SECRET), timeout_s=0.5))
    assert seen == [(sim.base_url, SyncedHTTP)]
    assert rest.session.endpoint == sim.base_url
    assert rest.instrument(SYM) is not None  # really talks to the simulator
    assert rest.wallet()  # signed with the corrected clock
