"""TRADE's spellings of indicator names, parameters, outputs and enum values, as aliases of ours.

A Play written for TRADE (the Bybit system `trade` replaces) names things the way pandas-ta
does: `supertrend: {multiplier: 3}`, `macd.histogram`, `adx.dmp`, `ms.bos_direction ==
"bullish"`. These tables map each of those spellings to the one definition here, so such a
Play loads unchanged and means the same. They are module-level mappings so the Play reference
(docs/play_reference.md) can be generated from them; the Play loader is their only consumer.

Rules:
* An alias never shadows one of our own names for the same indicator (checked at import).
* Translating a parameter or output is a rename only; where a TRADE parameter has no exact
  counterpart the loader refuses it with a reason rather than approximating.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from trade.indicators.registry import REGISTRY

#: Indicator (or structure type) names -> ours.
NAME_ALIASES: Mapping[str, str] = MappingProxyType({
    "kc": "keltner",
})

#: Per indicator: TRADE's parameter name -> ours.
PARAM_ALIASES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "supertrend": {"multiplier": "mult"},
    "donchian": {"upper_length": "length"},  # lower_length is ours too
    "stoch": {"k": "k_length", "d": "d_length", "smooth_k": "k_smooth"},
    "stochrsi": {"length": "stoch_length", "k": "k_smooth", "d": "d_length"},
    "psar": {"af0": "initial", "af": "accel", "max_af": "maximum"},
    "squeeze": {"bb_std": "bb_mult", "kc_scalar": "kc_mult"},
    "tsi": {"fast": "short_length", "slow": "long_length", "short": "short_length",
            "long": "long_length"},
    "keltner": {"scalar": "mult", "multiplier": "mult"},
    "uo": {"short": "fast", "long": "slow"},  # `medium` is ours too
    "kvo": {"short_length": "fast", "long_length": "slow"},
    "market_structure": {},
    "swing": {},
})

#: Per indicator: TRADE's output name -> ours (`macd.histogram` reads `macd.hist`).
OUTPUT_ALIASES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "macd": {"histogram": "hist"},
    "ppo": {"histogram": "hist"},
    "adx": {"dmp": "plus_di", "dmn": "minus_di"},
    "vortex": {"vip": "plus", "vim": "minus"},
    "squeeze": {"sqz": "momentum"},
    "supertrend": {"trend": "value"},
    "keltner": {"basis": "middle"},
    "trix": {"trix": "value"},
    "swing": {"high_level": "high", "low_level": "low"},
})

#: Per indicator with several outputs and no `value` line: the output a bare reference reads.
#: TRADE lets a condition name such an indicator without a field (`["adx_14", ">", 25]`) and
#: reads its primary output; these are TRADE's primaries, in our output names. Indicators
#: with a `value` output (supertrend, psar, trix, ...) read `value` when bare, as before.
PRIMARY_OUTPUTS: Mapping[str, str] = MappingProxyType({
    "macd": "macd", "ppo": "ppo", "bbands": "middle", "stoch": "k", "stochrsi": "k",
    "adx": "adx", "aroon": "osc", "keltner": "middle", "donchian": "middle",
    "squeeze": "momentum", "vortex": "plus", "dm": "dmp", "fisher": "fisher", "tsi": "tsi",
    "kvo": "kvo",
})

_DIRECTION = {"bullish": 1, "bearish": -1, "none": 0, "": 0}

#: Enum outputs: the string literals a condition may compare them with, and their codes.
#: `["ms.bos_direction", "==", "bullish"]` compiles to `ms.bos_direction == 1`.
ENUM_VALUES: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "bos_direction": _DIRECTION,
    "choch_direction": _DIRECTION,
    "pair_direction": _DIRECTION,
    "last_wave_direction": _DIRECTION,
    "anchor_direction": _DIRECTION,
    "direction": _DIRECTION,
    "new_direction": _DIRECTION,
    "last_direction": _DIRECTION,
    "last_invalidated_direction": _DIRECTION,
    "bias": _DIRECTION,
    "last_confirmed_pivot_type": {"high": 1, "low": -1, "none": 0},
    "state": {"none": 0, "active": 1, "broken": 2},
    "zone": {"none": 0, "discount": -1, "premium": 1, "equilibrium": 2},
})


#: Per indicator: the parameter values that give TRADE's (pandas-ta's) form where it differs
#: from ours (the Play reference, "Where TRADE's indicators differ", explains each). A Play
#: with `indicator_forms: trade` gets these wherever it does not set the parameter itself.
TRADE_FORMS: Mapping[str, Mapping[str, bool | int | float | str]] = MappingProxyType({
    "bbands": {"ddof": 1, "bandwidth_pct": True},
    "keltner": {"style": "pandas_ta"},
    "adx": {"style": "pandas_ta"},
    "stoch": {"flat_k": 50.0},
    "stochrsi": {"flat_k": 50.0},
    "atr": {"first_range": True},
    "natr": {"first_range": True},
    "rsi": {"flat": "mid"},
    "willr": {"flat": "mid"},
    "mfi": {"flat": "mid"},
    "kama": {"style": "pandas_ta"},
    "alma": {"floor_centre": True},
    "psar": {"style": "pandas_ta"},
    "supertrend": {"style": "pandas_ta"},
})


def canonical_name(name: str) -> str:
    """Our indicator name for `name` (itself when it is not an alias)."""
    return NAME_ALIASES.get(name, name)


def param_aliases(indicator: str) -> Mapping[str, str]:
    return PARAM_ALIASES.get(canonical_name(indicator), {})


def output_aliases(indicator: str) -> Mapping[str, str]:
    return OUTPUT_ALIASES.get(canonical_name(indicator), {})


def primary_output(indicator: str) -> str | None:
    """The output a bare reference to `indicator` reads (TRADE's primary), if it has one."""
    return PRIMARY_OUTPUTS.get(canonical_name(indicator))


def _check() -> None:
    for alias, target in NAME_ALIASES.items():
        if target not in REGISTRY or alias in REGISTRY:
            raise RuntimeError(f"bad indicator alias {alias!r} -> {target!r}")
    for table, kind in ((PARAM_ALIASES, "params"), (OUTPUT_ALIASES, "outputs")):
        for ind, mapping in table.items():
            spec = REGISTRY[ind]
            ours = {p.name for p in spec.params} if kind == "params" else set(spec.outputs)
            for alias, target in mapping.items():
                if target not in ours or alias in ours:
                    raise RuntimeError(f"bad {kind} alias {ind}.{alias} -> {target}")
    for ind, forms in TRADE_FORMS.items():
        names = {p.name for p in REGISTRY[ind].params}
        for name in forms:
            if name not in names:
                raise RuntimeError(f"bad TRADE form {ind}.{name}")
    for ind, out in PRIMARY_OUTPUTS.items():
        outs = REGISTRY[ind].outputs
        if out not in outs or "value" in outs:
            raise RuntimeError(f"bad primary output {ind}.{out}")


_check()
