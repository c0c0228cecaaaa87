"""The portfolio report: one self-contained HTML file for a portfolio run folder.

A portfolio run folder (`trade backtest A.yml B.yml`, a portfolio file, or several
--symbol) holds the account's `equity.parquet`, every member's trades in `trades.parquet`
(with a `member` column), each member's own curve in `member_equity.parquet`, the account's
`metrics.json`, the portfolio figures in `portfolio.json` and `manifest.json` with
`kind: portfolio`. The page shows the account (KPIs, equity with each member's PnL and the
drawdown, every metric), one row per member (allocation, trades, PnL and its share, the
contribution to the account's deepest drawdown, exposure, entries refused for margin, the
member's own return, drawdown and Sharpe), the correlation matrix of the members' daily
returns, and the manifest. No market data is read.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trade.core.errors import InputError
from trade.report._assets import asset
from trade.report._html import b64_f32, page
from trade.report.run import RunFolder, equity_payload, flatten_manifest, fmt_ms, metric_payload


def is_portfolio_run(run: RunFolder) -> bool:
    """Whether a loaded run folder is a portfolio run (its manifest's `kind`)."""
    return run.manifest.get("kind") == "portfolio"


def _figures(path: Path) -> dict[str, Any]:
    file = path / "portfolio.json"
    if not file.is_file():
        raise InputError(f"portfolio run folder {path} has no portfolio.json")
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{file}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("members"), list):
        raise InputError(f"{file}: expected the portfolio figures (a `members` list)")
    return obj


def _member_curves(path: Path, labels: list[str], ts: np.ndarray, initial: float
                   ) -> list[dict[str, Any]]:
    """Each member's PnL (equity - the initial balance) at the account's chart points."""
    file = path / "member_equity.parquet"
    if not file.is_file():
        return []
    try:
        table = pq.read_table(file, columns=["member", "ts", "equity"])
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        raise InputError(f"{file}: cannot read ({exc})") from exc
    member = np.asarray(table.column("member").to_pylist(), dtype=object)
    all_ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
    all_eq = np.asarray(table.column("equity").to_numpy(), dtype=np.float64)
    out = []
    for label in labels:
        sel = member == label
        own, eq = all_ts[sel], all_eq[sel]
        at = np.searchsorted(own, ts, side="right") - 1
        vals = np.where(at >= 0, eq[np.maximum(at, 0)], initial) if len(own) else \
            np.full(len(ts), initial)
        out.append({"label": label, "change": b64_f32(vals - initial)})
    return out


def _cell(value: Any, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "usdt":
        return f"{value:,.2f}"
    if unit == "pct":
        return f"{value * 100:.1f}%"
    if unit == "num":
        return f"{value:.2f}"
    return str(value)


def _members_table(figures: dict[str, Any], manifest: dict[str, Any]) -> str:
    rows = manifest.get("members") or []
    by_label = {r.get("label"): r for r in rows if isinstance(r, dict)}
    cols = (("member", "Member", ""), ("play", "Play", ""), ("symbol", "Symbol", ""),
            ("alloc", "Alloc", ""), ("num_trades", "Trades", ""), ("net_pnl", "Net PnL", "usdt"),
            ("pnl_share", "PnL share", "pct"),
            ("drawdown_contribution", "Drawdown contribution", "usdt"),
            ("drawdown_share", "DD share", "pct"), ("exposure", "Exposure", "pct"),
            ("entry_rejections", "Entries refused (margin)", ""),
            ("total_return", "Own return", "pct"), ("max_drawdown", "Own max DD", "pct"),
            ("sharpe", "Own Sharpe", "num"))
    head = "".join(f'<th class="{"l" if not u and k in ("member", "play", "symbol") else ""}">'
                   f"{html.escape(t)}</th>" for k, t, u in cols)
    body = []
    for row in figures["members"]:
        info = by_label.get(row.get("member"), {})
        vals = dict(row)
        vals["play"] = (info.get("play") or {}).get("name")
        vals["symbol"] = info.get("symbol")
        vals["alloc"] = info.get("alloc")
        if vals.get("entry_rejections") is not None:
            vals["entry_rejections"] = f"{row['entry_rejections']} / {row.get('entry_attempts')}"
        cells = []
        for k, _, u in cols:
            v = vals.get(k)
            cls = ' class="l"' if k in ("member", "play", "symbol") else ""
            cells.append(f"<td{cls}>{html.escape(_cell(v, u))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="tablewrap"><table id="members"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _correlation_table(figures: dict[str, Any]) -> str:
    corr = figures.get("correlation") or {}
    names = corr.get("members") or []
    matrix = corr.get("matrix") or []
    head = '<th class="l"></th>' + "".join(f"<th>{k + 1}</th>" for k in range(len(names)))
    rows = []
    for k, (name, row) in enumerate(zip(names, matrix, strict=False)):
        cells = []
        for v in row:
            if v is None:
                cells.append('<td class="muted">n/a</td>')
                continue
            alpha = min(abs(float(v)), 1.0) * 0.55
            colour = f"rgba(214,39,40,{alpha:.2f})" if v > 0 else f"rgba(31,119,180,{alpha:.2f})"
            cells.append(f'<td style="background:{colour}">{float(v):.2f}</td>')
        rows.append(f'<tr><td class="l">{k + 1}. {html.escape(str(name))}</td>'
                    + "".join(cells) + "</tr>")
    return (f'<table id="correlation"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _drawdown_line(figures: dict[str, Any]) -> str:
    dd = figures.get("drawdown") or {}
    if dd.get("change") is None:
        return "The account never fell below a previous peak."
    start = "the start" if dd.get("peak_ts") is None else fmt_ms(int(dd["peak_ts"]))
    return (f"The account's deepest drawdown ran from {start} "
            f"({dd['peak_equity']:,.2f} USDT) to {fmt_ms(int(dd['trough_ts']))} "
            f"({dd['trough_equity']:,.2f} USDT): {dd['change']:,.2f} USDT. A member's "
            "contribution is its own equity change over that window; they sum to the "
            "account's.")


def build_portfolio_payload(run: RunFolder) -> tuple[dict[str, Any], str]:
    """(the page script's data, the page body) of a portfolio run folder."""
    figures = _figures(run.path)
    manifest = run.manifest
    ts = np.asarray(run.equity.column("ts").to_numpy(), dtype=np.int64)
    eq = np.asarray(run.equity.column("equity").to_numpy(), dtype=np.float64)
    initial = float(manifest.get("initial_balance") or eq[0])
    curve = equity_payload(ts, eq, initial, np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    points = np.frombuffer(base64.b64decode(curve["ts"]), "<f8").astype(np.int64)
    labels = [str(r.get("member")) for r in figures["members"]]
    curve["members"] = _member_curves(run.path, labels, points, initial)
    groups, kpis = metric_payload(run.metrics)
    payload = {"kpis": kpis, "metrics": groups, "equity": curve,
               "manifest": flatten_manifest({k: v for k, v in manifest.items() if k != "members"})}
    keys = ("play", "symbol", "alloc", "data")
    member_rows = "".join(
        f"<dt>{html.escape(str(r.get('label')))}</dt><dd>"
        f"{html.escape(json.dumps({k: r.get(k) for k in keys}, default=str))}</dd>"
        for r in manifest.get("members") or [] if isinstance(r, dict))
    body = f"""
<div class="kpis" id="kpis"></div>
<section class="card"><h2>Account equity, member PnL &amp; drawdown</h2>
<div id="equity" class="chart" style="height:560px"></div></section>
<section class="card"><h2>Members <span class="chip">{len(labels)}</span></h2>
{_members_table(figures, manifest)}
<p class="muted">{html.escape(_drawdown_line(figures))} Exposure: the share of the member's
own 1m bars with a position open. Own return, drawdown and Sharpe: the member's ledger
alone, on the account's starting balance.</p></section>
<section class="card"><h2>Correlation of daily returns</h2>{_correlation_table(figures)}</section>
<section class="card"><h2>Account metrics</h2><div class="metrics" id="metrics"></div></section>
<section class="card"><h2>Run manifest</h2><dl class="kv" id="manifest"></dl>
<h2>Members</h2><dl class="kv" id="member-manifest">{member_rows}</dl></section>
"""
    return payload, body


def render_portfolio_html(run: RunFolder) -> str:
    """The whole report page of a portfolio run folder."""
    payload, body = build_portfolio_payload(run)
    m = run.manifest
    title = m.get("title") or run.path.name
    ts = run.equity.column("ts")
    sub = " · ".join((
        f"{len(m.get('members') or [])} members",
        str(m.get("symbol") or ""),
        fmt_ms(int(ts[0].as_py())) + " → " + fmt_ms(int(ts[-1].as_py()) + 60_000),
        f"{run.trades.num_rows} trades",
        f"wallet {float(m.get('initial_balance') or 0):,.0f} USDT",
    ))
    return page(f"Portfolio report · {title}", sub, body, payload, asset("portfolio.js"))


def write_portfolio_report(run: RunFolder, out: Path) -> Path:
    """Write a portfolio run folder's report to `out` (see the module docstring)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_portfolio_html(run), encoding="utf-8")
    return out
