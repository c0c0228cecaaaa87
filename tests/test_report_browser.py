"""Reports and the dashboard in a real browser (headless Chromium from Debian's packages).

Each page must load with no console error and no network request beyond the file itself
(and data: URLs), and its charts must draw: plotly's SVG holds the traces and a screenshot of
each chart region is not blank. Chromium missing is a failure with the install command.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, Page, distinct_colors, non_background_fraction
from report_demo import make_demo_run

from trade.report import DashboardServer, write_run_report, write_sweep_report

READY = "window.REPORT_READY === true"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=1000) as b:
        yield b


@pytest.fixture(scope="module")
def run_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser_run")
    run = make_demo_run(root / "run", root / "data", days=10, seed=11, exec_interval="15m")
    return write_run_report(run, data_dir=root / "data")


def offline_requests(page: Page) -> list[str]:
    return [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))]


def assert_drawn(page: Page, selector: str, min_fraction: float = 0.02) -> None:
    img = page.element_screenshot(selector)
    frac = non_background_fraction(img)
    assert frac > min_fraction, f"{selector} looks blank ({frac:.3%} non-background pixels)"
    assert distinct_colors(img) > 8, f"{selector} has almost no colours"


def test_run_report_renders_offline(browser: Browser, run_report: Path) -> None:
    page = browser.open(run_report.as_uri(), ready=READY)
    assert page.errors == []
    assert offline_requests(page) == []
    n_trades = page.eval(
        "JSON.parse(document.getElementById('report-data').textContent).meta.n_trades"
    )
    assert n_trades > 3
    # plotly drew the candles and the markers into SVG
    assert page.eval("document.querySelectorAll('#price .trace.boxes path').length") > 50
    assert (
        page.eval("document.querySelectorAll('#price .scatterlayer .point').length") >= 2 * n_trades
    )
    assert page.eval("document.querySelectorAll('#equity .scatterlayer .trace').length") == 3
    assert page.eval("document.querySelectorAll('#monthly .hm, #monthly image').length") >= 1
    assert page.eval("document.querySelectorAll('#trades tbody tr').length") == n_trades
    for sel in ("#price", "#equity", "#monthly", "#maemfe", "#kpis"):
        assert_drawn(page, sel)


def test_click_a_trade_zooms_to_1m_bars(browser: Browser, run_report: Path) -> None:
    page = browser.open(run_report.as_uri(), ready=READY)
    overview = page.eval("document.getElementById('lod').textContent")
    assert not overview.startswith("1m")
    # sort by net PnL (click the header), then click the worst trade's row
    page.eval(
        "Array.from(document.querySelectorAll('#trades th'))"
        ".find(t=>t.textContent==='Net PnL').click()"
    )
    tid = page.eval(
        "(function(){var r=document.querySelector('#trades tbody tr');"
        "r.click();return +r.dataset.i;})()"
    )
    page.wait_for("document.getElementById('lod').textContent.startsWith('1m')")
    worst = page.eval(
        "(function(){var T=JSON.parse(document.getElementById('report-data').textContent).trades;"
        "var m=0;for(var i=1;i<T.net_pnl.length;i++)if(T.net_pnl[i]<T.net_pnl[m])m=i;return m;})()"
    )
    assert tid == worst
    x = page.eval("document.getElementById('price').data[0].x")
    assert set(np.diff(x)) == {60_000}  # single 1m candles
    rng = page.eval("document.getElementById('price').layout.xaxis.range")
    entry, exit_ = page.eval(
        f"(function(){{var T=JSON.parse(document.getElementById('report-data').textContent).trades;"
        f"return [T.entry_ts[{tid}],T.exit_ts[{tid}]];}})()"
    )
    lo, hi = (pd.Timestamp(v).value // 1_000_000 if isinstance(v, str) else v for v in rng)
    assert lo <= entry and exit_ <= hi
    assert page.eval("document.querySelector('#trades tbody tr.sel') !== null")
    assert_drawn(page, "#price")
    # the exit button zooms onto 1m bars around the exit
    page.eval("document.getElementById('zexit').click()")
    page.wait_for("document.getElementById('lod').textContent.startsWith('1m')")
    lo, hi = (
        pd.Timestamp(v).value // 1_000_000 if isinstance(v, str) else v
        for v in page.eval("document.getElementById('price').layout.xaxis.range")
    )
    assert lo < exit_ < hi and hi - lo <= 3 * 3_600_000
    # back to the whole run; then the theme switch redraws without errors
    page.eval("document.getElementById('reset').click()")
    page.wait_for("!document.getElementById('lod').textContent.startsWith('1m')")
    page.eval("toggleTheme()")
    page.wait_for("document.documentElement.getAttribute('data-theme') !== null")
    assert_drawn(page, "#equity")
    assert page.errors == []


def test_sweep_report_renders_and_pivots(browser: Browser, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = []
    for i, (f, s, sl) in enumerate(itertools.product([5, 8, 13], [20, 40, 60, 80], [0.01, 0.02])):
        sh = float(np.sin(f) + s / 50 + rng.normal(0, 0.3))
        rows.append(
            {
                "variant_id": i,
                "param.fast": f,
                "param.slow": s,
                "param.sl": sl,
                "metric.sharpe": sh,
                "metric.total_return": sh / 5,
                "is.metric.sharpe": sh + 0.3,
                "oos.metric.sharpe": sh * 0.6,
            }
        )
    df = pd.DataFrame(rows)
    path = tmp_path / "results.parquet"
    df.to_parquet(path)
    out = write_sweep_report(path, x="fast", y="slow")
    page = browser.open(out.as_uri(), ready=READY)
    assert page.errors == [] and offline_requests(page) == []
    # the heatmap's cells equal pandas' pivot of the best variant per (fast, slow)
    z = page.eval("document.getElementById('heat').data[0].z")
    pivot = df.pivot_table(
        index="param.slow", columns="param.fast", values="metric.sharpe", aggfunc="max"
    )
    np.testing.assert_allclose(np.array(z, dtype=float), pivot.to_numpy(), rtol=1e-12)
    page.eval("(function(){var s=document.getElementById('agg');s.value='mean';s.onchange();})()")
    z = page.eval("document.getElementById('heat').data[0].z")
    pivot = df.pivot_table(
        index="param.slow", columns="param.fast", values="metric.sharpe", aggfunc="mean"
    )
    np.testing.assert_allclose(np.array(z, dtype=float), pivot.to_numpy(), rtol=1e-12)
    assert page.eval("document.querySelectorAll('#top tbody tr').length") == 24
    assert page.eval("document.querySelectorAll('#wf .scatterlayer .point').length") == len(df)
    for sel in ("#heat", "#hist", "#wf"):
        assert_drawn(page, sel)
    assert page.errors == []


def test_dashboard_updates_live(browser: Browser) -> None:
    with DashboardServer() as server:
        server.publish(
            {
                "play": "sma_cross",
                "mode": "paper",
                "symbol": "BTCUSDT",
                "connection": {"public_ws": "connected", "private_ws": "connected"},
            }
        )
        for i in range(6):
            server.publish(
                {"ts": 1_700_000_000_000 + i * 60_000, "equity": 10_000 + 25 * i - 40 * (i % 2)}
            )
        server.publish(
            {
                "position": {
                    "symbol": "BTCUSDT",
                    "side": "Buy",
                    "size": 0.05,
                    "entry_price": 30_100.5,
                },
                "open_orders": [
                    {"order_id": "tp-1", "side": "Sell", "price": 30_500.0, "qty": 0.05}
                ],
                "fill": {"ts": 1_700_000_000_000, "side": "Buy", "price": 30_100.5, "qty": 0.05},
            }
        )
        page = browser.open(server.url, ready="window.DASH_VERSION >= 8")
        assert "tp-1" in page.eval("document.getElementById('orders').textContent")
        assert "30,100.50" in page.eval("document.getElementById('position').textContent")
        assert_drawn(page, "#equity")
        # a new event reaches the open page without a reload
        server.publish(
            {
                "fill": {"ts": 1_700_000_400_000, "side": "Sell", "price": 30_500.0, "qty": 0.05},
                "position": None,
                "open_orders": [],
                "connection": {"private_ws": "reconnecting"},
            }
        )
        page.wait_for("window.DASH_VERSION >= 9")
        assert page.eval("document.querySelectorAll('#fills tbody tr').length") == 2
        assert "reconnecting" in page.eval("document.getElementById('health').textContent")
        assert page.eval("document.getElementById('orders').textContent").strip() == "none"
        assert page.errors == []
        assert all(u.startswith(server.url) for u in page.requests)
        page.send("Page.close")
