"""Every synthetic pattern name has its own generator, and each shape does what it says."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from trade.data.synth import PATTERN_REGIMES, PATTERN_SHAPES, PATTERN_SPELLINGS, synth_bars

DAYS = 20


def _close(name: str, seed: int = 5) -> np.ndarray:
    return np.asarray(synth_bars("BTCUSDT", DAYS, seed, name).column("close").to_numpy())


def test_every_pattern_name_is_known_and_shaped() -> None:
    for name in PATTERN_SHAPES:
        assert name in PATTERN_REGIMES
    for spelling, name in PATTERN_SPELLINGS.items():
        assert name in PATTERN_SHAPES and spelling in PATTERN_REGIMES
    regimes = set(PATTERN_REGIMES.values())
    for name in PATTERN_REGIMES:  # every name is a shape, a spelling of one, or a regime
        assert name in PATTERN_SHAPES or name in PATTERN_SPELLINGS or name in regimes


def test_no_two_patterns_share_a_generator() -> None:
    shapes = {name: PATTERN_SHAPES[name] for name in PATTERN_SHAPES}
    for a, b in itertools.combinations(shapes, 2):
        assert shapes[a] != shapes[b], (a, b)
    closes = {name: _close(name) for name in PATTERN_SHAPES}
    for a, b in itertools.combinations(closes, 2):
        assert not np.array_equal(closes[a], closes[b]), (a, b)
    for spelling, name in PATTERN_SPELLINGS.items():
        assert np.array_equal(_close(spelling), closes[name])


def _ret(c: np.ndarray, lo: float, hi: float) -> float:
    """Log return from the `lo` to the `hi` fraction of the run."""
    n = len(c)
    return float(np.log(c[min(int(n * hi), n - 1)] / c[int(n * lo)]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shapes_move_as_named(seed: int) -> None:
    up, down = _close("trend_up_clean", seed), _close("trend_down_clean", seed)
    assert _ret(up, 0, 1) > 0.08 and _ret(down, 0, 1) < -0.08
    for name in ("reversal_v_bottom", "reversal_double_bottom"):
        c = _close(name, seed)
        assert np.argmin(c) not in (0, len(c) - 1) and c[-1] > c.min() * 1.05, name
    top = _close("reversal_v_top", seed)
    assert top[-1] < top.max() * 0.95
    tight, wide = _close("range_tight", seed), _close("range_wide", seed)
    assert np.ptp(np.log(tight)) < np.ptp(np.log(wide))
    assert _ret(_close("range_ascending", seed), 0, 1) > _ret(_close("range_descending", seed),
                                                              0, 1)
    sq = np.diff(np.log(_close("vol_squeeze_expand", seed)))
    n = len(sq)
    assert sq[int(n * 0.7):].std() > 3 * sq[: int(n * 0.5)].std()  # calm, then expansion
    decay = np.diff(np.log(_close("vol_decay", seed)))
    assert decay[: n // 5].std() > 2 * decay[-n // 5:].std()
    cont, rec = _close("vol_spike_continue", seed), _close("vol_spike_recover", seed)
    assert rec[-1] > cont[-1]
    clean, failed = _close("breakout_clean", seed), _close("breakout_failed", seed)
    assert _ret(clean, 0.6, 1) > 0.1 and _ret(failed, 0.6, 1) < 0
    para = _close("trend_parabolic", seed)
    assert _ret(para, 0.7, 1) / 0.3 > 2 * _ret(para, 0, 0.4) / 0.4  # the climb accelerates


def _bars15(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = synth_bars("BTCUSDT", DAYS, seed, name)
    cols = [np.asarray(t.column(k).to_numpy()) for k in ("open", "high", "low", "close")]
    n = len(cols[0]) // 15 * 15
    o, h, lo, c = (x[:n].reshape(-1, 15) for x in cols)
    return o[:, 0], h.max(1), lo.min(1), c[:, -1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ict_shapes_make_what_their_detectors_look_for(seed: int) -> None:
    def big_bodies(name: str) -> float:  # the largest bodies against a typical one
        o, _, _, c = _bars15(name, seed)
        body = np.abs(c - o)
        return float(np.quantile(body, 0.995) / np.median(body))

    def wide_gaps(name: str) -> int:  # three-candle gaps wider than a typical bar's range
        _, h, lo, _ = _bars15(name, seed)
        return int(np.sum(lo[2:] - h[:-2] > np.median(h - lo)))

    def bounded(name: str) -> float:  # the whole run's span in typical bar ranges
        _, h, lo, c = _bars15(name, seed)
        return float(np.ptp(np.log(c)) / np.median(np.log(h / lo)))

    assert big_bodies("displacement_impulse") > 2 * big_bodies("range_symmetric")
    assert wide_gaps("trending_with_gaps") > 3 * wide_gaps("trend_up_clean")
    others = [bounded(n) for n in PATTERN_SHAPES if n != "equal_highs_lows"]
    assert bounded("equal_highs_lows") < min(others)  # its highs and lows keep being retested
    # ob_retest: after each impulse up, price comes back into the base it left, then rises
    c = _close("ob_retest", seed)
    n = len(c)
    # two cycles of half the run each: base 30 %, impulse 1 %, retrace 14 %, continuation 55 %
    # of a cycle, i.e. the base ends at 0.15 n, the impulse at 0.155 n, the retrace at 0.225 n
    for k in range(2):
        a = int(n * k / 2)
        base = c[a + int(n * 0.05):a + int(n * 0.15)]
        top = c[a + int(n * 0.155)]
        retrace_low = c[a + int(n * 0.155):a + int(n * 0.225)].min()
        assert top > base.max(), k
        assert retrace_low < top - 0.5 * (top - base.mean()), k
