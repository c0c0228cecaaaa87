"""Keep secrets out of notification text.

A message is scrubbed twice: by value (every registered secret, e.g. the API key and
secret the session loaded, and every notification URL's own credentials) and by shape
(URL user:password, `key=value` pairs whose name says key/secret/token/password/sign,
Bybit's `X-BAPI-*` headers). Scrubbing is the last step before a message is queued.

Thread-safety: a Scrubber is immutable after construction except `add`, which takes a
lock; `scrub` may be called from any thread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

MASK = "***"
_SECRET_NAME = r"[\w-]*(?:key|secret|token|passw(?:or)?d|pwd|sign(?:ature)?|auth\w*|cookie)"
# name=value / name: value / "name": "value" where the name says it is a secret
_PAIR = re.compile(rf"""(?ix)
    (?P<name>["']?{_SECRET_NAME}["']?\s*[:=]\s*)
    (?P<q>["']?)(?P<value>[^\s"',;&}}]+)""")
_URL_CREDS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<creds>[^/\s@]+)@", re.I)
_BAPI = re.compile(r"(?i)(x-bapi-[a-z-]+\s*[:=]\s*)\S+")
_MIN_LEN = 4  # shorter registered values are not secrets but would mask common text


def url_secrets(url: str) -> list[str]:
    """The parts of a notification URL that may be credentials.

    User, password, path segments and query values, registered so that a message quoting
    them is masked.

    Parameters
    ----------
    url : str

    Returns
    -------
    list of str
    """
    out: list[str] = []
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return [url]
    out += [p for p in (parts.username, parts.password) if p]
    if host and "." not in host and host != "localhost":
        out.append(host)  # tgram://BOTTOKEN/chat: the host is the token
    out += [unquote(seg) for seg in parts.path.split("/") if seg]
    out += [unquote(kv.split("=", 1)[1]) for kv in parts.query.split("&") if "=" in kv]
    return [s for s in out if len(s) >= _MIN_LEN]


class Scrubber:
    """See the module docstring."""

    def __init__(self, secrets: Iterable[str] = (),
                 redact: Callable[[str], str] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._redact = redact  # an outer registry (e.g. trade.live.secrets.redact)
        for s in secrets:
            self.add(s)

    def add(self, value: str) -> None:
        if len(value) >= _MIN_LEN:
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)  # longest first
        for v in values:
            text = text.replace(v, MASK)
        text = _URL_CREDS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
        text = _BAPI.sub(lambda m: f"{m.group(1)}{MASK}", text)
        text = _PAIR.sub(lambda m: f"{m.group('name')}{m.group('q')}{MASK}", text)
        if self._redact is not None:
            text = self._redact(text)
        return text


__all__ = ["MASK", "Scrubber", "url_secrets"]
