"""Several Plays in one process on one account (issue 17 item 5; docs/live.md, "Several
Plays in one process").

Everything runs against the exchange simulator on 127.0.0.1, two symbols on one USDT
wallet, stepped bar by bar on a SimulatedClock; every wait is on a condition with a
timeout. The Plays size with `fixed_usdt`, so a shared wallet does not change their
quantities: together they must make exactly the fills each makes alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from test_notify import Receiver

from tests.conftest_exsim import KEY, SECRET, fast_cross_play_yaml, synthetic_bars
from trade.cli import cli, main
from trade.cli.run_cmd import run_members
from trade.core import InputError, SimulatedClock
from trade.engine import DEFAULT_INSTRUMENT, PlayEngine, order_plan, sim_config
from trade.exchange_sim import ExchangeSimServer
from trade.live import Credentials, LiveRunner, RiskLimits, RunConfig, read_journal
from trade.live.account import AccountGuard, AccountLimits, load_account_limits
from trade.live.control import (
    ControlFolderBusy,
    read_token,
    send_control,
    start_control,
    write_token,
)
from trade.live.multi import MultiRunner
from trade.play import Play, load_play
from trade.sim import SizeMode

BTC, ETH = "BTCUSDT", "ETHUSDT"
CREDS = Credentials(KEY, SECRET)
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5}
WARM = 12


def _play_yaml(name: str, symbol: str, notional: float) -> str:
    text = fast_cross_play_yaml(name).replace("symbol: BTCUSDT", f"symbol: {symbol}").replace(
        "allow_flip: false}", "allow_flip: false, exit_mode: first_hit}")  # signal exits
    return text + f"risk_model:\n  sizing: {{model: fixed_usdt, value: {notional}}}\n"


def _bars() -> dict[str, pa.Table]:
    return {BTC: synthetic_bars(n=300, seed=11, price=30_000.0),
            ETH: synthetic_bars(n=300, seed=5, price=2_000.0)}


@pytest.fixture()
def plays(tmp_path: Path) -> dict[str, Play]:
    out = {}
    for sym, name, notional in ((BTC, "multi_btc", 3000), (ETH, "multi_eth", 2000)):
        path = tmp_path / f"{name}.yml"
        path.write_text(_play_yaml(name, sym, notional))
        out[sym] = load_play(path)
    return out


def _server(play: Play) -> ExchangeSimServer:
    bars = _bars()
    first = int(bars[BTC].column("ts")[0].as_py())
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    return ExchangeSimServer(bars, api_keys={KEY: SECRET},
                             clock=SimulatedClock(first + WARM * 60_000),
                             sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT),
                             ws_ack_delay_s=0.02)


def _runner(play: Play, sim: ExchangeSimServer, journal: Path,
            account: AccountGuard | None = None) -> LiveRunner:
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    cfg = RunConfig(symbol=play.symbol, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                    journal_path=journal, stream_options=FAST, rest_timeout_s=1.0,
                    tag=play.name[-3:], risk_limits=RiskLimits(max_orders_per_minute=None),
                    history_bars=200)
    return LiveRunner(cfg, lambda a: PlayEngine(play, a, plan=plan), name=play.name,
                      account=account)


class Group:
    """A MultiRunner on its own thread, stepped with the simulator."""

    def __init__(self, runners: list[LiveRunner], account: AccountGuard | None = None) -> None:
        self.multi = MultiRunner(runners, account=account)
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, name="multi-test")
        self.thread.start()
        for r in runners:
            assert r.ready.wait(30), r.error

    def _run(self) -> None:
        self.result = self.multi.run()

    def steps(self, sim: ExchangeSimServer, n: int, done_before: int = 0) -> None:
        for i in range(1, n + 1):
            sim.step()
            for r in self.multi.runners:
                assert r.wait_bars(done_before + i, 30), (r.name, i, r.error)

    def settle(self) -> None:
        for r in self.multi.runners:
            session = r.session
            assert session is not None
            session.call(lambda s=session: s.barrier(force=True), timeout_s=30)

    def close(self) -> Any:
        self.multi.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


def _fills(sim: ExchangeSimServer) -> dict[str, list[tuple[Any, ...]]]:
    rows = sim.inspect(lambda v: list(v.wallet.executions))
    out: dict[str, list[tuple[Any, ...]]] = {BTC: [], ETH: []}
    for r in rows:
        out[r["symbol"]].append((r["side"], r["execQty"], r["execPrice"], r["execTime"]))
    return out


def _session(plays: dict[str, Play], tmp: Path, symbols: tuple[str, ...], n: int,
             tag: str) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, Path]]:
    with _server(plays[BTC]) as sim:
        journals = {s: tmp / f"{tag}-{s}.jsonl" for s in symbols}
        group = Group([_runner(plays[s], sim, journals[s]) for s in symbols])
        try:
            group.steps(sim, n)
            group.settle()
        finally:
            result = group.close()
        assert not result.failed
        return _fills(sim), journals


def test_two_plays_in_one_process_fill_as_each_alone(plays: dict[str, Play],
                                                      tmp_path: Path) -> None:
    n = 40
    alone_btc, _ = _session(plays, tmp_path, (BTC,), n, "a")
    alone_eth, _ = _session(plays, tmp_path, (ETH,), n, "b")
    both, journals = _session(plays, tmp_path, (BTC, ETH), n, "ab")
    assert alone_btc[BTC] and alone_eth[ETH], "the Plays must trade in the window"
    assert both[BTC] == alone_btc[BTC]
    assert both[ETH] == alone_eth[ETH]
    assert not alone_btc[ETH] and not alone_eth[BTC]
    # each journal holds its own Play's fills only (one account's private stream is shared)
    for sym, path in journals.items():
        fills = [r for r in read_journal(path) if r["kind"] == "fill"]
        assert len(fills) == len(both[sym])


def test_account_limit_trips_and_stops_entries_on_both(plays: dict[str, Play],
                                                       tmp_path: Path) -> None:
    # the first fee paid trips the account's daily loss: both Plays stop opening
    account = AccountGuard(AccountLimits(daily_loss_usdt=0.01), shared_wallet=True, plays=2)
    with _server(plays[BTC]) as sim:
        journals = {s: tmp_path / f"halt-{s}.jsonl" for s in (BTC, ETH)}
        group = Group([_runner(plays[s], sim, journals[s], account) for s in (BTC, ETH)],
                      account)
        try:
            group.steps(sim, 150)
            group.settle()
        finally:
            group.close()
    assert account.trips and account.trips[0].startswith("account daily loss")
    for sym, path in journals.items():
        records = read_journal(path)
        kinds = [r["kind"] for r in records]
        assert "account_halt" in kinds, sym
        halt = kinds.index("account_halt")
        # no entry after the halt was recorded; entries asked for were refused
        assert not [r for r in records[halt:] if r["kind"] == "order"
                    and not r["reduce_only"]], sym
        refused = [r for r in records if r["kind"] == "order_refused"
                   and "account limit" in r["reason"]]
        assert refused, sym
        assert any(r["kind"] == "notify" and r["event"] == "account_halt" for r in records)


def test_account_guard_sums_the_plays() -> None:
    guard = AccountGuard(AccountLimits(max_gross_notional=5000, max_drawdown_pct=10),
                         shared_wallet=True, plays=2)
    guard.report("a", ts=60_000, wallet=10_000, upnl=0, equity=10_000, notional=3000)
    assert guard.blocked() == ""
    guard.report("b", ts=60_000, wallet=10_000, upnl=-50, equity=9_950, notional=-2500)
    assert "gross exposure 5500.00" in guard.blocked()
    guard.report("b", ts=120_000, wallet=10_000, upnl=-50, equity=9_950, notional=0)
    assert guard.blocked() == ""
    assert guard.snapshot()["equity"] == pytest.approx(9_950)
    tripped = guard.report("a", ts=180_000, wallet=10_000, upnl=-1000, equity=9_000,
                           notional=3000)
    assert tripped.startswith("account drawdown") and guard.blocked() == tripped
    # separate wallets (paper): the equities add up
    paper = AccountGuard(AccountLimits(daily_loss_usdt=100), shared_wallet=False, plays=2)
    paper.report("a", ts=60_000, wallet=10_000, upnl=0, equity=10_000, notional=0)
    paper.report("b", ts=60_000, wallet=10_000, upnl=0, equity=10_000, notional=0)
    assert paper.snapshot()["equity"] == 20_000
    assert paper.report("b", ts=120_000, wallet=9_950, upnl=-60, equity=9_890,
                        notional=0).startswith("account daily loss 110.00")


def test_account_limits_file(tmp_path: Path) -> None:
    path = tmp_path / "limits.yml"
    path.write_text("max_gross_notional: 20000\ndaily_loss_pct: 3\n")
    assert load_account_limits(path) == AccountLimits(max_gross_notional=20_000,
                                                      daily_loss_pct=3)
    path.write_text("max_gros: 1\n")
    with pytest.raises(InputError, match="unknown limit 'max_gros'"):
        load_account_limits(path)
    path.write_text("daily_loss_pct: -1\n")
    with pytest.raises(InputError, match="daily_loss_pct"):
        load_account_limits(path)


def test_restart_of_two_plays_resumes_both_journals(plays: dict[str, Play],
                                                    tmp_path: Path) -> None:
    live, missed, after = 20, 6, 5
    journals = {s: tmp_path / f"restart-{s}.jsonl" for s in (BTC, ETH)}
    with _server(plays[BTC]) as sim:
        first = Group([_runner(plays[s], sim, journals[s]) for s in (BTC, ETH)])
        try:
            first.steps(sim, live)
            first.settle()
        finally:
            first.close()
        last = {s: max(r["bar"] for r in read_journal(p) if r["kind"] == "bar")
                for s, p in journals.items()}
        sim.step(missed)  # the process is down while these close
        second = Group([_runner(plays[s], sim, journals[s]) for s in (BTC, ETH)])
        try:
            for r in second.multi.runners:
                assert r.wait_bars(missed, 30), r.error  # caught up at start
            second.steps(sim, after, missed)
            second.settle()
        finally:
            second.close()
    for sym, path in journals.items():
        records = read_journal(path)
        readies = [r for r in records if r["kind"] == "ready"]
        assert len(readies) == 2
        assert readies[1]["last_bar"] == last[sym] and readies[1]["missed"] == missed
        bars = [r["bar"] for r in records if r["kind"] == "bar"]
        assert bars == sorted(set(bars))  # no bar decided twice
        assert len(bars) == live + missed + after


# ------------------------------------------------------------------ the CLI and `trade ctl`
def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    idle = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        idle.wait(0.05)
    assert pred(), f"timed out after {timeout} s waiting for {what}"


def _ctl(capsys: pytest.CaptureFixture[str], control: Path, *args: str) -> tuple[int, str]:
    """`trade ctl ARGS` through the real entry point: its exit status and output."""
    capsys.readouterr()
    try:
        main(["ctl", *args, "--control-dir", str(control)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def _positions(sim: ExchangeSimServer) -> dict[str, float]:
    return sim.inspect(lambda v: {w.instrument.symbol: w.engine.position().size
                                  for w in v.wallet.venues})


def _journal_kinds(path: Path) -> list[dict[str, Any]]:
    return read_journal(path) if path.exists() else []


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join(10)


def test_cli_runs_two_plays_and_ctl_controls_them(
        plays: dict[str, Play], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        receiver: Receiver) -> None:
    jdir, control = tmp_path / "journals", tmp_path / "ctl"
    # notifications go to a local receiver (configured as a user would, by the environment)
    env = dict(os.environ, BYBIT_DEMO_API_KEY=KEY, BYBIT_DEMO_API_SECRET=SECRET,
               PYTHONUNBUFFERED="1", TRADE_NOTIFY_URLS=receiver.url)
    out: list[str] = []
    err: list[str] = []
    with _server(plays[BTC]) as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trade", "run", str(tmp_path / "multi_btc.yml"),
             str(tmp_path / "multi_eth.yml"), "--mode", "demo", "--endpoint", sim.base_url,
             "--journal", str(jdir), "--control-dir", str(control), "--history-bars", "200",
             "--dashboard", "127.0.0.1:0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        readers = [threading.Thread(target=lambda s=s, k=k: k.extend(s), daemon=True)
                   for s, k in ((proc.stdout, out), (proc.stderr, err))]
        for t in readers:
            t.start()
        jb = jdir / f"multi_btc-{BTC}-demo.jsonl"
        je = jdir / f"multi_eth-{ETH}-demo.jsonl"

        def ready() -> bool:
            return all(any(r["kind"] == "ready" for r in _journal_kinds(p)) for p in (jb, je))

        def bars(path: Path) -> int:
            return sum(1 for r in _journal_kinds(path) if r["kind"] == "bar")

        def step(n: int) -> None:
            for _ in range(n):
                target = (bars(jb) + 1, bars(je) + 1)
                sim.step()
                _wait(lambda t=target: (bars(jb) >= t[0] and bars(je) >= t[1])
                      or proc.poll() is not None, 30,
                      f"both Plays to decide the bar {target}: {bars(jb), bars(je)}")
                assert proc.poll() is None, "".join(err[-30:])

        try:
            _wait(lambda: ready() or proc.poll() is not None, 60, "both Plays ready")
            assert proc.poll() is None, "".join(err[-30:])
            token = control / "ctl.token"
            assert (token.stat().st_mode & 0o777) == 0o600
            code, text = _ctl(capsys, control, "status")
            assert code == 0, text
            assert f"multi_btc@{BTC}: {BTC} demo running" in text
            assert f"multi_eth@{ETH}: {ETH} demo running" in text
            answer = send_control(control, "status")
            assert {p["symbol"] for p in answer["plays"].values()} == {BTC, ETH}
            assert all("pnl" in p and "position" in p for p in answer["plays"].values())
            url = next(x for x in out if x.startswith("dashboard: ")).split(" ", 1)[1].strip()
            step(1)
            with urllib.request.urlopen(url + "state", timeout=5) as resp:
                shown = json.loads(resp.read())
            assert {p["play_symbol"] for p in shown["plays"]} == {BTC, ETH}

            # pause both: no new entry goes out while paused, whatever the signals say
            code, text = _ctl(capsys, control, "pause")
            assert code == 0 and text.count("paused by ctl") == 2, text
            orders_before = {p: [r for r in _journal_kinds(p) if r["kind"] == "order"
                                 and not r["reduce_only"]] for p in (jb, je)}
            step(25)
            for p in (jb, je):
                assert [r for r in _journal_kinds(p) if r["kind"] == "order"
                        and not r["reduce_only"]] == orders_before[p]
            assert any(r["kind"] == "order_refused" and "paused by ctl" in r["reason"]
                       for p in (jb, je) for r in _journal_kinds(p))
            # resume: entries go out again
            code, text = _ctl(capsys, control, "resume")
            assert code == 0 and "paused by ctl" not in text, text
            for _ in range(80):
                if _positions(sim)[BTC]:
                    break
                step(1)
            assert _positions(sim)[BTC], "the BTC Play must enter again once resumed"
            # flatten one Play (by its symbol): its position closes, and it stays paused
            code, text = _ctl(capsys, control, "flatten", BTC)
            assert code == 0, text
            # the closing order goes out through the executor's queue: the first bar after it
            # reaches the simulator fills it (one bar, or a second when it lands just after)
            for _ in range(3):
                step(1)
                if _positions(sim)[BTC] == 0:
                    break
            assert _positions(sim)[BTC] == 0, [
                (r["kind"], r.get("action"), r.get("closed"), r.get("reduce_only"),
                 r.get("reason")) for r in _journal_kinds(jb)[-12:]]
            entries = [r for r in _journal_kinds(jb) if r["kind"] == "order"
                       and not r["reduce_only"]]
            step(10)
            assert [r for r in _journal_kinds(jb) if r["kind"] == "order"
                    and not r["reduce_only"]] == entries
            flat = [r for r in _journal_kinds(jb) if r["kind"] == "ctl"]
            assert [r["action"] for r in flat] == ["pause", "resume", "flatten"]
            assert flat[-1]["closed"] > 0
            assert [r["action"] for r in _journal_kinds(je) if r["kind"] == "ctl"] == [
                "pause", "resume"]

            # a wrong token is refused and changes nothing
            address = json.loads((control / "ctl.json").read_text())["url"]
            req = urllib.request.Request(address + "/ctl", method="POST",
                                         data=b'{"action": "stop", "play": null}',
                                         headers={"Authorization": "Bearer " + "0" * 64})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=5)
            assert info.value.code == 401
            # a token file others may read is not used
            token.chmod(0o644)
            code, text = _ctl(capsys, control, "status")
            assert code == 2 and "readable or writable by others" in text
            token.chmod(0o600)

            # stop one Play: the other runs on
            code, text = _ctl(capsys, control, "stop", f"multi_btc@{BTC}")
            assert code == 0, text
            _wait(lambda: any(r["kind"] == "stop" for r in _journal_kinds(jb)), 30,
                  "the BTC Play to stop")
            n = bars(je)
            sim.step()
            _wait(lambda: bars(je) > n, 30, "the ETH Play to go on deciding bars")
            code, text = _ctl(capsys, control, "status")
            assert f"multi_btc@{BTC}: {BTC} demo stopped" in text, text
            assert f"multi_eth@{ETH}: {ETH} demo running" in text, text
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for t in readers:
                t.join(5)
    assert proc.returncode == 0, "".join(err[-30:])
    assert any(x.startswith(f"multi_eth@{ETH}: stopped:") for x in out), out
    # the process's notifications reached the receiver: the fills of the resumed Plays among them
    with receiver.cond:
        receiver.cond.wait_for(lambda: any("fill" in json.dumps(b).lower()
                                           for b in receiver.bodies), timeout=20)
        bodies = list(receiver.bodies)
    assert any("fill" in json.dumps(b).lower() for b in bodies), bodies
    assert not any(KEY in json.dumps(b) or SECRET in json.dumps(b) for b in bodies)
    assert not (control / "ctl.token").exists()  # removed at the end


def test_token_files(tmp_path: Path) -> None:
    path = tmp_path / "t"
    token = write_token(path)
    assert (path.stat().st_mode & 0o777) == 0o600 and read_token(path) == token
    assert write_token(path) != token  # a new run, a new token
    path.chmod(0o640)
    with pytest.raises(InputError, match="readable or writable by others"):
        read_token(path)
    with pytest.raises(InputError, match="no control token"):
        read_token(tmp_path / "missing")


def test_a_busy_default_control_folder_gives_way_and_an_asked_for_one_is_refused(
        tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "control"
    folder.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # another live run holds the folder
        held = {"url": "http://127.0.0.1:9", "pid": other.pid}
        (folder / "ctl.json").write_text(json.dumps(held))
        multi = MultiRunner([])
        with pytest.raises(ControlFolderBusy, match="already controlled"):
            start_control(multi, folder, explicit=True)
        server = start_control(multi, folder, explicit=False)
        try:
            assert server.folder == folder.with_name(f"control-{os.getpid()}")
            assert (server.folder / "ctl.token").stat().st_mode & 0o777 == 0o600
            assert json.loads((server.folder / "ctl.json").read_text())["url"] == server.url
            # the other run's files are left alone
            assert json.loads((folder / "ctl.json").read_text())["pid"] == other.pid
        finally:
            server.stop()
        assert not (server.folder / "ctl.token").exists()
    finally:
        other.kill()
        other.wait()


def test_cli_refuses_two_plays_on_one_symbol(plays: dict[str, Play], tmp_path: Path) -> None:
    other = tmp_path / "other.yml"
    other.write_text(_play_yaml("other", BTC, 1000))
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "multi_btc.yml"), str(other),
                                   "--mode", "paper"])
    assert res.exit_code != 0 and "two Plays trade BTCUSDT" in str(res.exception or res.output)


def test_paper_plays_hold_entries_at_the_gross_cap_and_flatten(plays: dict[str, Play],
                                                              tmp_path: Path) -> None:
    """Paper: each Play its own simulated account; the gross-exposure gate holds entries
    over both, `flatten` closes one Play's position at the next bar and pauses it."""
    cap = 4000.0
    account = AccountGuard(AccountLimits(max_gross_notional=cap), shared_wallet=False, plays=2)
    journals = {s: tmp_path / f"paper-{s}.jsonl" for s in (BTC, ETH)}
    with _server(plays[BTC]) as sim:
        runners = []
        for sym, play in plays.items():
            plan = order_plan(play, DEFAULT_INSTRUMENT)
            cfg = RunConfig(symbol=sym, mode="paper", endpoint=sim.base_url,
                            journal_path=journals[sym], stream_options=FAST, history_bars=200,
                            sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT))
            runners.append(LiveRunner(cfg, lambda a, p=play, pl=plan: PlayEngine(p, a, plan=pl),
                                      name=play.name, account=account))
        group = Group(runners, account)
        try:
            group.steps(sim, 60)
            for _ in range(60):
                if group.multi.control("status", ETH)["plays"]["multi_eth"]["position"]["size"]:
                    break
                group.steps(sim, 1, runners[0].bars_done)
            status = group.multi.control("flatten", ETH)["plays"]["multi_eth"]
            assert status["position"]["size"] > 0 and status["entries"].startswith("paused")
            group.steps(sim, 1, runners[0].bars_done)
            after = group.multi.control("status")
            assert after["plays"]["multi_eth"]["position"]["size"] == 0
            assert after["account"]["shared_wallet"] is False
        finally:
            result = group.close()
    assert not result.failed
    refused = [r for r in read_journal(journals[BTC]) if r["kind"] == "order_refused"]
    assert refused and all("account gross exposure" in r["reason"] for r in refused)
    ctl = [r for r in read_journal(journals[ETH]) if r["kind"] == "ctl"]
    assert [r["action"] for r in ctl] == ["flatten"] and ctl[0]["closed"] > 0


def test_run_members_size_each_play_as_the_portfolio_backtest_does(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    a.write_text(_play_yaml("multi_btc", BTC, 500.0))
    b.write_text(_play_yaml("multi_eth", ETH, 500.0))
    # one Play: the whole account; several: an equal share each (trade backtest's default)
    assert run_members([a]) == [(a, None, 1.0)]
    assert run_members([a, b]) == [(a, None, 0.5), (b, None, 0.5)]
    # a portfolio file: its members, symbols and allocations (unset: an equal share)
    pf = tmp_path / "pf.yml"
    pf.write_text("portfolio:\n  members:\n"
                  f"    - {{play: a.yml, symbol: {ETH}, alloc: 0.7}}\n"
                  "    - {play: b.yml}\n")
    got = run_members([pf])
    assert [(m[0].name, m[1], m[2]) for m in got] == [("a.yml", ETH, 0.7), ("b.yml", None, 0.5)]
    with pytest.raises(InputError, match="one portfolio file"):
        run_members([pf, a])


def test_an_allocation_sizes_entries_on_that_share_of_the_equity(plays: dict[str, Play]) -> None:
    # sized on a percent of equity (this Play's own sizing is a fixed notional)
    plan = dataclasses.replace(order_plan(plays[BTC], DEFAULT_INSTRUMENT),
                               size_mode=SizeMode.PERCENT_EQUITY, size_value=50.0)
    half = dataclasses.replace(plan, alloc=0.5)
    assert plan.alloc == 1.0
    assert half.entry_qty(10_000.0, 100.0, 0.0) == plan.entry_qty(5_000.0, 100.0, 0.0)
    assert half.entry_qty(10_000.0, 100.0, 0.0) < plan.entry_qty(10_000.0, 100.0, 0.0)
