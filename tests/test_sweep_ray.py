"""The Ray backend gives the same results table as the local thread pool.

A local Ray cluster (2 CPUs, bound to 127.0.0.1, no dashboard) is started by a fixture and
shut down after; Ray is the optional extra `trade[ray]` and CI installs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trade.data import synth_bars
from trade.play import load_play
from trade.sweep import SweepContext, SweepSettings, WalkForward, read_results, run_sweep, space_for

pytestmark = pytest.mark.ray
PLAY = Path(__file__).resolve().parents[1] / "plays" / "01_ema_cross_basics.yml"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_equals_local(ray_cluster: Any, tmp_path: Path) -> None:
    bars = synth_bars("BTCUSDT", 12, 5, "mixed")
    play = load_play(PLAY)
    ts0 = int(bars.column("ts")[0].as_py())
    windows = WalkForward.parse("train=4d,test=2d").windows(ts0, ts0 + 12 * 86_400_000)
    settings = SweepSettings(min_trades=1)
    params = ["features.ema_fast.params.length=values:5,9,13",
              "features.ema_slow.params.length=values:21,30"]
    ctx = SweepContext(play, bars, settings, windows=windows)
    local = run_sweep(ctx, space_for(ctx, params), tmp_path / "local.parquet", workers=2)
    remote = run_sweep(SweepContext(play, bars, settings, windows=windows),
                       space_for(ctx, params), tmp_path / "ray.parquet", backend="ray",
                       workers=2)
    assert ray_cluster.is_initialized()  # the executor reuses the fixture's cluster
    a = read_results(local.path).sort_by("variant_id")
    b = read_results(remote.path).sort_by("variant_id")
    assert a.num_rows == 6
    assert a.equals(b)
    assert local.summary == remote.summary


def test_cli_backend_ray(ray_cluster: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trade.cli import cli

    out = tmp_path / "cli_ray.parquet"
    args = ["sweep", str(PLAY), "--backend", "ray", "--workers", "2", "--no-progress",
            "--param", "features.ema_fast.params.length=values:5,9",
            "--synthetic", "--data-dir", str(tmp_path / "store"), "--metrics", "fast",
            "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert read_results(out).num_rows == 2
    local = tmp_path / "cli_local.parquet"
    res = CliRunner().invoke(cli, [*args[:2], *args[6:-1], str(local)])
    assert res.exit_code == 0, res.output
    assert read_results(out).sort_by("variant_id").equals(
        read_results(local).sort_by("variant_id"))
