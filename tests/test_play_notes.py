"""A Play whose exit actions a default silently disables gets a note (never a refusal)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from trade.cli import cli
from trade.play import load_play
from trade.play.notes import play_notes

PLAY = """\
version: "3.0.0"
name: noted
symbol: BTCUSDT
timeframes: {{low_tf: 15m, exec: low_tf}}
features:
  ema_5: {{indicator: ema, params: {{length: 5}}}}
  ema_20: {{indicator: ema, params: {{length: 20}}}}
actions:
  entry_long: [[ema_5, cross_above, ema_20]]
  exit_long: [[ema_5, cross_below, ema_20]]
risk: {{stop_loss_pct: 3.0, take_profit_pct: 6.0}}
{policy}
"""


def _play(tmp_path: Path, policy: str) -> Path:
    path = tmp_path / "noted.yml"
    path.write_text(PLAY.format(policy=policy))
    return path


def test_exit_actions_under_the_default_exit_mode_are_noted(tmp_path: Path) -> None:
    silent = load_play(_play(tmp_path, ""))
    [note] = play_notes(silent)
    assert "exit_long will not close positions" in note and "exit_mode" in note
    for explicit in ("first_hit", "signal", "sl_tp_only"):  # said out loud: no note
        policy = f"position_policy: {{exit_mode: {explicit}}}"
        assert play_notes(load_play(_play(tmp_path, policy))) == []


def test_validate_prints_the_note_and_still_accepts_the_play(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["play", "validate", str(_play(tmp_path, ""))])
    assert res.exit_code == 0
    assert ": ok (noted" in res.output and "note: noted: exit_long will not close" in res.output


def test_every_bundled_play_means_what_it_says() -> None:
    from trade.plays import bundled_plays

    for path in bundled_plays():
        assert play_notes(load_play(path)) == [], path.name
