"""Where notification URLs come from: the environment or a 0600 file.

`TRADE_NOTIFY_URLS` holds apprise URLs separated by commas, spaces or newlines; a file
(`--notify FILE`, or `TRADE_NOTIFY_FILE`) holds one URL a line, `#` comments and blank
lines, and must not be readable by group or others (mode 0600 or stricter). A looser
file, a folder, or a URL apprise does not know is refused in one line naming the file
and line, never echoing a URL's secret parts (`redact_url`).

Pure functions; any thread.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from trade.core import InputError

#: environment variable: notification URLs, separated by commas or whitespace
ENV_URLS = "TRADE_NOTIFY_URLS"
#: environment variable: a 0600 file of notification URLs (wins over ENV_URLS)
ENV_FILE = "TRADE_NOTIFY_FILE"
MASK = "***"


class NotifyConfigError(InputError):
    """A notification URL source the user must fix (one line, no secret in it)."""


def redact_url(url: str) -> str:
    """``scheme://host[:port]/***``: what may be shown of a notification URL.

    Tokens live in the user part, the path (Discord/Telegram/Slack put them there) and the
    query, so only the scheme, host and port are kept.

    Parameters
    ----------
    url : str

    Returns
    -------
    str
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port or bracket: show the scheme alone
        return f"{url.split(':', 1)[0][:16]}://{MASK}"
    scheme = parts.scheme or "?"
    # the host of a token-in-host URL (tgram://BOTTOKEN/...) is itself the secret
    shown = host if "." in host or host == "localhost" else MASK
    rest = f"/{MASK}" if parts.path.strip("/") or parts.query or parts.username else ""
    return f"{scheme}://{shown}{port}{rest}"


def split_urls(text: str) -> list[str]:
    """URLs separated by commas, whitespace or newlines; `#` starts a comment line."""
    urls: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        urls.extend(u for u in re.split(r"[,\s]+", line) if u)
    return urls


def read_url_file(path: Path) -> list[str]:
    """The URLs of a notification file, one a line (``#`` comments and blank lines skipped).

    Parameters
    ----------
    path : Path
        Must be a file readable by its owner only (0600), like a key file.

    Returns
    -------
    list of str

    Raises
    ------
    NotifyConfigError
        The file is missing, a folder, readable by others, or holds a malformed URL.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotifyConfigError(f"{path}: notification URL file not found") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotifyConfigError(f"{path}: is a folder, not a notification URL file")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    # secrets: a file others may read is refused, never read
    if loose:
        raise NotifyConfigError(
            f"{path}: notification URL file is readable by others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}`")
    urls: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if "://" not in text or any(c.isspace() for c in text):
            raise NotifyConfigError(
                f"{path}:{n}: expected one apprise URL (scheme://...), got "
                f"{redact_url(text) if '://' in text else 'text without a scheme'}")
        urls.append(text)
    return urls


def load_urls(path: Path | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The notification URLs: from `path`, else the file `$TRADE_NOTIFY_FILE`, else the list
    `$TRADE_NOTIFY_URLS`.

    Parameters
    ----------
    path : Path, optional
        A 0600 file of URLs, one a line.
    env : Mapping[str, str], optional
        The environment (default `os.environ`).

    Returns
    -------
    list of str
        Empty when nothing is configured.

    Raises
    ------
    NotifyConfigError
        The file is missing, a folder, readable by others, or holds a malformed URL.
    """
    env = os.environ if env is None else env
    if path is None and env.get(ENV_FILE):
        path = Path(env[ENV_FILE])
    if path is not None:
        return read_url_file(path)
    return split_urls(env.get(ENV_URLS, ""))


__all__ = ["ENV_FILE", "ENV_URLS", "NotifyConfigError", "load_urls", "read_url_file",
           "redact_url", "split_urls"]
