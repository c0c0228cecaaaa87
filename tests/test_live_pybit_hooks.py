"""pybit's private members that `trade` relies on (trade/exchange_sim/pybit_client.py,
`PRIVATE_HOOKS`) still exist in the installed pybit, with the parameters used; the module
lists every one it touches; the overrides do what they are there for. A pybit upgrade that
changes a hook fails here, naming it, rather than somewhere deep in a live session."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib
import inspect
import json
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.exchange_sim import pybit_client
from trade.exchange_sim.pybit_client import (
    PRIVATE_HOOKS,
    PYBIT_VERSION_WRITTEN_FOR,
    CallbackRedirectedWebSocket,
    CallbackWebSocket,
    PrivateHook,
    RedirectedWebSocket,
    SyncedHTTP,
    make_http,
    no_pybit_retries,
    send_request,
    ws_auth_signature,
)

INSTALLED = version("pybit")
MODULE = Path(pybit_client.__file__)


def _resolve(dotted: str) -> Any:
    module, _, cls = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return importlib.import_module(dotted)


def _where(hook: PrivateHook) -> str:
    return (f"pybit {INSTALLED} (hooks written for {PYBIT_VERSION_WRITTEN_FOR}): "
            f"{hook.owner}.{hook.name} ({hook.kind}; needed to {hook.why})")


def _params(func: Any) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(func).parameters if p != "self")


@pytest.mark.parametrize("hook", PRIVATE_HOOKS, ids=lambda h: f"{h.owner.rsplit('.', 1)[-1]}."
                                                              f"{h.name}")
def test_the_hook_exists_in_the_installed_pybit(hook: PrivateHook) -> None:
    owner = _resolve(hook.owner)
    if hook.kind == "attribute":
        assert hook.set_in is not None
        source = inspect.getsource(getattr(owner, hook.set_in))
        assert f"self.{hook.name} =" in source, (
            f"{_where(hook)}: no longer assigned in {hook.set_in}")
        return
    member = getattr(owner, hook.name, None)
    assert callable(member), f"{_where(hook)}: gone"
    assert hook.parameters is not None
    assert _params(member) == hook.parameters, (
        f"{_where(hook)}: parameters are now {_params(member)}, expected {hook.parameters}")


OURS = (SyncedHTTP, RedirectedWebSocket, CallbackWebSocket, CallbackRedirectedWebSocket)


@pytest.mark.parametrize("hook", [h for h in PRIVATE_HOOKS if h.kind == "override"],
                         ids=lambda h: h.name)
def test_every_override_keeps_pybits_signature(hook: PrivateHook) -> None:
    owner = _resolve(hook.owner)
    overriding = [cls for cls in OURS if issubclass(cls, owner)
                  and getattr(cls, hook.name) is not getattr(owner, hook.name)]
    assert overriding, f"{hook.name} is listed as overridden but no class overrides it"
    for cls in overriding:
        assert _params(getattr(cls, hook.name)) == _params(getattr(owner, hook.name)), (
            f"{cls.__name__}.{hook.name} differs from {_where(hook)}")


def test_the_hooks_module_lists_every_private_pybit_member_it_uses() -> None:
    """A new private hook must be added to PRIVATE_HOOKS (with its reason) to be checked."""
    tree = ast.parse(MODULE.read_text())
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pybit._"):
            used |= {alias.name for alias in node.names}
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and ast.unparse(node.value) != "self":
            used.add(node.attr)  # session._submit_request, super()._auth, ...
        if isinstance(node, ast.ClassDef):
            used |= {f.name for f in node.body if isinstance(f, ast.FunctionDef)
                     and f.name.startswith("_") and not f.name.startswith("__")}
    ours = {"_redirect"}  # module-level private helpers of our own
    listed = {h.name for h in PRIVATE_HOOKS}
    assert used - ours <= listed, f"not in PRIVATE_HOOKS: {sorted(used - ours - listed)}"


# --------------------------------------------------------------------------- behaviour
class _Canned(requests.adapters.BaseAdapter):
    """A requests transport answering every request with one JSON body (no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"retCode": 0, "retMsg": "OK",
                                        "result": {"ok": 1}, "time": 0}).encode()
        response.headers["X-Bapi-Limit-Status"] = "49"
        response.request = request
        return response

    def close(self) -> None:
        pass


def _oracle_signature(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=30, deadline=None)
@given(ts=st.integers(1_600_000_000_000, 2_000_000_000_000),
       qty=st.decimals(min_value="0.001", max_value="1000", places=3).map(str),
       method=st.sampled_from(["GET", "POST"]))
def test_synced_http_signs_with_the_injected_clock(ts: int, qty: str, method: str) -> None:
    session = make_http("http://127.0.0.1:9", http_cls=SyncedHTTP, api_key="k",
                        api_secret="s3cret", max_retries=1, return_response_headers=True)
    assert isinstance(session, SyncedHTTP)
    no_pybit_retries(session)
    session.timestamp_ms = lambda: ts
    transport = _Canned()
    session.client.mount("http://", transport)
    body, _elapsed, headers = send_request(session, method, "/v5/order/create",
                                           {"symbol": "BTCUSDT", "qty": qty}, auth=True)
    assert body["result"] == {"ok": 1}
    assert isinstance(headers, Mapping) and headers["X-Bapi-Limit-Status"] == "49"
    (sent,) = transport.sent
    assert sent.url is not None and sent.url.startswith("http://127.0.0.1:9/v5/order/create")
    assert sent.headers["X-BAPI-TIMESTAMP"] == str(ts)
    payload = sent.url.split("?", 1)[1] if method == "GET" else (
        sent.body.decode() if isinstance(sent.body, bytes) else str(sent.body))
    recv = sent.headers["X-BAPI-RECV-WINDOW"]
    assert sent.headers["X-BAPI-SIGN"] == _oracle_signature("s3cret", f"{ts}k{recv}{payload}")
    assert session.retry_codes == set()


@given(expires=st.integers(0, 2**45), secret=st.text("abcdef0123456789", min_size=1))
def test_ws_auth_signature_is_bybits_hmac(expires: int, secret: str) -> None:
    assert ws_auth_signature(secret, expires) == _oracle_signature(
        secret, f"GET/realtime{expires}")
