"""The `trade` command. Subcommands load lazily so `trade --help` stays fast."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from trade import __version__
from trade.core.errors import TradeError

# name -> "module:attribute" of a click command or group. One line per subcommand.
_COMMANDS: dict[str, str] = {
    "backtest": "trade.cli.backtest_cmd:backtest",
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
@click.version_option(version=__version__, prog_name="trade")
def cli(verbose: int) -> None:
    """trade: one YAML Play for backtest, paper, demo and live trading on Bybit perpetuals."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: expected errors print one line and exit 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="trade", standalone_mode=False)
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
    except (TradeError, ValueError, FileNotFoundError, PermissionError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
