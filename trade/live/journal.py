"""A JSONL journal of a live session: every signal, order, fill and error, no secrets.

One JSON object per line: `{"ts": <ms>, "kind": "...", ...}`. Every line goes through
`trade.live.secrets.redact` before it is written and is flushed at once, so a crash loses
at most the line being written. `read_journal` gives the records back (a torn last line is
skipped) for `trade run` to resume: the orderLinkIds it created and the last bar it acted on.

Threading: `write` may be called from any thread (a lock serialises lines).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from trade.core import Clock, Fill, InputError, Order, OrderRequest
from trade.live.secrets import redact


def _default(value: object) -> object:
    if hasattr(value, "name") and hasattr(value, "value"):
        return str(value.name)
    return str(value)


def order_fields(link: str, r: OrderRequest) -> dict[str, Any]:
    """An `order` record: the request as sent, brackets and break-even included."""
    return {"link": link, "side": r.side.bybit, "qty": r.qty, "type": r.order_type.name,
            "price": r.price, "trigger": r.trigger_price, "reduce_only": r.reduce_only,
            "sl_off": r.stop_loss_offset, "tp_off": r.take_profit_offset,
            "trail_off": r.trailing_offset, "trail_act": r.trailing_activation,
            "be_act": r.break_even_activation, "be_off": r.break_even_offset}


def fill_fields(fill: Fill) -> dict[str, Any]:
    """A `fill` record (`BreakEvenTracker.restore` replays these)."""
    return {"exec_id": fill.exec_id, "link": fill.order_link_id, "order_id": fill.order_id,
            "side": fill.side.bybit, "qty": fill.qty, "price": fill.price, "fee": fill.fee,
            "exec_type": fill.exec_type.name, "exec_ts": fill.ts}


def order_final_fields(o: Order) -> dict[str, Any]:
    """An `order_final` record: how an order ended."""
    return {"link": o.order_id, "status": o.status.bybit, "filled": o.filled_qty,
            "avg_price": o.avg_fill_price, "reason": o.reject_reason}


class Journal:
    """Append-only JSONL file (see the module docstring)."""

    def __init__(self, path: Path | None, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        self.records = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> None:
        record = {"ts": self.clock.now_ms(), "kind": kind, **fields}
        line = redact(json.dumps(record, default=_default, separators=(",", ":")))
        with self._lock:
            self.records += 1
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal (a torn last line is ignored; other bad lines are errors)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines):
                break  # torn final line from a crash
            raise InputError(f"journal {path}: line {i} is not JSON") from None
        if isinstance(rec, dict):
            out.append(rec)
    return out
