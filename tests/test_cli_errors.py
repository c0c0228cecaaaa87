"""`trade` tells a user's mistake from a bug.

A mistake in the input (`InputError` and the other `TradeError`s, or an `OSError`) prints
one line ``error: ...`` and exits 2; any other exception is a bug: ``internal error: ...``
with a pointer to ``--debug``, exit 70, never dressed up as bad input. ``--debug`` (or
``TRADE_DEBUG=1``) adds the traceback to either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trade.cli.data_cmd
from trade.cli import main
from trade.cli.errors import INTERNAL_ERROR_EXIT, USER_ERROR_EXIT
from trade.core import InputError, TradeError
from trade.data import NoDataError
from trade.live.client import ws_base_of
from trade.live.protect import ProtectionPolicy
from trade.play import PlayError, interval_ms, parse_duration_ms
from trade.play.errors import PlayIssue

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`trade ARGS` in this process: (exit status, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def raising(exc: BaseException) -> Callable[..., NoReturn]:
    def boom(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise exc

    return boom


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


# --------------------------------------------------------------------------- user mistakes
USER_MISTAKES: list[tuple[tuple[str, ...], str]] = [
    (("data", "synth", "--start", "not-a-date"), "is not a date"),
    (("data", "check", "NOSUCH"), "no 1m bars stored for NOSUCH"),
    (("data", "delete-month", "BTCUSDT", "2024-13x"), "expected YYYY-MM"),
    (("backtest", str(PLAY), "--start", "2024-01-01"), "no 1m bars"),
    (("exchange-sim", "--data-dir", ".", "--symbol", "BTCUSDT", "--balance", "-5"),
     "--balance -5"),
    (("data", "fetch", "BTCUSDT", "--start", "2024-01-01", "--endpoint", "ftp://x"),
     "not an http(s) URL"),
]


@pytest.mark.parametrize(("args", "needle"), USER_MISTAKES)
def test_a_user_mistake_is_one_line_and_exit_2(
        args: tuple[str, ...], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TRADE_DEBUG", raising=False)
    code, err = run(capsys, *args)
    assert code == USER_ERROR_EXIT, err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0]
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(("args", "needle"), USER_MISTAKES[:3])
def test_debug_adds_the_traceback_of_a_user_mistake(
        args: tuple[str, ...], needle: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "data"))
    code, err = run(capsys, "--debug", *args)
    assert code == USER_ERROR_EXIT
    assert "Traceback (most recent call last)" in err
    assert "InputError" in err
    assert error_lines(err)[-1].startswith("error: ") and needle in error_lines(err)[-1]


def test_an_invalid_play_is_a_user_mistake(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(PLAY.read_text().replace("exec:", "exec_typo:", 1))
    code, err = run(capsys, "backtest", str(bad), "--synthetic")
    assert code == USER_ERROR_EXIT
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: invalid Play: "), err


# --------------------------------------------------------------------------- bugs
#: exceptions a bug raises; ValueError and KeyError were once reported as bad input
BUGS: list[BaseException] = [ValueError("could not convert"), KeyError("ema_fast"),
                             TypeError("unsupported operand"), ZeroDivisionError("division"),
                             AttributeError("'NoneType' object has no attribute 'ts'"),
                             IndexError("list index out of range"), AssertionError()]


@pytest.mark.parametrize("bug", BUGS, ids=lambda e: type(e).__name__)
def test_a_bug_is_an_internal_error_with_a_pointer_to_debug(
        bug: BaseException, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADE_DEBUG", raising=False)
    monkeypatch.setattr(trade.cli.data_cmd, "synth_bars", raising(bug))
    code, err = run(capsys, "data", "synth", "--data-dir", str(tmp_path))
    assert code == INTERNAL_ERROR_EXIT, err
    lines = error_lines(err)
    assert lines[0].startswith(f"internal error: {type(bug).__name__}")
    assert not any(ln.startswith("error: ") for ln in lines)
    assert "bug" in err and "trade --debug" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_prints_the_traceback_of_a_bug(
        how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def synth_bars_with_a_bug(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise KeyError("close")

    monkeypatch.setattr(trade.cli.data_cmd, "synth_bars", synth_bars_with_a_bug)
    args = ["data", "synth", "--data-dir", str(tmp_path)]
    if how == "option":
        monkeypatch.delenv("TRADE_DEBUG", raising=False)
        args.insert(0, "--debug")
    else:
        monkeypatch.setenv("TRADE_DEBUG", "1")
    code, err = run(capsys, *args)
    assert code == INTERNAL_ERROR_EXIT
    assert "Traceback (most recent call last)" in err
    assert "synth_bars_with_a_bug" in err  # the frame that raised
    assert "internal error: KeyError: 'close'" in err
    assert "trade --debug" not in err  # already given


def test_a_bug_in_a_backtest_is_not_reported_as_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`trade backtest` used to turn every ValueError and KeyError into `error: ...`."""
    import trade.engine

    monkeypatch.delenv("TRADE_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(trade.engine, "run_backtest", raising(KeyError("sharpe")))
    code, err = run(capsys, "backtest", str(PLAY), "--synthetic")
    assert code == INTERNAL_ERROR_EXIT
    assert error_lines(err)[0] == "internal error: KeyError: 'sharpe'"


def test_a_bug_in_play_test_is_not_counted_as_a_failed_play(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import trade.engine

    monkeypatch.setattr(trade.engine, "run_backtest", raising(ValueError("shapes differ")))
    tour = ROOT / "tests" / "plays_fixtures" / "trade_dialect" / "EMA_Dialect_Tour.yml"
    code, err = run(capsys, "play", "test", str(tour))
    assert code == INTERNAL_ERROR_EXIT
    assert "internal error: ValueError: shapes differ" in err


# --------------------------------------------------------------------------- the rule itself
EXPECTED: list[Callable[[str], BaseException]] = [
    InputError, TradeError, NoDataError, FileNotFoundError, PermissionError,
    lambda m: PlayError([PlayIssue(file="p.yml", line=3, path="entry", message=m)]),
]
UNEXPECTED: list[Callable[[str], BaseException]] = [
    ValueError, KeyError, TypeError, RuntimeError, LookupError, ArithmeticError,
    NotImplementedError,
]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(make=st.sampled_from(EXPECTED + UNEXPECTED),
       message=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
                       min_size=1, max_size=40).filter(str.strip),
       debug=st.booleans())
def test_the_exit_status_depends_only_on_the_kind_of_exception(
        make: Callable[[str], BaseException], message: str, debug: bool, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    exc = make(message)
    monkeypatch.delenv("TRADE_DEBUG", raising=False)
    monkeypatch.setattr(trade.cli.data_cmd, "synth_bars", raising(exc))
    code, err = run(capsys, *(["--debug"] if debug else []), "data", "synth",
                    "--data-dir", str(tmp_path))
    expected = isinstance(exc, TradeError | OSError)
    assert code == (USER_ERROR_EXIT if expected else INTERNAL_ERROR_EXIT)
    assert ("internal error" in err) is not expected
    assert ("Traceback (most recent call last)" in err) is debug


def test_input_error_stays_a_value_error() -> None:
    """Callers (and tests) that catch ValueError around input parsing keep working."""
    assert issubclass(InputError, ValueError) and issubclass(InputError, TradeError)
    assert issubclass(PlayError, InputError)


@pytest.mark.parametrize("call", [
    lambda: interval_ms("1hr"),
    lambda: parse_duration_ms("four hours"),
    lambda: ws_base_of("ftp://127.0.0.1:8099"),
    lambda: ProtectionPolicy(margin=0.7),
    lambda: ProtectionPolicy(deadline_s=0),
], ids=["interval", "duration", "endpoint", "protect-margin", "protect-deadline"])
def test_user_values_are_refused_with_input_error(call: Callable[[], object]) -> None:
    with pytest.raises(InputError):
        call()


def test_data_intervals_refuse_with_input_error() -> None:
    from trade.data import normalize_interval

    with pytest.raises(InputError, match="unknown interval"):
        normalize_interval("7x")


@pytest.mark.parametrize("address", ["busy", "127.0.0.1:99999", "nonsense"])
def test_run_dashboard_on_a_busy_or_bad_port_is_one_line_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        address: str) -> None:
    """`trade run --dashboard` on a port in use (or not a port) is refused as one line that
    names the address, before the exchange is contacted or a journal is created."""
    import socket

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BYBIT_DEMO_API_KEY", "k")
    monkeypatch.setenv("BYBIT_DEMO_API_SECRET", "s")
    contacted: list[object] = []
    monkeypatch.setattr("trade.cli.run_cmd.venue_plan",
                        lambda *a, **k: contacted.append(a) or raising(AssertionError())())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = f"127.0.0.1:{sock.getsockname()[1]}"
        where = busy if address == "busy" else address
        code, err = run(capsys, "run", str(PLAY), "--endpoint", "http://127.0.0.1:9",
                        "--no-control", "--dashboard", where)
    lines = error_lines(err)
    assert code == USER_ERROR_EXIT and len(lines) == 1, err
    assert where.split(":")[-1] in lines[0] and "Traceback" not in err
    assert not contacted and not (tmp_path / "runs").exists()
