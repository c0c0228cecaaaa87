"""Permanent failures fail at once with the reason: wrong API keys (one signed read at start,
no retries), a malformed endpoint URL (refused before any request); key files in anything
but the documented form are refused naming the line, never echoing a value."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import KEY, SECRET, make_server
from trade.core import InputError
from trade.exchange_sim import ExchangeSimServer
from trade.live import AuthError, BybitRest, Credentials, PermanentError, make_session
from trade.live.client import check_endpoint
from trade.live.secrets import read_key_file


@pytest.fixture(scope="module")
def sim() -> Iterator[ExchangeSimServer]:
    with make_server() as server:
        yield server


@pytest.mark.parametrize(("key", "secret"), [("wrong-key", SECRET), (KEY, "wrong-secret"),
                                             ("wrong-key", "wrong-secret")])
def test_wrong_keys_fail_at_start_without_retries(sim: ExchangeSimServer, key: str,
                                                  secret: str) -> None:
    rest = BybitRest(make_session("demo", endpoint=sim.base_url,
                                  credentials=Credentials(key, secret), timeout_s=2))
    with pytest.raises(AuthError) as info:
        rest.sync_time()
    msg = str(info.value)
    assert "the API key was refused by" in msg and sim.base_url in msg
    assert secret not in msg and (key == KEY or key not in msg)
    assert rest.stats["retries"] == 0  # permanent: not one retry
    assert rest.stats["requests"] == 2  # the time, then one signed read


def test_right_keys_are_checked_once(sim: ExchangeSimServer) -> None:
    rest = BybitRest(make_session("demo", endpoint=sim.base_url,
                                  credentials=Credentials(KEY, SECRET), timeout_s=2))
    rest.sync_time()
    rest.sync_time()
    assert rest.stats["requests"] == 3  # time, key check, time
    public = BybitRest(make_session("paper", endpoint=sim.base_url, timeout_s=2))
    public.sync_time()
    assert public.stats["requests"] == 1  # no keys, nothing to check


def test_trade_run_with_wrong_keys_is_one_line_and_writes_nothing(
        sim: ExchangeSimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`trade run` checks the keys before a journal, control endpoint or dashboard exists:
    one line naming the endpoint, exit 2, no journal (an existing one stays as it was)."""
    from tests.conftest_exsim import fast_cross_play_yaml
    from trade.cli import main

    monkeypatch.chdir(tmp_path)
    play = tmp_path / "p.yml"
    play.write_text(fast_cross_play_yaml("wrong_keys"))
    keys = tmp_path / "keys"
    keys.write_text(f"api_key={KEY}\napi_secret=not-the-secret\n")
    keys.chmod(0o600)
    journal = tmp_path / "j.jsonl"
    body = b'{"ts":1,"kind":"bar","bar":0}\n'
    journal.write_bytes(body)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["run", str(play), "--endpoint", sim.base_url, "--keys", str(keys),
              "--journal", str(journal)])
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert info.value.code == 2 and out.out == "" and len(lines) == 1, out
    assert "the API key was refused by" in lines[0] and sim.base_url in lines[0]
    assert "not-the-secret" not in out.err
    assert journal.read_bytes() == body and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8099", "localhost", "ftp://h:1",
                                      "http://", "http://:80", "htp://127.0.0.1:8099",
                                      "http://127.0.0.1:99999", "ws://127.0.0.1:1"])
def test_a_malformed_endpoint_is_refused_before_any_request(endpoint: str) -> None:
    with pytest.raises(InputError, match="--endpoint"):
        make_session("demo", endpoint=endpoint)
    with pytest.raises(InputError, match="--endpoint"):
        check_endpoint(endpoint)


def test_a_url_requests_cannot_use_is_permanent(sim: ExchangeSimServer) -> None:
    """Belt and braces: a session whose endpoint was changed after the check."""
    session = make_session("paper", endpoint=sim.base_url, timeout_s=2)
    rest = BybitRest(session)
    session.endpoint = "127.0.0.1:1"  # no scheme: requests cannot send it
    with pytest.raises(PermanentError, match="malformed endpoint URL"):
        rest.get("/v5/market/time", {}, auth=False)
    assert rest.stats["retries"] == 0
    assert issubclass(requests.exceptions.MissingSchema, requests.RequestException)


# ---------------------------------------------------------------------------- key files

SECRET_VALUES = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789",
                        min_size=12, max_size=36)
BAD_LINES = st.sampled_from([
    "apikey {v}", "api_key {v}", "API_SECRET {v}", "secret {v}", "key {v}",
    "api-key: {v}", "apikey={v}", "token={v}", "api_key=", "api_key={v} {v}",
    "{v}", "{v} {v} {v}",
])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=SECRET_VALUES, bad=BAD_LINES, before=st.integers(0, 2),
       good_first=st.booleans())
def test_malformed_key_files_are_refused_naming_the_line(tmp_path: Path, value: str, bad: str,
                                                         before: int, good_first: bool
                                                         ) -> None:
    lines = ["# my keys"] + [""] * before
    if good_first:
        lines.append(f"api_key={value}K")
    bad_line = len(lines) + 1
    lines.append(bad.format(v=value))
    if not good_first:
        lines.append(f"api_secret={value}S")
    path = tmp_path / "keys"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(InputError) as info:
        read_key_file(path)
    msg = str(info.value)
    assert value not in msg  # never a secret in an error
    assert f"key file {path}: line {bad_line}" in msg, msg


def test_documented_forms_load_and_others_say_why(tmp_path: Path) -> None:
    def load(text: str) -> Credentials:
        p = tmp_path / "k"
        p.write_text(text)
        os.chmod(p, 0o600)
        return read_key_file(p)

    c = load("# demo\napi_key = abcKEY123\n\napi_secret='xyzSECRET456'\n")
    assert (c.api_key, c.api_secret) == ("abcKEY123", "xyzSECRET456")
    c = load("abcKEY123 xyzSECRET456\n")
    assert (c.api_key, c.api_secret) == ("abcKEY123", "xyzSECRET456")
    with pytest.raises(InputError, match="line 2 has no `=`"):
        load("api_key=abcKEY123\napikey xyzSECRET456\n")
    with pytest.raises(InputError, match=r"line 1 is neither `name=value` nor `KEY SECRET`"):
        load("apikey xyzSECRET456\n")
    with pytest.raises(InputError, match="sets api_key a second time"):
        load("api_key=a1234567\napi_key=b1234567\napi_secret=c1234567\n")
    with pytest.raises(InputError, match="api_secret missing"):
        load("api_key=a1234567\n")
    with pytest.raises(InputError, match="is empty"):
        load("# nothing\n\n")
    p = tmp_path / "bin"
    p.write_bytes(b"\xff\xfe\x00api_key")
    os.chmod(p, 0o600)
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_key_file(p)


def test_a_folder_given_as_keys_file_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "keys.d"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        read_key_file(folder)
    with pytest.raises(InputError, match="does not exist"):
        read_key_file(tmp_path / "nope")
