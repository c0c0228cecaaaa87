"""`trade exchange-sim` start-up failures: one clear line, exit 2, no traceback, no hang."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from tests.conftest_exsim import make_server, synthetic_bars
from trade.core import InputError


@pytest.fixture()
def bars_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bars.csv"
    pacsv.write_csv(synthetic_bars(n=30), path)
    return path


@pytest.fixture()
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trade", "exchange-sim", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("port", ["busy", "99999", "-1"])
def test_bad_port_is_one_line_exit_2(bars_csv: Path, busy_port: int, port: str) -> None:
    value = str(busy_port) if port == "busy" else port
    done = _run("--data-dir", str(bars_csv), "--port", value)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    if port == "busy":
        assert f"127.0.0.1:{busy_port}" in lines[0] and "in use" in lines[0]
    else:
        assert "--port" in lines[0] and value in lines[0]


def test_server_refuses_out_of_range_port_at_once() -> None:
    with pytest.raises(InputError, match=r"0\.\.65535"):
        make_server(port=99999)


def test_busy_port_raises_input_error_and_leaves_no_thread(busy_port: int) -> None:
    server = make_server(port=busy_port)
    with pytest.raises(InputError, match="in use"):
        server.start()
    assert server._thread is None


def test_a_lowercase_symbol_is_listed_upper_case_and_a_bad_one_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bybit symbols are upper case: `--symbol btcusdt` serves BTCUSDT (the store's folder),
    never a second, lower-case market; `btc/usdt` is refused (InputError)."""
    from click.testing import CliRunner

    import trade.exchange_sim as exsim
    from trade.cli import cli
    from trade.data import import_file, open_store

    csv = tmp_path / "b.csv"
    pacsv.write_csv(synthetic_bars(n=30), csv)
    store = tmp_path / "store"
    import_file(open_store(store), csv, "BTCUSDT")
    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def capture(bars: dict[str, object], **kwargs: object) -> None:
        seen.update(bars=sorted(bars), symbol=kwargs["symbol"])
        raise Stop

    monkeypatch.setattr(exsim, "ExchangeSimServer", capture)
    res = CliRunner().invoke(cli, ["exchange-sim", "--data-dir", str(store), "--symbol",
                                   "btcusdt", "--symbol", "BTCUSDT"])
    assert isinstance(res.exception, Stop), res.output
    assert seen == {"bars": ["BTCUSDT"], "symbol": "BTCUSDT"}
    res = CliRunner().invoke(cli, ["exchange-sim", "--data-dir", str(store), "--symbol",
                                   "btc/usdt"])
    assert isinstance(res.exception, InputError)  # `trade` prints it as one line, exit 2
    assert "bad symbol 'btc/usdt'" in str(res.exception)
