"""The Parquet store: 1m bars per symbol-month, funding series, instruments, provenance.

See the package docstring (`trade.data`) for the on-disk layout and the write policy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trade.core.errors import InputError, TradeError
from trade.data.schema import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    FLOAT_COLUMNS,
    FUNDING_SCHEMA,
    OPEN_INTEREST_SCHEMA,
    Instrument,
    RefusedWriteError,
    RowProblem,
    WriteReport,
    coerce_bars,
    collapse_duplicates,
    validate_bars,
    validate_funding,
    validate_open_interest,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_MONTH_FILE_RE = re.compile(r"^(\d{4})-(\d{2})\.parquet$")
_TMP_RE = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")  # a staged temp file (`_tmp_path`)
_COMMIT_FILE = "_commit.json"  # a multi-file write's renames, until they are all made
_COMPRESSION = "lz4"  # fastest to read back; zstd is ~30 % smaller, 5x slower to read
_MAX_DETAILED = 100  # conflicts described row by row in a report (all are counted)
# one process-wide in-memory filesystem behind every memory:// URI, so that two open_store
# calls on the same memory:// path see the same data (as two calls on one directory would)
_MEMORY_FS: pafs.FileSystem = pafs._MockFileSystem()

GAP_SCHEMA = pa.schema(
    [
        pa.field("start_ms", pa.int64(), nullable=False),
        pa.field("end_ms", pa.int64(), nullable=False),
        pa.field("missing", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
    ]
)


class CorruptFileError(TradeError, OSError):
    """A stored file cannot be read; the message names it. Other files stay readable."""


class StoreWriteError(TradeError, OSError):
    """The filesystem refused a write (read-only folder, disk full...); nothing was changed."""


class NoDataError(InputError):
    """Nothing is stored for the symbol asked for."""


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Contiguous float64/int64 numpy views of a bars table (no copy): what the kernel takes."""

    ts: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    turnover: F64

    def __len__(self) -> int:
        return len(self.ts)


def bar_arrays(table: pa.Table) -> BarArrays:
    """Zero-copy numpy views of a bars table.

    Parameters
    ----------
    table : pyarrow.Table
        From `Store.read_bars` (bars schema, one chunk, no nulls).

    Returns
    -------
    BarArrays
        `ts` (int64 ms) and the float64 price and volume columns.
    """
    cols: dict[str, Any] = {}
    for name in BAR_COLUMNS:
        col = table.column(name)
        chunk = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
        if col.num_chunks == 0:
            chunk = pa.array([], type=BAR_SCHEMA.field(name).type)
        cols[name] = chunk.to_numpy(zero_copy_only=True)
    return BarArrays(**cols)


def _month_key(ts: I64) -> npt.NDArray[np.str_]:
    """'YYYY-MM' of each timestamp (formatting only the distinct months: fast on sorted input)."""
    months = ts.astype("datetime64[ms]").astype("datetime64[M]")
    uniq, inverse = np.unique(months, return_inverse=True)
    return np.datetime_as_string(uniq, unit="M")[inverse]


def _month_bounds(key: str) -> tuple[int, int]:
    start = np.datetime64(key, "M")
    lo = int(start.astype("datetime64[ms]").astype(np.int64))
    hi = int((start + np.timedelta64(1, "M")).astype("datetime64[ms]").astype(np.int64))
    return lo, hi


def _resolve(
    data_dir: str | Path | None, filesystem: pafs.FileSystem | None
) -> tuple[pafs.FileSystem, str]:
    if filesystem is not None:
        root = "" if data_dir is None else str(data_dir)
        return filesystem, root.rstrip("/")
    text = str(data_dir) if data_dir is not None else os.environ.get("TRADE_DATA_DIR") or "data"
    if text.startswith("memory://"):
        return _MEMORY_FS, (text[len("memory://") :].strip("/") or "data")
    if "://" in text:
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise InputError(f"cannot open data store {text!r}: {exc}") from exc
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), Path(text).expanduser().resolve().as_posix()


def normalize_symbol(symbol: str) -> str:
    """A symbol as stored: checked, and upper-cased.

    Bybit symbols are upper case, so `btcusdt` and `BTCUSDT` are one symbol, never two
    folders.

    Parameters
    ----------
    symbol : str

    Returns
    -------
    str

    Raises
    ------
    InputError
        The symbol is empty or has characters other than letters, digits, '_', '-', '.'.
    """
    if not _SYMBOL_RE.match(symbol):
        raise InputError(f"bad symbol {symbol!r}: letters, digits, '_', '-', '.' only")
    return symbol.upper()


def open_store(
    data_dir: str | Path | None = None, *, filesystem: pafs.FileSystem | None = None
) -> Store:
    """Open (lazily create) a market-data store.

    Parameters
    ----------
    data_dir : str or Path, optional
        A local directory, any pyarrow filesystem URI (`s3://bucket/prefix`,
        `file:///abs/path`, `mock:///` ...), or `memory://name` (a process-wide in-memory
        filesystem). None means `$TRADE_DATA_DIR`, else `./data`.
    filesystem : pyarrow.fs.FileSystem, optional
        When given, `data_dir` is a path inside it.

    Returns
    -------
    Store

    Raises
    ------
    InputError
        `data_dir` is a URI pyarrow cannot open.
    """
    fs, root = _resolve(data_dir, filesystem)
    return Store(fs, root)


class Store:
    """A market-data store on a pyarrow filesystem. Methods document their thread rules:
    reads are safe from any thread; writes to one symbol must come from one writer."""

    def __init__(self, filesystem: pafs.FileSystem, root: str) -> None:
        self.fs = filesystem
        self.root = root

    def __repr__(self) -> str:
        return f"Store({type(self.fs).__name__}, {self.root!r})"

    # ----------------------------------------------------------------- paths
    def _p(self, *parts: str) -> str:
        return "/".join([self.root, *parts]) if self.root else "/".join(parts)

    @staticmethod
    def _check_symbol(symbol: str) -> str:
        return normalize_symbol(symbol)

    def bars_dir(self, symbol: str) -> str:
        return self._p("bars_1m", f"symbol={self._check_symbol(symbol)}")

    def month_path(self, symbol: str, month: str) -> str:
        return f"{self.bars_dir(symbol)}/{month}.parquet"

    def _exists(self, path: str) -> bool:
        return bool(self.fs.get_file_info(path).type == pafs.FileType.File)

    def _listdir(self, path: str) -> list[pafs.FileInfo]:
        infos = self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        return list(infos)

    def month_files(self, symbol: str) -> dict[str, str]:
        """Stored month files of a symbol: {"YYYY-MM": path}, sorted by month."""
        out: dict[str, str] = {}
        for info in self._listdir(self.bars_dir(symbol)):
            m = _MONTH_FILE_RE.match(info.base_name)
            if m and info.type == pafs.FileType.File:
                out[f"{m.group(1)}-{m.group(2)}"] = info.path
        return dict(sorted(out.items()))

    def symbols(self) -> list[str]:
        """Symbols with 1m bars stored, sorted."""
        out = []
        for info in self._listdir(self._p("bars_1m")):
            if info.type == pafs.FileType.Directory and info.base_name.startswith("symbol="):
                sym = info.base_name[len("symbol=") :]
                if self.month_files(sym):
                    out.append(sym)
        return sorted(out)

    # ------------------------------------------------------------ atomic I/O
    #
    # A write stages every file it changes as a hidden temp file beside its target
    # (`.<name>.tmp-<uuid>`). One file is then renamed over its target. Several files (a
    # symbol's months and its provenance) are published through a commit record: once every
    # temp file is complete, `_commit.json` lists the renames and is itself renamed into
    # place; then the renames are made and the record removed. A crash before the record
    # leaves the store as it was (the temp files are leftovers); a crash after it is completed
    # by the next reader or writer (`_settle`): data and provenance become visible together
    # or not at all. Leftover temp files of a dead write are removed by the next write to the
    # same folder and by `trade data check --fix` (`clean`).

    def _tmp_path(self, final: str) -> str:
        head, _, name = final.rpartition("/")
        return f"{head}/.{name}.tmp-{uuid.uuid4().hex}"

    def _ensure_dir(self, path: str) -> None:
        self.fs.create_dir(path.rpartition("/")[0], recursive=True)

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.delete_file(path)  # best effort: a leftover dot-tmp file is ignored anyway

    def _write_failed(self, exc: OSError, what: str) -> StoreWriteError:
        """One line for a write the filesystem refused (read-only, disk full, ...)."""
        reason = os.strerror(exc.errno) if exc.errno else str(exc).splitlines()[0]
        if exc.errno is None and "errno" in str(exc).lower():
            # pyarrow folds the errno into its message: "... Detail: [errno 28] No space ..."
            m = re.search(r"\[errno (\d+)\] ?([^\n]*)", str(exc), re.IGNORECASE)
            if m:
                reason = m.group(2) or os.strerror(int(m.group(1)))
        return StoreWriteError(f"cannot write {what} in the data store {self.root or '/'}: "
                               f"{reason}; nothing was changed")

    def _rel(self, path: str) -> str:
        """`path` inside the store (for messages)."""
        return path[len(self.root) + 1:] if self.root and path.startswith(self.root) else path

    def _move(self, src: str, dst: str) -> None:
        """Every rename of a write goes through here (one seam for fault-injection tests)."""
        self.fs.move(src, dst)

    def _missing_dirs(self, finals: list[str]) -> list[str]:
        """The folders (root included) a write of `finals` would create, deepest first."""
        out: list[str] = []
        for final in finals:
            d = final.rpartition("/")[0]
            while d and d not in out and self.fs.get_file_info(d).type == pafs.FileType.NotFound:
                out.append(d)
                d = d.rpartition("/")[0]
        return sorted(out, key=lambda p: p.count("/"), reverse=True)

    def _write_files(self, files: list[tuple[str, pa.Table | bytes]], commit_dir: str,
                     what: str) -> None:
        """Stage each (path, Parquet table or bytes) as a temp file, then publish them all:
        one by a rename, several through a commit record (see above). Any failure before the
        commit record exists removes the temp files and the folders the write created, and
        an OSError becomes a one-line StoreWriteError: the store is exactly as before."""
        new_dirs = self._missing_dirs([f for f, _ in files])
        staged: list[tuple[str, str]] = []
        committed = False
        try:
            for final, content in files:
                self._ensure_dir(final)
                tmp = self._tmp_path(final)
                staged.append((tmp, final))
                if isinstance(content, bytes):
                    with self.fs.open_output_stream(tmp) as out:
                        out.write(content)
                else:
                    pq.write_table(content, tmp, filesystem=self.fs, compression=_COMPRESSION,
                                   use_dictionary=False)
            if len(staged) == 1:
                self._move(*staged[0])
                return
            marker = f"{commit_dir}/{_COMMIT_FILE}"
            record = json.dumps({"moves": [list(m) for m in staged]}).encode()
            tmp = self._tmp_path(marker)
            staged.append((tmp, marker))
            with self.fs.open_output_stream(tmp) as out:
                out.write(record)
            self._move(tmp, marker)
            committed = True  # from here on the write completes, now or at the next access
            self._apply_moves(staged[:-1])  # its own list: a reader may be completing it too
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(marker)
        except BaseException as exc:
            if not committed:
                for tmp, _ in staged:
                    self._remove_quietly(tmp)
                for d in new_dirs:
                    with contextlib.suppress(OSError):
                        if not self._listdir(d):
                            self.fs.delete_dir(d)
            if isinstance(exc, OSError) and not isinstance(exc, TradeError):
                raise self._write_failed(exc, what) from None
            raise

    def _roll_forward(self, marker: str) -> bool:
        """Finish the renames a commit record lists (idempotent); False when there is none."""
        try:
            with self.fs.open_input_stream(marker) as inp:
                moves = json.loads(inp.read().decode())["moves"]
        except FileNotFoundError:
            return False
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptFileError(f"{marker}: unreadable commit record ({exc})") from exc
        self._apply_moves(moves)
        # remove the record only if it is still the one completed (not a newer write's)
        try:
            with self.fs.open_input_stream(marker) as inp:
                same = json.loads(inp.read().decode()).get("moves") == moves
        except (FileNotFoundError, ValueError):
            same = False
        if same:
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(marker)
        return True

    def _apply_moves(self, moves: list[Any]) -> None:
        for tmp, final in moves:
            if self._exists(tmp):
                with contextlib.suppress(FileNotFoundError):  # another process finished it
                    self._move(tmp, final)

    def _settle(self, symbol: str) -> None:
        """Complete a committed write of `symbol` that a crash interrupted (readers call this:
        they never see months without their provenance)."""
        marker = f"{self.bars_dir(symbol)}/{_COMMIT_FILE}"
        if not self._exists(marker):
            return
        try:
            self._roll_forward(marker)
        except OSError as exc:
            if isinstance(exc, TradeError):
                raise
            raise CorruptFileError(
                f"{marker}: an interrupted write of {symbol} needs completing but the store is "
                f"not writable ({exc}); run `trade data check {symbol} --fix` with write access"
            ) from None

    def _leftovers(self, folder: str, prefix: str = "") -> list[str]:
        """Temp files of dead writes in `folder` (names starting `.<prefix>`)."""
        return [i.path for i in self._listdir(folder)
                if i.type == pafs.FileType.File and _TMP_RE.match(i.base_name)
                and i.base_name.startswith(f".{prefix}")]

    def clean(self, symbol: str) -> list[str]:
        """Complete an interrupted committed write of `symbol` and remove the temp files dead
        writes left (its bars folder, and its funding, instrument and gap files). Returns the
        removed paths. Writes call it first: one writer per symbol, so no temp file found
        then belongs to a live write."""
        self._settle(symbol)
        found = self._leftovers(self.bars_dir(symbol))
        sym = self._check_symbol(symbol)
        for folder in ("funding", "open_interest", "instruments", "gaps"):
            found += self._leftovers(self._p(folder), f"{sym}.")
        for path in found:
            self._remove_quietly(path)
        return found

    def _write_table_atomic(self, tables: Mapping[str, pa.Table]) -> list[str]:
        """Write tables atomically together (see `_write_files`); returns their paths."""
        finals = list(tables)
        self._write_files(list(tables.items()), finals[0].rpartition("/")[0],
                          self._rel(finals[0]))
        return finals

    def _write_json_atomic(self, final: str, obj: Any) -> None:
        data = json.dumps(obj, indent=2, sort_keys=True).encode()
        self._write_files([(final, data)], final.rpartition("/")[0], self._rel(final))

    def _read_json(self, path: str) -> Any:
        try:
            with self.fs.open_input_stream(path) as inp:
                return json.loads(inp.read().decode())
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{path}: not valid JSON ({exc})") from exc

    # ----------------------------------------------------------------- bars
    def read_month_file(self, path: str) -> pa.Table:
        """One stored month file (a path from `month_files`) as a bars table.

        Raises
        ------
        CorruptFileError
            The file cannot be read as Parquet or has other columns than the bars schema.
        """
        try:
            table = pq.read_table(path, filesystem=self.fs)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(
                f"{path}: cannot read stored bars ({exc}); other months are unaffected - "
                "re-import this month or delete the file"
            ) from exc
        if table.column_names != list(BAR_COLUMNS):
            raise CorruptFileError(f"{path}: columns {table.column_names}, expected {BAR_COLUMNS}")
        return table.cast(BAR_SCHEMA)

    def _read_files(self, paths: list[str]) -> pa.Table:
        if not paths:
            return BAR_SCHEMA.empty_table()
        if len(paths) == 1:
            return self.read_month_file(paths[0])
        try:
            # one multi-threaded scan over the month files, in file (= time) order
            dataset = pads.dataset(paths, schema=BAR_SCHEMA, format="parquet", filesystem=self.fs)
            return dataset.to_table()
        except (pa.ArrowInvalid, OSError):
            # find and name the unreadable file
            return pa.concat_tables([self.read_month_file(p) for p in paths])

    def read_bars(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> pa.Table:
        """1m bars with start_ms <= ts < end_ms (None = unbounded), sorted by ts.

        Columns exactly ts int64, open, high, low, close, volume, turnover float64, no nulls,
        each one contiguous chunk (see `bar_arrays`). Opens only the month files that overlap
        the range. Raises NoDataError if nothing is stored for the symbol, CorruptFileError
        naming an unreadable file."""
        self._settle(symbol)
        files = self.month_files(symbol)
        if not files:
            raise NoDataError(
                f"no 1m bars stored for {symbol} in {self.root or '/'} "
                "(run `trade data import`, `trade data import-sample` or `trade data synth`)"
            )
        chosen = []
        for key, path in files.items():
            lo, hi = _month_bounds(key)
            if (start_ms is None or hi > start_ms) and (end_ms is None or lo < end_ms):
                chosen.append(path)
        table = self._read_files(chosen).combine_chunks()
        ts = table.column("ts").to_numpy()
        if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            raise CorruptFileError(f"stored bars of {symbol} are not strictly increasing in ts")
        lo_i = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, side="left"))
        hi_i = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms, side="left"))
        return table.slice(lo_i, max(hi_i - lo_i, 0))

    def bar_arrays(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> BarArrays:
        """`read_bars` as zero-copy numpy arrays."""
        return bar_arrays(self.read_bars(symbol, start_ms, end_ms))

    def write_bars(self, symbol: str, table: pa.Table, *, overwrite: bool = False,
                   provenance: Mapping[str, Any] | None = None) -> WriteReport:
        """Merge 1m bars into the store; idempotent, deduplicating, atomic.

        Input must be sorted by ts (exact duplicate rows are collapsed). Bad rows (see
        `validate_bars`) refuse the whole write. A ts already stored with different values is
        a conflict: refused by default, replaced with `overwrite=True`. On refusal a
        RefusedWriteError carrying the WriteReport is raised and nothing is changed. Months
        whose content would not change are not rewritten. A stored month file that cannot be
        read refuses the write (CorruptFileError), except with `overwrite=True`, which
        replaces it with the new rows of that month.

        `provenance`: an entry merged into the symbol's provenance (`record_provenance`) in
        the same commit as the bars: both become visible together or neither does."""
        symbol = self._check_symbol(symbol)
        bars = coerce_bars(table)
        report = WriteReport(symbol=symbol, rows_in=bars.num_rows)
        report.problems = validate_bars(bars)
        if report.problems:
            report.refused = True
            raise RefusedWriteError(report)
        bars, report.duplicates_in_input = collapse_duplicates(bars.cast(BAR_SCHEMA))
        self.clean(symbol)  # the one writer of this symbol: finish or drop a dead write
        to_write: dict[str, pa.Table] = {}
        if bars.num_rows:
            to_write = self._month_tables(symbol, bars, overwrite, report)
        if report.conflicts:
            report.refused = True
            raise RefusedWriteError(report)
        prov_bytes: bytes | None = None
        if provenance is not None:
            prov, changed = self._merged_provenance(symbol, provenance)
            if changed:
                prov_bytes = json.dumps(prov, indent=2, sort_keys=True).encode()
        if not to_write and prov_bytes is None:
            return report
        files: list[tuple[str, pa.Table | bytes]] = list(to_write.items())
        if prov_bytes is not None:
            files.append((self._provenance_path(symbol), prov_bytes))
        self._write_files(files, self.bars_dir(symbol), f"1m bars of {symbol}")
        report.files_written = list(to_write)
        return report

    def _month_tables(self, symbol: str, bars: pa.Table, overwrite: bool,
                      report: WriteReport) -> dict[str, pa.Table]:
        """The month files a write changes: {path: merged table}; conflicts go to `report`."""
        ts = bars.column("ts").to_numpy()
        keys = _month_key(ts)
        bounds = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(ts)]])
        existing_files = self.month_files(symbol)
        to_write: dict[str, pa.Table] = {}
        for s, e in zip(starts, ends, strict=True):
            key = str(keys[s])
            new = bars.slice(int(s), int(e - s))
            path = existing_files.get(key)
            if path is not None:
                try:
                    old = self.read_month_file(path)
                except CorruptFileError as exc:
                    if not overwrite:
                        raise CorruptFileError(
                            f"{path}: the stored month cannot be read; pass --overwrite "
                            f"(overwrite=True) to replace it with the new bars, or remove it: "
                            f"trade data delete-month {symbol} {key}") from exc
                    path = None  # an unreadable month is replaced by the new rows
            if path is None:
                to_write[self.month_path(symbol, key)] = new
                report.rows_added += new.num_rows
                continue
            merged = self._merge(old, new, int(s), overwrite, report)
            if merged is not None:
                to_write[path] = merged
        return to_write

    def delete_month(self, symbol: str, month: str) -> str:
        """Remove one stored month file of `symbol` (`YYYY-MM`), readable or not; returns
        its path. The provenance and other months are kept."""
        if not re.fullmatch(r"\d{4}-\d{2}", month):
            raise InputError(f"month {month!r}: expected YYYY-MM")
        self.clean(symbol)
        path = self.month_files(symbol).get(month)
        if path is None:
            have = ", ".join(self.month_files(symbol)) or "none"
            raise InputError(f"no month {month} stored for {symbol} in {self.root or '/'} "
                             f"(stored months: {have})")
        try:
            self.fs.delete_file(path)
        except OSError as exc:
            raise self._write_failed(exc, path.rpartition("/")[2]) from None
        return path

    @staticmethod
    def _merge(
        old: pa.Table, new: pa.Table, offset: int, overwrite: bool, report: WriteReport
    ) -> pa.Table | None:
        """Merged month table, or None when nothing changes. Records conflicts in `report`."""
        old_ts = old.column("ts").to_numpy()
        new_ts = new.column("ts").to_numpy()
        common, i_old, i_new = np.intersect1d(old_ts, new_ts, assume_unique=True,
                                              return_indices=True)
        differs = np.zeros(len(common), dtype=bool)
        for name in FLOAT_COLUMNS:
            a = old.column(name).to_numpy()[i_old]
            b = new.column(name).to_numpy()[i_new]
            differs |= a != b
        n_conf = int(differs.sum())
        if n_conf and not overwrite:
            report.conflict_count += n_conf
            room = max(_MAX_DETAILED - len(report.conflicts), 0)
            for j in np.flatnonzero(differs)[:room]:
                o_row = [old.column(c)[int(i_old[j])].as_py() for c in FLOAT_COLUMNS]
                n_row = [new.column(c)[int(i_new[j])].as_py() for c in FLOAT_COLUMNS]
                report.conflicts.append(
                    RowProblem(offset + int(i_new[j]), int(common[j]),
                               f"stored (o,h,l,c,v,t)={o_row} differs from new {n_row}")
                )
            return None
        added = len(new_ts) - len(common)
        report.rows_unchanged += len(common) - n_conf
        report.rows_replaced += n_conf
        report.rows_added += added
        if added == 0 and n_conf == 0:
            return None
        keep_old = np.ones(len(old_ts), dtype=bool)
        keep_old[i_old] = False  # new values win for every common ts (identical unless overwrite)
        merged = pa.concat_tables([old.filter(pa.array(keep_old)), new])
        order = np.argsort(merged.column("ts").to_numpy(), kind="stable")
        return merged.take(pa.array(order)).combine_chunks()

    def delete_symbol(self, symbol: str) -> None:
        """Remove all bars, provenance and gap tables of a symbol."""
        path = self.bars_dir(symbol)
        if self.fs.get_file_info(path).type == pafs.FileType.Directory:
            self.fs.delete_dir(path)
        gaps = self._gaps_path(symbol)
        if self._exists(gaps):
            self.fs.delete_file(gaps)

    # ------------------------------------------------------------ provenance
    def _provenance_path(self, symbol: str) -> str:
        return f"{self.bars_dir(symbol)}/_provenance.json"

    def provenance(self, symbol: str) -> dict[str, Any]:
        """Where a symbol's bars came from: {} if unrecorded. Keys written by the importers:
        `source` (file name or generator), `source_interval`, `bridged_1m` (bool),
        `seed` (bridge/synth seed or None), `imports` (one entry per import)."""
        self._settle(symbol)
        path = self._provenance_path(symbol)
        if not self._exists(path):
            return {}
        data = self._read_json(path)
        if not isinstance(data, dict):
            raise CorruptFileError(f"{path}: expected a JSON object")
        return data

    def _merged_provenance(self, symbol: str, entry: Mapping[str, Any]
                           ) -> tuple[dict[str, Any], bool]:
        """The provenance with `entry` merged in, and whether it changed."""
        prov = self.provenance(symbol)
        before = json.dumps(prov, sort_keys=True)
        history = list(prov.get("imports", []))
        clean = json.loads(json.dumps(dict(entry), sort_keys=True))
        if clean not in history:
            history.append(clean)
        prov.update(clean)
        prov["symbol"] = symbol
        prov["imports"] = history
        prov["bridged_1m"] = any(bool(h.get("bridged_1m")) for h in history)
        return prov, json.dumps(prov, sort_keys=True) != before

    def record_provenance(self, symbol: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `entry` into the symbol's provenance (top-level keys = latest import) and append
        it to its `imports` history unless an identical entry is already there."""
        symbol = self._check_symbol(symbol)
        prov, changed = self._merged_provenance(symbol, entry)
        if changed:  # idempotent: nothing new, nothing written
            self._write_json_atomic(self._provenance_path(symbol), prov)
        return prov

    # ------------------------------------------------------ funding, open interest
    # Both are (ts, value) series in one file per symbol, merged on write with the bars'
    # policy: a stored ts that would get another value is refused unless `overwrite`.
    _SERIES: ClassVar[dict[str, tuple[pa.Schema, str, Callable[[pa.Table], pa.Table]]]] = {
        "funding": (FUNDING_SCHEMA, "funding", validate_funding),
        "open_interest": (OPEN_INTEREST_SCHEMA, "open interest", validate_open_interest),
    }

    def _series_path(self, kind: str, symbol: str) -> str:
        return self._p(kind, f"{self._check_symbol(symbol)}.parquet")

    def _read_series(self, kind: str, symbol: str, start_ms: int | None,
                     end_ms: int | None) -> pa.Table:
        schema, what, _ = self._SERIES[kind]
        path = self._series_path(kind, symbol)
        if not self._exists(path):
            return schema.empty_table()
        try:
            table = pq.read_table(path, filesystem=self.fs).cast(schema)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(f"{path}: cannot read {what} ({exc})") from exc
        ts = table.column("ts").to_numpy()
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, side="left"))
        hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms, side="left"))
        return table.slice(lo, max(hi - lo, 0)).combine_chunks()

    def _write_series(self, kind: str, symbol: str, table: pa.Table, overwrite: bool) -> int:
        schema, what, validate = self._SERIES[kind]
        name = schema.names[1]
        new = validate(table)
        self.clean(symbol)
        old = self._read_series(kind, symbol, None, None)
        old_ts = old.column("ts").to_numpy()
        new_ts = new.column("ts").to_numpy()
        common, i_old, i_new = np.intersect1d(old_ts, new_ts, assume_unique=True,
                                              return_indices=True)
        diff = old.column(name).to_numpy()[i_old] != new.column(name).to_numpy()[i_new]
        if diff.any() and not overwrite:
            bad = int(common[np.flatnonzero(diff)[0]])
            raise InputError(
                f"{what} of {symbol}: {int(diff.sum())} stored ts get a different "
                f"{'rate' if kind == 'funding' else 'value'} "
                f"(first ts={bad}); pass overwrite=True to replace; nothing stored"
            )
        changed = len(new_ts) - len(common) + int(diff.sum())
        if changed == 0:
            return 0
        keep = np.ones(len(old_ts), dtype=bool)
        keep[i_old] = False
        merged = pa.concat_tables([old.filter(pa.array(keep)), new])
        order = np.argsort(merged.column("ts").to_numpy(), kind="stable")
        self._write_table_atomic({self._series_path(kind, symbol): merged.take(pa.array(order))})
        return changed

    def read_funding(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> pa.Table:
        """Funding rates (ts int64 ms settlement time, rate float64), sorted; an empty table
        when none is stored (the engine then uses its constant rate)."""
        return self._read_series("funding", symbol, start_ms, end_ms)

    def write_funding(self, symbol: str, table: pa.Table, *, overwrite: bool = False) -> int:
        """Merge funding rates in; same policy as bars (a stored ts with another rate is refused
        unless `overwrite`). Returns the number of rows added or replaced."""
        return self._write_series("funding", symbol, table, overwrite)

    def read_open_interest(
        self, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> pa.Table:
        """Open interest (ts int64 ms, open_interest float64 in base-coin contracts), sorted;
        an empty table when none is stored."""
        return self._read_series("open_interest", symbol, start_ms, end_ms)

    def write_open_interest(self, symbol: str, table: pa.Table, *,
                            overwrite: bool = False) -> int:
        """Merge open-interest values in (the funding policy). Returns rows added or
        replaced."""
        return self._write_series("open_interest", symbol, table, overwrite)

    # ------------------------------------------------------------ instruments
    def _instrument_path(self, symbol: str) -> str:
        return self._p("instruments", f"{self._check_symbol(symbol)}.json")

    def write_instrument(self, instrument: Instrument) -> None:
        self._write_json_atomic(self._instrument_path(instrument.symbol), instrument.to_dict())

    def read_instrument(self, symbol: str, default: Instrument | None = None) -> Instrument:
        """The stored instrument; `default` (if given) when none is stored, else NoDataError.
        `Instrument(symbol=...)` carries Bybit BTCUSDT's rules as defaults."""
        path = self._instrument_path(symbol)
        if not self._exists(path):
            if default is not None:
                return default
            raise NoDataError(f"no instrument stored for {symbol} in {self.root or '/'}")
        try:
            return Instrument.from_dict(self._read_json(path), where=path)
        except InputError as exc:
            raise CorruptFileError(str(exc)) from None

    # ------------------------------------------------------------------ gaps
    def _gaps_path(self, symbol: str) -> str:
        return self._p("gaps", f"{self._check_symbol(symbol)}.parquet")

    def write_gaps(self, symbol: str, gaps: pa.Table) -> str:
        """Store the explicit gap table of a symbol (replacing the previous one)."""
        path = self._gaps_path(symbol)
        self.clean(symbol)
        self._write_table_atomic({path: gaps.cast(GAP_SCHEMA)})
        return path

    def read_gaps(self, symbol: str) -> pa.Table:
        path = self._gaps_path(symbol)
        if not self._exists(path):
            return GAP_SCHEMA.empty_table()
        return pq.read_table(path, filesystem=self.fs).cast(GAP_SCHEMA)

    def iter_months(self, symbol: str) -> Iterator[tuple[str, pa.Table]]:
        """(month, table) for each stored month, oldest first (bounded memory)."""
        for key, path in self.month_files(symbol).items():
            yield key, self.read_month_file(path)
