"""Seeded synthetic 1m markets, and seeded 1m paths bridged inside real coarser bars.

Both are pure functions of their arguments: the same inputs give byte-identical tables.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.errors import InputError
from trade.data.intervals import DAY_MS, MINUTE_MS
from trade.data.schema import BAR_SCHEMA

F64 = npt.NDArray[np.float64]

#: the generator's regime families (`synth_bars`)
REGIMES: tuple[str, ...] = ("trending", "ranging", "volatile", "crash", "mixed")
#: 2024-01-01 00:00 UTC (a Monday): the default first bar of synthetic data
DEFAULT_START_MS = 1_704_067_200_000

# Play `synthetic: {regime}` and the older `validation: {pattern: NAME}` names -> the
# generator's regime family. The one table of these names: trade.play validates against it
# (see docs/play_reference.md); each pattern also has its own shape (PATTERN_SHAPES below).
_PATTERNS_BY_REGIME: dict[str, tuple[str, ...]] = {
    "trending": (
        "trending", "trend_up", "trend_up_clean", "trend_grinding", "trend_parabolic",
        "trend_exhaustion", "trend_stairs", "mtf_aligned_bull", "mtf_pullback_bull",
        "trending_up", "trending_with_gaps",
    ),
    "ranging": (
        "ranging", "range", "range_wide", "range_tight", "range_ascending", "range_descending",
        "range_symmetric", "breakout_false", "breakout_failed", "vol_decay",
        "liquidity_hunt_lows", "liquidity_hunt_highs", "choppy_whipsaw", "accumulation",
        "distribution", "mtf_divergent", "equal_highs_lows",
    ),
    "volatile": (
        "volatile", "spike_recover", "vol_spike_recover", "vol_spike_continue",
        "vol_squeeze_expand", "breakout", "breakout_clean", "breakout_retest", "v_top",
        "reversal_v_top", "reversal_double_top", "displacement_impulse", "ob_retest",
    ),
    "crash": (
        "crash", "v_bottom", "reversal_v_bottom", "reversal_double_bottom", "reversal_rounded",
        "trend_down", "trend_down_clean", "mtf_aligned_bear", "mtf_pullback_bear",
    ),
    "mixed": ("mixed",),
}
#: every Play pattern or regime name -> its generator regime family
PATTERN_REGIMES: dict[str, str] = {
    name: regime for regime, names in _PATTERNS_BY_REGIME.items() for name in names
}


# Each TRADE pattern name has its own shape: a sequence of segments (share of the run,
# drift in log-price per day, volatility multiplier, mean-reversion strength per 15-minute
# block, and the per-day slope of the level it reverts to). Mean reversion pulls toward the
# price where the segment started, moved by that slope. Our own shorter spellings
# (trend_up, range, v_top, ...) name the same shapes as their TRADE names.
Segment = tuple[float, float, float, float, float]


def _seg(frac: float, drift: float = 0.0, vol: float = 1.0, kappa: float = 0.0,
         slope: float = 0.0) -> Segment:
    return (frac, drift, vol, kappa, slope)


def _repeat(parts: tuple[Segment, ...], times: int) -> tuple[Segment, ...]:
    return tuple((f / times, d, v, k, sl) for _ in range(times) for (f, d, v, k, sl) in parts)


_R = 0.012  # reversion per 15-minute block: half-life about 14 hours
PATTERN_SHAPES: dict[str, tuple[Segment, ...]] = {
    "trend_up_clean": (_seg(1.0, 0.010, 0.6),),
    "trend_down_clean": (_seg(1.0, -0.010, 0.6),),
    "trend_grinding": (_seg(1.0, 0.004, 0.5, 0.006, 0.004),),
    "trend_parabolic": (_seg(0.4, 0.004, 0.7), _seg(0.3, 0.012, 0.9), _seg(0.3, 0.030, 1.3)),
    "trend_exhaustion": (_seg(0.6, 0.015, 0.8), _seg(0.2, 0.002, 1.4), _seg(0.2, -0.010, 1.6)),
    "trend_stairs": _repeat((_seg(0.5, 0.020, 0.7), _seg(0.5, 0.0, 0.5, _R)), 5),
    "range_tight": (_seg(1.0, 0.0, 0.4, 0.03),),
    "range_wide": (_seg(1.0, 0.0, 1.4, 0.006),),
    "range_ascending": (_seg(1.0, 0.0, 0.8, _R, 0.004),),
    "range_descending": (_seg(1.0, 0.0, 0.8, _R, -0.004),),
    "range_symmetric": (_seg(1.0, 0.0, 0.9, 0.02),),
    "reversal_v_bottom": (_seg(0.5, -0.020, 1.1), _seg(0.5, 0.020, 1.1)),
    "reversal_v_top": (_seg(0.5, 0.020, 1.1), _seg(0.5, -0.020, 1.1)),
    "reversal_double_bottom": (_seg(0.25, -0.025, 1.0), _seg(0.2, 0.025, 1.0),
                               _seg(0.2, -0.025, 1.0), _seg(0.35, 0.025, 1.0)),
    "reversal_double_top": (_seg(0.25, 0.025, 1.0), _seg(0.2, -0.025, 1.0),
                            _seg(0.2, 0.025, 1.0), _seg(0.35, -0.025, 1.0)),
    "reversal_rounded": (_seg(0.2, -0.015, 0.7), _seg(0.2, -0.006, 0.6), _seg(0.2, 0.0, 0.5),
                         _seg(0.2, 0.006, 0.6), _seg(0.2, 0.015, 0.7)),
    "breakout_clean": (_seg(0.6, 0.0, 0.5, 0.03), _seg(0.4, 0.030, 1.2)),
    "breakout_false": (_seg(0.5, 0.0, 0.5, 0.03), _seg(0.04, 0.08, 1.5),
                       _seg(0.04, -0.08, 1.2), _seg(0.42, 0.0, 0.6, 0.03)),
    "breakout_failed": (_seg(0.5, 0.0, 0.5, 0.03), _seg(0.05, 0.06, 1.5),
                        _seg(0.45, -0.030, 1.1)),
    "breakout_retest": (_seg(0.45, 0.0, 0.5, 0.03), _seg(0.1, 0.04, 1.2),
                        _seg(0.1, -0.02, 0.8), _seg(0.35, 0.025, 1.0)),
    "vol_squeeze_expand": (_seg(0.6, 0.0, 0.3, 0.03), _seg(0.4, 0.015, 2.0)),
    "vol_spike_recover": (_seg(0.45, 0.0, 0.6, _R), _seg(0.03, -0.4, 3.0),
                          _seg(0.52, 0.015, 1.5)),
    "vol_spike_continue": (_seg(0.45, 0.0, 0.6, _R), _seg(0.03, -0.4, 3.0),
                           _seg(0.52, -0.015, 1.8)),
    "vol_decay": (_seg(0.25, 0.0, 2.4, _R), _seg(0.25, 0.0, 1.4, _R), _seg(0.5, 0.0, 0.5, _R)),
    "liquidity_hunt_lows": _repeat((_seg(0.9, 0.0, 0.6, 0.02), _seg(0.05, -0.12, 1.5),
                                    _seg(0.05, 0.12, 1.5)), 4),
    "liquidity_hunt_highs": _repeat((_seg(0.9, 0.0, 0.6, 0.02), _seg(0.05, 0.12, 1.5),
                                     _seg(0.05, -0.12, 1.5)), 4),
    "choppy_whipsaw": _repeat((_seg(0.5, 0.06, 1.6, 0.02), _seg(0.5, -0.06, 1.6, 0.02)), 10),
    "accumulation": (_seg(0.25, -0.02, 0.9), _seg(0.55, 0.0, 0.6, _R, 0.002),
                     _seg(0.2, 0.02, 0.9)),
    "distribution": (_seg(0.25, 0.02, 0.9), _seg(0.55, 0.0, 0.6, _R, -0.002),
                     _seg(0.2, -0.02, 0.9)),
    "mtf_aligned_bull": _repeat((_seg(0.8, 0.014, 0.6), _seg(0.2, -0.008, 0.6)), 8),
    "mtf_aligned_bear": _repeat((_seg(0.8, -0.014, 0.6), _seg(0.2, 0.008, 0.6)), 8),
    "mtf_pullback_bull": _repeat((_seg(0.65, 0.020, 0.7), _seg(0.35, -0.020, 0.9)), 5),
    "mtf_pullback_bear": _repeat((_seg(0.65, -0.020, 0.7), _seg(0.35, 0.020, 0.9)), 5),
    "mtf_divergent": _repeat((_seg(0.75, 0.016, 0.7), _seg(0.25, -0.030, 1.0)), 30),
    # ICT shapes. Displacement: quiet ranges broken by short, strong, low-noise impulses,
    # alternately up and down (large bodies against the ATR).
    "displacement_impulse": _repeat((_seg(0.24, 0.0, 0.5, 0.03), _seg(0.005, 1.5, 0.6),
                                     _seg(0.24, 0.0, 0.5, 0.03), _seg(0.005, -1.5, 0.6)), 4),
    # an up-trend whose bursts move faster than their noise, leaving three-candle gaps
    "trending_with_gaps": _repeat((_seg(0.97, 0.006, 0.6), _seg(0.03, 0.8, 0.3)), 6),
    # a base, an impulse away from it, a retrace into the base (the order block), continuation
    "ob_retest": _repeat((_seg(0.3, 0.0, 0.5, 0.03), _seg(0.01, 2.0, 0.7),
                          _seg(0.14, -0.15, 0.7), _seg(0.55, 0.015, 0.8)), 2),
    # a flat band with strong pull back to its level: highs and lows retested at equal prices
    "equal_highs_lows": (_seg(1.0, 0.0, 1.0, 0.15),),
}
# our shorter spellings of the same shapes
PATTERN_SPELLINGS: dict[str, str] = {
    "trend_up": "trend_up_clean", "trend_down": "trend_down_clean", "range": "range_symmetric",
    "v_top": "reversal_v_top", "v_bottom": "reversal_v_bottom", "breakout": "breakout_clean",
    "spike_recover": "vol_spike_recover", "trending_up": "trend_up_clean",
}


def _pattern_schedule(name: str, n: int) -> tuple[F64, F64, F64, F64]:
    """Drift, volatility, reversion and reversion-target slope per minute of a pattern."""
    shape = PATTERN_SHAPES[name]
    mu, vol, kappa, slope = np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n)
    day = 1440
    total = sum(f for f, *_ in shape)
    a = 0
    for i, (frac, drift, v, k, sl) in enumerate(shape):
        b = n if i == len(shape) - 1 else min(n, a + round(n * frac / total))
        mu[a:b] = drift / day
        vol[a:b] = v
        kappa[a:b] = k
        slope[a:b] = sl / day
        a = b
    return mu, vol, kappa, slope


def regime_for_pattern(name: str) -> str:
    """The generator regime of a Play pattern name (or a regime name itself).

    trend_up_clean -> trending, range_wide -> ranging, breakout_false -> ranging (a range whose
    breakouts fail), spike_recover -> volatile, v_bottom -> crash (a crash then recovery).

    Parameters
    ----------
    name : str

    Returns
    -------
    str
        One of `REGIMES`.

    Raises
    ------
    InputError
        Neither a regime nor a known pattern.
    """
    key = name.strip().lower()
    if key not in PATTERN_REGIMES:
        raise InputError(
            f"unknown synthetic pattern/regime {name!r}: use one of {sorted(PATTERN_REGIMES)}"
        )
    return PATTERN_REGIMES[key]


def _seasonality(ts: npt.NDArray[np.int64]) -> F64:
    """Intraday volatility multiplier (mean about 1): busiest at the US open (~14:30 UTC),
    a smaller bump at the London open (~08:00), quiet late Asia; weekends 25 % quieter."""
    hour = (ts % DAY_MS) / 3_600_000.0
    us_open = 0.55 * np.exp(-(((hour - 14.5) / 2.2) ** 2))
    london_open = 0.25 * np.exp(-(((hour - 8.0) / 1.8) ** 2))
    s = 0.8 + us_open + london_open
    weekday = ((ts // DAY_MS) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    s = np.where(weekday >= 5, s * 0.75, s)
    return np.asarray(s / s.mean(), dtype=np.float64)


def _schedule(regime: str, n: int, rng: np.random.Generator) -> tuple[F64, F64, F64]:
    """Per-minute drift, volatility multiplier and mean-reversion strength for a regime."""
    mu = np.zeros(n)
    vol = np.ones(n)
    kappa = np.zeros(n)
    day = 1440

    def fill(kind: str, a: int, b: int) -> None:
        length = max(b - a, 1)
        if kind == "trend_up":
            mu[a:b] = 0.008 / day
            vol[a:b] = 0.7
        elif kind == "trend_down":
            mu[a:b] = -0.008 / day
            vol[a:b] = 0.8
        elif kind == "ranging":
            kappa[a:b] = 0.012  # per 15-minute block: half-life about 14 hours
            vol[a:b] = 0.9
        elif kind == "volatile":
            vol[a:b] = 2.2
        elif kind == "crash":
            pre = a + int(0.45 * length)
            fall = min(max(int(0.03 * length), 240), max(b - pre, 1))
            mu[a:pre] = 0.002 / day
            mu[pre : pre + fall] = math.log(0.65) / fall  # a 35 % fall
            vol[pre : pre + fall] = 3.0
            rest = b - (pre + fall)
            if rest > 0:
                mu[pre + fall : b] = -0.5 * math.log(0.65) / rest  # recovers half of it
                vol[pre + fall : b] = 1.0 + 1.5 * np.exp(-np.arange(rest) / (2 * day))

    if regime == "trending":
        fill("trend_up", 0, n)
    elif regime in ("ranging", "volatile", "crash"):
        fill(regime, 0, n)
    else:  # mixed: segments of 2-20 days, each a random regime
        a = 0
        kinds = ("trend_up", "trend_down", "ranging", "volatile", "crash")
        while a < n:
            b = min(n, a + int(rng.integers(2 * day, 20 * day + 1)))
            fill(kinds[int(rng.integers(0, len(kinds)))], a, b)
            a = b
    return mu, vol, kappa


def _garch_blocks(m: int, rng: np.random.Generator, alpha: float, beta: float) -> F64:
    """GARCH(1,1) volatility multipliers (unconditional variance 1) on 15-minute blocks,
    driven by Student-t(5) shocks: the volatility clustering of the series."""
    z = rng.standard_t(5, size=m) / math.sqrt(5 / 3)
    omega = 1.0 - alpha - beta
    h = 1.0
    out = np.empty(m)
    for i, zi in enumerate(z.tolist()):
        out[i] = h
        h = omega + alpha * h * zi * zi + beta * h
    return np.sqrt(out)


def synth_bars(
    symbol: str,
    days: int,
    seed: int,
    regime: str = "mixed",
    start_ms: int = DEFAULT_START_MS,
    start_price: float | None = None,
    market: tuple[F64, float] | None = None,
) -> pa.Table:
    """`days` x 1440 synthetic 1m bars, a pure function of the arguments.

    Properties: GARCH(1,1) volatility clustering, Student-t(4) return tails, intraday and
    weekend seasonality, rare price gaps (open away from the previous close) and rare long
    wicks; every bar is valid OHLC on a tick grid; no minute is missing.

    Parameters
    ----------
    symbol : str
        Seeds the generator together with `seed`, and sets the default start price.
    days : int
        Number of days (> 0).
    seed : int
    regime : str
        trending, ranging, volatile, crash, mixed or a Play pattern name
        (`regime_for_pattern`).
    start_ms : int
        Open time of the first bar, on a minute boundary.
    start_price : float, optional
        The first open (default: 30 000 for a BTC symbol, else 100).
    market : (array, float), optional
        A common market shock per minute (unit variance, `days` x 1440 of them) and this
        symbol's loading `rho` in [0, 1]: the symbol's shock is
        `sqrt(rho) * market + sqrt(1 - rho) * own`, so two symbols loading `rho` on the same
        market have shocks correlated `rho` (`synth_portfolio`). None: own shocks only (the
        same bars as before this option existed).

    Returns
    -------
    pyarrow.Table
        A bars-schema table.

    Raises
    ------
    InputError
        `days` is not positive, `start_ms` is not on a minute, `regime` is unknown, or
        `market` has the wrong length or a loading outside [0, 1].
    """
    if days <= 0:
        raise InputError(f"days must be positive, got {days}")
    if start_ms % MINUTE_MS:
        raise InputError(f"start_ms {start_ms} is not on a minute boundary")
    key = regime.strip().lower()
    family = regime_for_pattern(key)  # the regime family (also checks the name)
    shape = PATTERN_SPELLINGS.get(key, key)
    n = int(days) * 1440
    rng = np.random.Generator(np.random.PCG64([int(seed), zlib.crc32(symbol.encode())]))
    p0 = float(start_price) if start_price is not None else (30_000.0 if "BTC" in symbol else 100.0)
    decimals = 5 - math.floor(math.log10(p0))  # 5 significant digits: 0.1 at 30 000
    tick = 10.0**-decimals
    ts = start_ms + np.arange(n, dtype=np.int64) * MINUTE_MS

    if shape in PATTERN_SHAPES:  # a named pattern has its own shape
        mu, volm, kappa, slope = _pattern_schedule(shape, n)
    else:
        mu, volm, kappa = _schedule(family, n, rng)
        slope = np.zeros(n)
    regime = family
    alpha, beta = (0.12, 0.86) if regime == "volatile" else (0.07, 0.91)
    block = 15
    m = -(-n // block)
    garch = np.repeat(_garch_blocks(m, rng, alpha, beta), block)[:n]
    sigma = 0.0006 * garch * _seasonality(ts) * volm

    z = rng.standard_t(4, size=n) / math.sqrt(2.0)  # unit variance, fat tails
    if market is not None:
        common, rho = market
        if len(common) != n:
            raise InputError(f"market shocks: {len(common)} for {n} minutes")
        if not 0.0 <= rho <= 1.0:
            raise InputError(f"market loading must be in [0, 1], got {rho}")
        z = math.sqrt(rho) * np.asarray(common, dtype=np.float64) + math.sqrt(1.0 - rho) * z
    gap = np.where(rng.random(n) < 0.0005, rng.standard_t(3, size=n) * 6.0 * sigma, 0.0)
    r = mu + sigma * z
    if kappa.any():  # mean reversion of log price toward a level, applied per block
        blocks = np.add.reduceat(r + gap, np.arange(0, n, block))
        kap = kappa[::block]
        slp = slope[::block] * block
        adj = np.zeros(m)
        dev = 0.0
        level = 0.0
        for i in range(m):
            if kap[i] > 0 and (i == 0 or kap[i - 1] != kap[i] or slp[i - 1] != slp[i]):
                level = dev if i > 0 else 0.0  # a reverting segment anchors where it starts
            level += slp[i]
            pull = -kap[i] * (dev - level) if kap[i] > 0 else 0.0
            adj[i] = pull
            dev += blocks[i] + pull
        r = r + np.repeat(adj / block, block)[:n]
    logc = math.log(p0) + np.cumsum(r + gap)
    close = np.exp(logc)
    open_ = np.exp(logc - r)  # open_t = previous close moved by the gap, if any
    big = rng.random((2, n)) < 0.003  # rare long wicks
    wick = np.abs(rng.standard_t(4, size=(2, n))) * 0.5 * sigma * np.where(big, 6.0, 1.0)
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])

    def on_tick(x: F64) -> F64:
        return np.asarray(np.round(x, decimals), dtype=np.float64)

    # a price never rounds below one tick (a long downtrend would otherwise reach 0)
    o, c = np.maximum(on_tick(open_), tick), np.maximum(on_tick(close), tick)
    h = np.maximum(on_tick(high), np.maximum(o, c))  # high >= max(open, close) after rounding
    lo = np.maximum(np.minimum(on_tick(low), np.minimum(o, c)), tick)  # low <= min(o, c), > 0
    lo = np.minimum(lo, np.minimum(o, c))
    base = 25.0 if "BTC" in symbol else 2_000.0
    volume = base * _seasonality(ts) ** 1.5 * garch * volm * np.exp(0.5 * rng.standard_normal(n))
    volume *= 1.0 + 0.4 * np.abs(z)
    volume = np.round(volume, 3)
    turnover = np.round(volume * (o + h + lo + c) / 4.0, 4)
    return pa.Table.from_arrays(
        [pa.array(ts), *(pa.array(x) for x in (o, h, lo, c, volume, turnover))], schema=BAR_SCHEMA
    )


def synth_portfolio(
    symbols: list[str] | tuple[str, ...],
    days: int,
    seed: int,
    correlation: float,
    regime: str = "mixed",
    start_ms: int = DEFAULT_START_MS,
) -> dict[str, pa.Table]:
    """Synthetic 1m bars of several symbols at once whose returns are correlated.

    Every symbol loads `correlation` on one market shock per minute (a seeded Student-t
    series shared by all), so the per-minute shocks of any two symbols correlate
    `correlation`; their returns correlate a little less, as each keeps its own volatility
    clustering, seasonality scale and regime schedule. Same arguments, same bytes.

    Parameters
    ----------
    symbols : sequence of str
        Distinct symbols; each seeds its own part of the generator.
    days, seed, regime, start_ms
        As for `synth_bars`.
    correlation : float
        In [0, 1]: 0 gives independent markets, 1 a common shock for all.

    Returns
    -------
    dict
        Symbol -> bars-schema table, every table on the same minutes.

    Raises
    ------
    InputError
        No symbols, a repeated symbol, or a correlation outside [0, 1] (and as `synth_bars`).
    """
    if not symbols:
        raise InputError("synth_portfolio needs at least one symbol")
    if len(set(symbols)) != len(symbols):
        raise InputError(f"symbols repeat: {list(symbols)}")
    if not 0.0 <= correlation <= 1.0:
        raise InputError(f"correlation must be in [0, 1], got {correlation}")
    if days <= 0:
        raise InputError(f"days must be positive, got {days}")
    n = int(days) * 1440
    rng = np.random.Generator(np.random.PCG64([int(seed), zlib.crc32(b"market")]))
    common = rng.standard_t(4, size=n) / math.sqrt(2.0)
    return {sym: synth_bars(sym, days, seed, regime, start_ms=start_ms,
                            market=(common, correlation)) for sym in symbols}


def bridge_to_1m(bars: pa.Table, source_interval_ms: int, seed: int) -> pa.Table:
    """Seeded 1m bars inside each coarser bar, constrained to its OHLC exactly.

    For each source bar (ts = open time) the 1m path starts at its open, ends at its close,
    its highest 1m high equals its high and its lowest 1m low equals its low, so resampling the
    result to the source interval returns the source OHLC exactly. The path is a Student-t
    Brownian bridge from open to close scaled to the bar's range; volume and turnover are
    spread over the minutes with random weights (their sums equal the source up to float
    rounding). A pure function of (bars, interval, seed).

    Parameters
    ----------
    bars : pyarrow.Table
        Bars-schema rows of the coarser interval, sorted by ts.
    source_interval_ms : int
        Their interval, a whole number (> 1) of minutes.
    seed : int
        Seed of the paths.

    Returns
    -------
    pyarrow.Table
        Bars-schema 1m rows.

    Raises
    ------
    InputError
        The interval is not a whole number of minutes above one, or a bar's ts is not
        aligned to it.
    """
    if source_interval_ms % MINUTE_MS or source_interval_ms <= 0:
        raise InputError(f"cannot bridge bars of {source_interval_ms} ms into 1m bars")
    k = source_interval_ms // MINUTE_MS
    ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
    if k == 1:
        return bars.select(list(BAR_SCHEMA.names)).cast(BAR_SCHEMA)
    if len(ts) and bool(np.any(ts % source_interval_ms)):
        i = int(np.flatnonzero(ts % source_interval_ms)[0])
        raise InputError(f"bar {i} (ts={int(ts[i])}) is not aligned to its {k}-minute interval")
    o, h, lo, c, v, t = (
        np.asarray(bars.column(x).to_numpy(), dtype=np.float64)[:, None]
        for x in ("open", "high", "low", "close", "volume", "turnover")
    )
    nb = len(ts)
    rng = np.random.Generator(np.random.PCG64([int(seed), k]))
    z = rng.standard_t(4, size=(nb, k))
    walk = np.cumsum(z, axis=1)
    frac = (np.arange(1, k + 1, dtype=np.float64) / k)[None, :]
    bridge = walk - frac * walk[:, -1:]  # zero at the last minute
    line = o + frac * (c - o)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(bridge > 0, (h - line) / bridge, np.inf)
        down = np.where(bridge < 0, (lo - line) / bridge, np.inf)
    scale = np.minimum(up.min(axis=1), down.min(axis=1))
    scale = np.where(np.isfinite(scale), np.maximum(scale, 0.0), 0.0)[:, None]
    closes = np.clip(line + scale * bridge, lo, h)
    closes[:, -1] = c[:, 0]  # the last minute closes at the bar's close
    opens = np.concatenate([o, closes[:, :-1]], axis=1)  # the first minute opens at the bar's open
    spread = (h - lo) / math.sqrt(k)
    wick = rng.exponential(size=(2, nb, k)) * 0.1 * spread
    highs = np.minimum(np.maximum(opens, closes) + wick[0], h)
    lows = np.maximum(np.minimum(opens, closes) - wick[1], lo)
    rows = np.arange(nb)
    highs[rows, np.argmax(highs, axis=1)] = h[:, 0]  # the bar's high is reached exactly once
    lows[rows, np.argmin(lows, axis=1)] = lo[:, 0]  # and its low
    weights = 0.3 + np.abs(z)
    weights /= weights.sum(axis=1, keepdims=True)
    minute_ts = ts[:, None] + np.arange(k, dtype=np.int64)[None, :] * MINUTE_MS
    cols = [minute_ts, opens, highs, lows, closes, v * weights, t * weights]
    return pa.Table.from_arrays([pa.array(x.reshape(-1)) for x in cols], schema=BAR_SCHEMA)
