"""`trade ctl status|pause|resume|stop|flatten [PLAY]`: control a running `trade run`.

It reads the run's control folder (`--control-dir`, the same as the run's; default
`runs/control`): the address in `ctl.json` and the token in `ctl.token`, which must be
readable by its owner only (mode 0600; a looser one is refused). PLAY is a Play's name (as
`status` lists it) or its symbol; without it the action applies to every Play.

* status: every Play's symbol, mode, position, P&L, whether entries are paused, and the
  account (its limits, equity and gross exposure);
* pause: no new entries (exits, brackets and protection keep working);
* resume: undo a `ctl` pause (a protection failure's pause and an account halt stay);
* flatten: cancel the Play's orders, close its position reduce-only at market, and pause it;
* stop: end the Play's run (orders and TP/SL stay on the exchange, as on SIGINT).

Every action is journaled in the Play's journal (a `ctl` record).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command("ctl")
@click.argument("action", type=click.Choice(["status", "pause", "resume", "stop", "flatten"]))
@click.argument("play", required=False, default=None)
@click.option("--control-dir", type=click.Path(path_type=Path), default=Path("runs/control"),
              show_default=True, help="The running `trade run`'s --control-dir.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's answer as JSON.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the answer.")
def ctl(action: str, play: str | None, control_dir: Path, as_json: bool,
        timeout: float) -> None:
    """Send ACTION to a running `trade run` (every Play, or PLAY: a name or a symbol)."""
    from trade.live.control import send_control

    out = send_control(control_dir, action, play, timeout_s=timeout)
    if as_json:
        click.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    for name, st in (out.get("plays") or {}).items():
        click.echo(_line(name, st))
    account = out.get("account")
    if account:
        eq = account.get("equity")
        click.echo(f"account: equity {_num(eq)}, gross {_num(account.get('gross_notional'))}"
                   + (f", HALTED: {account['halted']}" if account.get("halted") else ""))


def _num(x: Any) -> str:
    return "-" if x is None else f"{float(x):.2f}"


def _line(name: str, st: dict[str, Any]) -> str:
    """One Play's status in one line."""
    if "error" in st:
        return f"{name}: error: {st['error']}"
    parts = [f"{name}: {st.get('symbol', '?')} {st.get('mode', '?')} {st.get('state', '')}"]
    pos = st.get("position")
    if isinstance(pos, dict):
        side = {1: "long", -1: "short"}.get(int(pos.get("side") or 0), "flat")
        parts.append(f"position {side} {pos.get('size', 0):g}" if side != "flat"
                     else "position flat")
    if "pnl" in st:
        parts.append(f"pnl {_num(st.get('pnl'))}")
    if "entries" in st:
        parts.append(f"entries {st['entries']}")
    return ", ".join(parts)
