"""Import OHLCV files (CSV, CSV.gz, Parquet) into the store.

Accepted layouts: a header row (names matched loosely: ts/ts_ms/timestamp/time/date/
datetime/open time, open/high/low/close or o/h/l/c, volume or a base-volume column such as
volume_btc/VolumeFrom, and a quote-volume column such as turnover/quote asset volume/
VolumeTo) or no header (ts, open, high, low, close[, volume[, turnover]], or Binance's raw
12-column kline layout); lines before the header that are not data (an attribution line) are
skipped; an unnamed index column is ignored. Timestamps: integers in s, ms, us or ns (told
apart by magnitude), ISO 8601 strings, `YYYY-MM-DD HH-AM` hours, and slash dates (day-first
or month-first, inferred from the values; ambiguous files need `ts_format`). Naive times are
UTC. Rows may be oldest-first, newest-first or locally shuffled: they are sorted by ts.
Errors name the file line (CSV) or row (Parquet) of the first bad row.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trade.core.clock import WallClock
from trade.core.errors import InputError
from trade.data.intervals import MINUTE_MS
from trade.data.schema import BAR_SCHEMA, WriteReport, validate_bars
from trade.data.store import Store
from trade.data.synth import bridge_to_1m

I64 = npt.NDArray[np.int64]

_TS_NAMES = ("ts", "tsms", "timestamp", "opentime", "starttime", "start", "datetime", "date",
             "time", "unix", "unixtime", "t")
_OPEN_NAMES = ("open", "o", "openprice")
_HIGH_NAMES = ("high", "h", "highprice")
_LOW_NAMES = ("low", "l", "lowprice")
_CLOSE_NAMES = ("close", "c", "closeprice")
_BASE_VOL_NAMES = ("volumebtc", "volumefrom", "basevolume", "volumebase", "baseassetvolume",
                   "volume", "vol", "v")
_QUOTE_VOL_NAMES = ("turnover", "quoteassetvolume", "quotevolume", "volumeto", "volumeusd",
                    "volumeusdt", "volumequote", "quoteqty", "notional")
_NUMERIC_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_HOUR_AMPM_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}-(AM|PM)$", re.IGNORECASE)
_SLASH_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$")


@dataclass(slots=True)
class ParsedFile:
    """An OHLCV file read into bars: sorted by ts, exact duplicate rows collapsed."""

    path: str
    table: pa.Table  # bars schema, ts = bar open time in ms
    lines: I64  # source line (CSV) or 1-based row (Parquet) of each row of `table`
    interval_ms: int  # most common spacing of the bars
    turnover_estimated: bool
    newest_first: bool


@dataclass(slots=True)
class ImportResult:
    symbol: str
    source: str
    source_interval_ms: int
    source_rows: int
    bridged: bool
    seed: int | None
    report: WriteReport
    provenance: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        what = (
            f"{self.source_rows} bars of {self.source_interval_ms // MINUTE_MS}m bridged to 1m "
            f"(seed {self.seed})"
            if self.bridged
            else f"{self.source_rows} 1m bars"
        )
        return f"{self.source}: {what}; {self.report.summary()}"


def _key(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# what reading a binary, truncated or mislabelled file as (gzipped) text raises
_UNREADABLE = (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error)


def _open_text(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    head: list[str] = []
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            for _ in range(30):
                line = fh.readline(1 << 16)
                if not line:
                    break
                head.append(line.rstrip("\r\n"))
    except _UNREADABLE as exc:
        raise InputError(f"{path}: not a text CSV file{' (gzip)' if path.suffix == '.gz' else ''}"
                         f" ({type(exc).__name__}: {exc})") from None
    if any("\x00" in line for line in head):
        raise InputError(f"{path}: not a text CSV file (it holds NUL bytes: a binary file?)")
    return head


def _is_data_line(fields: list[str]) -> bool:
    if len(fields) < 5:
        return False
    numeric = sum(bool(_NUMERIC_RE.match(f.strip())) for f in fields)
    return numeric >= 4


_OHLC_NAMES = {*_OPEN_NAMES, *_HIGH_NAMES, *_LOW_NAMES, *_CLOSE_NAMES} - {"o", "h", "l", "c"}


def _is_header_line(fields: list[str]) -> bool:
    """A header: it names at least two of open/high/low/close (spelled out) and is not data;
    a header lacking a column is then reported by name (`no 'close' column`)."""
    keys = {_key(f) for f in fields}
    if bool(keys & set(_OPEN_NAMES)) and bool(keys & set(_CLOSE_NAMES)):
        return True
    numeric = sum(bool(_NUMERIC_RE.match(f.strip())) for f in fields)
    return len(keys & _OHLC_NAMES) >= 2 and numeric == 0


def _sniff(path: Path) -> tuple[int, bool, str]:
    """(0-based index of the header/first data line, has_header, delimiter)."""
    head = _open_text(path)
    for i, line in enumerate(head):
        if not line.strip():
            continue
        delim = max((",", ";", "\t", "|"), key=line.count)
        fields = line.split(delim)
        if _is_header_line(fields):
            return i, True, delim
        if _is_data_line(fields):
            return i, False, delim
    raise InputError(
        f"{path}: no header (with open/close columns) and no OHLC data line in its first "
        f"{len(head)} lines"
    )


def _pick(columns: dict[str, str], names: tuple[str, ...], used: set[str]) -> str | None:
    for name in names:
        if name in columns and columns[name] not in used:
            return columns[name]
    return None


def _map_columns(df: pd.DataFrame, path: Path) -> dict[str, str | None]:
    """Our column -> the file's column (turnover/volume may be None)."""
    columns: dict[str, str] = {}
    for col in df.columns:
        columns.setdefault(_key(col), str(col))
    used: set[str] = set()
    out: dict[str, str | None] = {}
    for ours, names in (("open", _OPEN_NAMES), ("high", _HIGH_NAMES), ("low", _LOW_NAMES),
                        ("close", _CLOSE_NAMES), ("ts", _TS_NAMES)):
        found = _pick(columns, names, used)
        if found is None:
            raise InputError(
                f"{path}: no {ours!r} column among {list(df.columns)} "
                f"(accepted names: {', '.join(names)})"
            )
        out[ours] = found
        used.add(found)
    out["volume"] = _pick(columns, _BASE_VOL_NAMES, used)
    if out["volume"] is not None:
        used.add(out["volume"])
    turnover = _pick(columns, _QUOTE_VOL_NAMES, used)
    if turnover is None and "volume" in columns and columns["volume"] not in used:
        turnover = columns["volume"]  # e.g. Coinbase: volume_btc is base, volume is quote
    out["turnover"] = turnover
    return out


def _headerless_columns(ncols: int, path: Path) -> dict[str, str | None]:
    if ncols >= 12:  # Binance raw klines: open time, o, h, l, c, volume, close time, quote vol...
        return {"ts": "0", "open": "1", "high": "2", "low": "3", "close": "4",
                "volume": "5", "turnover": "7"}
    if ncols >= 5:  # Bybit kline order: start, open, high, low, close, volume, turnover
        return {"ts": "0", "open": "1", "high": "2", "low": "3", "close": "4",
                "volume": "5" if ncols >= 6 else None, "turnover": "6" if ncols >= 7 else None}
    raise InputError(f"{path}: a headerless file needs at least 5 columns (ts, o, h, l, c)")


def _first_bad(mask: npt.NDArray[np.bool_], lines: I64, where: str, what: str,
               values: Any, path: Path) -> None:
    bad = np.flatnonzero(mask)
    if len(bad):
        i = int(bad[0])
        more = f" ({len(bad) - 1} more such rows)" if len(bad) > 1 else ""
        raise InputError(f"{path}: {where} {int(lines[i])}: {what} {values[i]!r}{more}")


def _iso_ms(ts: int) -> str:
    try:
        return str(np.datetime64(ts, "ms").astype("datetime64[s]")) + "Z"
    except (OverflowError, ValueError):
        return f"{ts} ms"


def _numeric_ts_to_ms(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    finite = values[np.isfinite(values)]
    mag = float(np.median(np.abs(finite))) if len(finite) else 0.0
    if mag < 1e11:  # seconds (until the year 5138)
        factor = 1000.0
    elif mag < 1e14:  # milliseconds
        factor = 1.0
    elif mag < 1e17:  # microseconds
        factor = 1e-3
    else:  # nanoseconds
        factor = 1e-6
    return np.asarray(np.round(values * factor), dtype=np.int64)


def _string_ts_to_ms(raw: pd.Series, lines: I64, where: str, path: Path,
                     ts_format: str | None) -> npt.NDArray[np.int64]:
    text = raw.astype(str).str.strip()
    sample = text[text != ""]
    first = str(sample.iloc[0]) if len(sample) else ""
    fmt: str | None = ts_format
    if fmt is None and _HOUR_AMPM_RE.match(first):
        fmt = "%Y-%m-%d %I-%p"  # CryptoDataDownload hours: 2019-10-17 09-AM
    elif fmt is None and _SLASH_RE.match(first):
        parts = sample.str.extract(_SLASH_RE)
        a = pd.to_numeric(parts[0], errors="coerce")
        b = pd.to_numeric(parts[1], errors="coerce")
        if bool((a > 12).any()):
            date_fmt = "%d/%m/%Y"  # a first field above 12 can only be a day
        elif bool((b > 12).any()):
            date_fmt = "%m/%d/%Y"
        else:
            raise InputError(
                f"{path}: slash dates like {first!r} are ambiguous (day-first or month-first); "
                "pass --ts-format, e.g. '%d/%m/%Y %H:%M'"
            )
        time_part = parts[3].dropna()
        if len(time_part):
            date_fmt += " %H:%M:%S" if str(time_part.iloc[0]).count(":") == 2 else " %H:%M"
        fmt = date_fmt
    if fmt is None:
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
    _first_bad(np.asarray(parsed.isna()), lines, where,
               f"cannot read timestamp (format {fmt or 'ISO 8601'})", text.to_numpy(), path)
    return np.asarray(parsed.dt.as_unit("ms").astype("int64").to_numpy(), dtype=np.int64)


def _ts_to_ms(raw: pd.Series, lines: I64, where: str, path: Path,
              ts_format: str | None) -> npt.NDArray[np.int64]:
    if pd.api.types.is_datetime64_any_dtype(raw):
        ser = raw.dt.tz_localize("UTC") if getattr(raw.dt, "tz", None) is None else raw
        _first_bad(np.asarray(ser.isna()), lines, where, "missing timestamp", ser.to_numpy(), path)
        return np.asarray(ser.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64"),
                          dtype=np.int64)
    if pd.api.types.is_numeric_dtype(raw):
        vals = np.asarray(raw.to_numpy(dtype=np.float64, na_value=np.nan))
        _first_bad(~np.isfinite(vals), lines, where, "missing timestamp", vals, path)
        return _numeric_ts_to_ms(vals)
    text = raw.astype(str).str.strip()
    numeric = np.asarray(text.str.match(_NUMERIC_RE), dtype=bool)
    if ts_format is None and numeric.mean() > 0.5:  # a numeric column with some bad values
        _first_bad(~numeric, lines, where, "timestamp is not a number", text.to_numpy(), path)
        return _numeric_ts_to_ms(pd.to_numeric(text).to_numpy(dtype=np.float64))
    return _string_ts_to_ms(raw, lines, where, path, ts_format)


def _load_frame(path: Path) -> tuple[pd.DataFrame, I64, str, dict[str, str | None]]:
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        try:
            df = pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
        lines = np.arange(1, len(df) + 1, dtype=np.int64)
        return df, lines, "row", _map_columns(df, path)
    start, has_header, delim = _sniff(path)
    try:
        df = pd.read_csv(
            path, sep=delim, skiprows=start, header=0 if has_header else None, dtype=str,
            keep_default_na=False, skip_blank_lines=False, compression="infer",
        )
    except (pd.errors.ParserError, *_UNREADABLE) as exc:
        raise InputError(f"{path}: cannot parse as CSV ({type(exc).__name__}: {exc})") from None
    first_line = start + (2 if has_header else 1)  # 1-based line of the first data row
    lines = np.arange(first_line, first_line + len(df), dtype=np.int64)
    blank = (df.apply(lambda col: col.astype(str).str.strip()) == "").all(axis=1).to_numpy()
    df, lines = df.loc[~blank].reset_index(drop=True), lines[~blank]
    if has_header:
        mapping = _map_columns(df, path)
    else:
        df.columns = [str(i) for i in range(df.shape[1])]
        mapping = _headerless_columns(df.shape[1], path)
    return df, lines, "line", mapping


def read_bars_file(path: str | Path, *, ts_format: str | None = None) -> ParsedFile:
    """Read an OHLCV file into sorted, validated bars (nothing is stored).

    Parameters
    ----------
    path : str or Path
        A CSV (optionally gzipped) or Parquet file; columns are found by name (ts/time/date,
        open, high, low, close, volume) or, without a header, by position.
    ts_format : str, optional
        strptime format of the timestamp column when it cannot be inferred.

    Returns
    -------
    ParsedFile
        The bars, sorted by ts, exact duplicate rows collapsed.

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    InputError
        The file has no data rows, no usable columns, or a bad line or row (named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    df, lines, where, mapping = _load_frame(p)
    if len(df) == 0:
        raise InputError(f"{p}: no data rows")
    ts_col = mapping["ts"]
    assert ts_col is not None
    ts = _ts_to_ms(df[ts_col], lines, where, p, ts_format)
    cols: dict[str, npt.NDArray[np.float64]] = {}
    for ours in ("open", "high", "low", "close", "volume", "turnover"):
        src = mapping.get(ours)
        if src is None:
            continue
        raw = df[src]
        vals = np.asarray(pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64,
                                                                        na_value=np.nan))
        _first_bad(np.isnan(vals), lines, where, f"column {src!r} value is not a number",
                   raw.to_numpy(), p)
        cols[ours] = vals
    if "volume" not in cols:
        raise InputError(f"{p}: no volume column among {list(df.columns)}")
    estimated = "turnover" not in cols
    if estimated:  # no quote volume in the file: volume x mean price, recorded in provenance
        cols["turnover"] = cols["volume"] * (
            cols["open"] + cols["high"] + cols["low"] + cols["close"]
        ) / 4.0
    # market data cannot come from the future: a ts beyond tomorrow is a unit or format error
    horizon = WallClock().now_ms() + 86_400_000  # the Clock is the one wall-clock reader
    _first_bad(ts > horizon, lines, where, "timestamp is in the future:",
               [_iso_ms(int(t)) for t in ts], p)
    newest_first = len(ts) > 1 and int(ts[0]) > int(ts[-1])
    order = np.argsort(ts, kind="stable")
    ts, lines = ts[order], lines[order]
    table = pa.Table.from_arrays(
        [pa.array(ts), *(pa.array(cols[c][order]) for c in BAR_SCHEMA.names[1:])],
        schema=BAR_SCHEMA,
    )
    problems = validate_bars(table, line_numbers=lines)
    if problems:
        first = min(problems, key=lambda pr: pr.row)
        more = f" ({len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
        raise InputError(f"{p}: {where} {first.row}: {first.reason}{more}; nothing imported")
    keep = np.ones(len(ts), dtype=bool)
    keep[1:] = ts[1:] != ts[:-1]  # exact duplicates (validated equal) collapse
    if not keep.all():
        table, lines, ts = table.filter(pa.array(keep)), lines[keep], ts[keep]
    diffs = np.diff(ts)
    if len(diffs):
        values, counts = np.unique(diffs, return_counts=True)
        interval = int(values[np.argmax(counts)])
    else:
        interval = MINUTE_MS
    if interval % MINUTE_MS:
        raise InputError(f"{p}: bars are {interval} ms apart, not a whole number of minutes")
    if interval > MINUTE_MS:
        off = np.flatnonzero(ts % interval != 0)
        short = np.flatnonzero(diffs < interval) + 1
        bad = np.concatenate([off, short])
        if len(bad):
            i = int(bad.min())
            raise InputError(
                f"{p}: {where} {int(lines[i])}: ts {int(ts[i])} breaks the file's "
                f"{interval // MINUTE_MS}-minute bar grid"
            )
    return ParsedFile(str(p), table, lines, interval, estimated, newest_first)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_file(
    store: Store,
    path: str | Path,
    symbol: str,
    *,
    bridge_1m: bool = False,
    seed: int | None = None,
    overwrite: bool = False,
    ts_format: str | None = None,
    source_name: str | None = None,
) -> ImportResult:
    """Import one file as `symbol`'s 1m bars and record its provenance.

    Files of 1m bars are stored as they are. Coarser bars (e.g. hourly) are refused unless
    `bridge_1m` and a `seed` are given: then seeded 1m paths constrained to each bar's OHLC
    are stored (`bridge_to_1m`) and the provenance says so. Conflicts with stored bars follow
    `Store.write_bars` (refused unless `overwrite`).

    Parameters
    ----------
    store : Store
    path : str or Path
        A CSV (optionally gzipped) or Parquet file of OHLCV rows.
    symbol : str
    bridge_1m : bool
        Bridge coarser bars to 1m (needs `seed`).
    seed : int, optional
        Seed of the bridge.
    overwrite : bool
        Replace stored bars whose values differ.
    ts_format : str, optional
        strptime format of the timestamp column when it cannot be inferred.
    source_name : str, optional
        The name recorded in the provenance (default: the file name).

    Returns
    -------
    ImportResult

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    InputError
        The file cannot be read as bars (naming the first bad line or row), its bars are
        coarser than 1m without `bridge_1m` and `seed`, or not a whole number of minutes.
    RefusedWriteError
        Stored bars differ and `overwrite` is not set (nothing is written).
    StoreWriteError
        The store could not be written.
    """
    parsed = read_bars_file(path, ts_format=ts_format)
    minutes = parsed.interval_ms // MINUTE_MS
    source = source_name or Path(path).name
    if parsed.interval_ms != MINUTE_MS:
        if not bridge_1m:
            raise InputError(
                f"{path} holds {minutes}-minute bars, and the store keeps 1m bars only. "
                f"Real 1m prices cannot be recovered from them: pass --bridge-1m --seed N to "
                "store seeded 1m paths constrained to each bar's open, high, low and close "
                "(recorded as bridged in the provenance), or import 1m data"
            )
        if seed is None:
            raise InputError("--bridge-1m needs --seed N (the bridge is random but seeded)")
        bars = bridge_to_1m(parsed.table, parsed.interval_ms, seed)
        bridged = True
    else:
        bars = parsed.table
        bridged = False
    ts = parsed.table.column("ts")
    entry: dict[str, Any] = {
        "source": source,
        "source_sha256": file_sha256(path),
        "source_interval": str(minutes),
        "source_rows": parsed.table.num_rows,
        "first_ts": int(ts[0].as_py()),
        "last_ts": int(ts[-1].as_py()) + parsed.interval_ms - MINUTE_MS,
        "bridged_1m": bridged,
        "seed": seed if bridged else None,
        "turnover_estimated": parsed.turnover_estimated,
    }
    # the bars and their provenance are published in one commit: together or not at all
    report = store.write_bars(symbol, bars, overwrite=overwrite, provenance=entry)
    prov = store.provenance(symbol)
    return ImportResult(symbol, source, parsed.interval_ms, parsed.table.num_rows, bridged,
                        seed if bridged else None, report, prov)
