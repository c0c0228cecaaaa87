"""A JSONL journal of a live session: every signal, order, fill and error, no secrets.

One JSON object per line (encoded with orjson): `{"ts": <ms>, "kind": "...", ...}`. Every
line goes through `trade.live.secrets.redact` before it is written and is flushed at once,
so a crash loses at most the line being written.

Restart (`open_journal`): the file is read and checked **before anything is appended**.
A torn last line (a crash mid-write: no newline, or not JSON) is cut off the file, and the
cut is reported (`JournalRepair`), so the next line starts on a line of its own and the
following restart reads a clean file. Any other bad line refuses the journal with an
`InputError` naming the file and line, and nothing is written to it. A path that is a
folder is refused the same way.

Threading: `write` may be called from any thread (a lock serialises lines).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from trade.core import Clock, Fill, InputError, Order, OrderRequest
from trade.core.instrument import step_decimals
from trade.live.secrets import redact

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(value: object) -> object:
    if hasattr(value, "name") and hasattr(value, "value"):
        return str(value.name)
    return str(value)


def dumps(value: Any) -> str:
    """One JSON text (orjson; NaN/inf become null; unknown objects their name or str)."""
    return orjson.dumps(value, default=_default, option=_OPTS).decode("utf-8")


def order_fields(link: str, r: OrderRequest) -> dict[str, Any]:
    """An `order` record: the request as sent, brackets and break-even included (split
    take-profits and the Partial TP/SL flags only when the request has them)."""
    out: dict[str, Any] = {
        "link": link, "side": r.side.bybit, "qty": r.qty, "type": r.order_type.name,
        "price": r.price, "trigger": r.trigger_price, "reduce_only": r.reduce_only,
        "sl_off": r.stop_loss_offset, "tp_off": r.take_profit_offset,
        "trail_off": r.trailing_offset, "trail_act": r.trailing_activation,
        "be_act": r.break_even_activation, "be_off": r.break_even_offset,
        "sl": r.stop_loss, "tp": r.take_profit}
    if r.take_profit_levels:
        out["tp_levels"] = [list(lv) for lv in r.take_profit_levels]
    for name in ("tp_limit", "tp_by_mark", "sl_limit", "sl_by_mark"):
        if getattr(r, name):
            out[name] = True
    return out


def fill_fields(fill: Fill) -> dict[str, Any]:
    """A `fill` record (`BreakEvenTracker.restore` replays these)."""
    return {"exec_id": fill.exec_id, "link": fill.order_link_id, "order_id": fill.order_id,
            "side": fill.side.bybit, "qty": fill.qty, "price": fill.price, "fee": fill.fee,
            "exec_type": fill.exec_type.name, "exec_ts": fill.ts}


def order_final_fields(o: Order) -> dict[str, Any]:
    """An `order_final` record: how an order ended."""
    return {"link": o.order_id, "status": o.status.bybit, "filled": o.filled_qty,
            "avg_price": o.avg_fill_price, "reason": o.reject_reason}


@dataclass(frozen=True, slots=True)
class JournalRepair:
    """A torn last line cut off a journal before appending."""

    path: Path
    line: int  # 1-based number of the torn line
    cut_bytes: int

    def message(self) -> str:
        return (f"journal {self.path}: cut a torn last line (line {self.line}, "
                f"{self.cut_bytes} bytes) left by a crash")


#: record fields that are prices on the instrument's tick grid / quantities on its step
#: (`avg_price` is not: an average of fills lies between ticks, as Bybit's avgPrice does)
PRICE_FIELDS = frozenset({"price", "trigger", "sl", "tp", "entry_price", "exit_price",
                          "mark_price", "liq_price"})
QTY_FIELDS = frozenset({"qty", "filled", "to", "size"})


class Journal:
    """Append-only JSONL file (see the module docstring).

    Once `set_grid(tick, qty_step)` is called (the session does when it has read the
    instrument), prices and quantities are written at the grid's decimals, 2255.45 and not
    2255.4500000000003: the values stay numbers (restores replay them), only binary noise
    goes."""

    def __init__(self, path: Path | None, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._price_decimals: int | None = None
        self._qty_decimals: int | None = None
        self._lock = threading.Lock()
        self._fh: BinaryIO | None = None
        self.records = 0
        if path is not None:
            _check_not_folder(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = path.open("ab")
            except OSError as exc:
                raise InputError(f"journal {path}: cannot open for append: "
                                 f"{exc.strerror or exc}") from None

    def set_grid(self, tick_size: float, qty_step: float) -> None:
        """Write prices at `tick_size`'s decimals and quantities at `qty_step`'s from now on."""
        self._price_decimals = step_decimals(tick_size) if tick_size > 0 else None
        self._qty_decimals = step_decimals(qty_step) if qty_step > 0 else None

    def _on_grid(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = dict(fields)
        for key, value in fields.items():
            if type(value) is not float or not math.isfinite(value):
                continue
            if key in PRICE_FIELDS and self._price_decimals is not None:
                out[key] = round(value, self._price_decimals)
            elif key in QTY_FIELDS and self._qty_decimals is not None:
                out[key] = round(value, self._qty_decimals)
        return out

    def write(self, kind: str, **fields: Any) -> None:
        record = {"ts": self.clock.now_ms(), "kind": kind, **self._on_grid(fields)}
        line = redact(dumps(record))
        with self._lock:
            self.records += 1
            if self._fh is not None:
                self._fh.write(line.encode("utf-8") + b"\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def _check_not_folder(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"journal {path} is a folder: give a file path (e.g. "
                         f"{path / 'journal.jsonl'})")


def _looks_like_text(chunk: bytes) -> bool:
    """A journal line, even a torn one: a JSON object's start, UTF-8, no NUL bytes."""
    if b"\x00" in chunk or not chunk.lstrip().startswith(b"{"):
        return False
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a torn write may split a multi-byte character at the very end; elsewhere it is binary
        return exc.start >= len(chunk) - 3
    return True


def _parse(path: Path, data: bytes) -> tuple[list[dict[str, Any]], int | None, int]:
    """(records, 1-based line of a torn tail or None, byte offset where that tail starts)."""
    out: list[dict[str, Any]] = []
    pos = 0
    n = 0
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        last = end < 0
        chunk = data[pos:] if last else data[pos:end]
        n += 1
        if chunk.strip():
            try:
                rec = orjson.loads(chunk)
            except orjson.JSONDecodeError:
                if n == 1 and not _looks_like_text(chunk):
                    # never "repair" a file that is no journal at all (a Parquet file, an image)
                    raise InputError(f"journal {path}: not a journal (line 1 is no JSON record)"
                                     ) from None
                if last or not data[end + 1:].strip():
                    return out, n, pos  # torn final line from a crash
                raise InputError(f"journal {path}: line {n} is not JSON") from None
            if last:
                return out + ([rec] if isinstance(rec, dict) else []), n, pos  # no newline
            if isinstance(rec, dict):
                out.append(rec)
        if last:
            break
        pos = end + 1
    return out, None, size


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal, read only.

    Parameters
    ----------
    path : Path
        The JSONL journal (absent: no records).

    Returns
    -------
    list of dict
        A torn last line is ignored.

    Raises
    ------
    InputError
        `path` is a folder, cannot be read, or has a bad line before its last.
    """
    if not path.exists():
        return []
    _check_not_folder(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"journal {path}: cannot read: {exc.strerror or exc}") from None
    return _parse(path, data)[0]


def open_journal(path: Path) -> tuple[list[dict[str, Any]], JournalRepair | None]:
    """Read a journal before a run appends to it, cutting a torn last line.

    See the module docstring for what is repaired; nothing is written when the file cannot
    be used.

    Parameters
    ----------
    path : Path
        The JSONL journal (absent: a fresh run).

    Returns
    -------
    records : list of dict
        Every whole record, in order.
    repair : JournalRepair or None
        What was cut or completed, None when the file was whole.

    Raises
    ------
    InputError
        `path` is a folder, cannot be read, or has a bad line before its last.
    """
    if not path.exists():
        return [], None
    _check_not_folder(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"journal {path}: cannot read: {exc.strerror or exc}") from None
    records, torn, start = _parse(path, data)
    if torn is None:
        return records, None
    tail = data[start:]
    if tail.strip() and not tail.endswith(b"\n"):
        try:
            rec = orjson.loads(tail)
        except orjson.JSONDecodeError:
            rec = None
        if isinstance(rec, dict):
            # a whole record that only lost its newline: keep it, end the line
            with path.open("ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            return records, None
    # a torn record: cut it off so the next line starts on a line of its own
    with path.open("r+b") as fh:
        fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
    return records, JournalRepair(path, torn, len(tail))


__all__ = ["Journal", "JournalRepair", "dumps", "fill_fields", "open_journal",
           "order_fields", "order_final_fields", "read_journal"]
