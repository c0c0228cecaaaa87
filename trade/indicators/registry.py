"""Every indicator: its IndicatorSpec, how to build its compiled kernel, its warm-up.

Warm-up (per output) is the number of bars before that output's first value; it
matches TA-Lib's lookback where TA-Lib has the indicator. Structure detectors
(swing, trend, market_structure) report NaN levels until a pivot/break exists,
which can be later than their warm-up.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
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
    dynamic_outputs: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None,
    check: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> None:
    spec = IndicatorSpec(
        name=name,
        params=params,
        inputs=inputs,
        outputs=outputs,
        kind="structure" if kind == "structure" else "indicator",
        doc=doc,
        dynamic_outputs=dynamic_outputs,
        check=check,
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
#: kama seeds: TA-Lib's (the previous value) and pandas-ta's (TRADE's: the mean)
KAMA_STYLES: tuple[str, ...] = ("talib", "pandas_ta")
_add(
    "kama",
    (
        _length(10),
        _int("fast", 2, doc="fast EMA period of the scaling"),
        _int("slow", 30, doc="slow EMA period of the scaling"),
        _src(),
        ParamSpec(
            "style", "str", "talib", choices=KAMA_STYLES,
            doc="talib: seeded with the previous value, first value at bar length; "
            "pandas_ta (TRADE): seeded with the mean of the first length values, at bar "
            "length - 1, efficiency ratio 0 on a flat window",
        ),
    ),
    _C,
    lambda p: _k.KKama(_n(p), int(p["fast"]), int(p["slow"]), _s(p),
                       KAMA_STYLES.index(str(p["style"]))),
    _one(lambda p: _n(p) - 1 if p["style"] == "pandas_ta" else _n(p)),
    "Kaufman adaptive moving average (TA-Lib KAMA at fast=2, slow=30).",
)
_add(
    "alma",
    (
        _length(9),
        _float("offset", 0.85, 0.0, 1.0, "Gaussian centre as a fraction of the window"),
        _float("sigma", 6.0, 0.01, 1000.0, "window / sigma = Gaussian width"),
        _src(),
        ParamSpec("floor_centre", "bool", False,
                  doc="round the centre offset * (length - 1) down to a whole bar "
                  "(pandas-ta, TRADE)"),
    ),
    _C,
    lambda p: _k.KAlma(_n(p), float(p["offset"]), float(p["sigma"]), _s(p),
                       bool(p["floor_centre"])),
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
#: vwap sessions shorter than a day: UTC buckets of a fixed length (as the exchange's klines)
VWAP_PERIOD_ANCHORS: dict[str, int] = {
    "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
}


def _vwap(p: Params) -> Any:
    anchor = str(p["anchor"])
    if anchor in VWAP_PERIOD_ANCHORS:
        return _k.KVwap(3, float(VWAP_PERIOD_ANCHORS[anchor]))
    return _k.KVwap({"D": 0, "W": 1, "M": 2}[anchor])


_add(
    "vwap",
    (
        ParamSpec(
            "anchor",
            "str",
            "D",
            choices=("D", "W", "M", *VWAP_PERIOD_ANCHORS),
            doc="session: UTC day, ISO week (Monday), calendar month, or a fixed UTC "
            "period (15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h)",
        ),
    ),
    ("ts", "high", "low", "close", "volume"),
    _vwap,
    _one(lambda p: 0),
    "Session-anchored VWAP of hlc3; ts is ms since the epoch (UTC); NaN while the "
    "session has had no volume.",
)

# ----------------------------------------------------------------- oscillators
#: what an oscillator reports with nothing to measure (no move, a flat window, no money
#: flow): TA-Lib's 0, or TRADE's middle of the scale (rsi 50, willr -50, mfi 50)
FLAT_CHOICES: tuple[str, ...] = ("zero", "mid")


def _flat(when: str, mid: str) -> ParamSpec:
    return ParamSpec("flat", "str", "zero", choices=FLAT_CHOICES,
                     doc=f"the value {when}: zero (TA-Lib: 0) or mid (TRADE: {mid})")


def _mid(p: Params) -> bool:
    return str(p["flat"]) == "mid"


_add(
    "rsi",
    (_length(14), _src(), _flat("while the average gain and loss are both 0", "50")),
    _C,
    lambda p: _k.KRsi(_n(p), _s(p), 0, 50.0 if _mid(p) else 0.0),
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

def _flat_k() -> ParamSpec:
    return _float("flat_k", 0.0, 0.0, 100.0,
                  "raw %K when the window's high equals its low: 0 (TA-Lib) or 50 (TRADE)")


_add(
    "stoch",
    (
        _int("k_length", 14, doc="high/low window"),
        _int("k_smooth", 3, doc="SMA of %K"),
        _int("d_length", 3, doc="SMA of smoothed %K"),
        _flat_k(),
    ),
    _HLC,
    lambda p: _k.KStoch(int(p["k_length"]), int(p["k_smooth"]), int(p["d_length"]),
                        float(p["flat_k"])),
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
        _flat_k(),
    ),
    _C,
    lambda p: _k.KStochRsi(
        int(p["rsi_length"]), int(p["stoch_length"]), int(p["k_smooth"]), int(p["d_length"]), _s(p),
        float(p["flat_k"]),
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
    (_length(14), _flat("on a window whose high equals its low", "-50")),
    _HLC,
    lambda p: _k.KWillr(_n(p), -50.0 if _mid(p) else 0.0),
    _one(lambda p: _n(p) - 1),
    "Williams %R (TA-Lib WILLR).",
)
_add(
    "mfi",
    (
        _length(14),
        _flat("with no money flow in the window (zero: whenever the total is below 1)",
              "50 with no flow, 100 with no negative flow"),
    ),
    ("high", "low", "close", "volume"),
    lambda p: _k.KMfi(_n(p), _mid(p)),
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
    (_length(15), _int("signal", 9, doc="EMA length of the signal line"), _src()),
    _C,
    lambda p: _k.KTrix(_n(p), _s(p), int(p["signal"])),
    lambda p: (3 * (_n(p) - 1) + 1, 3 * (_n(p) - 1) + int(p["signal"])),
    "1-bar ROC of a triple EMA (TA-Lib TRIX); signal = EMA(signal) of it.",
    outputs=("value", "signal"),
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
#: adx smoothing: TA-Lib's Wilder sums, or pandas-ta's EMAs seeded with the first value
ADX_STYLES: tuple[str, ...] = ("talib", "pandas_ta")
_add(
    "adx",
    (
        _length(14),
        ParamSpec(
            "style", "str", "talib", choices=ADX_STYLES,
            doc="talib: Wilder sums of DM and DX (ADX from bar 2*length-1); pandas_ta "
            "(TRADE): DM and DX smoothed by an EMA of weight 1/length seeded with the first "
            "value (ADX from bar length)",
        ),
    ),
    _HLC,
    lambda p: _k.KAdx(_n(p), ADX_STYLES.index(str(p["style"]))),
    lambda p: ((_n(p), _n(p), _n(p), 2 * _n(p) - 1) if p["style"] == "pandas_ta"
               else (2 * _n(p) - 1, _n(p), _n(p), 3 * _n(p) - 2)),
    "ADX with +DI/-DI and ADXR (TA-Lib ADX, PLUS_DI, MINUS_DI, ADXR; style pandas_ta: "
    "pandas-ta's EMA smoothing, TRADE's).",
    outputs=("adx", "plus_di", "minus_di", "adxr"),
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
#: supertrend band rules: ours (TradingView's ta.supertrend) and TRADE's (pandas-ta's)
SUPERTREND_STYLES: tuple[str, ...] = ("tradingview", "pandas_ta")
_add(
    "supertrend",
    (
        _length(10),
        _float("mult", 3.0, 0.0, 1000.0, "ATR multiple of the bands"),
        ParamSpec(
            "style", "str", "tradingview", choices=SUPERTREND_STYLES,
            doc="tradingview: both bands only tighten (unless the previous close was beyond "
            "one) and a close beyond this bar's band flips; pandas_ta (TRADE): a close beyond "
            "the previous bar's band flips and restarts both bands, else only the band of the "
            "current side is held",
        ),
    ),
    _HLC,
    lambda p: _k.KSupertrend(_n(p), float(p["mult"]),
                             SUPERTREND_STYLES.index(str(p["style"]))),
    _same(4, lambda p: _n(p)),
    "Supertrend on hl2 +- mult*ATR (Wilder, TA-Lib ATR); direction +1 long / -1 short, "
    "starting +1; long / short = the line while on that side, else NaN. See the Play "
    "reference for the two band rules (`style`).",
    outputs=("value", "direction", "long", "short"),
)
#: psar rules: TA-Lib's SAR and pandas-ta's (TRADE's)
PSAR_STYLES: tuple[str, ...] = ("talib", "pandas_ta")
_add(
    "psar",
    (
        _float("accel", 0.02, 0.0, 1.0, "acceleration step"),
        _float("maximum", 0.2, 0.0, 1.0, "acceleration cap"),
        _float("initial", 0.0, 0.0, 1.0, "starting acceleration after a reversal; 0 = accel"),
        ParamSpec(
            "style", "str", "talib", choices=PSAR_STYLES,
            doc="talib: TA-Lib SAR (starts at the first bar's extreme, kept outside the last "
            "two bars' range); pandas_ta (TRADE): starts at the first close, kept outside "
            "the previous bar's range only",
        ),
    ),
    _HLC,
    lambda p: _k.KPsar(float(p["accel"]), float(p["maximum"]),
                       float(p["initial"]) if float(p["initial"]) > 0 else -1.0,
                       PSAR_STYLES.index(str(p["style"]))),
    _same(6, lambda p: 1),
    "Parabolic SAR (TA-Lib SAR; with `initial` != accel, TA-Lib SAREXT's start factor; "
    "style pandas_ta: TRADE's, which reads the first close); "
    "direction +1 when the SAR is below price; long / short = the SAR on that side, else "
    "NaN; af = the acceleration in force; reversal = 1 on the bar the side flipped.",
    outputs=("value", "direction", "long", "short", "af", "reversal"),
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


def _first_range() -> ParamSpec:
    return ParamSpec(
        "first_range", "bool", False,
        doc="count the first bar's high - low as a true range (TRADE): the seed is the mean "
        "of the first length ranges and the first value comes at bar length - 1",
    )


_add(
    "atr",
    (_length(14), _first_range()),
    _HLC,
    lambda p: _k.KAtr(_n(p), 0, bool(p["first_range"])),
    _one(lambda p: _n(p) - 1 if p["first_range"] else _n(p)),
    "Average true range, Wilder (TA-Lib ATR).",
)
_add(
    "natr",
    (_length(14), _first_range()),
    _HLC,
    lambda p: _k.KAtr(_n(p), 1, bool(p["first_range"])),
    _one(lambda p: _n(p) - 1 if p["first_range"] else _n(p)),
    "ATR as a percent of close (TA-Lib NATR).",
)
_add(
    "bbands",
    (
        _length(20), _float("std", 2.0, 0.0, 1000.0, "band width in standard deviations"),
        _src(),
        ParamSpec("ddof", "int", 0, 0.0, 1.0,
                  doc="0: population deviation (TA-Lib); 1: sample deviation (pandas-ta, TRADE)"),
        ParamSpec("bandwidth_pct", "bool", False,
                  doc="bandwidth in percent (pandas-ta, TRADE) instead of a fraction"),
    ),
    _C,
    lambda p: _k.KBbands(_n(p), float(p["std"]), _s(p), int(p["ddof"]) == 1,
                         bool(p["bandwidth_pct"])),
    _same(5, lambda p: _n(p) - 1),
    "Bollinger bands (TA-Lib BBANDS, SMA); bandwidth=(upper-lower)/middle, "
    "percent_b=(x-lower)/(upper-lower).",
    outputs=("upper", "middle", "lower", "bandwidth", "percent_b"),
)
#: keltner band rules: ours (Wilder ATR over atr_length) and TRADE's (pandas-ta kc's EMA of
#: the true range over length)
KELTNER_STYLES: tuple[str, ...] = ("atr", "pandas_ta")
_add(
    "keltner",
    (
        _length(20),
        _float("mult", 2.0, 0.0, 1000.0, "ATR multiple"),
        _int("atr_length", 10, doc="ATR window of the band (style atr only)"),
        ParamSpec(
            "style", "str", "atr", choices=KELTNER_STYLES,
            doc="atr: the band is Wilder's ATR over atr_length; pandas_ta (TRADE): an EMA "
            "of the true range over length (atr_length unused), all outputs from bar length",
        ),
    ),
    _HLC,
    lambda p: _k.KKeltner(_n(p), float(p["mult"]), int(p["atr_length"]),
                          KELTNER_STYLES.index(str(p["style"]))),
    _same(3, lambda p: _n(p) if p["style"] == "pandas_ta"
          else max(_n(p) - 1, int(p["atr_length"]))),
    "Keltner channels: EMA(close) +- mult*band, the band Wilder's ATR (style atr) or an "
    "EMA of the true range (style pandas_ta, TRADE's).",
    outputs=("upper", "middle", "lower"),
)
_add(
    "donchian",
    (_length(20), _int("lower_length", 0, 0, "window of the lower band; 0 = length")),
    _HL,
    lambda p: _k.KDonchian(_n(p), int(p["lower_length"])),
    _same(3, lambda p: max(_n(p), int(p["lower_length"])) - 1),
    "Donchian channels: highest high over `length` / lowest low over `lower_length`.",
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
    lambda p: (
        max(int(p["bb_length"]) - 1, int(p["kc_length"])),
        2 * (int(p["kc_length"]) - 1),
        max(int(p["bb_length"]) - 1, int(p["kc_length"])),
        max(int(p["bb_length"]) - 1, int(p["kc_length"])),
    ),
    "LazyBear squeeze: on=1 while Bollinger bands sit inside Keltner (SMA +- mult*SMA(TR)), "
    "off=1 while both sit outside it, no_sqz=1 when neither; "
    "momentum = linreg(close - mean(mean(highest, lowest), SMA)).",
    outputs=("on", "momentum", "off", "no_sqz"),
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
SWING_OUTPUTS: tuple[str, ...] = (
    "high", "low", "high_idx", "low_idx", "version", "high_version", "low_version",
    "high_accepted", "low_accepted", "pair_high_level", "pair_low_level", "pair_direction",
    "pair_version", "last_confirmed_pivot_type",
)
_SWING_LEVELS = frozenset({"high", "low", "high_idx", "low_idx", "pair_high_level",
                           "pair_low_level"})
TREND_OUTPUTS: tuple[str, ...] = (
    "direction", "strength", "bars_in_trend", "wave_count", "last_wave_direction", "last_hh",
    "last_hl", "last_lh", "last_ll", "version",
)
MS_OUTPUTS: tuple[str, ...] = (
    "bos", "choch", "level", "bias", "bos_this_bar", "choch_this_bar", "bos_direction",
    "choch_direction", "last_bos_idx", "last_bos_level", "last_choch_idx", "last_choch_level",
    "break_level_high", "break_level_low", "version",
)
_SWING_P = (
    _int("left", 5, doc="bars before the pivot it must exceed"),
    _int("right", 5, doc="bars after the pivot; it is reported only once they closed"),
)
_EQUAL_RIGHT = ParamSpec(
    "equal_right", "bool", False,
    doc="also a pivot when a later bar equals it (a double top); TRADE's default: strictly "
    "beyond every bar",
)
_add(
    "swing",
    (*_SWING_P, _EQUAL_RIGHT),
    _HL,
    lambda p: _k.KSwing(int(p["left"]), int(p["right"]), bool(p["equal_right"])),
    lambda p: tuple(  # counters and flags start at 0 on the first bar; levels wait for a pivot
        int(p["left"]) + int(p["right"]) if o in _SWING_LEVELS else 0 for o in SWING_OUTPUTS
    ),
    "Pivot highs/lows: high strictly above the `left` highs before and the `right` highs "
    "after (TRADE's rule; with equal_right, not below them), mirror for lows, reported "
    "`right` bars later. Outputs carry the latest "
    "confirmed pivot price and its bar index (from the first bar fed; NaN until one exists), "
    "version / high_version / low_version (confirmed pivots so far), high_accepted / "
    "low_accepted (1 on the bar a pivot is confirmed), the latest completed high/low pair "
    "(pair_high_level, pair_low_level; pair_direction +1 when its low came first, -1 when "
    "its high did; pair_version) and last_confirmed_pivot_type (+1 high, -1 low, 0 none).",
    outputs=SWING_OUTPUTS,
    kind="structure",
)
TREND_METHODS: tuple[str, ...] = ("waves", "pivots")
_add(
    "trend",
    (*_SWING_P, _EQUAL_RIGHT,
     ParamSpec("method", "str", "waves", choices=TREND_METHODS,
               doc="waves: TRADE's wave-based trend (default); pivots: trade's earlier "
               "reading, the latest high and low compared with the ones before them"),
     ParamSpec("wave_history_size", "int", 4, min=1, max=64,
               doc="waves kept for the strength count (TRADE's wave_history_size; "
               "method waves only)")),
    _HL,
    lambda p: _k.KTrend(int(p["left"]), int(p["right"]), bool(p["equal_right"]),
                        TREND_METHODS.index(str(p["method"])), int(p["wave_history_size"])),
    _same(len(TREND_OUTPUTS), lambda p: 0),
    "Direction from swing pivots. method waves (TRADE's, the default): pivots form "
    "alternating waves (low to high bullish, high to low bearish; a second pivot of the "
    "pending kind only moves that end further out) whose ends are compared with the "
    "previous pivot of their kind; the newest wave and the one before decide +1 / -1 / 0 "
    "(higher high and higher low up, lower high and lower low down, then the partial "
    "rules), one wave alone its own direction; strength 2 when the wave pair before agrees "
    "too, 1 otherwise, 0 with a single wave; wave_count = agreeing pairs (1 with one wave, 0 "
    "when ranging); last_wave_direction = +1 bullish / -1 bearish / 0 none yet; "
    "last_hh/last_hl/last_lh/last_ll = how the latest wave end of that kind compared. "
    "method pivots: +1 after a higher high and a higher low, -1 after a lower high and lower "
    "low, else 0; strength = consecutive agreeing pivots (wave_count: the same run whatever "
    "the direction); last_wave_direction = +1 when the latest pivot is a high, -1 a low; "
    "last_hh.. = how the latest high/low compared. Both: bars_in_trend = bars since the "
    "direction last changed (0 on that bar); version counts direction changes.",
    outputs=TREND_OUTPUTS,
    kind="structure",
)
MS_ANCHORS: tuple[str, ...] = ("latest", "bos")
_add(
    "market_structure",
    (*_SWING_P, ParamSpec("confirmation_close", "bool", True,
                          doc="true (TRADE's default): the close must break the level; "
                          "false: the high/low (a wick) is enough"),
     _EQUAL_RIGHT,
     ParamSpec("choch_anchor", "str", "bos", choices=MS_ANCHORS,
               doc="bos (TRADE's): a CHoCH breaks the opposing swing of the moment of the "
               "last BOS or CHoCH; latest: the latest unbroken swing against the bias, "
               "trade's earlier rule")),
    _HLC,
    lambda p: _k.KMarketStructure(int(p["left"]), int(p["right"]),
                                  bool(p["confirmation_close"]), bool(p["equal_right"]),
                                  MS_ANCHORS.index(str(p["choch_anchor"]))),
    lambda p: (0,) * len(MS_OUTPUTS),
    "Breaks of swing levels by the close (with confirmation_close false, by the high/low), "
    "TRADE's state machine: with a bias, a break against it is checked first and is a choch "
    "(+1/-1, the bias turns), else a break with it a bos; with no bias yet the first break "
    "(up before down) is a bos. At most one event per bar. A bos breaks the latest swing "
    "level on its side, which then waits for a new pivot there. A choch breaks, with "
    "choch_anchor bos (default), the opposing swing as it was at the last bos or choch (TRADE "
    "sets it on a bos only, so its bias cannot turn back after a choch until a new bos; ours "
    "can), with latest, the latest unbroken swing level against the bias. level = the most "
    "recently broken level (NaN before the first break). bias = the direction of the last "
    "break; bos_this_bar / choch_this_bar = 1 on an event bar; bos_direction / "
    "choch_direction = the direction of the last BOS / CHoCH (sticky); last_bos_idx/level, "
    "last_choch_idx/level; break_level_high/low = the levels a bos would break; version "
    "counts events.",
    outputs=MS_OUTPUTS,
    kind="structure",
)

# ------------------------------------------------- added for TRADE's dialect
_add(
    "midprice",
    (_length(14),),
    _HL,
    lambda p: _k.KMidprice(_n(p)),
    _one(lambda p: _n(p) - 1),
    "(highest high + lowest low) / 2 over the window (TA-Lib MIDPRICE).",
)
_add(
    "ohlc4",
    (),
    ("open", "high", "low", "close"),
    lambda p: _k.KSma(1, SOURCE_CODE["ohlc4"]),
    _one(lambda p: 0),
    "(open + high + low + close) / 4 of the bar.",
)
_add(
    "dm",
    (_length(14),),
    _HL,
    lambda p: _k.KDm(_n(p)),
    _same(2, lambda p: _n(p) - 1),
    "Directional movement +DM / -DM, Wilder sums (TA-Lib PLUS_DM, MINUS_DM).",
    outputs=("dmp", "dmn"),
)
_add(
    "uo",
    (_int("fast", 7), _int("medium", 14), _int("slow", 28)),
    _HLC,
    lambda p: _k.KUo(int(p["fast"]), int(p["medium"]), int(p["slow"])),
    _one(lambda p: max(int(p["fast"]), int(p["medium"]), int(p["slow"]))),
    "Ultimate oscillator, weights 4/2/1 on the fast/medium/slow windows (TA-Lib ULTOSC).",
)
_add(
    "kvo",
    (_int("fast", 34), _int("slow", 55), _int("signal", 13)),
    (*_HLC, "volume"),
    lambda p: _k.KKvo(int(p["fast"]), int(p["slow"]), int(p["signal"])),
    lambda p: (
        max(int(p["fast"]), int(p["slow"])) - 1,
        max(int(p["fast"]), int(p["slow"])) + int(p["signal"]) - 2,
    ),
    "Klinger volume oscillator (pandas-ta form): EMA(fast) - EMA(slow) of the volume signed "
    "by the hlc3 change; signal = EMA(signal) of it.",
    outputs=("kvo", "signal"),
)
_add(
    "rolling_window",
    (
        _int("size", 20, doc="window length in bars"),
        ParamSpec("mode", "str", "max", choices=("min", "max"), doc="lowest or highest"),
        _src("high"),
        ParamSpec("full_window", "bool", False,
                  doc="NaN until `size` bars have closed (false, TRADE's: a value from the "
                  "first bar, over the bars so far)"),
    ),
    ("high",),
    lambda p: _k.KRolling(int(p["size"]), str(p["mode"]) == "max", _s(p),
                          not p["full_window"]),
    _one(lambda p: int(p["size"]) - 1 if p["full_window"] else 0),
    "Lowest or highest value of the source over the last `size` bars (TRADE's "
    "rolling_window: over the bars so far until `size` have closed; full_window: true "
    "waits, as rolling_min / rolling_max do).",
    kind="structure",
)

_add(
    "session_levels",
    (),
    ("ts", "high", "low"),
    lambda p: _k.KSessionLevels(),
    _same(6, lambda p: 0),
    "Previous and running UTC-day high/low and the previous ISO week's (Monday) high/low; a "
    "bar counts in the day of its open time; previous levels are NaN until a day (week) has "
    "passed.",
    outputs=("prev_day_high", "prev_day_low", "current_day_high", "current_day_low",
             "prev_week_high", "prev_week_low"),
)
ANCHOR_SOURCES: tuple[str, ...] = (
    "swing_high", "swing_low", "swing_any", "pair_high", "pair_low", "pair_any",
)
_SWING_OF = (
    _int("left", 5, doc="swing pivots: bars before (taken from the Play's swing when omitted)"),
    _int("right", 5, doc="swing pivots: bars after (taken from the Play's swing when omitted)"),
)
_add(
    "anchored_vwap",
    (
        ParamSpec("anchor_source", "str", "swing_any", choices=ANCHOR_SOURCES,
                  doc="the swing event that restarts it"),
        *_SWING_OF,
    ),
    ("high", "low", "close", "volume"),
    lambda p: _k.KAnchoredVwap(ANCHOR_SOURCES.index(str(p["anchor_source"])), int(p["left"]),
                               int(p["right"])),
    _same(2, lambda p: 0),
    "VWAP of hlc3 restarted on the bar a swing event is confirmed (swing_high / swing_low / "
    "swing_any pivots; pair_high / pair_low / pair_any completed high-low pairs ending on a "
    "high / a low / either); bars_since_anchor = 1 on that bar. NaN while no volume.",
    outputs=("value", "bars_since_anchor"),
)
_VP_P = (
    _int("num_buckets", 50, doc="price buckets"),
    _int("lookback", 50, doc="bars in the window"),
    _float("value_area_pct", 0.70, 0.0, 1.0, "share of the volume in the value area"),
)
_VP_OUT = ("poc", "vah", "val", "poc_volume", "above_poc", "in_value_area")
_add(
    "volume_profile",
    _VP_P,
    ("high", "low", "close", "volume"),
    lambda p: _k.KVolumeProfile(int(p["num_buckets"]), int(p["lookback"]),
                                float(p["value_area_pct"])),
    _same(6, lambda p: int(p["lookback"]) - 1),
    "Volume by price over the last `lookback` bars: poc (centre of the fullest of "
    "`num_buckets` equal buckets between the window's low and high; each bar's volume spread "
    "over the buckets its range covers), value area vah/val grown from the poc toward the "
    "fuller neighbour until it holds value_area_pct of the volume; above_poc / in_value_area "
    "= 1 when the close is. O(lookback x buckets) per bar.",
    outputs=_VP_OUT,
)
_add(
    "anchored_volume_profile",
    (*_VP_P, *_SWING_OF),
    ("high", "low", "close", "volume"),
    lambda p: _k.KVolumeProfile(int(p["num_buckets"]), int(p["lookback"]),
                                float(p["value_area_pct"]), True, int(p["left"]),
                                int(p["right"])),
    _same(7, lambda p: 0),
    "volume_profile over the bars since the last completed swing pair (at most `lookback`); "
    "bars_since_anchor counts them.",
    outputs=(*_VP_OUT, "bars_since_anchor"),
)

# -------------------------------------------- TRADE's structure detectors (uses: swing)
def _level_name(ratio: float) -> str:
    """`level[0.618]`: a Fibonacci output, the ratio in its shortest form (1.0 -> `level[1]`)."""
    return f"level[{ratio:g}]"


FIB_MODES: tuple[str, ...] = ("retracement", "extension", "extension_up", "extension_down")
_FIB_FIXED = ("anchor_high", "anchor_low", "range", "anchor_direction", "anchor_trend_direction")


def _fib_outputs(p: Mapping[str, Any]) -> tuple[str, ...]:
    return (*(_level_name(float(r)) for r in p["levels"]), *_FIB_FIXED)


def _fib_check(p: Mapping[str, Any]) -> str | None:
    if p["use_trend_anchor"] and p["use_paired_anchor"]:
        return ("use_trend_anchor and use_paired_anchor exclude each other "
                "(set use_paired_anchor: false)")
    if p["mode"] == "extension" and not (p["use_paired_anchor"] or p["use_trend_anchor"]):
        return "mode extension needs a paired or trend anchor (its direction)"
    names = [_level_name(float(r)) for r in p["levels"]]
    if len(set(names)) != len(names):
        return "levels repeat a ratio"
    return None


def _fib_anchor(p: Params) -> int:
    return 2 if p["use_trend_anchor"] else (0 if p["use_paired_anchor"] else 1)


_add(
    "fibonacci",
    (
        ParamSpec("levels", "floats", (0.382, 0.5, 0.618), doc="Fibonacci ratios"),
        ParamSpec("mode", "str", "retracement", choices=FIB_MODES,
                  doc="retracement: high - r x range; extension: beyond the anchor in its "
                  "direction; extension_up / extension_down: above the high / below the low"),
        ParamSpec("use_paired_anchor", "bool", True,
                  doc="anchor on the latest completed swing pair (else the latest high and low)"),
        ParamSpec("use_trend_anchor", "bool", False,
                  doc="anchor on the latest pair while the trend has a direction"),
        *_SWING_P,
    ),
    _HL,
    lambda p: _k.KFibonacci(tuple(p["levels"]), FIB_MODES.index(str(p["mode"])), _fib_anchor(p),
                            int(p["left"]), int(p["right"])),
    lambda p: (0,) * (len(p["levels"]) + len(_FIB_FIXED)),
    "Fibonacci levels from swing anchors (TRADE's fibonacci); `fib.level[0.618]` reads a "
    "level; anchor_direction +1 bullish (low then high) / -1 bearish; NaN until an anchor.",
    outputs=("anchor_high", "anchor_low", "range", "anchor_direction",
             "anchor_trend_direction"),
    kind="structure",
    dynamic_outputs=_fib_outputs,
    check=_fib_check,
)
_add(
    "premium_discount",
    _SWING_P,
    _HLC,
    lambda p: _k.KPremiumDiscount(int(p["left"]), int(p["right"])),
    _same(6, lambda p: 0),
    "Where the close sits in the latest swing pair: zone +1 premium (>= 75 %), -1 discount "
    "(<= 25 %), 2 equilibrium, 0 none (string literals premium/discount/equilibrium/none "
    "compare with it); equilibrium / premium_level / discount_level; depth_pct 0..1.",
    outputs=("equilibrium", "premium_level", "discount_level", "zone", "depth_pct", "version"),
    kind="structure",
)
_ATR_LEN = _int("atr_length", 14, doc="ATR window (from the Play's atr feature named by atr_key)")
_add(
    "displacement",
    (_ATR_LEN, _float("body_atr_min", 1.5, 0.0, 1000.0, "body at least this many ATRs"),
     _float("wick_ratio_max", 0.4, 0.0, 1000.0, "wicks at most this share of the body")),
    ("open", "high", "low", "close"),
    lambda p: _k.KDisplacement(int(p["atr_length"]), float(p["body_atr_min"]),
                               float(p["wick_ratio_max"])),
    lambda p: (0, 0, int(p["atr_length"]), int(p["atr_length"]), 0, 0, 0),
    "An impulsive candle: is_displacement / direction (+1 up, -1 down) on it, body_atr_ratio "
    "and wick_ratio of each bar once the ATR exists (a doji: 0 and inf), last_idx / "
    "last_direction of the latest, version.",
    outputs=("is_displacement", "direction", "body_atr_ratio", "wick_ratio", "last_idx",
             "last_direction", "version"),
    kind="structure",
)
_add(
    "liquidity_zones",
    (
        *_SWING_P, _ATR_LEN,
        _float("tolerance_atr", 0.3, 0.0, 1000.0, "cluster width in ATRs"),
        _float("sweep_atr", 0.1, 0.0, 1000.0, "penetration beyond a zone that sweeps it"),
        _int("min_touches", 2, doc="pivots that make a zone"),
        _int("max_active", 5, doc="zones kept per side"),
        _int("max_swing_history", 20, doc="pivots per side considered for clustering"),
    ),
    _HLC,
    lambda p: _k.KLiquidityZones(int(p["left"]), int(p["right"]), int(p["atr_length"]),
                                 float(p["tolerance_atr"]), float(p["sweep_atr"]),
                                 int(p["min_touches"]), int(p["max_active"]),
                                 int(p["max_swing_history"])),
    _same(9, lambda p: 0),
    "Clustered swing highs/lows as liquidity pools, and their sweeps: new_zone_this_bar, "
    "sweep_this_bar, sweep_direction (+1 highs swept: bearish, -1 lows: bullish), "
    "swept_level, nearest_high_level / nearest_low_level and their touches, version.",
    outputs=("new_zone_this_bar", "sweep_this_bar", "sweep_direction", "swept_level",
             "nearest_high_level", "nearest_low_level", "nearest_high_touches",
             "nearest_low_touches", "version"),
    kind="structure",
)

_add(
    "zone",
    (
        *_SWING_P,
        ParamSpec("zone_type", "str", "demand", choices=("demand", "supply"),
                  doc="demand: below a swing low; supply: above a swing high"),
        _float("width_atr", 1.0, 0.0, 1000.0, "zone width in ATRs"),
        _ATR_LEN,
    ),
    _HLC,
    lambda p: _k.KZone(int(p["left"]), int(p["right"]), str(p["zone_type"]) == "supply",
                       float(p["width_atr"]), int(p["atr_length"])),
    _same(5, lambda p: 0),
    "A demand/supply zone from the latest swing low/high, width_atr x ATR wide: state 0 none "
    "/ 1 active / 2 broken (a close beyond its far edge; the literals none/active/broken "
    "compare with it), upper, lower, anchor_idx, version.",
    outputs=("state", "upper", "lower", "anchor_idx", "version"),
    kind="structure",
)
_add(
    "fair_value_gap",
    (_ATR_LEN, _float("min_gap_atr", 0.0, 0.0, 1000.0, "smallest gap, in ATRs (0: any)"),
     _int("max_active", 5, doc="gaps kept")),
    _HLC,
    lambda p: _k.KFairValueGap(int(p["atr_length"]), float(p["min_gap_atr"]),
                               int(p["max_active"])),
    _same(14, lambda p: 0),
    "Three-candle imbalances: new_this_bar / new_direction / new_upper / new_lower, the "
    "nearest active bullish and bearish gaps, active counts, any_mitigated_this_bar (half "
    "filled), version, and nearest_bull_fill_pct / nearest_bear_fill_pct (how much of the "
    "nearest gap of each side has been filled, 0..100; NaN without one).",
    outputs=("new_this_bar", "new_direction", "new_upper", "new_lower", "nearest_bull_upper",
             "nearest_bull_lower", "nearest_bear_upper", "nearest_bear_lower",
             "active_bull_count", "active_bear_count", "any_mitigated_this_bar", "version",
             "nearest_bull_fill_pct", "nearest_bear_fill_pct"),
    kind="structure",
)

_DZ_SLOT = ("lower", "upper", "state", "touched_this_bar", "inside", "touch_count", "age_bars",
            "anchor_idx", "last_touch_age")
_DZ_AGG = ("active_count", "any_active", "any_touched", "any_inside", "first_active_lower",
           "first_active_upper", "first_active_idx", "newest_active_idx", "source_version")


def _dz_outputs(p: Mapping[str, Any]) -> tuple[str, ...]:
    slots = (f"zone[{i}].{f}" for i in range(int(p["max_active"])) for f in _DZ_SLOT)
    return (*slots, *_DZ_AGG)


_add(
    "derived_zone",
    (
        ParamSpec("levels", "floats", (0.382, 0.5, 0.618), doc="Fibonacci ratios"),
        ParamSpec("mode", "str", "retracement", choices=("retracement", "extension"),
                  doc="centre = high - r x range, or high + r x range"),
        ParamSpec("max_active", "int", 5, 1.0, 6.0, doc="zone slots (at most 6)"),
        _float("width_pct", 0.002, 0.0, 1.0, "zone width as a fraction of its centre"),
        ParamSpec("use_paired_source", "bool", True,
                  doc="anchor on completed swing pairs (else the latest high and low)"),
        _float("break_tolerance_pct", 0.001, 0.0, 1.0,
               "how far beyond a zone (a fraction of its edge) the close breaks it"),
        *_SWING_P,
    ),
    _HLC,
    lambda p: _k.KDerivedZone(tuple(p["levels"]), 0 if p["mode"] == "retracement" else 1,
                              int(p["max_active"]), float(p["width_pct"]),
                              bool(p["use_paired_source"]), float(p["break_tolerance_pct"]),
                              int(p["left"]), int(p["right"])),
    lambda p: (0,) * (len(_DZ_SLOT) * int(p["max_active"]) + len(_DZ_AGG)),
    "Zones around Fibonacci levels of each new swing anchor, newest first in `max_active` "
    "slots: `zones.zone[0].state` (0 none, 1 active, 2 broken; literals compare), lower, "
    "upper, touched_this_bar, inside, touch_count, age_bars, anchor_idx, last_touch_age (-1 "
    "never touched); aggregates active_count, any_active, any_touched, any_inside, "
    "first_active_lower/upper, first_active_idx / newest_active_idx (the first active "
    "slot), source_version.",
    outputs=_DZ_AGG,
    kind="structure",
    dynamic_outputs=_dz_outputs,
)

_OB_P = (
    _ATR_LEN,
    ParamSpec("use_body", "bool", True, doc="the block is the candle's body (else its range)"),
    _float("body_atr_min", 1.5, 0.0, 1000.0, "displacement: body at least this many ATRs"),
    _float("wick_ratio_max", 0.4, 0.0, 1000.0, "displacement: wicks at most this share of body"),
    _int("lookback", 3, doc="bars searched (plus 2) for the opposing candle"),
    _int("max_active", 5, doc="blocks kept"),
)
_ZONE_OUT = ("new_this_bar", "new_direction", "new_upper", "new_lower", "nearest_bull_upper",
             "nearest_bull_lower", "nearest_bear_upper", "nearest_bear_lower",
             "active_bull_count", "active_bear_count", "any_mitigated_this_bar")


def _ob_check(p: Mapping[str, Any]) -> str | None:
    if not p.get("require_displacement", True):
        return "require_displacement: false is not supported (a block needs a displacement)"
    return None


_add(
    "order_block",
    (*_OB_P, ParamSpec("require_displacement", "bool", True,
                       doc="must be true: a block is made by a displacement")),
    ("open", "high", "low", "close"),
    lambda p: _k.KOrderBlock(int(p["atr_length"]), bool(p["use_body"]), float(p["body_atr_min"]),
                             float(p["wick_ratio_max"]), int(p["max_active"]),
                             int(p["lookback"])),
    _same(16, lambda p: 0),
    "The last opposing candle before a displacement, kept until price returns into it "
    "(mitigated) or closes beyond it (invalidated): new_* on a new block, nearest active "
    "bullish / bearish blocks, active counts, any_mitigated_this_bar, "
    "any_invalidated_this_bar, last_invalidated_direction/upper/lower, version.",
    outputs=(*_ZONE_OUT, "any_invalidated_this_bar", "last_invalidated_direction",
             "last_invalidated_upper", "last_invalidated_lower", "version"),
    kind="structure",
    check=_ob_check,
)
_add(
    "breaker_block",
    (*_OB_P, *_SWING_P, ParamSpec("confirmation_close", "bool", False,
                                  doc="the market structure's: true, a close must break; "
                                  "false (TRADE's default), a wick is enough")),
    ("open", "high", "low", "close"),
    lambda p: _k.KBreakerBlock(int(p["atr_length"]), bool(p["use_body"]),
                               float(p["body_atr_min"]), float(p["wick_ratio_max"]),
                               int(p["lookback"]), int(p["max_active"]), int(p["left"]),
                               int(p["right"]), bool(p["confirmation_close"])),
    _same(12, lambda p: 0),
    "Order blocks invalidated on a CHoCH bar, flipped (bullish block -> bearish breaker): "
    "outputs as fair_value_gap's. Uses the order_block's and market_structure's parameters.",
    outputs=(*_ZONE_OUT, "version"),
    kind="structure",
)

ENTRIES: dict[str, Entry] = dict(_ENTRIES)
REGISTRY: dict[str, IndicatorSpec] = {name: e.spec for name, e in ENTRIES.items()}
