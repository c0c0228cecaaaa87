"""`trade run PLAY [PLAY ...] --mode paper|demo|live`: trade Plays on live (or replayed) bars.

Several Plays run in one process on one account (trade.live.multi): one engine thread and
one journal per Play, each with its own risk limits, `--account-*` limits over all of them;
a Play that fails is reported and the others run on (the exit status is then non-zero).
`trade ctl` talks to the run through its control endpoint (trade.live.control).

Demo is the default. Live trading needs live keys (BYBIT_API_KEY / BYBIT_API_SECRET, or a
0600 `--keys` file) AND an explicit confirmation: the `--confirm-live` flag plus either
the environment variable TRADE_CONFIRM_LIVE set to the symbol (e.g. BTCUSDT) or typing the
symbol at the prompt (several Plays: every symbol, comma-separated, e.g. BTCUSDT,ETHUSDT).
`--endpoint http://127.0.0.1:8099` points any mode at another
Bybit-compatible host (e.g. `trade exchange-sim`). SIGINT/SIGTERM stop cleanly; open orders
and TP/SL stay on the exchange. In live mode Bybit's disconnect-cancel-all is on: once the
process has been gone for its window (10 s), Bybit cancels the resting orders; the position
and its TP/SL stay.

Every demo/live/paper run keeps a journal (the restart guarantee depends on it): by default
`runs/journals/<play>-<SYMBOL>-<mode>.jsonl` under the working folder (printed at start);
`--journal PATH` overrides. Protection and stale-bar options: docs/live.md.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from trade.cli._params import PLAY_FILE

if TYPE_CHECKING:
    from trade.data import Instrument
    from trade.engine import OrderPlan
    from trade.play import Play

log = logging.getLogger(__name__)


def venue_plan(play: Play, symbol: str, *, mode: str, endpoint: str | None,
               data_dir: str | None) -> tuple[Instrument, OrderPlan]:
    """The instrument and order plan of a run: the venue's instruments-info (qty step, min
    qty, min notional, max leverage, tick), so sizing and rounding match the exchange the
    orders go to; the maintenance-margin rate from the store's instrument (else the
    default), since Bybit does not report it there."""
    import dataclasses

    from trade.data import open_store
    from trade.engine import DEFAULT_INSTRUMENT, order_plan
    from trade.live import fetch_instrument

    default = DEFAULT_INSTRUMENT.renamed(symbol)
    base = open_store(data_dir).read_instrument(symbol, default=default)
    instrument = fetch_instrument(mode, symbol, endpoint=endpoint,  # type: ignore[arg-type]
                                  base=base)
    plan = dataclasses.replace(order_plan(play, instrument), symbol=symbol)
    return instrument, plan


def _confirm_live(symbol: str, confirm_flag: bool) -> None:
    if not confirm_flag:
        raise click.UsageError("--mode live trades real money: add --confirm-live")
    typed = os.environ.get("TRADE_CONFIRM_LIVE")
    if typed is None:
        typed = click.prompt(f"Type {symbol} to start LIVE trading", default="",
                             show_default=False)
    if typed.strip() != symbol:
        raise click.UsageError(f"live trading not confirmed (expected {symbol!r})")


@dataclasses.dataclass
class _Setup:
    """One Play of a run, ready to start."""

    play: Play
    symbol: str
    journal: Path
    config: Any  # trade.live.RunConfig
    instrument: Instrument
    plan: OrderPlan


@click.command("run")
@click.argument("play_files", nargs=-1, required=True, type=PLAY_FILE)
@click.option("--mode", type=click.Choice(["paper", "demo", "live"]), default="demo",
              show_default=True)
@click.option("--endpoint", default=None,
              help="Base URL of a Bybit-compatible host (e.g. http://127.0.0.1:8099).")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), default=None,
              help="JSONL journal (append; a restart resumes from it). With several Plays: "
              "a folder holding each Play's journal.")
@click.option("--dashboard", default=None, help="Serve a live dashboard on HOST:PORT.")
@click.option("--confirm-live", is_flag=True, help="Required (with a typed confirmation) "
              "for --mode live.")
@click.option("--keys", "key_file", type=click.Path(path_type=Path), default=None,
              help="A 0600 file with api_key=... and api_secret=... lines.")
@click.option("--symbol", default=None, help="Override the Play's symbol (one Play only).")
@click.option("--history-bars", type=int, default=1000, show_default=True,
              help="Closed 1m bars read over REST to warm the indicators up.")
@click.option("--max-order-notional", type=float, default=None)
@click.option("--max-symbol-notional", type=float, default=None)
@click.option("--daily-loss-pct", type=float, default=None)
@click.option("--data-dir", default=None,
              help="Data store whose instrument supplies the maintenance-margin rate "
              "(default $TRADE_DATA_DIR or ./data); the rest comes from the exchange.")
@click.option("--protect-margin", type=float, default=0.005, show_default=True,
              help="Provisional SL/TP on an entry order are this fraction of price looser "
              "than the Play's fill-relative levels.")
@click.option("--protect-deadline", type=float, default=6.0, show_default=True,
              help="Seconds to confirm a trading-stop (retried with backoff) before the "
              "position is closed reduce-only and new entries are paused.")
@click.option("--unknown-position", type=click.Choice(["attach", "close", "report"]),
              default="attach", show_default=True,
              help="On start, a position the journal does not know: attach the Play's stop, "
              "close it, or only report it.")
@click.option("--max-bar-age", type=float, default=None,
              help="Seconds: a bar older than this when decided opens no position "
              "(default: one exec bar of the Play).")
@click.option("--settle-timeout", type=float, default=5.0, show_default=True,
              help="Seconds a bar may wait for its reconciliation (the engine keeps "
              "consuming events meanwhile) before it is decided with new entries held.")
@click.option("--account-limits", "account_file", type=click.Path(path_type=Path),
              default=None, help="YAML file of limits over every Play (max_gross_notional, "
              "daily_loss_usdt, daily_loss_pct, max_drawdown_pct); see docs/live.md.")
@click.option("--account-max-gross", type=float, default=None,
              help="USDT: no Play opens a position while the Plays' gross exposure is at "
              "or above this.")
@click.option("--account-daily-loss-pct", type=float, default=None,
              help="Percent of the account's equity lost since the UTC day's start that "
              "stops every Play opening positions.")
@click.option("--account-max-drawdown-pct", type=float, default=None,
              help="Percent below the account's equity peak that stops every Play opening "
              "positions.")
@click.option("--control-dir", type=click.Path(path_type=Path), default=Path("runs/control"),
              show_default=True, help="Folder of the control endpoint's address and 0600 "
              "token (`trade ctl`); the default, when another run holds it, becomes "
              "runs/control-<pid>.")
@click.option("--no-control", is_flag=True, help="Serve no control endpoint.")
def run(play_files: tuple[Path, ...], mode: str, endpoint: str | None,
        journal_path: Path | None, dashboard: str | None, confirm_live: bool,
        key_file: Path | None, symbol: str | None, history_bars: int,
        max_order_notional: float | None, max_symbol_notional: float | None,
        daily_loss_pct: float | None, data_dir: str | None, protect_margin: float,
        protect_deadline: float, unknown_position: str, max_bar_age: float | None,
        settle_timeout: float, account_file: Path | None, account_max_gross: float | None,
        account_daily_loss_pct: float | None, account_max_drawdown_pct: float | None,
        control_dir: Path, no_control: bool) -> None:
    """Run PLAY_FILES on live bars: paper (simulated fills), demo (Bybit demo) or live.

    Several Play files run in one process on one account, one engine thread each, every
    Play with its own journal and risk limits, the --account-* limits over all of them."""
    from trade.cli.errors import EXPECTED_ERRORS
    from trade.core import InputError
    from trade.engine import PlayEngine, sim_config
    from trade.live import (
        LiveRunner,
        ProtectionPolicy,
        RedactingFilter,
        RiskLimits,
        RunConfig,
        load_credentials,
        read_journal,
    )
    from trade.live.account import AccountGuard, AccountLimits, load_account_limits
    from trade.live.control import ControlServer, start_control
    from trade.live.multi import MultiRunner
    from trade.live.secrets import redact
    from trade.notify import chain_listeners, notifier_from_env
    from trade.play import load_play, play_hash
    from trade.play.timeframes import INTERVAL_MINUTES

    members = run_members(play_files)
    plays = [load_play(m[0]) for m in members]
    many = len(plays) > 1
    if many and symbol:
        raise click.UsageError("--symbol overrides one Play's symbol: give one Play file")
    syms = [symbol or m[1] or p.symbol for m, p in zip(members, plays, strict=True)]
    allocs = [m[2] for m in members]
    for sym in syms:
        if syms.count(sym) > 1:
            raise InputError(f"two Plays trade {sym}: on one account they would share one "
                             "position; run them in separate accounts")
    journals = _journals(plays, syms, mode, journal_path)
    for journal in journals:
        # a journal the run would refuse (a bad line, binary, unreadable) is refused here,
        # read only, before anything starts or is printed: one line, nothing written
        read_journal(journal)
    # InputError for a --protect-margin / --protect-deadline out of range
    protection0 = ProtectionPolicy(margin=protect_margin, deadline_s=protect_deadline,
                                   unknown_position=unknown_position,  # type: ignore[arg-type]
                                   )
    if max_bar_age is not None and max_bar_age <= 0:
        raise click.BadParameter(f"--max-bar-age must be > 0 s, got {max_bar_age:g}")
    if settle_timeout <= 0:
        raise click.BadParameter(f"--settle-timeout must be > 0 s, got {settle_timeout:g}")
    account_limits = load_account_limits(account_file) if account_file else AccountLimits()
    account_limits = dataclasses.replace(
        account_limits, **{k: v for k, v in (("max_gross_notional", account_max_gross),
                                             ("daily_loss_pct", account_daily_loss_pct),
                                             ("max_drawdown_pct", account_max_drawdown_pct))
                           if v is not None})
    creds = None
    if mode == "live":
        # one confirmation covers every Play: type all the symbols, comma-separated
        _confirm_live(",".join(syms), confirm_live)
    if mode != "paper":
        creds = load_credentials(mode, key_file=key_file)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    board: Any = None
    if dashboard:
        from trade.report import DashboardServer, parse_address

        host, port = parse_address(dashboard)
        # bound before the exchange is contacted: a busy port is one line, nothing started
        # (stopped again below when a later step fails)
        try:
            board = DashboardServer(host, port).start()
        except OSError as exc:
            raise InputError(f"--dashboard {host}:{port}: cannot listen there: "
                             f"{exc.strerror or exc}") from None
    setups: list[_Setup] = []
    try:
        if creds is not None:
            # refused keys are permanent: one line at once, before a journal or control
            # endpoint exists (the run would otherwise start and journal its stop)
            _check_keys(mode, endpoint, creds)
        for play, sym, journal, alloc in zip(plays, syms, journals, allocs, strict=True):
            exec_ms = INTERVAL_MINUTES.get(play.exec_tf, 1) * 60_000
            max_age_ms = exec_ms if max_bar_age is None else int(max_bar_age * 1000)
            instrument, plan = venue_plan(play, sym, mode=mode, endpoint=endpoint,
                                          data_dir=data_dir)
            # entries sized on the Play's share of the account, as the portfolio backtest does
            plan = dataclasses.replace(plan, alloc=alloc)
            # the Play's own fixed stop / take profit, for a position the journal does not know
            lev = plan.leverage or 1.0
            protection = dataclasses.replace(
                protection0,
                fallback_sl_offset=plan.stop.value / 100 / lev if plan.stop.kind == "roi" else None,
                fallback_tp_offset=(plan.take_profit.value / 100 / lev
                                    if plan.take_profit.kind == "roi" else None))
            click.echo(f"instrument {sym}: tick {instrument.tick_size:g}, qty step "
                       f"{instrument.qty_step:g}, min qty {instrument.min_qty:g}, min notional "
                       f"{instrument.min_notional:g}, max leverage {instrument.max_leverage:g}, "
                       f"mmr {instrument.maintenance_margin_rate:g}")
            limits = RiskLimits(max_order_notional=max_order_notional,
                                max_symbol_notional=max_symbol_notional,
                                max_leverage=plan.leverage * 1.05,
                                daily_loss_pct=daily_loss_pct)
            config = RunConfig(
                symbol=sym, mode=mode,  # type: ignore[arg-type]
                endpoint=endpoint, credentials=creds, journal_path=journal,
                history_bars=history_bars, leverage=plan.leverage,
                sim_config=sim_config(play, plan, instrument) if mode == "paper" else None,
                risk_limits=limits, warmup_equity=float(play.account.starting_equity_usdt),
                tag=play_hash(play)[:8], protection=protection, max_bar_age_ms=max_age_ms,
                settle_s=settle_timeout,
            )
            setups.append(_Setup(play, sym, journal, config, instrument, plan))
    except BaseException:
        if board is not None:
            board.stop()
        raise
    if board is not None:
        # prices and quantities on the page at the instrument's precision (one Play; with
        # several, each Play's row is shown as sent)
        board.instrument = None if many else setups[0].instrument
        click.echo(f"dashboard: {board.url}")

    notifier = notifier_from_env(redact=redact)  # None when no notification URL is set
    if notifier is not None:
        click.echo(f"notifications: {', '.join(notifier.targets)}")
    account = (AccountGuard(account_limits, shared_wallet=mode != "paper", plays=len(setups))
               if account_limits.active else None)
    runners = []
    for st in setups:
        name = _play_label(st.play.name, st.symbol) if many else st.play.name
        listener = None
        if board is not None:
            listener = (board.publish if not many else
                        (lambda state, n=name, sym=st.symbol:
                         board.publish({"play": n, "play_symbol": sym, "play_mode": mode,
                                        **state})))
        # the daily-summary notification follows one engine thread: one Play only
        on_state = notifier.on_state if notifier is not None and not many else None
        runners.append(LiveRunner(
            st.config, _engine_factory(PlayEngine, st.play, st.plan),
            listener=chain_listeners(listener, on_state), notifier=notifier, name=name,
            account=account))
    multi = MultiRunner(runners, account=account, notifier=notifier)
    control: ControlServer | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if mode == "live":
            kept = ("TP/SL stay; resting orders are cancelled by Bybit's disconnect-cancel-all "
                    "after its window")
        elif mode == "paper":
            kept = "paper: the simulated account ends with the process; the journal keeps it"
        else:
            kept = "orders and TP/SL stay on the exchange"
        click.echo(f"signal {signum}: stopping ({kept})", err=True)
        multi.stop()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if not no_control:
            source = click.get_current_context().get_parameter_source("control_dir")
            control = start_control(multi, control_dir,
                                    explicit=source is not ParameterSource.DEFAULT)
            control_dir = control.folder
            click.echo(f"control: {control_dir} ({control.url}; `trade ctl status "
                       f"--control-dir {control_dir}`)")
        for st in setups:
            click.echo(f"trade run: {st.play.name} on {st.symbol}, mode {mode}"
                       + (f", endpoint {endpoint}" if endpoint else ""))
            click.echo(f"journal: {st.journal}")
        if account is not None:
            click.echo(f"account limits over {len(setups)} Play(s): "
                       + ", ".join(f"{k} {v:g}" for k, v in
                                   dataclasses.asdict(account_limits).items() if v))
        result = multi.run()
    finally:
        if control is not None:
            control.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if board is not None:
            board.stop()
        if notifier is not None:
            notifier.close()
    failed = result.failed
    if not many and failed:
        error = failed[0].error
        assert error is not None
        raise error  # one Play: its error as before (one line, exit 2; or a bug, 70)
    for outcome in result.outcomes:
        if outcome.summary is not None:
            _print_summary(outcome.summary, outcome.name if many else "")
        else:
            click.echo(f"{outcome.name}: failed: {type(outcome.error).__name__}: "
                       f"{outcome.error}", err=True)
    if account is not None and account.trips:
        click.echo(f"account limit tripped: {account.trips[0]}", err=True)
    if failed:
        bug = any(not isinstance(o.error, EXPECTED_ERRORS) for o in failed)
        click.echo(f"error: {len(failed)} of {len(result.outcomes)} Plays failed "
                   f"({', '.join(o.name for o in failed)}); the others ran on", err=True)
        raise SystemExit(70 if bug else 2)


def _engine_factory(engine: Any, play: Play, plan: OrderPlan) -> Any:
    """`adapter -> PlayEngine(play, adapter, plan=plan)` for one Play."""
    return lambda adapter: engine(play, adapter, plan=plan)


def run_members(play_files: Sequence[Path]) -> list[tuple[Path, str | None, float]]:
    """(Play file, symbol or None for the Play's own, allocation) of each Play to run.

    One portfolio file gives its members with their symbols and allocations; Play files give
    themselves, each sized on 1 / their number of the account's equity (a single Play: all
    of it): the same shares as `trade backtest` gives the same arguments, so a portfolio runs
    live as it was backtested."""
    from trade.core import InputError
    from trade.play.portfolio import is_portfolio_file, load_portfolio_file

    if any(is_portfolio_file(f) for f in play_files):
        if len(play_files) != 1:
            raise InputError("give one portfolio file, or Play files, not both")
        pf = load_portfolio_file(play_files[0])
        n = len(pf.members)
        return [(e.play, e.symbol, e.alloc if e.alloc is not None else 1.0 / n)
                for e in pf.members]
    n = len(play_files)
    return [(Path(f), None, 1.0 / n if n > 1 else 1.0) for f in play_files]


def _play_label(play_name: str, symbol: str) -> str:
    """A Play's name in a run of several (`trade ctl ... PLAY` takes it, or the symbol)."""
    return f"{play_name}@{symbol}"


def _journals(plays: list[Play], syms: list[str], mode: str,
              journal_path: Path | None) -> list[Path]:
    """Each Play's journal: the default per Play, symbol and mode; `--journal` is the file
    of one Play, or the folder of several."""
    from trade.core import InputError

    if len(plays) == 1:
        path = journal_path or default_journal(plays[0].name, syms[0], mode)
        if path.is_dir():
            raise InputError(f"--journal {path} is a folder: give a file path (e.g. "
                             f"{path / 'journal.jsonl'})")
        return [path]
    if journal_path is not None and journal_path.exists() and not journal_path.is_dir():
        raise InputError(f"--journal {journal_path} is a file: with several Plays give a "
                         "folder (each Play's journal goes into it)")
    out = []
    for play, sym in zip(plays, syms, strict=True):
        default = default_journal(play.name, sym, mode)
        out.append(default if journal_path is None else journal_path / default.name)
    return out


def _print_summary(summary: Any, name: str) -> None:
    """The end-of-run lines of one Play (prefixed with its name when there are several)."""
    pre = f"{name}: " if name else ""
    if summary.journal_repair:
        click.echo(pre + summary.journal_repair, err=True)
    click.echo(f"{pre}stopped: {summary.bars} bars, {summary.orders} orders, "
               f"{summary.fills} fills"
               + (f", {len(summary.failures)} errors" if summary.failures else ""))
    lag = summary.lag_stats()
    if lag:
        click.echo(f"{pre}bar close to decision: p50 {lag['p50'] / 1000:.2f} s, p95 "
                   f"{lag['p95'] / 1000:.2f} s, max {lag['max'] / 1000:.2f} s; "
                   f"{summary.held_bars} bars decided without entries (missed, stale or "
                   f"unsettled; {summary.unsettled_bars} while REST was in flight)")
    prot = summary.protection
    if prot.get("requested"):
        click.echo(f"{pre}protection: {prot['requested']} requested, {prot['confirmed']} "
                   f"confirmed, {prot['failed']} not confirmed ({prot['closed']} positions "
                   "closed)")
    if summary.paused:
        click.echo(f"{pre}paused: {summary.paused}", err=True)


def _check_keys(mode: str, endpoint: str | None, creds: Any) -> None:
    """One signed read of the key's own record (after measuring the clock offset, as the run
    does): AuthError at once when the exchange refuses the key."""
    from trade.exchange_sim.pybit_client import close_http
    from trade.live import BybitRest, make_session

    rest = BybitRest(make_session(mode, endpoint=endpoint,  # type: ignore[arg-type]
                                  credentials=creds, timeout_s=5.0))
    try:
        rest.sync_time()  # checks the keys on its first call
    finally:
        rest.stop.set()
        close_http(rest.session)


def default_journal(play_name: str, symbol: str, mode: str) -> Path:
    """The journal of a run when `--journal` is not given: one per Play, symbol and mode
    under the working folder, so a restart finds its predecessor's."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in play_name)
    return Path("runs") / "journals" / f"{safe}-{symbol}-{mode}.jsonl"
