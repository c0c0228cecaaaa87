"""The one place that points unmodified pybit at another host (the simulator, or any URL).

pybit 5.17 builds its REST base URL once in `HTTP.__post_init__` and keeps it in
`endpoint`, so assigning `session.endpoint` after construction redirects every call.
Its WebSocket formats the URL inside `_connect` from a template; `RedirectedWebSocket`
overrides `_connect` to keep the path pybit chose (`/v5/public/linear`, `/v5/private`)
and replace scheme+host with `ws_base`. Reconnects call `_connect(self.endpoint)`
again, which maps to the same URL. The live stack's `--endpoint` uses these too.
"""

from __future__ import annotations

from typing import Any

from pybit.unified_trading import HTTP, WebSocket


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


def make_http(
    base_url: str | None,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    http_cls: type[HTTP] = HTTP,
    **kwargs: Any,
) -> HTTP:
    """A pybit `HTTP` session (an instance of `http_cls`, pybit's `HTTP` or a subclass)
    whose every request goes to `base_url` (e.g. the simulator); `base_url=None` keeps
    the host pybit chose from its own flags (`testnet`, `demo`, ...)."""
    session = http_cls(api_key=api_key, api_secret=api_secret, **kwargs)
    if base_url:
        session.endpoint = base_url.rstrip("/")  # pybit reads `endpoint` on every request
    return session


def make_websocket(
    ws_base: str,
    channel_type: str,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    **kwargs: Any,
) -> RedirectedWebSocket:
    """A pybit `WebSocket` ("linear" or "private") connected to `ws_base` (ws://host:port)."""
    kwargs.setdefault("testnet", False)
    return RedirectedWebSocket(
        channel_type, ws_base=ws_base, api_key=api_key, api_secret=api_secret, **kwargs
    )
