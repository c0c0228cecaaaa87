"""The market-data store: Parquet 1m history, resampling, validation, synthetic markets.

Layout under the store root (a local directory, `$TRADE_DATA_DIR`, `./data` by default, or any
pyarrow filesystem URI such as `s3://bucket/prefix` or `memory://name`)::

    <root>/bars_1m/symbol=<SYM>/<YYYY-MM>.parquet   1m bars of one UTC calendar month
    <root>/bars_1m/symbol=<SYM>/_provenance.json    where the bars came from (source file,
                                                    sha256, interval, bridged_1m, seed)
    <root>/funding/<SYM>.parquet                    funding rates: ts int64 ms, rate float64
    <root>/open_interest/<SYM>.parquet              open interest: ts int64 ms, open_interest
    <root>/instruments/<SYM>.json                   Instrument (tick size, qty step, ...)
    <root>/gaps/<SYM>.parquet                       explicit gap table written by `repair`

Bar files have exactly the columns ts (int64, ms since the epoch, UTC, bar open time, a
multiple of 60 000), open, high, low, close, volume (base units), turnover (quote units), all
float64, no nulls, strictly increasing ts, lz4-compressed, one row group.

Write policy (`Store.write_bars`): input rows are validated first and any bad row (NaN/null,
misaligned or non-increasing ts, a ts outside 1970..2099, a price <= 0, high < max(open,
close), low > min(open, close), negative volume or turnover) refuses the whole write with a
report naming the rows. Exact duplicates are collapsed; a ts already stored with *different*
values is a conflict, refused by default (`overwrite=True` / `--overwrite` replaces, and
also replaces a month file that cannot be read). Re-writing stored rows changes nothing and
rewrites no file (idempotent). Every changed month, and the provenance entry given with
them, is staged as a hidden temp file; a commit record (`_commit.json`) then makes them
visible together: a crash before it leaves the store as it was, a crash after it is
completed by the next reader or writer. The next write (or `trade data check --fix`)
removes temp files a dead write left. A write the filesystem refuses (read-only, disk full)
raises StoreWriteError (one line) and changes nothing. A range read opens only the month
files it overlaps.

Bars coarser than 1m are never stored as if they were 1m: importing them needs
`bridge_1m=True, seed=N`, which stores seeded 1m paths constrained to each bar's OHLC, and the
provenance records `bridged_1m: true` with the source interval and seed.
"""

from trade.data.importer import ImportResult, ParsedFile, import_file, read_bars_file
from trade.data.intervals import (
    INTERVALS,
    bucket_end,
    bucket_start,
    interval_ms,
    normalize_interval,
)
from trade.data.quality import (
    CheckReport,
    Fetcher,
    Gap,
    RepairReport,
    Suspicious,
    check,
    format_report,
    repair,
)
from trade.data.resample import RESAMPLED_SCHEMA, resample
from trade.data.sample import SAMPLE_SEED, SAMPLE_SYMBOL, ensure_sample_data, sample_path
from trade.data.schema import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    FUNDING_SCHEMA,
    OPEN_INTEREST_SCHEMA,
    Instrument,
    RefusedWriteError,
    RowProblem,
    WriteReport,
    validate_bars,
)
from trade.data.store import (
    BarArrays,
    CorruptFileError,
    NoDataError,
    Store,
    StoreWriteError,
    bar_arrays,
    normalize_symbol,
    open_store,
)
from trade.data.synth import (
    DEFAULT_START_MS,
    REGIMES,
    bridge_to_1m,
    regime_for_pattern,
    synth_bars,
    synth_portfolio,
)

__all__ = [
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "DEFAULT_START_MS",
    "FUNDING_SCHEMA",
    "INTERVALS",
    "OPEN_INTEREST_SCHEMA",
    "REGIMES",
    "RESAMPLED_SCHEMA",
    "SAMPLE_SEED",
    "SAMPLE_SYMBOL",
    "BarArrays",
    "CheckReport",
    "CorruptFileError",
    "Fetcher",
    "Gap",
    "ImportResult",
    "Instrument",
    "NoDataError",
    "ParsedFile",
    "RefusedWriteError",
    "RepairReport",
    "RowProblem",
    "Store",
    "StoreWriteError",
    "Suspicious",
    "WriteReport",
    "bar_arrays",
    "bridge_to_1m",
    "bucket_end",
    "bucket_start",
    "check",
    "ensure_sample_data",
    "format_report",
    "import_file",
    "interval_ms",
    "normalize_interval",
    "normalize_symbol",
    "open_store",
    "read_bars_file",
    "regime_for_pattern",
    "repair",
    "resample",
    "sample_path",
    "synth_bars",
    "synth_portfolio",
    "validate_bars",
]
