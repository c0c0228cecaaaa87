"""The one module of `trade` that touches pybit's private API.

pybit offers no public way to do five things `trade` needs, so this module overrides or
calls its private members -- and nothing else in the package does
(tests/test_private_names.py). Every hook is listed in `PRIVATE_HOOKS` with the reason;
tests/test_live_pybit_hooks.py checks each against the installed pybit (the member
exists, with the parameters used here) and fails loudly, naming the hook, when an
upgrade changes one. The hooks, by need:

1. **Another host** (the exchange simulator, `--endpoint`). pybit builds its REST base
   URL once in `HTTP.__post_init__` and keeps it in `endpoint`, which every request
   reads, so `make_http` assigns it after construction. Its WebSocket formats the URL
   from a template inside `_connect`; `RedirectedWebSocket` overrides `_connect` to keep
   the path pybit chose (`/v5/public/linear`, `/v5/private`) and replace scheme and host
   with `ws_base`. Reconnects call `_connect(self.endpoint)` again: the same URL.
2. **Signing with a corrected clock.** pybit signs with the raw system clock inside
   `_prepare_headers`; `SyncedHTTP` overrides it to take the timestamp from
   `timestamp_ms` and builds the same headers with pybit's own `_auth` / `_auth_binary`.
3. **One request, no hidden retries.** `send_request` calls `_submit_request`, pybit's
   only entry that takes a method and path (its typed methods cover fixed endpoints),
   returning `(body, elapsed, headers)` with `return_response_headers=True`. pybit's
   retry loop sleeps with `time.sleep`: `no_pybit_retries` empties `retry_codes` after
   construction (pybit replaces an empty set given to the constructor by its defaults).
4. **WebSocket events as callbacks.** pybit's `_WebSocketManager` reports through
   private methods (`_on_message`, `_on_error`, `_on_close`, `_on_open`, `_on_pong`),
   reconnects inside `_on_error` and pings on a timer (`_send_initial_ping`).
   `CallbackWebSocket` overrides them to forward every event to `SocketCallbacks` (which
   must never raise: an exception there ends pybit's thread), so the live stack owns
   reconnection and pings; `_auth` sends the frame built by the callbacks, signed with
   the corrected clock through `ws_auth_signature` (pybit's `generate_signature`).
5. **Writing to and closing a socket.** `send_text`, `close_socket` and `join_socket` use
   pybit's undocumented `ws` (the websocket-client app), `wst` (its reader thread) and
   `exited`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pybit._http_manager import generate_signature
from pybit.unified_trading import HTTP, WebSocket

#: the pybit release the hooks were written against (the test names it when one breaks)
PYBIT_VERSION_WRITTEN_FOR = "5.17.0"

HookKind = Literal["override", "call", "function", "attribute"]


@dataclass(frozen=True)
class PrivateHook:
    """One pybit member this module relies on.

    Attributes
    ----------
    owner : str
        Dotted path of the pybit module or class holding it.
    name : str
        The member's name.
    kind : {"override", "call", "function", "attribute"}
        Overridden in a subclass, called, a module function, or an instance attribute
        read or written (attributes are found in the source of `set_in`).
    parameters : tuple of str, optional
        The parameter names (without ``self``) it must keep, for methods and functions.
    set_in : str, optional
        For an attribute: the method of `owner` that assigns it.
    why : str
        What `trade` needs it for.
    """

    owner: str
    name: str
    kind: HookKind
    parameters: tuple[str, ...] | None
    why: str
    set_in: str | None = None


_HTTP = "pybit._http_manager._V5HTTPManager"
_WS = "pybit._websocket_stream._WebSocketManager"

#: every private (or undocumented) pybit member used here, with the reason
PRIVATE_HOOKS: tuple[PrivateHook, ...] = (
    PrivateHook(_HTTP, "endpoint", "attribute", None, set_in="__post_init__",
                why="the REST base URL, read on every request: assigned to reach another host"),
    PrivateHook(_HTTP, "retry_codes", "attribute", None, set_in="__post_init__",
                why="pybit's retry loop sleeps with time.sleep; emptied after construction"),
    PrivateHook(_HTTP, "client", "attribute", None, set_in="__post_init__",
                why="the requests.Session, closed to release the connections"),
    PrivateHook(_HTTP, "_prepare_headers", "override",
                ("payload", "recv_window", "content_type"),
                why="sign with the time-synced clock instead of the raw system clock"),
    PrivateHook(_HTTP, "_auth", "call", ("payload", "recv_window", "timestamp"),
                why="pybit's own HMAC/RSA signature of a text payload"),
    PrivateHook(_HTTP, "_auth_binary", "call", ("payload", "recv_window", "timestamp"),
                why="pybit's own signature of a binary payload"),
    PrivateHook(_HTTP, "_submit_request", "call", ("method", "path", "query", "auth"),
                why="one signed request to any path; the typed methods cover fixed endpoints"),
    PrivateHook("pybit._http_manager", "generate_signature", "function",
                ("use_rsa_authentication", "secret", "param_str"),
                why="the WebSocket auth signature, with the time-synced expiry"),
    PrivateHook(_WS, "_connect", "override", ("url",),
                why="connect to another host, keeping pybit's path"),
    PrivateHook(_WS, "_on_message", "override", ("message",),
                why="every incoming frame goes to the caller's callback"),
    PrivateHook(_WS, "_on_error", "override", ("error",),
                why="pybit reconnects (or raises in its thread) here; the caller decides"),
    PrivateHook(_WS, "_on_close", "override", (), why="closing reported to the caller"),
    PrivateHook(_WS, "_on_open", "override", (), why="opening reported to the caller"),
    PrivateHook(_WS, "_on_pong", "override", (),
                why="pong frames reported to the caller's health monitor"),
    PrivateHook(_WS, "_send_initial_ping", "override", (),
                why="pybit's ping timer is off: the caller pings and watches the pongs"),
    PrivateHook(_WS, "_auth", "override", (),
                why="the auth frame is built by the caller (time-synced expiry)"),
    PrivateHook(_WS, "ws", "attribute", None, set_in="_connect",
                why="the websocket-client app: frames are sent and the socket closed on it"),
    PrivateHook(_WS, "wst", "attribute", None, set_in="_connect",
                why="the reader thread, joined on close (a condition, never a sleep)"),
    PrivateHook(_WS, "exited", "attribute", None, set_in="_reset",
                why="set before closing so pybit's callbacks treat the close as wanted"),
)


# ============================================================================ REST
def make_http(
    base_url: str | None,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    http_cls: type[HTTP] = HTTP,
    **kwargs: Any,
) -> HTTP:
    """A pybit `HTTP` session whose every request goes to `base_url`.

    Parameters
    ----------
    base_url : str or None
        The REST base URL (e.g. the simulator's ``http://127.0.0.1:8099``); None keeps the
        host pybit chose from its own flags (`testnet`, `demo`, ...).
    api_key, api_secret : str, optional
        Credentials for signed endpoints.
    http_cls : type
        pybit's `HTTP` or a subclass (such as `SyncedHTTP`).
    **kwargs
        Passed to `http_cls`.

    Returns
    -------
    HTTP
        An instance of `http_cls`.
    """
    session = http_cls(api_key=api_key, api_secret=api_secret, **kwargs)
    if base_url:
        session.endpoint = base_url.rstrip("/")  # pybit reads `endpoint` on every request
    return session


class SyncedHTTP(HTTP):  # type: ignore[misc]
    """pybit's HTTP session, signing requests with a corrected timestamp.

    pybit computes the signing timestamp in `_prepare_headers` from the system clock;
    this override takes it from `timestamp_ms` (None: pybit's own clock) and otherwise
    builds the very same headers through pybit's own `_auth`."""

    timestamp_ms: Callable[[], int] | None = None

    def _prepare_headers(self, payload: Any, recv_window: int,
                         content_type: str = "application/json") -> dict[str, str]:
        source = self.timestamp_ms
        if source is None:
            headers: dict[str, str] = super()._prepare_headers(payload, recv_window,
                                                               content_type)
            return headers
        timestamp = int(source())
        if isinstance(payload, bytes):
            signature = self._auth_binary(payload=payload, recv_window=recv_window,
                                          timestamp=timestamp)
        else:
            signature = self._auth(payload=payload, recv_window=recv_window,
                                   timestamp=timestamp)
        return {
            "Content-Type": content_type,
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-SIGN": signature,
            "X-BAPI-SIGN-TYPE": "2",
            "X-BAPI-TIMESTAMP": str(timestamp),
            "X-BAPI-RECV-WINDOW": str(recv_window),
        }


def no_pybit_retries(session: HTTP) -> None:
    """Switch off pybit's retry of error codes (it sleeps with `time.sleep`).

    pybit replaces an empty `retry_codes` given to its constructor by its defaults, so
    the set is emptied after construction; pass ``max_retries=1`` for network errors.
    """
    session.retry_codes = set()


def send_request(session: HTTP, method: str, path: str, query: Mapping[str, Any],
                 *, auth: bool) -> tuple[Any, Any, Mapping[str, str]]:
    """One request to `path` under the session's endpoint, signed when `auth`.

    Parameters
    ----------
    session : HTTP
        Built with ``return_response_headers=True``.
    method : str
        ``"GET"`` or ``"POST"``.
    path : str
        E.g. ``"/v5/order/create"``.
    query : Mapping
        Query parameters (GET) or the JSON body (POST).
    auth : bool
        Sign the request.

    Returns
    -------
    tuple
        ``(body, elapsed, headers)``: the decoded JSON, pybit's elapsed time, the
        response headers.

    Raises
    ------
    pybit.exceptions.InvalidRequestError
        Bybit answered with a non-zero `retCode`.
    pybit.exceptions.FailedRequestError
        An HTTP status other than 200, or pybit's attempts ran out.
    requests.RequestException
        The request could not be sent (connection, timeout, malformed URL).
    """
    reply: tuple[Any, Any, Mapping[str, str]] = session._submit_request(
        method=method, path=f"{session.endpoint}{path}", query=dict(query), auth=auth)
    return reply


def close_http(session: HTTP) -> None:
    """Release the session's pooled connections (its `requests.Session`)."""
    session.client.close()


# ============================================================================ WebSocket
def _redirect(url: str, ws_base: str) -> str:
    """`wss://{SUBDOMAIN}.bybit.com/v5/private` -> `<ws_base>/v5/private`."""
    marker = url.find("/v5/")
    if marker < 0:
        raise ValueError(f"pybit WebSocket URL {url!r} has no /v5/ path to keep")
    return ws_base.rstrip("/") + url[marker:]


class RedirectedWebSocket(WebSocket):  # type: ignore[misc]
    """pybit's V5 WebSocket, connecting to `ws_base` instead of Bybit's hosts."""

    def __init__(self, channel_type: str, *, ws_base: str, **kwargs: Any) -> None:
        self._ws_base = ws_base  # set before super().__init__, which connects
        super().__init__(channel_type, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(_redirect(url, self._ws_base))


def make_websocket(
    ws_base: str,
    channel_type: str,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    **kwargs: Any,
) -> RedirectedWebSocket:
    """A pybit `WebSocket` connected to another host.

    Parameters
    ----------
    ws_base : str
        ``ws://host:port`` (the simulator's `ws_base`).
    channel_type : str
        ``"linear"`` (public market data) or ``"private"``.
    api_key, api_secret : str, optional
        Credentials (the private channel needs them).
    **kwargs
        Passed to pybit's `WebSocket` (``testnet`` defaults to False).

    Returns
    -------
    RedirectedWebSocket
        Connected (pybit connects in its constructor).

    Raises
    ------
    websocket.WebSocketException
        pybit could not connect.
    """
    kwargs.setdefault("testnet", False)
    return RedirectedWebSocket(
        channel_type, ws_base=ws_base, api_key=api_key, api_secret=api_secret, **kwargs
    )


@dataclass(frozen=True)
class SocketCallbacks:
    """Where a `CallbackWebSocket` reports. Called on pybit's threads: none may raise.

    Attributes
    ----------
    on_message : callable
        Every text frame, undecoded.
    on_error : callable
        A socket error (pybit neither reconnects nor raises).
    on_close, on_open, on_pong : callable
        Connection closed, opened; a pong frame arrived.
    auth_frame : callable, optional
        Builds the auth text frame, sent when the socket has credentials (see
        `ws_auth_signature`); None keeps pybit's own (raw system clock).
    """

    on_message: Callable[[str], None]
    on_error: Callable[[Exception], None]
    on_close: Callable[[], None]
    on_open: Callable[[], None]
    on_pong: Callable[[], None]
    auth_frame: Callable[[], str] | None = None


class _CallbackHooks:
    """The overrides of pybit's `_WebSocketManager` hooks (see the module docstring, 4)."""

    _callbacks: SocketCallbacks
    ws: Any

    def _on_message(self, message: str) -> None:
        self._callbacks.on_message(message)

    def _on_error(self, error: Exception) -> None:
        self._callbacks.on_error(error)

    def _on_close(self) -> None:
        self._callbacks.on_close()

    def _on_open(self) -> None:
        self._callbacks.on_open()

    def _on_pong(self) -> None:
        self._callbacks.on_pong()

    def _send_initial_ping(self) -> None:
        """The caller sends Bybit's text pings itself."""

    def _auth(self) -> None:
        build = self._callbacks.auth_frame
        if build is None:
            super()._auth()  # type: ignore[misc]
            return
        self.ws.send(build())


class CallbackWebSocket(_CallbackHooks, WebSocket):  # type: ignore[misc]
    """pybit's V5 WebSocket on Bybit's hosts, reporting every event to `callbacks`.

    Pass ``restart_on_error=False``: reconnection is the caller's."""

    def __init__(self, channel_type: str, *, callbacks: SocketCallbacks, **kwargs: Any) -> None:
        self._callbacks = callbacks  # before super().__init__, which connects
        super().__init__(channel_type, **kwargs)


class CallbackRedirectedWebSocket(_CallbackHooks, RedirectedWebSocket):
    """`CallbackWebSocket` connecting to `ws_base` (see `RedirectedWebSocket`)."""

    def __init__(self, channel_type: str, *, callbacks: SocketCallbacks, ws_base: str,
                 **kwargs: Any) -> None:
        self._callbacks = callbacks
        super().__init__(channel_type, ws_base=ws_base, **kwargs)


def ws_auth_signature(api_secret: str, expires_ms: int) -> str:
    """Bybit's WebSocket auth signature (HMAC) for an expiry in ms since the epoch."""
    signature: str = generate_signature(False, api_secret, f"GET/realtime{expires_ms}")
    return signature


def send_text(socket: WebSocket, text: str) -> None:
    """Send one text frame on a connected pybit WebSocket.

    Raises
    ------
    websocket.WebSocketException, OSError
        The socket is closed or the send failed.
    """
    socket.ws.send(text)


def close_socket(socket: WebSocket) -> None:
    """Close a pybit WebSocket (then `join_socket` waits for its reader thread).

    Raises
    ------
    websocket.WebSocketException, OSError
        Closing the socket failed.
    """
    socket.exited = True  # pybit's callbacks now treat the close as wanted
    app = getattr(socket, "ws", None)  # absent when the connection never opened
    if app is not None:
        app.close()


def join_socket(socket: WebSocket, timeout_s: float = 5.0) -> bool:
    """Wait for a closed pybit WebSocket's reader thread to end (a join, never a sleep).

    Returns
    -------
    bool
        False when the thread was still running after `timeout_s`.
    """
    thread = getattr(socket, "wst", None)  # absent when the connection never opened
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout_s)
        return not thread.is_alive()
    return True
