"""Every indicator: its IndicatorSpec, how to build its compiled kernel, its warm-up.

Warm-up (per output) is the number of bars before that output's first value; it
matches TA-Lib's lookback where TA-Lib has the indicator. Structure detectors
(swing, trend, market_structure) report NaN levels until a pivot/break exists,
which can be later than their warm-up.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trade.indicators.spec import IndicatorSpec, InputName, ParamSpec


class _LazyKernels:
    """The compiled module, imported on first use so specs load without it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("trade._kernels.indicators"), name)


_k = _LazyKernels()

Params = dict[str, Any]
SOURCES: tuple[str, ...] = ("close", "open", "high", "low", "volume", "hl2", "hlc3", "ohlc4")
SOURCE_CODE: dict[str, int] = {name: i for i, name in enumerate(SOURCES)}
SOURCE_FIELDS: dict[str, tuple[InputName, ...]] = {
    "close": ("close",),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "volume": ("volume",),
    "hl2": ("high", "low"),
    "hlc3": ("high", "low", "close"),
    "ohlc4": ("open", "high", "low", "close"),
}
MAX_LENGTH = 100_000


@dataclass(frozen=True, slots=True)
class Entry:
    spec: IndicatorSpec
    factory: Callable[[Params], Any]
    warmups: Callable[[Params], tuple[int, ...]]


def _int(name: str, default: int, lo: int = 1, doc: str = "") -> ParamSpec:
    return ParamSpec(name, "int", default, float(lo), float(MAX_LENGTH), doc=doc)


def _float(name: str, default: float, lo: float, hi: float, doc: str = "") -> ParamSpec:
    return ParamSpec(name, "float", default, lo, hi, doc=doc)


def _src(default: str = "close") -> ParamSpec:
    return ParamSpec(
        "source", "str", default, choices=SOURCES, doc="bar field or derived price to read"
    )


def _length(default: int, lo: int = 1) -> ParamSpec:
    return _int("length", default, lo, "window length in bars")


def _s(p: Params) -> int:
    return SOURCE_CODE[str(p["source"])]


def _n(p: Params, key: str = "length") -> int:
    return int(p[key])


_ENTRIES: dict[str, Entry] = {}


def _add(
    name: str,
    params: tuple[ParamSpec, ...],
    inputs: tuple[InputName, ...],
    factory: Callable[[Params], Any],
    warmups: Callable[[Params], tuple[int, ...]],
    doc: str,
    outputs: tuple[str, ...] = ("value",),
    kind: str = "indicator",
) -> None:
    spec = IndicatorSpec(
        name=name,
        params=params,
        inputs=inputs,
        outputs=outputs,
        kind="structure" if kind == "structure" else "indicator",
        doc=doc,
    )
    _ENTRIES[name] = Entry(spec, factory, warmups)


def _one(f: Callable[[Params], int]) -> Callable[[Params], tuple[int, ...]]:
    return lambda p: (f(p),)


def _same(k: int, f: Callable[[Params], int]) -> Callable[[Params], tuple[int, ...]]:
    return lambda p: (f(p),) * k


_C: tuple[InputName, ...] = ("close",)
_HLC: tuple[InputName, ...] = ("high", "low", "close")
_HL: tuple[InputName, ...] = ("high", "low")

# ------------------------------------------------------------- moving averages
_add(
    "sma",
    (_length(20), _src()),
    _C,
    lambda p: _k.KSma(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Simple moving average (TA-Lib SMA).",
)
_add(
    "ema",
    (_length(20), _src()),
    _C,
    lambda p: _k.KEma(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Exponential moving average, k=2/(n+1), seeded with the SMA of the first n (TA-Lib EMA).",
)
_add(
    "wma",
    (_length(20), _src()),
    _C,
    lambda p: _k.KWma(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Linearly weighted moving average (TA-Lib WMA).",
)
_add(
    "dema",
    (_length(20), _src()),
    _C,
    lambda p: _k.KDema(_n(p), _s(p)),
    _one(lambda p: 2 * (_n(p) - 1)),
    "Double EMA: 2*EMA - EMA(EMA) (TA-Lib DEMA).",
)
_add(
    "tema",
    (_length(20), _src()),
    _C,
    lambda p: _k.KTema(_n(p), _s(p)),
    _one(lambda p: 3 * (_n(p) - 1)),
    "Triple EMA: 3*E1 - 3*E2 + E3 (TA-Lib TEMA).",
)
_add(
    "trima",
    (_length(20), _src()),
    _C,
    lambda p: _k.KTrima(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Triangular moving average: SMA of an SMA (TA-Lib TRIMA).",
)
_add(
    "kama",
    (
        _length(10),
        _int("fast", 2, doc="fast EMA period of the scaling"),
        _int("slow", 30, doc="slow EMA period of the scaling"),
        _src(),
    ),
    _C,
    lambda p: _k.KKama(_n(p), int(p["fast"]), int(p["slow"]), _s(p)),
    _one(lambda p: _n(p)),
    "Kaufman adaptive moving average (TA-Lib KAMA at fast=2, slow=30).",
)
_add(
    "alma",
    (
        _length(9),
        _float("offset", 0.85, 0.0, 1.0, "Gaussian centre as a fraction of the window"),
        _float("sigma", 6.0, 0.01, 1000.0, "window / sigma = Gaussian width"),
        _src(),
    ),
    _C,
    lambda p: _k.KAlma(_n(p), float(p["offset"]), float(p["sigma"]), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Arnaud Legoux moving average (talipp ALMA); O(length) per bar.",
)
_add(
    "zlma",
    (_length(20), _src()),
    _C,
    lambda p: _k.KZlma(_n(p), _s(p)),
    _one(lambda p: (_n(p) - 1) // 2 + _n(p) - 1),
    "Zero-lag EMA: EMA of x + (x - x[lag]), lag = (length-1)//2.",
)
_add(
    "hma",
    (_length(16, 2), _src()),
    _C,
    lambda p: _k.KHma(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1 + math.isqrt(_n(p)) - 1),
    "Hull moving average: WMA(2*WMA(n//2) - WMA(n), isqrt(n)).",
)
_add(
    "linreg",
    (_length(14), _src()),
    _C,
    lambda p: _k.KLinreg(_n(p), _s(p)),
    _one(lambda p: _n(p) - 1),
    "Least-squares line over the window, its value at the newest bar (TA-Lib LINEARREG).",
)
_add(
    "vwap",
    (
        ParamSpec(
            "anchor",
            "str",
            "D",
            choices=("D", "W", "M"),
            doc="session: UTC day, ISO week (Monday) or calendar month",
        ),
    ),
    ("ts", "high", "low", "close", "volume"),
    lambda p: _k.KVwap({"D": 0, "W": 1, "M": 2}[str(p["anchor"])]),
    _one(lambda p: 0),
    "Session-anchored VWAP of hlc3; ts is ms since the epoch (UTC); NaN while the "
    "session has had no volume.",
)

# ----------------------------------------------------------------- oscillators
_add(
    "rsi",
    (_length(14), _src()),
    _C,
    lambda p: _k.KRsi(_n(p), _s(p), 0),
    _one(lambda p: _n(p)),
    "Relative strength index, Wilder smoothing (TA-Lib RSI).",
)
_add(
    "cmo",
    (_length(14), _src()),
    _C,
    lambda p: _k.KRsi(_n(p), _s(p), 1),
    _one(lambda p: _n(p)),
    "Chande momentum oscillator, Wilder-smoothed as TA-Lib CMO.",
)
_add(
    "stoch",
    (
        _int("k_length", 14, doc="high/low window"),
        _int("k_smooth", 3, doc="SMA of %K"),
        _int("d_length", 3, doc="SMA of smoothed %K"),
    ),
    _HLC,
    lambda p: _k.KStoch(int(p["k_length"]), int(p["k_smooth"]), int(p["d_length"])),
    lambda p: (
        int(p["k_length"]) + int(p["k_smooth"]) - 2,
        int(p["k_length"]) + int(p["k_smooth"]) + int(p["d_length"]) - 3,
    ),
    "Slow stochastic (TA-Lib STOCH with SMA smoothing).",
    outputs=("k", "d"),
)
_add(
    "stochrsi",
    (
        _int("rsi_length", 14),
        _int("stoch_length", 14),
        _int("k_smooth", 3),
        _int("d_length", 3),
        _src(),
    ),
    _C,
    lambda p: _k.KStochRsi(
        int(p["rsi_length"]), int(p["stoch_length"]), int(p["k_smooth"]), int(p["d_length"]), _s(p)
    ),
    lambda p: (
        int(p["rsi_length"]) + int(p["stoch_length"]) + int(p["k_smooth"]) - 2,
        int(p["rsi_length"]) + int(p["stoch_length"]) + int(p["k_smooth"]) + int(p["d_length"]) - 3,
    ),
    "Stochastic of RSI; k_smooth=1 is TA-Lib STOCHRSI.",
    outputs=("k", "d"),
)
_add(
    "cci",
    (_length(20),),
    _HLC,
    lambda p: _k.KCci(_n(p)),
    _one(lambda p: _n(p) - 1),
    "Commodity channel index (TA-Lib CCI); O(length) per bar (mean deviation).",
)
_add(
    "willr",
    (_length(14),),
    _HLC,
    lambda p: _k.KWillr(_n(p)),
    _one(lambda p: _n(p) - 1),
    "Williams %R (TA-Lib WILLR).",
)
_add(
    "mfi",
    (_length(14),),
    ("high", "low", "close", "volume"),
    lambda p: _k.KMfi(_n(p)),
    _one(lambda p: _n(p)),
    "Money flow index (TA-Lib MFI).",
)
_add(
    "roc",
    (_length(10), _src()),
    _C,
    lambda p: _k.KRoc(_n(p), 0, _s(p)),
    _one(lambda p: _n(p)),
    "Rate of change in percent (TA-Lib ROC).",
)
_add(
    "mom",
    (_length(10), _src()),
    _C,
    lambda p: _k.KRoc(_n(p), 1, _s(p)),
    _one(lambda p: _n(p)),
    "Momentum x - x[n] (TA-Lib MOM).",
)


def _macd_w(p: Params) -> tuple[int, ...]:
    slow = max(int(p["fast"]), int(p["slow"]))
    return (slow - 1, slow + int(p["signal"]) - 2, slow + int(p["signal"]) - 2)


_MACD_P = (_int("fast", 12), _int("slow", 26), _int("signal", 9), _src())
_add(
    "macd",
    _MACD_P,
    _C,
    lambda p: _k.KMacd(int(p["fast"]), int(p["slow"]), int(p["signal"]), 0, _s(p)),
    _macd_w,
    "MACD (TA-Lib MACD, whose fast EMA is seeded in line with the slow one).",
    outputs=("macd", "signal", "hist"),
)
_add(
    "ppo",
    _MACD_P,
    _C,
    lambda p: _k.KMacd(int(p["fast"]), int(p["slow"]), int(p["signal"]), 1, _s(p)),
    _macd_w,
    "Percentage price oscillator, EMAs (TA-Lib PPO matype=EMA) plus EMA signal and hist.",
    outputs=("ppo", "signal", "hist"),
)
_add(
    "trix",
    (_length(15), _src()),
    _C,
    lambda p: _k.KTrix(_n(p), _s(p)),
    _one(lambda p: 3 * (_n(p) - 1) + 1),
    "1-bar ROC of a triple EMA (TA-Lib TRIX).",
)
_add(
    "tsi",
    (_int("long_length", 25), _int("short_length", 13), _int("signal", 13), _src()),
    _C,
    lambda p: _k.KTsi(int(p["long_length"]), int(p["short_length"]), int(p["signal"]), _s(p)),
    lambda p: (
        int(p["long_length"]) + int(p["short_length"]) - 1,
        int(p["long_length"]) + int(p["short_length"]) + int(p["signal"]) - 2,
    ),
    "True strength index: 100*EMA(EMA(dx))/EMA(EMA(|dx|)) (talipp TSI), EMA signal.",
    outputs=("tsi", "signal"),
)
_add(
    "fisher",
    (_length(9),),
    _HL,
    lambda p: _k.KFisher(_n(p)),
    lambda p: (_n(p) - 1, _n(p)),
    "Ehlers Fisher transform of hl2 (TradingView form); signal = previous fisher.",
    outputs=("fisher", "signal"),
)

# --------------------------------------------------------- trend / volatility
_add(
    "adx",
    (_length(14),),
    _HLC,
    lambda p: _k.KAdx(_n(p)),
    lambda p: (2 * _n(p) - 1, _n(p), _n(p)),
    "ADX with +DI/-DI (TA-Lib ADX, PLUS_DI, MINUS_DI).",
    outputs=("adx", "plus_di", "minus_di"),
)
_add(
    "aroon",
    (_length(14),),
    _HL,
    lambda p: _k.KAroon(_n(p)),
    _same(3, lambda p: _n(p)),
    "Aroon up/down/oscillator (TA-Lib AROON, AROONOSC).",
    outputs=("up", "down", "osc"),
)
_add(
    "supertrend",
    (_length(10), _float("mult", 3.0, 0.0, 1000.0, "ATR multiple of the bands")),
    _HLC,
    lambda p: _k.KSupertrend(_n(p), float(p["mult"])),
    _same(2, lambda p: _n(p)),
    "Supertrend on hl2 +- mult*ATR (Wilder); direction +1 long / -1 short, starting +1.",
    outputs=("value", "direction"),
)
_add(
    "psar",
    (
        _float("accel", 0.02, 0.0, 1.0, "acceleration step"),
        _float("maximum", 0.2, 0.0, 1.0, "acceleration cap"),
    ),
    _HL,
    lambda p: _k.KPsar(float(p["accel"]), float(p["maximum"])),
    _same(2, lambda p: 1),
    "Parabolic SAR (TA-Lib SAR); direction +1 when the SAR is below price.",
    outputs=("value", "direction"),
)
_add(
    "vortex",
    (_length(14),),
    _HLC,
    lambda p: _k.KVortex(_n(p)),
    _same(2, lambda p: _n(p)),
    "Vortex indicator VI+/VI- (talipp VTX).",
    outputs=("plus", "minus"),
)
_add(
    "atr",
    (_length(14),),
    _HLC,
    lambda p: _k.KAtr(_n(p), 0),
    _one(lambda p: _n(p)),
    "Average true range, Wilder (TA-Lib ATR).",
)
_add(
    "natr",
    (_length(14),),
    _HLC,
    lambda p: _k.KAtr(_n(p), 1),
    _one(lambda p: _n(p)),
    "ATR as a percent of close (TA-Lib NATR).",
)
_add(
    "bbands",
    (_length(20), _float("std", 2.0, 0.0, 1000.0, "band width in population stddevs"), _src()),
    _C,
    lambda p: _k.KBbands(_n(p), float(p["std"]), _s(p)),
    _same(5, lambda p: _n(p) - 1),
    "Bollinger bands (TA-Lib BBANDS, SMA); bandwidth=(upper-lower)/middle, "
    "percent_b=(x-lower)/(upper-lower).",
    outputs=("upper", "middle", "lower", "bandwidth", "percent_b"),
)
_add(
    "keltner",
    (_length(20), _float("mult", 2.0, 0.0, 1000.0, "ATR multiple"), _int("atr_length", 10)),
    _HLC,
    lambda p: _k.KKeltner(_n(p), float(p["mult"]), int(p["atr_length"])),
    _same(3, lambda p: max(_n(p) - 1, int(p["atr_length"]))),
    "Keltner channels: EMA(close) +- mult*ATR (Wilder).",
    outputs=("upper", "middle", "lower"),
)
_add(
    "donchian",
    (_length(20),),
    _HL,
    lambda p: _k.KDonchian(_n(p)),
    _same(3, lambda p: _n(p) - 1),
    "Donchian channels: highest high / lowest low.",
    outputs=("upper", "middle", "lower"),
)
_add(
    "squeeze",
    (
        _int("bb_length", 20),
        _float("bb_mult", 2.0, 0.0, 1000.0),
        _int("kc_length", 20),
        _float("kc_mult", 1.5, 0.0, 1000.0),
    ),
    _HLC,
    lambda p: _k.KSqueeze(
        int(p["bb_length"]), float(p["bb_mult"]), int(p["kc_length"]), float(p["kc_mult"])
    ),
    lambda p: (max(int(p["bb_length"]) - 1, int(p["kc_length"])), 2 * (int(p["kc_length"]) - 1)),
    "LazyBear squeeze: on=1 while Bollinger bands sit inside Keltner (SMA +- mult*SMA(TR)); "
    "momentum = linreg(close - mean(mean(highest, lowest), SMA)).",
    outputs=("on", "momentum"),
)

# ---------------------------------------------------------------------- volume
_add(
    "obv",
    (),
    ("close", "volume"),
    lambda p: _k.KObv(),
    _one(lambda p: 0),
    "On-balance volume, starting at the first volume (TA-Lib OBV).",
)
_add(
    "cmf",
    (_length(20),),
    ("high", "low", "close", "volume"),
    lambda p: _k.KCmf(_n(p)),
    _one(lambda p: _n(p) - 1),
    "Chaikin money flow over the window.",
)
_add(
    "volume_sma",
    (_length(20),),
    ("volume",),
    lambda p: _k.KSma(_n(p), SOURCE_CODE["volume"]),
    _one(lambda p: _n(p) - 1),
    "SMA of volume.",
)

# ------------------------------------------------------------------- structure
_add(
    "rolling_min",
    (_length(20), _src("low")),
    ("low",),
    lambda p: _k.KRolling(_n(p), False, _s(p)),
    _one(lambda p: _n(p) - 1),
    "Lowest value of the source over the window (TA-Lib MIN).",
    kind="structure",
)
_add(
    "rolling_max",
    (_length(20), _src("high")),
    ("high",),
    lambda p: _k.KRolling(_n(p), True, _s(p)),
    _one(lambda p: _n(p) - 1),
    "Highest value of the source over the window (TA-Lib MAX).",
    kind="structure",
)
_SWING_P = (
    _int("left", 5, doc="bars before the pivot it must exceed"),
    _int("right", 5, doc="bars after the pivot; it is reported only once they closed"),
)
_add(
    "swing",
    _SWING_P,
    _HL,
    lambda p: _k.KSwing(int(p["left"]), int(p["right"])),
    _same(4, lambda p: int(p["left"]) + int(p["right"])),
    "Pivot highs/lows: high strictly above the `left` highs before and not below the `right` "
    "highs after (mirror for lows), reported `right` bars later. Outputs carry the latest "
    "confirmed pivot price and its bar index (from the first bar fed); NaN until one exists.",
    outputs=("high", "low", "high_idx", "low_idx"),
    kind="structure",
)
_add(
    "trend",
    _SWING_P,
    _HL,
    lambda p: _k.KTrend(int(p["left"]), int(p["right"])),
    _same(2, lambda p: 0),
    "Direction from successive swing pivots: +1 after a higher high and a higher low, -1 "
    "after a lower high and lower low, else 0; strength = consecutive agreeing pivots.",
    outputs=("direction", "strength"),
    kind="structure",
)
_add(
    "market_structure",
    _SWING_P,
    _HLC,
    lambda p: _k.KMarketStructure(int(p["left"]), int(p["right"])),
    lambda p: (0, 0, 0),
    "Close breaking the latest unbroken swing high/low: bos (+1/-1) when in the direction of "
    "the current bias (or no bias yet), choch (+1/-1) when against it; level = the most "
    "recently broken level (NaN before the first break).",
    outputs=("bos", "choch", "level"),
    kind="structure",
)

ENTRIES: dict[str, Entry] = dict(_ENTRIES)
REGISTRY: dict[str, IndicatorSpec] = {name: e.spec for name, e in ENTRIES.items()}
