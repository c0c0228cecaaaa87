"""The control endpoint of a running `trade run` (what `trade ctl` talks to).

`trade run` serves HTTP on 127.0.0.1 (a free port) and writes two files into its control
folder (`--control-dir`, default `runs/control` under the working folder):

* `ctl.token`: a random token (32 bytes, hex), created with mode 0600;
* `ctl.json`: the address and the process id (no secret in it).

Every request carries the token as `Authorization: Bearer <token>` (compared in constant
time); a request without it, or with another one, gets 401 and changes nothing. `trade ctl`
refuses a token file that anyone but its owner may read or write (mode & 0o077), so a token
left world-readable is never used; `trade run` refuses to reuse a folder whose `ctl.json`
names a process that is still alive. Both files are removed when the run ends.

One route: `POST /ctl` with a JSON body `{"action": "status|pause|resume|stop|flatten",
"play": NAME or null}`; the answer is JSON (`trade.live.multi.MultiRunner.control`).

Threading: the server runs on its own thread (one handler thread per request); the handler
calls `MultiRunner.control`, which runs each action on its Play's engine thread.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
import os
import secrets
import stat
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from trade.core import InputError, TradeError
from trade.live.multi import MultiRunner

log = logging.getLogger(__name__)
TOKEN_FILE = "ctl.token"
ADDRESS_FILE = "ctl.json"
MAX_BODY = 4096


class ControlError(TradeError):
    """The control endpoint could not be reached or refused the request."""


class ControlFolderBusy(InputError):
    """The control folder is in use by another running `trade run`."""


def write_token(path: Path) -> str:
    """A new random token in `path`, created with mode 0600 (an older file is replaced)."""
    token = secrets.token_hex(32)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    path.chmod(0o600)  # whatever the umask did
    return token


def read_token(path: Path) -> str:
    """The token in `path`; refused (InputError) when the file may be read or written by
    anyone but its owner, or is not a regular file."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise InputError(f"{path}: no control token (is `trade run` running with this "
                         "--control-dir?)") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: the control token is not a regular file")
    if st.st_mode & 0o077:
        raise InputError(f"{path}: the control token is readable or writable by others "
                         f"(mode {stat.S_IMODE(st.st_mode):o}); refusing it: chmod 600")
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise InputError(f"{path}: the control token is empty")
    return token


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ControlServer:
    """See the module docstring. `start`/`stop` on the owning thread."""

    def __init__(self, multi: MultiRunner, folder: Path) -> None:
        self.multi = multi
        self.folder = folder
        self.token = ""
        self.url = ""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ControlServer:
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--control-dir {folder} is a file: give a folder")
        folder.mkdir(parents=True, exist_ok=True)
        address = folder / ADDRESS_FILE
        if address.is_file():
            try:
                pid = int(json.loads(address.read_text(encoding="utf-8")).get("pid", 0))
            except (ValueError, AttributeError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise ControlFolderBusy(f"--control-dir {folder}: process {pid} is already "
                                        "controlled from there; give another --control-dir")
        self.token = write_token(folder / TOKEN_FILE)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        tmp = address.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": self.url, "pid": os.getpid()}), encoding="utf-8")
        tmp.replace(address)
        self._thread = threading.Thread(target=httpd.serve_forever, name="ctl-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None
        for name in (ADDRESS_FILE, TOKEN_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())


def _make_handler(server: ControlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trade-ctl"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=str, allow_nan=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST /ctl"})

        def do_POST(self) -> None:
            if not server.authorized(self.headers.get("Authorization")):
                log.warning("ctl: a request with a missing or wrong token was refused")
                self._send(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"})
                return
            if self.path.split("?", 1)[0] != "/ctl":
                self._send(HTTPStatus.NOT_FOUND, {"error": "POST /ctl"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise ValueError("body size")
                req = json.loads(self.rfile.read(length))
                action, play = str(req["action"]), req.get("play")
            except (ValueError, KeyError, TypeError):
                self._send(HTTPStatus.BAD_REQUEST, {"error": "expected {action, play}"})
                return
            try:
                out = server.multi.control(action, None if play is None else str(play))
            except InputError as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            self._send(HTTPStatus.OK, _finite(out))

    return Handler


def _finite(obj: Any) -> Any:
    """JSON-safe: NaN and infinities as null."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def send_control(folder: Path, action: str, play: str | None = None,
                 timeout_s: float = 30.0) -> dict[str, Any]:
    """Send one action to the `trade run` controlled from `folder`; returns its answer.

    Parameters
    ----------
    folder : Path
        The run's control folder (its `--control-dir`).
    action : str
        status, pause, resume, stop or flatten.
    play : str, optional
        One Play's name or symbol (default: every Play).
    timeout_s : float
        Seconds to wait for the answer.

    Returns
    -------
    dict
        The run's answer: ``{"action", "plays": {name: {...}}, "account": {...}}``.

    Raises
    ------
    InputError
        No control files in `folder`, or a token file others may read.
    ControlError
        The run could not be reached or refused the request.
    """
    token = read_token(folder / TOKEN_FILE)
    try:
        url = str(json.loads((folder / ADDRESS_FILE).read_text(encoding="utf-8"))["url"])
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise InputError(f"{folder / ADDRESS_FILE}: no usable control address ({exc})") from None
    if not url.startswith("http://127.0.0.1:"):
        raise InputError(f"{folder / ADDRESS_FILE}: the control address {url!r} is not local")
    body = json.dumps({"action": action, "play": play}).encode()
    req = urllib.request.Request(f"{url}/ctl", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            out: dict[str, Any] = json.loads(resp.read())
            return out
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", "")
        except ValueError:
            detail = ""
        raise ControlError(f"the run refused {action}: HTTP {exc.code} {detail}".strip()
                           ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ControlError(f"the run at {url} could not be reached: {exc}") from None


__all__ = ["ADDRESS_FILE", "TOKEN_FILE", "ControlError", "ControlServer", "read_token",
           "send_control", "write_token"]


def start_control(multi: MultiRunner, folder: Path, *, explicit: bool) -> ControlServer:
    """Start the control endpoint in `folder`; when the folder was not asked for (`explicit`
    False: the default `runs/control`) and another running `trade run` holds it, in
    `<folder>-<pid>` beside it instead, so several runs in one working folder keep running
    as before (the run prints where its endpoint is). An asked-for folder in use is refused.

    Raises
    ------
    ControlFolderBusy
        `explicit` and another live process holds `folder`.
    InputError
        `folder` is a file.
    """
    try:
        return ControlServer(multi, folder).start()
    except ControlFolderBusy:
        if explicit:
            raise
        return ControlServer(multi, folder.with_name(f"{folder.name}-{os.getpid()}")).start()
