"""Run folders: deterministic Parquet, JSON and the sha256 digests the manifest records."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def parquet_bytes(table: pa.Table) -> bytes:
    """`table` as Parquet bytes, reproducibly: one row group, fixed options, no schema
    metadata, no timestamps (the same table and pyarrow version give the same bytes)."""
    clean = table.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    pq.write_table(
        clean,
        sink,
        compression="zstd",
        compression_level=3,
        row_group_size=max(clean.num_rows, 1),
        use_dictionary=False,
        write_statistics=True,
        version="2.6",
        data_page_version="1.0",
    )
    return bytes(sink.getvalue().to_pybytes())


def write_parquet(table: pa.Table, path: Path) -> str:
    """Write `table` deterministically (see `parquet_bytes`); returns the file's sha256."""
    data = parquet_bytes(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def json_bytes(obj: Any) -> bytes:
    """`write_json`'s bytes: sorted keys, fixed separators, NaN/inf as null."""
    text = json.dumps(_clean(obj), sort_keys=True, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write a run folder's files all or none: each is staged as a hidden temp file, and
    only when every one is complete are they renamed into place. A failure (disk full,
    read-only folder) removes the temp files and a folder it created, and re-raises."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    staged: list[tuple[Path, Path]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            final = folder / name
            tmp = final.with_name(f".{name}.tmp")
            staged.append((tmp, final))
            tmp.write_bytes(data)
        for tmp, final in staged:
            tmp.replace(final)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for p in sorted(created, key=lambda q: len(q.parts), reverse=True):
            try:
                p.rmdir()  # only if empty: never a folder that holds anything
            except OSError:
                break
        raise


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def table_sha256(table: pa.Table, columns: tuple[str, ...]) -> str:
    """sha256 over the raw little-endian bytes of `columns` (the bar data a run used)."""
    h = hashlib.sha256()
    for name in columns:
        arr = np.ascontiguousarray(table.column(name).to_numpy())
        h.update(name.encode())
        # the buffer itself (no copy; hashlib releases the GIL while it hashes it)
        h.update(np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False)).data)
    return h.hexdigest()


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def write_json(obj: Any, path: Path) -> None:
    """Sorted keys, fixed separators, NaN/inf as null: the same object gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(obj), sort_keys=True, indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
