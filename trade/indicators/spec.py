"""What the Play layer may know about an indicator: its parameters, inputs and outputs.

The registry (trade.indicators.registry) maps each indicator name to one
IndicatorSpec. Play validation uses only this module, so it never needs the
compiled code to check a Play.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

InputName = Literal["open", "high", "low", "close", "volume", "ts"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: its type, default, and inclusive bounds (None = unbounded)."""

    name: str
    kind: Literal["int", "float", "str", "bool", "floats"]  # floats: a non-empty list
    default: int | float | str | bool | tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """An indicator as a Play sees it.

    `outputs` lists the field names; a single-output indicator has one output
    named "value", referenced in a Play by the feature id alone (`ema_21`);
    multi-output ones are referenced as `feature.field` (`bb.upper`).
    `kind` is "indicator" or "structure" (swing, trend, market_structure, ...).
    """

    name: str
    params: tuple[ParamSpec, ...]
    inputs: tuple[InputName, ...]
    outputs: tuple[str, ...] = ("value",)
    kind: Literal["indicator", "structure"] = "indicator"
    doc: str = ""
    aliases: tuple[str, ...] = field(default=())
    #: outputs that depend on the parameters (fibonacci's `level[0.618]`); None = `outputs`
    dynamic_outputs: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    #: a check across parameters: the problem in one line, or None when they are consistent
    check: Callable[[Mapping[str, Any]], str | None] | None = None

    def outputs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The outputs of an instance with these (resolved) parameters."""
        if self.dynamic_outputs is None:
            return self.outputs
        return self.dynamic_outputs(params)

    def with_defaults(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` with every omitted parameter at its default (no validation)."""
        out = {p.name: p.default for p in self.params if p.default is not None}
        out.update(params)
        return out

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)
