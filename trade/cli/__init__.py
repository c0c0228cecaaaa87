"""The `trade` command. Subcommands load lazily so `trade --help` stays fast."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from trade import __version__
from trade.cli.errors import (
    EXPECTED_ERRORS,
    INTERNAL_ERROR_EXIT,
    USER_ERROR_EXIT,
    CliState,
    internal_error_lines,
    print_traceback,
)

__all__ = ["cli", "main"]

# name -> "module:attribute" of a click command or group. One line per subcommand.
_COMMANDS: dict[str, str] = {
    "backtest": "trade.cli.backtest_cmd:backtest",
    "ctl": "trade.cli.ctl_cmd:ctl",
    "data": "trade.cli.data_cmd:data",
    "exchange-sim": "trade.cli.exsim_cmd:exchange_sim",
    "play": "trade.cli.play_cmd:play",
    "report": "trade.cli.report_cmd:report",
    "quickstart": "trade.cli.quickstart_cmd:quickstart",
    "run": "trade.cli.run_cmd:run",
    "panic": "trade.cli.panic_cmd:panic",
    "sweep": "trade.cli.sweep_cmd:sweep",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--debug", is_flag=True, envvar="TRADE_DEBUG",
              help="Print the full traceback of any error (also TRADE_DEBUG=1).")
@click.version_option(version=__version__, prog_name="trade")
@click.pass_context
def cli(ctx: click.Context, verbose: int, debug: bool) -> None:
    """trade: one YAML Play for backtest, paper, demo and live trading on Bybit perpetuals."""
    ctx.ensure_object(CliState).debug = debug
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console entry point of the `trade` command.

    A mistake in the input (`trade.core.InputError`), another expected failure
    (`trade.core.TradeError`) or an `OSError` prints one line ``error: ...`` and exits 2;
    any other exception is a bug: it prints ``internal error: ...`` with a pointer to
    ``--debug`` and exits 70. ``trade --debug`` prints the traceback of either.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``trade`` (default: ``sys.argv[1:]``).

    Raises
    ------
    SystemExit
        With the command's exit status: 0 on success, 1 for a failed check, 2 for bad
        input or an expected failure, 70 for a bug, 130 when interrupted.
    """
    state = CliState()
    try:
        code = cli.main(args=argv, prog_name="trade", standalone_mode=False, obj=state)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # one line, as every other user error (click's own form adds usage and help lines)
        command = exc.ctx.command_path if exc.ctx is not None else "trade"
        click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except EXPECTED_ERRORS as exc:
        if state.debug:
            print_traceback(exc)
        click.echo(f"error: {exc}", err=True)
        sys.exit(USER_ERROR_EXIT)
    except Exception as exc:  # noqa: BLE001 - a bug: reported as one (exit 70), not swallowed
        if state.debug:
            print_traceback(exc)
        for line in internal_error_lines(exc, state.debug):
            click.echo(line, err=True)
        sys.exit(INTERNAL_ERROR_EXIT)
    if isinstance(code, int) and code:  # ctx.exit(code) in a command
        sys.exit(code)
