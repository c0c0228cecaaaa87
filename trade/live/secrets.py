"""API credentials: where they come from, and keeping them out of every text we write.

Sources, in order: an explicit file (`--keys FILE`, `BYBIT_KEYS_FILE`), then the
environment. Demo sessions read `BYBIT_DEMO_API_KEY` / `BYBIT_DEMO_API_SECRET` first
(falling back to `BYBIT_API_KEY` / `BYBIT_API_SECRET`); live sessions read only
`BYBIT_API_KEY` / `BYBIT_API_SECRET`. A key file holds two lines `api_key=...` and
`api_secret=...` (or `key secret` on one line) and must not be readable by group or
others (mode 0600 or stricter): a looser file is refused.

Every loaded secret is registered with `redact`, which the journal, the log filter and
every `BybitError` message go through, so neither the key nor the secret is ever written.

Thread-safety: the registry is guarded by a lock; every function may be called from any
thread.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trade.core import InputError

_LOCK = threading.Lock()
_SECRETS: set[str] = set()
MASK = "***"


def register_secret(value: str) -> None:
    """Remember a value that must never be written anywhere (short values are ignored)."""
    if len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts registered secrets from a record's final message.

    Attach it to the handlers you own (the CLI does); it installs nothing globally."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair; `repr`/`str` never show either part."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise InputError(f"empty API key or secret ({self.source or 'credentials'})")
        register_secret(self.api_key)
        register_secret(self.api_secret)

    def __str__(self) -> str:
        return f"Credentials(key={MASK}, source={self.source!r})"


def _check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"key file {path} is readable by group/others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )


def read_key_file(path: Path) -> Credentials:
    """Credentials from a 0600 file; refuses looser permissions. Errors never echo values."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"key file {path} does not exist")
    _check_permissions(path)
    values: dict[str, str] = {}
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for i, line in enumerate(lines, 1):
        if "=" in line:
            name, _, value = line.partition("=")
            values[name.strip().lower()] = value.strip().strip("'\"")
        elif len(line.split()) == 2:
            values["api_key"], values["api_secret"] = line.split()
        else:
            raise InputError(f"key file {path}: line {i} is neither `name=value` nor "
                             "`key secret`")
    key = values.get("api_key") or values.get("bybit_api_key") or ""
    secret = values.get("api_secret") or values.get("bybit_api_secret") or ""
    if not key or not secret:
        raise InputError(f"key file {path} must define api_key and api_secret")
    return Credentials(key, secret, source=str(path))


def load_credentials(mode: str, *, key_file: Path | None = None,
                     env: Mapping[str, str] | None = None) -> Credentials:
    """The key pair for a `demo` or `live` session (see the module docstring)."""
    env = os.environ if env is None else env
    if mode not in ("demo", "live"):
        raise InputError(f"credentials are for demo or live sessions, not {mode!r}")
    file_name = key_file or (Path(env["BYBIT_KEYS_FILE"]) if env.get("BYBIT_KEYS_FILE") else None)
    if file_name is not None:
        return read_key_file(Path(file_name))
    names = [("BYBIT_API_KEY", "BYBIT_API_SECRET")]
    if mode == "demo":
        names.insert(0, ("BYBIT_DEMO_API_KEY", "BYBIT_DEMO_API_SECRET"))
    for key_name, secret_name in names:
        key, secret = env.get(key_name, ""), env.get(secret_name, "")
        if key and secret:
            return Credentials(key, secret, source=f"${key_name}")
    wanted = " or ".join(f"{k}/{s}" for k, s in names)
    raise InputError(f"no API keys for a {mode} session: set {wanted}, or pass a 0600 key "
                     "file with --keys")
