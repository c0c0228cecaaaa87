"""A small indicator registry built from the IndicatorSpec contract, for Play-layer tests."""

from __future__ import annotations

from trade.indicators.spec import IndicatorSpec, ParamSpec

_LEN = ParamSpec("length", "int", 14, min=1, max=5000)

SPECS = [
    IndicatorSpec("ema", (_LEN,), ("close",)),
    IndicatorSpec("sma", (_LEN,), ("close",)),
    IndicatorSpec("rsi", (_LEN,), ("close",)),
    IndicatorSpec("atr", (_LEN,), ("high", "low", "close")),
    IndicatorSpec("obv", (), ("close", "volume")),
    IndicatorSpec(
        "bbands",
        (ParamSpec("length", "int", 20, min=2), ParamSpec("std", "float", 2.0, min=0.0)),
        ("close",),
        outputs=("lower", "middle", "upper", "bandwidth", "percent_b"),
        aliases=("bb",),
    ),
    IndicatorSpec(
        "macd",
        (
            ParamSpec("fast", "int", 12, min=1),
            ParamSpec("slow", "int", 26, min=1),
            ParamSpec("signal", "int", 9, min=1),
        ),
        ("close",),
        outputs=("macd", "signal", "hist"),
    ),
    IndicatorSpec(
        "supertrend",
        (ParamSpec("length", "int", 10, min=1), ParamSpec("multiplier", "float", 3.0, min=0.0)),
        ("high", "low", "close"),
        outputs=("trend", "direction", "long", "short"),
    ),
    IndicatorSpec(
        "swing",
        (ParamSpec("left", "int", 5, min=1), ParamSpec("right", "int", 5, min=1)),
        ("high", "low"),
        outputs=("high_level", "low_level", "high_idx", "low_idx", "version"),
        kind="structure",
    ),
    IndicatorSpec(
        "trend", (), ("high", "low"), outputs=("direction", "strength", "bars_in_trend"),
        kind="structure",
    ),
    IndicatorSpec(
        "market_structure",
        (ParamSpec("confirmation_close", "bool", False),),
        ("high", "low", "close"),
        outputs=("bias", "bos_this_bar", "choch_this_bar", "break_level_high"),
        kind="structure",
    ),
    IndicatorSpec(
        "rolling_window",
        (
            ParamSpec("mode", "str", None, choices=("min", "max")),
            ParamSpec("size", "int", 20, min=1),
            ParamSpec("source", "str", "close", choices=("open", "high", "low", "close")),
        ),
        ("open", "high", "low", "close"),
        kind="structure",
    ),
]

REGISTRY: dict[str, IndicatorSpec] = {s.name: s for s in SPECS}
