"""The sweep results table (Parquet), written row group by row group as variants finish.

Columns (trade.report reads these names):

* `variant_id` — stable hash of the parameters (trade.sweep.space.variant_id);
* `param.<dotted.path>` — one per swept parameter;
* `n_trades`, `eligible` (n_trades >= --min-trades), `error` (null, or why the variant could
  not run: e.g. an invalid parameter value);
* `metric.<name>` — over the selection period (all the data minus the hold-out);
* `daily_returns` — the selection period's daily returns (for the deflated Sharpe / PBO);
* walk-forward: `is.metric.<name>` / `oos.metric.<name>` (mean over the train / test
  windows), `wf.is_score`, `wf.oos_score` (the sort metric per window), `wf.is_trades`,
  `wf.is_return` / `wf.oos_return` (total return per train / test window);
* hold-out: `holdout.n_trades`, `holdout.metric.<name>`; without walk-forward,
  `is.metric.<name>` = the selection period and `oos.metric.<name>` = the hold-out.

Writing goes to `<out>.partial` and is renamed over `<out>` when the writer closes (also after
Ctrl-C), so `<out>` is always a complete, valid file. `resume=True` copies the finished rows of
an existing `<out>` first (row group by row group) and reports their ids, so they are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from trade.core import InputError
from trade.sweep.evaluate import MetricsMode, metric_names
from trade.sweep.space import Dimension

log = logging.getLogger(__name__)
_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


def results_schema(dims: Sequence[Dimension], mode: MetricsMode, *, walk_forward: bool,
                   holdout: bool, keep_daily: bool = True) -> pa.Schema:
    """The Arrow schema of a sweep's results table (the columns of the module docstring).

    Parameters
    ----------
    dims : Sequence[Dimension]
        The swept dimensions: one `param.<path>` column each, typed by `Dimension.arrow_kind`.
    mode : {"full", "fast"}
        The metrics mode: which `metric.<name>` columns exist (`metric_names(mode)`).
    walk_forward : bool
        Add the `is.`/`oos.` metric columns and the `wf.` per-window list columns.
    holdout : bool
        Add `holdout.n_trades` and `holdout.metric.<name>` (and the `is.`/`oos.` columns).
    keep_daily : bool
        Add the `daily_returns` list column.

    Returns
    -------
    pyarrow.Schema
        The columns in a fixed order; two sweeps with the same arguments get equal schemas
        (which is what `resume` checks).
    """
    names = metric_names(mode)
    fields = [pa.field("variant_id", pa.string())]
    fields += [pa.field(f"param.{d.path}", _ARROW[d.arrow_kind()]) for d in dims]
    fields += [pa.field("n_trades", pa.int64()), pa.field("eligible", pa.bool_()),
               pa.field("error", pa.string())]
    fields += [pa.field(f"metric.{k}", pa.float64()) for k in names]
    if keep_daily:
        fields.append(pa.field("daily_returns", pa.list_(pa.float64())))
    if walk_forward or holdout:
        fields += [pa.field(f"is.metric.{k}", pa.float64()) for k in names]
        fields += [pa.field(f"oos.metric.{k}", pa.float64()) for k in names]
    if walk_forward:
        fields += [pa.field("wf.is_score", pa.list_(pa.float64())),
                   pa.field("wf.oos_score", pa.list_(pa.float64())),
                   pa.field("wf.is_trades", pa.list_(pa.int64())),
                   pa.field("wf.is_return", pa.list_(pa.float64())),
                   pa.field("wf.oos_return", pa.list_(pa.float64()))]
    if holdout:
        fields.append(pa.field("holdout.n_trades", pa.int64()))
        fields += [pa.field(f"holdout.metric.{k}", pa.float64()) for k in names]
    return pa.schema(fields)


def _coerce(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_int64(typ) and isinstance(value, float) and value.is_integer():
        return int(value)
    if pa.types.is_float64(typ) and isinstance(value, int | float):
        return float(value)
    if pa.types.is_string(typ) and not isinstance(value, str):
        return str(value)
    return value


class ResultsWriter:
    """Append rows; they reach the file in row groups of `row_group` rows (bounded memory).

    Rows go to `<path>.partial`; `close()` (or leaving the `with` block) moves the finished
    file over `path`, `abort()` deletes it and leaves `path` untouched. With `resume=True` an
    existing `path` is copied first and its variant ids are in `done_ids`; InputError when it
    is unreadable or has a different schema. Counters: `n_written` (rows in the file),
    `n_ok` / `n_errors` (rows without / with an `error`), `first_error`.

    Not thread-safe: the sweep's coordinating thread is its only user."""

    def __init__(self, path: str | Path, schema: pa.Schema, *, resume: bool = False,
                 row_group: int = 128) -> None:
        self.path = Path(path)
        self.schema = schema
        self.row_group = max(1, row_group)
        self.done_ids: set[str] = set()
        self.previous: pa.Table | None = None
        self._rows: list[Mapping[str, Any]] = []
        self.n_written = 0
        self.n_ok = 0  # rows (resumed ones included) of a variant that ran without error
        self.n_errors = 0
        self.first_error: str | None = None
        # the folders this writer creates (deepest first): an aborted sweep removes them again
        self._new_dirs = [d for d in (self.path.parent, *self.path.parent.parents)
                          if not d.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".partial")
        old: pq.ParquetFile | None = None
        if resume and self.path.exists():
            try:
                old = pq.ParquetFile(self.path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"--resume: {self.path} is not a readable results file: "
                                 f"{exc}") from None
            if not old.schema_arrow.equals(schema):
                have = set(old.schema_arrow.names) ^ set(schema.names)
                raise InputError(f"--resume: {self.path} was written by a different sweep "
                                 f"(columns differ: {sorted(have)[:6] or 'types'}); use another "
                                 "--out or the same parameters and options")
        self._writer = pq.ParquetWriter(self._tmp, schema)
        if old is not None:
            for i in range(old.num_row_groups):
                part = old.read_row_group(i)
                self._writer.write_table(part)
                self.done_ids.update(part.column("variant_id").to_pylist())
                self.n_written += part.num_rows
                self.n_ok += part.column("error").null_count
        self._closed = False

    def add(self, row: Mapping[str, Any]) -> None:
        """Buffer one results row (missing columns are null); a full buffer is flushed.
        ValueError when the row has a column the schema lacks."""
        extra = set(row) - set(self.schema.names)
        if extra:
            raise ValueError(f"results row has unknown column(s) {sorted(extra)}")
        self._rows.append(row)
        if row.get("error") is None:
            self.n_ok += 1
        else:
            self.n_errors += 1
            if self.first_error is None:
                self.first_error = str(row["error"])
        if len(self._rows) >= self.row_group:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group (values coerced to the column types)."""
        if not self._rows:
            return
        cols = {f.name: [_coerce(r.get(f.name), f.type) for r in self._rows]
                for f in self.schema}
        self._writer.write_table(pa.table(cols, schema=self.schema))
        self.n_written += len(self._rows)
        self._rows = []

    def close(self) -> Path:
        """Write what is buffered, finish the file and move it over `path`."""
        if not self._closed:
            self.flush()
            self._writer.close()
            self._tmp.replace(self.path)
            self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop what was written: `path` stays as it was before the writer opened."""
        if not self._closed:
            self._closed = True
            try:
                self._writer.close()
            except OSError as exc:  # e.g. the disk is full: the partial file goes anyway
                log.debug("closing the partial results file failed: %s", exc)
            self._tmp.unlink(missing_ok=True)
            for folder in self._new_dirs:
                try:
                    folder.rmdir()  # only if empty: nothing else was put there meanwhile
                except OSError:
                    break

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_results(path: str | Path) -> pa.Table:
    """A results table; InputError naming the file when it cannot be read.

    Parameters
    ----------
    path : str or Path
        A Parquet file written by `ResultsWriter` (or `run_sweep`).

    Returns
    -------
    pyarrow.Table
        Every row and column of the file.

    Raises
    ------
    InputError
        The file is missing or is not readable Parquet.
    """
    try:
        return pq.read_table(Path(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable results file: {exc}") from None
