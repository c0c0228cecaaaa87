"""Features: streaming (PlayEngine) == batch (run_backtest) bit for bit, and no look-ahead."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa

from trade.data import synth_bars
from trade.engine import StreamFeatures, exec_frame
from trade.play import load_play

PLAY = Path(__file__).resolve().parents[1] / "plays" / "02_mtf_trend_pullback.yml"


def _stream(play: object, bars: pa.Table) -> list[dict[str, float]]:
    sf = StreamFeatures(play)  # type: ignore[arg-type]
    out = []
    for r in bars.to_pylist():
        if sf.on_1m(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"], math.nan):
            out.append(dict(sf.values))
    return out


def test_streaming_features_equal_batch_with_gaps() -> None:
    play = load_play(PLAY)
    bars = synth_bars("BTCUSDT", 4, 2, "mixed")
    keep = np.ones(bars.num_rows, dtype=bool)
    keep[1000:1100] = False  # a 100-minute hole, ending mid 15m bucket
    keep[2999] = False  # the closing minute of a 15m (and 1h) bucket is missing
    bars = bars.filter(pa.array(keep))
    frame = exec_frame(play, bars)
    rows = _stream(play, bars)
    assert len(rows) == len(frame)
    for name, arr in frame.series.items():
        got = np.array([r[name] for r in rows])
        np.testing.assert_array_equal(got, arr, err_msg=name)


def test_higher_timeframe_value_is_never_seen_before_its_bar_closes() -> None:
    play = load_play(PLAY)
    bars = synth_bars("BTCUSDT", 3, 4, "trending")
    ts = bars.column("ts").to_numpy()
    cut = int(ts[0]) + 60 * 3_600_000 + 30 * 60_000  # 30 minutes into a 1h bar
    close = bars.column("close").to_numpy().copy()
    high = bars.column("high").to_numpy().copy()
    future = ts >= cut
    close[future] *= 3.0  # plant a huge future move
    high[future] *= 3.0
    planted = bars.set_column(4, "close", pa.array(close)).set_column(2, "high", pa.array(high))
    a, b = exec_frame(play, bars), exec_frame(play, planted)
    exec_close = a.exec_ts + 15 * 60_000
    before = exec_close <= cut  # exec bars that closed before the planted data began
    assert before.sum() > 100
    for name in ("ema_50_h", "ema_20_4h", "ema_21"):
        np.testing.assert_array_equal(a.series[name][before], b.series[name][before])
    # the 1h EMA changes only from the exec bar at which the planted 1h bar has closed
    x, y = a.series["ema_50_h"], b.series["ema_50_h"]
    changed = np.flatnonzero((x != y) & ~(np.isnan(x) & np.isnan(y)))
    first_h_close = cut - 30 * 60_000 + 3_600_000
    assert exec_close[changed[0]] == first_h_close


def test_a_1m_exec_frame_is_the_1m_bars_and_equals_streaming() -> None:
    """On a 1m exec timeframe every 1m bar is its own exec bar: the frame takes the 1m
    columns as they are (no resampling), equal to the resampled bars and to streaming, with
    gaps and with bars off the minute grid (which take the resampling path)."""
    text = PLAY.read_text().replace("low_tf: 15m", "low_tf: 1m", 1)
    from trade.data import resample
    from trade.play import load_play_text

    play = load_play_text(text, source=str(PLAY))
    assert play.exec_tf == "1m"
    bars = synth_bars("BTCUSDT", 2, 3, "mixed")
    keep = np.ones(bars.num_rows, dtype=bool)
    keep[700:760] = False
    bars = bars.filter(pa.array(keep))
    frame = exec_frame(play, bars)
    ex = resample(bars, "1m")
    np.testing.assert_array_equal(frame.exec_ts, ex.column("ts").to_numpy())
    np.testing.assert_array_equal(frame.close_idx, np.arange(bars.num_rows))
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(frame.series[name], ex.column(name).to_numpy())
    rows = _stream(play, bars)
    assert len(rows) == len(frame)
    for name, arr in frame.series.items():
        np.testing.assert_array_equal(np.array([r[name] for r in rows]), arr, err_msg=name)
    off = bars.set_column(0, "ts", pa.array(bars.column("ts").to_numpy() + 30_000))
    shifted = exec_frame(play, off)  # off the grid: resampled into minute buckets
    np.testing.assert_array_equal(shifted.exec_ts, resample(off, "1m").column("ts").to_numpy())
