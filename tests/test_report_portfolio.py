"""The portfolio report: a portfolio run folder's page, in a real browser and as HTML.

The page loads offline with no console error, draws the account's equity with one PnL line
per member and the drawdown, and shows one member row and one correlation row per member,
the figures matching portfolio.json; a folder without portfolio.json is one clear error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser
from click.testing import CliRunner

from trade.cli import cli
from trade.core.errors import InputError
from trade.report import write_run_report

READY = "window.REPORT_READY === true"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("portfolio_report")
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "synth", "--symbol", "AAAUSDT", "--symbol", "BBBUSDT",
                              "--symbol", "CCCUSDT", "--days", "6", "--data-dir",
                              str(root / "data")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["backtest", "01_ema_cross_basics", "--symbol", "AAAUSDT",
                              "--symbol", "BBBUSDT", "--symbol", "CCCUSDT", "--data-dir",
                              str(root / "data"), "--out", str(root / "run"), "--report"])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=1000) as b:
        yield b


def test_portfolio_report_renders_offline(browser: Browser, folder: Path) -> None:
    figures = json.loads((folder / "portfolio.json").read_text(encoding="utf-8"))
    page = browser.open((folder / "report.html").as_uri(), ready=READY)
    assert page.errors == []
    assert [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))] == []
    # the account, one PnL line per member, and the drawdown
    assert page.eval("document.querySelectorAll('#equity .scatterlayer .trace').length") == 5
    assert page.eval("document.querySelectorAll('#members tbody tr').length") == 3
    assert page.eval("document.querySelectorAll('#correlation tbody tr').length") == 3
    first = page.eval("document.querySelector('#members tbody tr td').textContent")
    assert first == figures["members"][0]["member"]
    cell = page.eval("document.querySelectorAll('#correlation tbody tr')[0]"
                     ".querySelectorAll('td')[2].textContent")
    assert float(cell) == pytest.approx(figures["correlation"]["matrix"][0][1], abs=0.005)
    assert page.eval("document.querySelectorAll('#kpis .kpi').length") >= 8


def test_a_portfolio_folder_without_its_figures_is_refused(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("trades.parquet", "equity.parquet", "metrics.json", "manifest.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(InputError, match=r"no portfolio\.json"):
        write_run_report(copy)
