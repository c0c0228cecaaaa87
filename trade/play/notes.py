"""Notes on a valid Play whose meaning rests on a default it may not expect.

A note never refuses a Play (TRADE's Plays rely on these defaults on purpose); it is printed by
`trade play validate` and `trade backtest` so that a silent default is never a silent surprise.
"""

from __future__ import annotations

from trade.play.schema import Play

__all__ = ["play_notes"]

_EXIT_ACTIONS = ("exit_long", "exit_short")


def _action_names(actions: object) -> set[str]:
    """The actions a Play can emit: the keys of the short form, or every `action:` of the
    block form (a list of blocks whose cases emit actions)."""
    if isinstance(actions, dict):
        return {k for k, v in actions.items() if v}
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("action"), str):
                found.add(node["action"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(actions)
    return found


def play_notes(play: Play) -> list[str]:
    """One line per default that changes what the Play's own text seems to say."""
    notes: list[str] = []
    policy = play.position_policy
    exits = [k for k in _EXIT_ACTIONS if k in _action_names(play.actions)]
    # exit actions are ignored under sl_tp_only, the default when the Play names no exit_mode
    if exits and policy.exit_mode == "sl_tp_only" and "exit_mode" not in policy.model_fields_set:
        notes.append(f"{play.name}: {', '.join(exits)} will not close positions: "
                     "position_policy.exit_mode is not set and defaults to sl_tp_only (only the "
                     "stop loss and take profit exit); set exit_mode: first_hit or signal to "
                     "act on them")
    return notes
