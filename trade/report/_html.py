"""Shared pieces of the self-contained HTML reports: page shell, stylesheet, data embedding.

Every report is one file: plotly.js is inlined once (from the `plotly` package), the data
is one JSON block, and nothing is fetched from the network when the page opens.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

CSS = r"""
:root{
  --bg:#f6f7f9;--panel:#ffffff;--ink:#1b1f24;--muted:#5f6b7a;--line:#e3e6ea;--accent:#2f6fdf;
  --up:#12a37a;--down:#d9475b;--warn:#c98a00;--grid:#eceff3;--chip:#eef1f5;
  --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
  --sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
}
:root[data-theme="dark"]{
  --bg:#0f1216;--panel:#171b21;--ink:#e6e9ee;--muted:#8e99a8;--line:#262c35;--accent:#6ea2ff;
  --up:#27c08f;--down:#f06272;--warn:#e0b44c;--grid:#222831;--chip:#1f252d;
}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 var(--sans)}
header.top{display:flex;align-items:baseline;gap:16px;flex-wrap:wrap;padding:18px 28px 8px}
header.top h1{font-size:20px;font-weight:650;margin:0;letter-spacing:-.01em}
header.top .sub{color:var(--muted);font-size:13px}
header.top .sp{flex:1}
button,select{font:inherit;color:var(--ink);background:var(--panel);border:1px solid var(--line);
  border-radius:6px;padding:4px 10px;cursor:pointer}
button:hover,select:hover{border-color:var(--accent)}
main{padding:4px 28px 40px;max-width:1500px;margin:0 auto}
section.card{background:var(--panel);border:1px solid var(--line);border-radius:10px;
  padding:14px 16px;margin:14px 0}
section.card>h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
  margin:0 0 10px;font-weight:600;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
section.card>h2 .sp{flex:1}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.kpi{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.kpi .l{color:var(--muted);font-size:12px}
.kpi .v{font-size:21px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px}
.pos{color:var(--up)}.neg{color:var(--down)}.muted{color:var(--muted)}
.chart{width:100%;min-height:200px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:14px}
@media (max-width:1000px){.grid2{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{color:var(--muted);font-weight:600;font-size:12px;position:sticky;top:0;background:var(--panel)}
th.sortable{cursor:pointer;user-select:none}
th.sortable:hover{color:var(--ink)}
th.asc::after{content:" \25B2";font-size:9px}th.desc::after{content:" \25BC";font-size:9px}
td.l,th.l{text-align:left}
tbody tr:hover{background:var(--chip)}
tr.click{cursor:pointer}
tr.sel{background:var(--chip);outline:1px solid var(--accent)}
.tablewrap{max-height:520px;overflow:auto;border:1px solid var(--line);border-radius:8px}
.chip{display:inline-block;padding:1px 7px;border-radius:9px;background:var(--chip);font-size:12px}
.metrics{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.mgroup h3{font-size:12px;text-transform:uppercase;letter-spacing:.06em;margin:0 0 4px;
  color:var(--accent);font-weight:650}
.mrow{display:flex;justify-content:space-between;gap:10px;padding:4px 0;
  border-bottom:1px dashed var(--line)}
.mrow .n{cursor:help}.mrow .v{font-variant-numeric:tabular-nums;font-weight:600}
.mrow .d{display:block;color:var(--muted);font-size:12px;font-weight:400}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-family:var(--mono);font-size:12.5px;
  word-break:break-all}
.pager{display:flex;gap:8px;align-items:center;margin-top:8px;color:var(--muted)}
.banner{border-left:3px solid var(--warn);padding:6px 10px;background:var(--chip);margin:8px 0}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px}
a{color:var(--accent)}
"""

THEME_JS = r"""
(function(){
  var saved=null;try{saved=localStorage.getItem('trade-theme');}catch(e){}
  var dark=saved?saved==='dark':
    (window.matchMedia&&matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.setAttribute('data-theme',dark?'dark':'light');
})();
function cssVar(n){return getComputedStyle(document.documentElement).getPropertyValue(n).trim();}
function toggleTheme(){
  var t=document.documentElement.getAttribute('data-theme')==='dark'?'light':'dark';
  document.documentElement.setAttribute('data-theme',t);
  try{localStorage.setItem('trade-theme',t);}catch(e){}
  if(window.onThemeChange)window.onThemeChange();
}
function b64bytes(s){var b=atob(s),n=b.length,u=new Uint8Array(n);
  for(var i=0;i<n;i++)u[i]=b.charCodeAt(i);return u.buffer;}
function b64f32(s){return new Float32Array(b64bytes(s));}
function b64f64(s){return new Float64Array(b64bytes(s));}
function b64u32(s){return new Uint32Array(b64bytes(s));}
function baseLayout(extra){
  var l={paper_bgcolor:cssVar('--panel'),plot_bgcolor:cssVar('--panel'),
    font:{family:cssVar('--sans'),color:cssVar('--ink'),size:12},
    margin:{l:60,r:20,t:10,b:40},hovermode:'x unified',
    hoverlabel:{bgcolor:cssVar('--panel'),bordercolor:cssVar('--line'),font:{color:cssVar('--ink')}},
    xaxis:{gridcolor:cssVar('--grid'),linecolor:cssVar('--line'),zerolinecolor:cssVar('--line')},
    yaxis:{gridcolor:cssVar('--grid'),linecolor:cssVar('--line'),zerolinecolor:cssVar('--line')},
    legend:{orientation:'h',y:1.02,yanchor:'bottom',x:0,bgcolor:'rgba(0,0,0,0)'}};
  for(var k in extra){if(typeof extra[k]==='object'&&l[k]&&!Array.isArray(extra[k])){
    for(var j in extra[k])l[k][j]=extra[k][j];}else l[k]=extra[k];}
  return l;
}
var PLOT_CONFIG={displaylogo:false,responsive:true,showLink:false,showSendToCloud:false,
  modeBarButtonsToRemove:['select2d','lasso2d','toImage']};
function fmtNum(v,d){if(v===null||v===undefined||isNaN(v))return 'n/a';
  return Number(v).toLocaleString('en-US',{minimumFractionDigits:d,maximumFractionDigits:d});}
function fmtTs(ms){if(ms===null||ms===undefined)return '';var s=new Date(ms).toISOString();
  return s.slice(0,10)+' '+s.slice(11,16);}
function esc(s){return String(s).replace(/[&<>"']/g,function(c){
  return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
"""


@functools.cache
def plotly_js() -> str:
    """The plotly.js bundle shipped by the `plotly` package, safe inside a <script> element."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    return str(get_plotlyjs()).replace("</script", "<\\/script")


def b64_f32(values: npt.ArrayLike) -> str:
    """Little-endian float32 bytes, base64: compact for prices and curves (JS: b64f32)."""
    arr = np.ascontiguousarray(values, dtype="<f4")
    return base64.b64encode(arr.tobytes()).decode("ascii")


def b64_u32(values: npt.ArrayLike) -> str:
    """Little-endian uint32 bytes, base64 (JS: b64u32)."""
    arr = np.ascontiguousarray(values, dtype="<u4")
    return base64.b64encode(arr.tobytes()).decode("ascii")


def b64_f64(values: npt.ArrayLike) -> str:
    """Little-endian float64 bytes, base64: for timestamps in ms (exact up to 2**53)."""
    arr = np.ascontiguousarray(values, dtype="<f8")
    return base64.b64encode(arr.tobytes()).decode("ascii")


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_block(element_id: str, payload: Any) -> str:
    """A <script type="application/json"> element that cannot be closed early by its content."""
    text = json.dumps(_clean(payload), separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def page(title: str, subtitle: str, body: str, data: Any, script: str) -> str:
    """The whole document: head with inline CSS and plotly.js, body, data block, page script."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{CSS}</style>\n"
        f"<script>{THEME_JS}</script>\n"
        f"<script>{plotly_js()}</script>\n"
        "</head>\n<body>\n"
        f'<header class="top"><h1>{html.escape(title)}</h1>'
        f'<span class="sub">{html.escape(subtitle)}</span><span class="sp"></span>'
        '<button type="button" onclick="toggleTheme()" title="Light / dark">&#9680; Theme</button>'
        "</header>\n"
        f"<main>\n{body}\n</main>\n"
        "<footer>Generated by trade &middot; self-contained, works offline</footer>\n"
        f"{json_block('report-data', data)}\n"
        f"<script>{script}</script>\n</body>\n</html>\n"
    )
