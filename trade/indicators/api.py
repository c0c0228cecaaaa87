"""The indicator facade: look up, validate parameters, compute in batch or one bar at a time.

`Incremental.update` runs an indicator's compiled `step` one bar at a time; `compute` runs
its batch loop, built from the same per-bar functions, so a stream of `update` calls gives
bit-identical values to `compute` over the same bars.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from trade.core.errors import InputError
from trade.indicators.registry import ENTRIES, REGISTRY, SOURCE_FIELDS, Entry
from trade.indicators.spec import IndicatorSpec, ParamSpec

F64 = npt.NDArray[np.float64]
BAR_FIELDS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def _entry(name: str) -> Entry:
    try:
        return ENTRIES[name]
    except KeyError:
        raise KeyError(f"unknown indicator '{name}'{_suggest(name, sorted(ENTRIES))}") from None


def get_spec(name: str) -> IndicatorSpec:
    """The spec of `name`; KeyError with a did-you-mean suggestion for near-misses."""
    return _entry(name).spec


ParamValue = int | float | str | bool | tuple[float, ...]


def _check_value(ind: str, p: ParamSpec, value: Any) -> ParamValue:
    where = f"indicator '{ind}' param '{p.name}'"
    if p.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: expected an integer, found {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise InputError(f"{where}: expected an integer, found {value!r}")
        out: int | float | str | bool = int(value)
    elif p.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: expected a number, found {value!r}")
        out = float(value)
        if out != out:
            raise InputError(f"{where}: expected a number, found NaN")
    elif p.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true/false, found {value!r}")
        out = value
    elif p.kind == "floats":
        if not isinstance(value, list | tuple) or not value or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in value):
            raise InputError(f"{where}: expected a non-empty list of numbers, found {value!r}")
        return tuple(float(x) for x in value)
    else:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, found {value!r}")
        if p.choices and value not in p.choices:
            raise InputError(
                f"{where}: expected one of {', '.join(p.choices)}, found {value!r}"
                f"{_suggest(value, list(p.choices))}"
            )
        out = value
    if isinstance(out, int | float) and not isinstance(out, bool):
        if p.min is not None and out < p.min:
            raise InputError(f"{where}: must be >= {p.min:g}, found {out!r}")
        if p.max is not None and out > p.max:
            raise InputError(f"{where}: must be <= {p.max:g}, found {out!r}")
    return out


def resolve_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate `params` against the spec and fill in defaults."""
    spec = get_spec(name)
    given = dict(params or {})
    known = [p.name for p in spec.params]
    for key in given:
        if key not in known:
            raise InputError(
                f"indicator '{name}': unknown param '{key}'{_suggest(key, known)}"
                f" (expected: {', '.join(known) or 'none'})"
            )
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in given:
            out[p.name] = _check_value(name, p, given[p.name])
        elif p.required:
            raise InputError(f"indicator '{name}': missing required param '{p.name}'")
        else:
            out[p.name] = p.default
    problem = spec.check(out) if spec.check is not None else None
    if problem:
        raise InputError(f"indicator '{name}': {problem}")
    return out


def outputs_for(name: str, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Output names of `name` with these parameters (most indicators: fixed)."""
    return get_spec(name).outputs_for(resolve_params(name, params))


def warmups(name: str, params: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """Bars before each output's first value, in spec output order."""
    return _entry(name).warmups(resolve_params(name, params))


def warmup(name: str, params: Mapping[str, Any] | None = None) -> int:
    """Bars before every output has a value (the largest per-output warm-up)."""
    return max(warmups(name, params))


def required_inputs(name: str, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Bar fields `compute` needs for these params (spec inputs, or the chosen source's)."""
    spec = get_spec(name)
    p = resolve_params(name, params)
    if "source" in p:
        # single-series indicators read the chosen source instead of their default input
        fields: set[str] = set(SOURCE_FIELDS[str(p["source"])])
        return tuple(f for f in BAR_FIELDS if f in fields)
    return tuple(f for f in BAR_FIELDS if f in spec.inputs)


class Incremental:
    """One indicator fed one closed bar at a time (paper, demo and live)."""

    __slots__ = ("_kernel", "name", "outputs", "params", "warmup")

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        entry = _entry(name)
        self.name = name
        self.params = resolve_params(name, params)
        self.outputs: tuple[str, ...] = entry.spec.outputs_for(self.params)
        self.warmup = max(entry.warmups(self.params))
        self._kernel = entry.factory(self.params)

    def update(
        self, ts: float, open: float, high: float, low: float, close: float, volume: float
    ) -> tuple[float, ...]:
        """Consume one closed bar; one value per output, in spec order (NaN in warm-up)."""
        result: tuple[float, ...] = self._kernel.update(ts, open, high, low, close, volume)
        return result


def make_incremental(name: str, params: Mapping[str, Any] | None = None) -> Incremental:
    return Incremental(name, params)


def compute(name: str, params: Mapping[str, Any] | None, bars: Mapping[str, Any]) -> dict[str, F64]:
    """Batch form over whole arrays keyed open/high/low/close/volume/ts.

    Returns one float64 array per output (same length as the bars, NaN in warm-up).
    """
    entry = _entry(name)
    p = resolve_params(name, params)
    need = required_inputs(name, p)
    n: int | None = None
    arrays: dict[str, F64] = {}
    for field in BAR_FIELDS:
        if field not in bars:
            if field in need:
                raise InputError(f"indicator '{name}': bars lack the '{field}' field it reads")
            continue
        arr = np.ascontiguousarray(bars[field], dtype=np.float64)
        if arr.ndim != 1:
            raise InputError(f"indicator '{name}': bars field '{field}' must be 1-D")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise InputError(
                f"indicator '{name}': bars field '{field}' has {arr.shape[0]} rows, expected {n}"
            )
        arrays[field] = arr
    if n is None:
        raise InputError(f"indicator '{name}': no bar arrays given")
    # a field the indicator does not read may be absent: the kernel gets NaN there
    if len(arrays) < len(BAR_FIELDS):
        nan = np.full(n, np.nan)
        cols = [arrays.get(f, nan) for f in BAR_FIELDS]
    else:
        cols = [arrays[f] for f in BAR_FIELDS]
    kernel = entry.factory(p)
    # one array per output (Kernel.run's single (n_out, n) block costs fresh pages when large)
    out: tuple[F64, ...] = kernel.run_columns(*cols)
    return {field: out[j] for j, field in enumerate(entry.spec.outputs_for(p))}


__all__ = [
    "REGISTRY",
    "Incremental",
    "compute",
    "get_spec",
    "make_incremental",
    "outputs_for",
    "required_inputs",
    "resolve_params",
    "warmup",
    "warmups",
]
