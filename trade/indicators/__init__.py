"""Indicators: a registry of specs and compiled incremental kernels (batch == incremental).

compute(name, params, bars) -> {output: float64 array}
make_incremental(name, params).update(ts, open, high, low, close, volume) -> tuple
get_spec(name), warmup(name, params), warmups(name, params), REGISTRY
"""

from trade.indicators.api import (
    Incremental,
    compute,
    get_spec,
    make_incremental,
    outputs_for,
    required_inputs,
    resolve_params,
    warmup,
    warmups,
)
from trade.indicators.registry import REGISTRY
from trade.indicators.spec import IndicatorSpec, ParamSpec

__all__ = [
    "REGISTRY",
    "Incremental",
    "IndicatorSpec",
    "ParamSpec",
    "compute",
    "get_spec",
    "make_incremental",
    "outputs_for",
    "required_inputs",
    "resolve_params",
    "warmup",
    "warmups",
]
