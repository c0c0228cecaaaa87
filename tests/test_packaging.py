"""What a user downloads: the distribution's name, its extras and what the wheel must carry."""

from __future__ import annotations

import tomllib
from importlib import metadata, resources
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME = PYPROJECT["project"]["name"]


def test_the_distribution_is_not_called_trade() -> None:
    # `trade` on the public index is someone else's project: installing it would overwrite us
    assert NAME == "trade-bybit"
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        for raw in reqs:
            req = Requirement(raw)
            assert req.name != "trade", f"extra {extra!r} pulls the unrelated 'trade': {raw}"


def test_no_foreign_trade_distribution_shadows_the_package() -> None:
    assert metadata.distribution(NAME).version == __import__("trade").__version__
    try:
        foreign = metadata.distribution("trade")
    except metadata.PackageNotFoundError:
        return
    raise AssertionError(f"a distribution named 'trade' ({foreign.version}) is installed too: "
                         "an unrelated project, or this one under its old name; "
                         "`pip uninstall trade` and reinstall trade-bybit")


def test_the_package_carries_its_run_time_files() -> None:
    kernels = {p.name for p in resources.files("trade._kernels").iterdir()}
    for mod in ("position", "lifecycle", "sim", "indicators"):
        assert {f"{mod}.pyx", f"{mod}.pxd", f"{mod}.pyi"} <= kernels, mod
    assert {"__init__.py", "py.typed"} <= kernels
    assert (resources.files("trade") / "py.typed").is_file()
    assert (resources.files("trade.engine") / "quickstart_play.yml").is_file()
    assert (resources.files("trade") / "datasets" / "coinbase_btcusd_1h.csv.gz").is_file()
    plays = [p for p in resources.files("trade.plays").iterdir() if p.name.endswith(".yml")]
    assert len(plays) >= 10
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert set(data["trade._kernels"]) >= {"*.pxd", "*.pyi", "py.typed"}
    assert "datasets/*" in data["trade"] and "*.yml" in data["trade.plays"]
    # the Play reference's prose and the report pages' assets are read at run time
    assert "reference_parts/*.md" in data["trade.play"] and "assets/*" in data["trade.report"]
    assert any(p.name.endswith(".md")
               for p in (resources.files("trade.play") / "reference_parts").iterdir())
    assert (resources.files("trade.report") / "assets" / "run.js").is_file()
