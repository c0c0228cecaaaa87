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
