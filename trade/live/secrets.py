"""API credentials: where they come from, and keeping them out of every text we write.

Sources, in order: an explicit file (`--keys FILE`, `BYBIT_KEYS_FILE`), then the
environment. Demo sessions read `BYBIT_DEMO_API_KEY` / `BYBIT_DEMO_API_SECRET` first
(falling back to `BYBIT_API_KEY` / `BYBIT_API_SECRET`); live sessions read only
`BYBIT_API_KEY` / `BYBIT_API_SECRET`. A key file holds two lines `api_key=...` and
`api_secret=...` (or `KEY SECRET` alone on one line), `#` comments and blank lines, and
must not be readable by group or others (mode 0600 or stricter): a looser file, a folder,
or any other line (`apikey X`, an unknown name, a repeated name) is refused naming the
line, never echoing a value.

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
    """`text` with every registered secret replaced by ``***``.

    Every log line, journal record and error message goes through it.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
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


_KEY_NAMES = {"api_key": "api_key", "bybit_api_key": "api_key",
              "api_secret": "api_secret", "bybit_api_secret": "api_secret"}
# the first word of a `name value` line someone meant as `name=value` (never a real key)
_NAME_LIKE = {"apikey", "apisecret", "key", "secret", "bybitapikey", "bybitapisecret",
              "apikeyid", "secretkey"}


def _parse_key_lines(path: Path, text: str) -> tuple[str, str]:
    """(key, secret) from the documented forms only: `api_key=...` and `api_secret=...`
    lines, or one `KEY SECRET` line. Anything else is refused naming the line (1-based, in
    the file), never echoing a value."""
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1)]
    lines = [(i, ln) for i, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputError(f"key file {path} is empty (expected api_key=... and api_secret=...)")
    if len(lines) == 1 and "=" not in lines[0][1]:
        i, line = lines[0]
        words = line.split()
        if len(words) != 2 or words[0].lower().replace("_", "").replace("-", "") in _NAME_LIKE:
            raise InputError(f"key file {path}: line {i} is neither `name=value` nor "
                             "`KEY SECRET` (a name needs `=`, e.g. api_key=...)")
        return words[0], words[1]
    values: dict[str, str] = {}
    for i, line in lines:
        name, eq, value = line.partition("=")
        if not eq:
            raise InputError(f"key file {path}: line {i} has no `=` (expected api_key=... "
                             "or api_secret=...)")
        ours = _KEY_NAMES.get(name.strip().lower())
        if ours is None:
            raise InputError(f"key file {path}: line {i} names neither api_key nor api_secret")
        value = value.strip().strip("'\"")
        if not value or any(c.isspace() for c in value):
            raise InputError(f"key file {path}: line {i}: the {ours} value is empty or "
                             "contains spaces")
        if ours in values:
            raise InputError(f"key file {path}: line {i} sets {ours} a second time")
        values[ours] = value
    missing = [k for k in ("api_key", "api_secret") if k not in values]
    if missing:
        raise InputError(f"key file {path} must define api_key and api_secret "
                         f"({' and '.join(missing)} missing)")
    return values["api_key"], values["api_secret"]


def read_key_file(path: Path) -> Credentials:
    """Credentials from a 0600 file; refuses looser permissions and anything but the
    documented forms (see `_parse_key_lines`). Errors never echo values."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"key file {path} is a folder; --keys takes a file with api_key=... "
                         "and api_secret=... lines")
    if not path.is_file():
        raise InputError(f"key file {path} does not exist")
    _check_permissions(path)
    try:
        text = path.read_bytes()[:65_536].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"key file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"key file {path}: cannot read it ({exc.strerror})") from None
    key, secret = _parse_key_lines(path, text)
    return Credentials(key, secret, source=str(path))


def load_credentials(mode: str, *, key_file: Path | None = None,
                     env: Mapping[str, str] | None = None) -> Credentials:
    """The key pair for a demo or live session (see the module docstring for the order).

    Parameters
    ----------
    mode : str
        ``"demo"`` or ``"live"``.
    key_file : Path, optional
        A 0600 file with ``api_key=`` and ``api_secret=`` lines (else `$BYBIT_KEYS_FILE`,
        else the environment variables).
    env : Mapping[str, str], optional
        The environment (default `os.environ`).

    Returns
    -------
    Credentials
        Registered with `redact`.

    Raises
    ------
    InputError
        `mode` is neither demo nor live, no keys are configured, or the key file is
        missing, readable by others or malformed.
    """
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
