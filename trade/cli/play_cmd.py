"""`trade play ...`: work with Play files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trade.cli._params import PLAY_FILE
from trade.cli.play_test_cmd import play_test
from trade.play import PlayError, load_play
from trade.play.notes import play_notes
from trade.plays import bundled_plays


@click.group()
def play() -> None:
    """Work with Play files (YAML strategies)."""


@play.command("validate")
@click.argument("plays", nargs=-1, required=True, type=PLAY_FILE)
@click.option("--max-leverage", type=float, default=100.0, show_default=True,
              help="The instrument's maximum leverage.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
def validate(plays: tuple[Path, ...], max_leverage: float, quiet: bool) -> None:
    """Check every PLAY file; print one line per error; exit 1 if any fails."""
    failed = 0
    for path in plays:
        try:
            loaded = load_play(path, instrument_max_leverage=max_leverage)
        except PlayError as exc:
            failed += 1
            for issue in exc.issues:
                click.echo(str(issue), err=True)
            continue
        if not quiet:
            click.echo(f"{path}: ok ({loaded.name}, {loaded.symbol}, exec {loaded.exec_tf})")
        for note in play_notes(loaded):
            click.echo(f"{path}: note: {note}", err=True)
    if failed:
        click.echo(f"{failed} of {len(plays)} Play(s) failed validation", err=True)
        sys.exit(1)


@play.command("list")
def list_bundled() -> None:
    """List the Plays shipped with trade (usable by name in every command)."""
    for path in bundled_plays():
        click.echo(path.stem)


play.add_command(play_test)
