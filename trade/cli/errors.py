"""How the `trade` command reports a failure.

Two kinds, never confused:

* an **expected error** -- a mistake in the user's input (`trade.core.InputError`: a bad
  Play, option, file or store), or a failure the code raises on purpose (any other
  `trade.core.TradeError`: the exchange refused, a download failed) or one of the
  environment (`OSError`: a missing file, a full disk) -- prints one line,
  ``error: <message>``, and exits with `USER_ERROR_EXIT`;
* anything else is a **bug** in `trade`: it prints ``internal error: <type>: <message>``
  with a pointer to ``--debug`` and exits with `INTERNAL_ERROR_EXIT`.

The global option ``trade --debug`` (or ``TRADE_DEBUG=1``) adds the full traceback to
either kind.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import NoReturn

import click

from trade.core.errors import TradeError

#: Exit status of an expected error (bad input, refused request, missing file).
USER_ERROR_EXIT = 2
#: Exit status of a bug (EX_SOFTWARE in sysexits.h).
INTERNAL_ERROR_EXIT = 70

#: The exception types reported as one line. Everything else is a bug.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (TradeError, OSError)


@dataclass
class CliState:
    """Options of the `trade` group that the error handler needs after the command ended.

    Attributes
    ----------
    debug : bool
        ``--debug`` was given: print tracebacks.
    """

    debug: bool = False


def debug_enabled() -> bool:
    """Whether ``trade --debug`` is in effect for the command now running.

    Returns
    -------
    bool
        False outside a click context (e.g. a function called from Python).
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    state = ctx.find_root().obj
    return isinstance(state, CliState) and state.debug


def print_traceback(exc: BaseException) -> None:
    """Write `exc`'s traceback to stderr."""
    click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)


def fail(message: str, exc: BaseException | None = None) -> NoReturn:
    """Report an expected error in one line on stderr and exit with `USER_ERROR_EXIT`.

    Parameters
    ----------
    message : str
        What went wrong; only its first line is printed.
    exc : BaseException, optional
        The exception being reported; its traceback is printed first under ``--debug``.

    Raises
    ------
    SystemExit
        Always, with status `USER_ERROR_EXIT`.
    """
    if exc is not None and debug_enabled():
        print_traceback(exc)
    click.echo(f"error: {message.splitlines()[0] if message else 'failed'}", err=True)
    sys.exit(USER_ERROR_EXIT)


def internal_error_lines(exc: BaseException, debug: bool) -> list[str]:
    """The lines printed for a bug: what was raised, and (without ``--debug``) how to see
    where.

    Parameters
    ----------
    exc : BaseException
        The unexpected exception.
    debug : bool
        Whether the traceback was already printed.

    Returns
    -------
    list of str
    """
    text = str(exc).strip().splitlines()
    first = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    lines = [f"internal error: {first}",
             "this is a bug in trade, not a mistake in your input; please report it"]
    if not debug:
        lines.append("run the same command as `trade --debug ...` to see the traceback")
    return lines
