"""The sweep report: detection, parameter choice, links, errors, CLI."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trade.cli import main
from trade.core.errors import InputError
from trade.report import is_sweep_results, write_sweep_report
from trade.report.sweep import build_sweep_payload


def sweep_frame(n_fast: int = 4, n_slow: int = 5, run_root: Path | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    grid = itertools.product(range(3, 3 + n_fast), range(20, 20 + 10 * n_slow, 10), (0.01, 0.02))
    for i, (f, s, sl) in enumerate(grid):
        sh = float(np.sin(f / 3) + np.cos(s / 30) + rng.normal(0, 0.2))
        rows.append(
            {
                "variant_id": f"v{i:03d}",
                "param.fast": f,
                "param.slow": s,
                "param.risk.sl_pct": sl,
                "metric.sharpe": sh,
                "metric.total_return": sh / 10,
                "metric.max_drawdown": float(abs(rng.normal(0.2, 0.05))),
                "is.metric.sharpe": sh + 0.4,
                "oos.metric.sharpe": sh / 2,
                "run_dir": str(run_root / f"v{i:03d}") if run_root and i < 3 else None,
            }
        )
    return pd.DataFrame(rows)


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_detection_by_content(tmp_path: Path) -> None:
    p = tmp_path / "results.parquet"
    sweep_frame().to_parquet(p)
    assert is_sweep_results(p)
    other = tmp_path / "other.parquet"
    pd.DataFrame({"ts": [1, 2], "close": [1.0, 2.0]}).to_parquet(other)
    assert not is_sweep_results(other)
    (tmp_path / "junk.parquet").write_text("not parquet")
    assert not is_sweep_results(tmp_path / "junk.parquet")


def test_default_axes_and_links(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    df = sweep_frame(run_root=runs)
    p = tmp_path / "out" / "results.parquet"
    p.parent.mkdir()
    df.to_parquet(p)
    out = write_sweep_report(p)
    assert out == p.with_suffix(".html")
    data = embedded(out.read_text(encoding="utf-8"))
    # the two parameters with the most distinct values
    assert (data["x"], data["y"]) == ("param.slow", "param.fast")
    assert data["walk_forward"] == ["sharpe"]
    assert data["n"] == len(df)
    link = data["links"][0]
    assert (out.parent / link).resolve() == (runs / "v000" / "report.html").resolve()
    assert data["links"][5] is None
    np.testing.assert_allclose(data["cols"]["metric.sharpe"], df["metric.sharpe"])


def test_explicit_axes_with_or_without_prefix(tmp_path: Path) -> None:
    df = sweep_frame()
    payload = build_sweep_payload(df, tmp_path, "metric.total_return", "risk.sl_pct", "param.fast")
    assert (payload["x"], payload["y"]) == ("param.risk.sl_pct", "param.fast")
    assert payload["metric"] == "total_return"


def test_bad_metric_and_parameter_are_named(tmp_path: Path) -> None:
    df = sweep_frame()
    with pytest.raises(InputError, match=r"metric\.calmar"):
        write_sweep_report(df, tmp_path / "x.html", metric="calmar")
    with pytest.raises(InputError, match=r"param\.nope"):
        write_sweep_report(df, tmp_path / "x.html", x="nope")
    with pytest.raises(InputError, match="metric"):
        write_sweep_report(
            df.drop(columns=[c for c in df if c.startswith("metric.")]), tmp_path / "y.html"
        )
    with pytest.raises(InputError, match="out"):
        write_sweep_report(df)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan"))),
        min_size=1,
        max_size=30,
    )
)
def test_missing_values_survive_as_null(tmp_path: Path, values: list[float | None]) -> None:
    df = pd.DataFrame(
        {"param.a": range(len(values)), "metric.sharpe": pd.array(values, dtype="Float64")}
    )
    payload = build_sweep_payload(df, tmp_path, "sharpe", None, None)
    got = payload["cols"]["metric.sharpe"]
    for v, g in zip(values, got, strict=True):
        if v is None or np.isnan(v):
            assert g is None
        else:
            assert g == pytest.approx(v)
    json.dumps(payload, allow_nan=False)  # strict JSON


def test_cli_sweep_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "results.parquet"
    sweep_frame().to_parquet(p)
    out = tmp_path / "s.html"
    main(["report", str(p), "--out", str(out), "--metric", "total_return", "-x", "fast"])
    data = embedded(out.read_text(encoding="utf-8"))
    assert data["metric"] == "total_return" and data["x"] == "param.fast"
    assert "report written" in capsys.readouterr().out
