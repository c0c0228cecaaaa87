"""`trade play test PLAYS...`: run Plays against their `expected:` blocks (TRADE's tiers).

Each Play is validated, backtested (on its synthetic block when it has one and
`--data` is not given, else on stored data) and its expectations checked. One line per
Play; with `-v` one line per expectation. Exit 0 when every Play met every expectation,
1 on any miss or failure, 2 when no Play file was found.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trade.cli.errors import EXPECTED_ERRORS
from trade.play import PlayError, load_play
from trade.play.expect import all_met, check_expected


def _collect(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yml", ".yaml")))
        else:
            files.append(p)
    return files


@click.command("test")
@click.argument("plays", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", "use_data", is_flag=True,
              help="Run on stored data even when a Play has a synthetic block.")
@click.option("--data-dir", default=None, help="Data store (default $TRADE_DATA_DIR or ./data).")
@click.option("--require-expected", is_flag=True,
              help="Count a Play without an expected: block as a miss.")
@click.option("-v", "--verbose", is_flag=True, help="One line per expectation.")
def play_test(plays: tuple[Path, ...], use_data: bool, data_dir: str | None,
              require_expected: bool, verbose: bool) -> None:
    """Backtest each PLAY (files or folders) and check its expected: block."""
    from trade.engine import run_backtest

    files = _collect(plays)
    if not files:
        click.echo("error: no Play files found", err=True)
        sys.exit(2)
    missed = 0
    for path in files:
        try:
            play = load_play(path)
        except PlayError as exc:
            missed += 1
            click.echo(f"FAIL {path}: invalid: {exc.issues[0]}")
            continue
        if play.expected is None:
            if require_expected:
                missed += 1
                click.echo(f"MISS {path}: no expected: block")
            elif verbose:
                click.echo(f"skip {path}: no expected: block")
            continue
        synthetic = play.synthetic is not None and not use_data
        try:
            result = run_backtest(play, data_dir=data_dir, out_dir=None, synthetic=synthetic)
        except EXPECTED_ERRORS as exc:  # a bug is not a failed Play: trade.cli.main reports it
            missed += 1
            click.echo(f"FAIL {path}: run failed: {str(exc).splitlines()[0] if str(exc) else exc}")
            continue
        checks = check_expected(play.expected, result.metrics)
        ok = all_met(checks)
        missed += 0 if ok else 1
        summary = ", ".join(f"{c.name} {c.got}" for c in checks) or "nothing stated"
        click.echo(f"{'ok  ' if ok else 'MISS'} {path}: {summary}")
        if verbose or not ok:
            for c in checks:
                click.echo(f"    {c}")
    click.echo(f"{len(files) - missed} of {len(files)} Play(s) met their expectations")
    if missed:
        sys.exit(1)
