"""The sweep report: one self-contained HTML file for a sweep results Parquet.

The results table has one row per variant: `variant_id`, parameter columns `param.<path>`,
metric columns `metric.<name>`, optionally `is.metric.<name>` / `oos.metric.<name>`
(walk-forward in/out-of-sample) and `run_dir` (a run folder; its report is linked).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trade.core.errors import InputError
from trade.metrics import METRIC_DOCS
from trade.report._assets import asset
from trade.report._html import page

PARAM = "param."
METRIC = "metric."
IS = "is.metric."
OOS = "oos.metric."
TOP_N = 25
EMBED_CELLS = 3_000_000  # embed every metric column while rows x columns stays under this


def is_sweep_results(path: str | Path) -> bool:
    """Whether `path` is a Parquet file whose columns look like sweep results.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
        False for anything unreadable (never raises).
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        names = pq.read_schema(p).names
    except (pa.ArrowInvalid, OSError):
        return False
    return any(n.startswith(METRIC) for n in names) and (
        "variant_id" in names or any(n.startswith(PARAM) for n in names)
    )


def load_sweep(results: str | Path | pd.DataFrame | pa.Table) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        df = results.copy()
    elif isinstance(results, pa.Table):
        df = results.to_pandas()
    else:
        path = Path(results)
        if not path.is_file():
            raise InputError(f"sweep results {path} do not exist")
        try:
            df = pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{path}: cannot read Parquet ({exc})") from exc
    if not any(c.startswith(METRIC) for c in df.columns):
        raise InputError(
            f"sweep results have no metric.<name> columns (columns: {list(df.columns)})"
        )
    if "variant_id" not in df.columns:
        df.insert(0, "variant_id", np.arange(len(df)))
    return df.reset_index(drop=True)


def _values(col: pd.Series) -> list[Any]:
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return [
            None if not math.isfinite(v) else (int(v) if v.is_integer() else float(v)) for v in arr
        ]
    return [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        for v in col.tolist()
    ]


def _pick_xy(
    df: pd.DataFrame, params: list[str], x: str | None, y: str | None
) -> tuple[str | None, str | None]:
    def full(name: str | None) -> str | None:
        if name is None:
            return None
        key = name if name.startswith(PARAM) else PARAM + name
        if key not in df.columns:
            raise InputError(f"sweep results have no parameter column {key!r}; have {params}")
        return key

    fx, fy = full(x), full(y)
    ranked = sorted((p for p in params if df[p].nunique() > 1), key=lambda p: -df[p].nunique())
    rest = [p for p in ranked if p not in (fx, fy)]
    if fx is None and rest:
        fx = rest.pop(0)
    if fy is None and rest:
        fy = rest.pop(0)
    return fx, fy


def _run_link(run_dir: Any, out_dir: Path) -> str | None:
    if run_dir is None or (isinstance(run_dir, float) and math.isnan(run_dir)) or run_dir == "":
        return None
    report = Path(str(run_dir)) / "report.html"
    try:
        rel = os.path.relpath(report.resolve(), out_dir.resolve())
    except ValueError:  # another drive on Windows
        rel = str(report.resolve())
    return Path(rel).as_posix()


def build_sweep_payload(
    df: pd.DataFrame, out_dir: Path, metric: str, x: str | None, y: str | None
) -> dict[str, Any]:
    params = [c for c in df.columns if c.startswith(PARAM)]
    metrics = [c[len(METRIC) :] for c in df.columns if c.startswith(METRIC)]
    name = metric[len(METRIC) :] if metric.startswith(METRIC) else metric
    if name not in metrics:
        raise InputError(f"sweep results have no column 'metric.{name}'; metrics: {metrics}")
    fx, fy = _pick_xy(df, params, x, y)
    embed = [METRIC + m for m in metrics]
    if len(df) * (len(embed) + len(params)) > EMBED_CELLS:
        embed = [METRIC + name]
    wf = [m for m in metrics if IS + m in df.columns and OOS + m in df.columns]
    ids = df["variant_id"] if "variant_id" in df.columns else pd.Series(range(len(df)))
    cols: dict[str, list[Any]] = {"variant_id": _values(ids)}
    for c in params + embed:
        cols[c] = _values(df[c])
    for m in wf:
        if METRIC + m in embed:
            cols[IS + m] = _values(df[IS + m])
            cols[OOS + m] = _values(df[OOS + m])
    links: list[str | None] = []
    if "run_dir" in df.columns:
        links = [_run_link(v, out_dir) for v in df["run_dir"].tolist()]
    docs = {
        m: {
            "label": METRIC_DOCS[m].label,
            "unit": METRIC_DOCS[m].unit,
            "higher": METRIC_DOCS[m].higher_is_better,
            "def": METRIC_DOCS[m].definition,
        }
        for m in metrics
        if m in METRIC_DOCS
    }
    return {
        "n": len(df),
        "params": params,
        "metrics": [c[len(METRIC) :] for c in embed],
        "walk_forward": [m for m in wf if METRIC + m in embed],
        "metric": name,
        "x": fx,
        "y": fy,
        "cols": cols,
        "links": links,
        "docs": docs,
        "top_n": TOP_N,
    }


_BODY = """
<section class="card"><h2>Controls</h2>
<div style="display:flex;gap:14px;flex-wrap:wrap;align-items:center">
<label>Metric <select id="metric"></select></label>
<label>X <select id="px"></select></label>
<label>Y <select id="py"></select></label>
<label>Aggregate over other parameters <select id="agg">
<option value="max">best</option><option value="mean">mean</option>
<option value="median">median</option>
<option value="min">worst</option></select></label>
<span id="mdef" class="muted"></span></div></section>
<div class="kpis" id="kpis"></div>
<div class="grid2">
<section class="card"><h2>Metric over two parameters</h2>
<div id="heat" class="chart" style="height:440px"></div></section>
<section class="card"><h2>Distribution over all variants</h2>
<div id="hist" class="chart" style="height:440px"></div></section>
</div>
<section class="card" id="wfcard"><h2>Walk-forward: in-sample vs out-of-sample</h2>
<div id="wf" class="chart" style="height:440px"></div></section>
<section class="card"><h2>Top variants <span id="topinfo" class="chip"></span></h2>
<div class="tablewrap"><table id="top"><thead></thead><tbody></tbody></table></div></section>
"""


def _data_source(results: str | Path | pd.DataFrame | pa.Table) -> str | None:
    """The data source a sweep recorded in its results file's metadata (`trade.data`)."""
    import json

    meta: dict[bytes, bytes] | None = None
    if isinstance(results, pa.Table):
        meta = results.schema.metadata
    elif isinstance(results, str | Path):
        try:
            meta = pq.read_schema(Path(results)).metadata
        except (pa.ArrowInvalid, OSError):
            return None
    raw = (meta or {}).get(b"trade.data")
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    text = data.get("description") or data.get("kind")
    return None if text is None else str(text)


def write_sweep_report(
    results: str | Path | pd.DataFrame | pa.Table,
    out: str | Path | None = None,
    metric: str = "sharpe",
    x: str | None = None,
    y: str | None = None,
) -> Path:
    """Write a sweep's self-contained HTML report.

    Parameters
    ----------
    results : str, Path, pandas.DataFrame or pyarrow.Table
        Sweep results (a Parquet file or its table).
    out : str or Path, optional
        The HTML file (default ``<results stem>.html`` beside a results file; required for
        a table).
    metric : str
        The metric shown first (with or without the ``metric.`` prefix).
    x, y : str, optional
        The heatmap's parameters (with or without ``param.``; default: the two with most
        values).

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    InputError
        The results cannot be read, lack `metric` or a parameter, or `out` is missing for a
        table.
    """
    df = load_sweep(results)
    if out is None:
        if not isinstance(results, str | Path):
            raise InputError("write_sweep_report: give `out` when passing a table")
        out = Path(results).with_suffix(".html")
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = build_sweep_payload(df, target.parent, metric, x, y)
    title = Path(results).stem if isinstance(results, str | Path) else "sweep"
    sub = f"{payload['n']} variants · {len(payload['params'])} parameters"
    if payload["walk_forward"]:
        sub += " · walk-forward"
    source = _data_source(results)
    if source:
        sub += f" · data: {source}"
    target.write_text(
        page(f"Sweep report · {title}", sub, _BODY, payload, asset("sweep.js")), encoding="utf-8"
    )
    return target
