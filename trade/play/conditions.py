"""Compile raw YAML conditions into the IR (`trade.play.ir`), collecting every error.

Discrete-value rule (`==`, `!=`, `in`): both sides must be discrete. A reference
is discrete when its output is integer-valued by definition: the output names in
`DISCRETE_OUTPUTS` (trend/market-structure directions and flags, counters,
indices, squeeze on/off). A literal is discrete when it is an integer (`1`,
`-1`, `0`; `1.0` counts). Prices, indicator values, builtins (`close`,
`volume`, ...) and arithmetic results are continuous: compare them with
`> < >= <=`, `between` or `near_pct` / `near_abs` instead of `==`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from trade.indicators.aliases import ENUM_VALUES
from trade.play.errors import PlayIssue, one_of, suggest
from trade.play.ir import (
    BUILTINS,
    All,
    AnyOf,
    Arith,
    ArithOp,
    Between,
    Compare,
    CompareOp,
    Const,
    Cross,
    Expr,
    In,
    Literal_,
    Near,
    Node,
    Not,
    Ref,
    Setup,
    Window,
)
from trade.play.timeframes import parse_duration_ms
from trade.play.yamlsrc import PathKey, SourceMap

#: Output names that are integer-valued, so `==` / `!=` / `in` may compare them.
DISCRETE_OUTPUTS: frozenset[str] = frozenset(
    {
        "direction", "bias", "strength", "bars_in_trend", "wave_count", "last_wave_direction",
        "bos_this_bar", "choch_this_bar", "bos_direction", "choch_direction",
        "pair_direction", "version", "pair_version", "high_idx", "low_idx",
        "last_bos_idx", "last_choch_idx", "anchor_idx", "state", "reversal",
        "sqz", "on", "off", "no_sqz", "is_high", "is_low", "new_high", "new_low",
        "active_count", "any_active", "any_touched", "any_inside", "signal_direction",
        "bos", "choch", "high_version", "low_version", "high_accepted", "low_accepted",
        "last_confirmed_pivot_type", "last_hh", "last_hl", "last_lh", "last_ll", "zone",
        "new_this_bar", "new_direction", "is_displacement", "last_direction", "last_idx",
        "last_invalidated_direction",
        "active_bull_count", "active_bear_count", "any_mitigated_this_bar",
        "any_invalidated_this_bar", "sweep_this_bar", "sweep_direction", "new_zone_this_bar",
        "nearest_high_touches", "nearest_low_touches", "anchor_direction", "touched_this_bar",
        "inside", "touch_count", "above_poc", "in_value_area", "bars_since_anchor",
        "anchor_trend_direction",
    }
)

#: TRADE builtins a condition cannot read yet, and what to do instead
NOT_YET_BUILTINS: dict[str, str] = {}

COMPARE_OPS: dict[str, CompareOp] = {
    ">": ">", "<": "<", ">=": ">=", "<=": "<=", "==": "==", "!=": "!=",
    "gt": ">", "lt": "<", "gte": ">=", "ge": ">=", "lte": "<=", "le": "<=",
    "eq": "==", "neq": "!=", "ne": "!=",
}
OTHER_OPS = ("between", "near_pct", "near_abs", "in", "cross_above", "cross_below")
ALL_OPS: tuple[str, ...] = (*COMPARE_OPS, *OTHER_OPS)
ARITH_OPS: tuple[ArithOp, ...] = ("+", "-", "*", "/", "%")
WINDOW_KEYS = (
    "holds_for", "occurred_within", "count_true",
    "holds_for_duration", "occurred_within_duration", "count_true_duration",
)
CONDITION_KEYS = ("all", "any", "not", "setup", *WINDOW_KEYS, "lhs")

_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(?:\[(\d+)\])?$")
#: a field with a bracket (`fib.level[0.618]`, `zones.zone[0].state`), then an optional offset
_BRACKET_REF = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*\[-?[0-9.]+\](?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"(?:\[(\d+)\])?$")

#: TRADE's spelling of a Fibonacci level, `fib.level_0.618` (optionally with an offset `[1]`)
_LEVEL_UNDERSCORE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.level_(-?[0-9]+(?:\.[0-9]+)?)"
                               r"((?:\[\d+\])?)$")


def bracket_field(text: str) -> str:
    """`level[0.6180]` -> `level[0.618]`: the number in its shortest form, as outputs name it."""
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\[(-?[0-9.]+)\](.*)$", text)
    if m is None:
        return text
    try:
        num = f"{float(m.group(2)):g}"
    except ValueError:
        return text
    return f"{m.group(1)}[{num}]{m.group(3)}"


@dataclass(frozen=True, slots=True)
class Source:
    """A declared feature or structure: its outputs and whether it is a structure."""

    outputs: tuple[str, ...]
    kind: str = "indicator"
    aliases: Mapping[str, str] = field(default_factory=dict)  # TRADE's output name -> ours
    primary: str | None = None  # the output a bare reference reads (TRADE's primary output)


@dataclass
class ConditionContext:
    """What a condition may reference, plus where errors go.

    `sources` maps a feature id or structure key to its outputs; a single output
    named `value` is referenced by the id alone (series name `id`), others as
    `id.field` (series name `id.field`).
    """

    sources: Mapping[str, Source]
    smap: SourceMap
    exec_interval_ms: int = 60_000
    setups: Mapping[str, Any] = field(default_factory=dict)
    setups_path: PathKey = ("setups",)
    issues: list[PlayIssue] = field(default_factory=list)
    #: series that count as discrete besides the outputs in DISCRETE_OUTPUTS (tests, tools)
    discrete_series: frozenset[str] = frozenset()
    _compiled_setups: dict[str, Node] = field(default_factory=dict)
    _stack: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ helpers
    def error(self, path: PathKey, message: str) -> Literal_:
        self.issues.append(self.smap.issue(path, message))
        return Literal_(False)

    def operand_names(self) -> list[str]:
        names = list(BUILTINS)
        for sid, src in self.sources.items():
            if src.outputs == ("value",):
                names.append(sid)
            else:
                names.extend(f"{sid}.{o}" for o in src.outputs)
        return names

    # ------------------------------------------------------------ conditions
    def compile(self, raw: Any, path: PathKey) -> Node:
        """Compile one condition (any accepted spelling) found at `path`."""
        if isinstance(raw, list):
            if len(raw) in (3, 4) and isinstance(raw[1], str):
                return self._comparison(raw[0], raw[1], raw[2], raw[3] if len(raw) == 4 else None,
                                        path, 4 if len(raw) == 4 else 3)
            return All(tuple(self.compile(c, (*path, i)) for i, c in enumerate(raw)))
        if isinstance(raw, dict):
            return self._compile_dict(raw, path)
        return self.error(
            path,
            f"expected a condition ([lhs, op, rhs], all/any/not, setup, window), "
            f"found {shown(raw)}",
        )

    def _compile_dict(self, raw: dict[str, Any], path: PathKey) -> Node:
        if "lhs" in raw or "op" in raw:
            allowed = {"lhs", "op", "rhs", "tolerance"}
            for k in raw:
                if k not in allowed:
                    return self.error((*path, k), f"unknown field '{k}'{suggest(str(k), allowed)}")
            for k in ("lhs", "op", "rhs"):
                if k not in raw:
                    return self.error(path, f"missing '{k}' in comparison")
            if not isinstance(raw["op"], str):
                return self.error((*path, "op"), f"expected an operator, found {shown(raw['op'])}")
            return self._comparison(raw["lhs"], raw["op"], raw["rhs"], raw.get("tolerance"), path,
                                    None)
        if len(raw) != 1:
            keys = ", ".join(f"'{k}'" for k in raw)
            return self.error(path, f"expected one condition key, found {keys}")
        ((key, value),) = raw.items()
        sub = (*path, key)
        if key == "all":
            items = value if isinstance(value, list) else [value]
            return All(tuple(self.compile(c, (*sub, i)) for i, c in enumerate(items)))
        if key == "any":
            items = value if isinstance(value, list) else [value]
            return AnyOf(tuple(self.compile(c, (*sub, i)) for i, c in enumerate(items)))
        if key == "not":
            return Not(self.compile(value, sub))
        if key == "setup":
            return self.compile_setup(value, sub)
        if key in WINDOW_KEYS:
            return self._window(key, value, sub)
        return self.error(
            (*path, key), f"unknown condition '{key}'{suggest(str(key), CONDITION_KEYS)}"
        )

    def compile_setup(self, name: Any, path: PathKey) -> Node:
        """The setup `name` (referenced at `path`), compiled once and reused; an error node
        for an unknown name or a circular reference."""
        if not isinstance(name, str):
            return self.error(path, f"expected a setup name, found {shown(name)}")
        if name not in self.setups:
            hint = suggest(name, self.setups) or (
                f", expected {one_of(self.setups)}" if self.setups else ", no setups are declared"
            )
            return self.error(path, f"unknown setup '{name}'{hint}")
        if name in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(name):], name])
            return self.error(path, f"circular setup reference: {cycle}")
        if name not in self._compiled_setups:
            self._stack.append(name)
            try:
                node = self.compile(self.setups[name], (*self.setups_path, name))
            finally:
                self._stack.pop()
            self._compiled_setups[name] = node
        return Setup(name, self._compiled_setups[name])

    def _window(self, key: str, spec: Any, path: PathKey) -> Node:
        duration = key.endswith("_duration")
        base = key.removesuffix("_duration")
        span = "duration" if duration else "bars"
        allowed = {span, "expr"} | ({"min_true"} if base == "count_true" else set())
        if not isinstance(spec, dict):
            return self.error(path,
                              f"expected a mapping with {one_of(allowed)}, found {shown(spec)}")
        bad = False
        for k in spec:
            if k not in allowed:
                self.error((*path, k), f"unknown field '{k}'{suggest(str(k), allowed)}")
                bad = True
        for k in sorted(allowed):
            if k not in spec:
                self.error(path, f"missing '{k}' in {key}")
                bad = True
        if bad:
            return Literal_(False)
        duration_ms: int | None = None
        if duration:
            text = spec["duration"]
            if not isinstance(text, str):
                return self.error((*path, "duration"),
                                  f"expected a duration such as '4h', found {shown(text)}")
            try:
                duration_ms = parse_duration_ms(text)
            except ValueError as exc:
                return self.error((*path, "duration"), str(exc))
            if duration_ms < self.exec_interval_ms:
                return self.error((*path, "duration"),
                                  f"duration '{text}' is shorter than one exec bar")
            bars = -(-duration_ms // self.exec_interval_ms)
        else:
            bars_raw = spec["bars"]
            if not _is_int(bars_raw) or bars_raw < 1:
                return self.error((*path, "bars"),
                                  f"expected a whole number of bars >= 1, found {shown(bars_raw)}")
            bars = int(bars_raw)
        min_true = 1
        if base == "count_true":
            mt = spec["min_true"]
            if not _is_int(mt) or not 1 <= mt <= bars:
                return self.error((*path, "min_true"),
                                  f"expected a whole number in [1, {bars}], found {shown(mt)}")
            min_true = int(mt)
        child = self.compile(spec["expr"], (*path, "expr"))
        kind = {"holds_for": "holds", "occurred_within": "occurred", "count_true": "count"}[base]
        return Window(kind, bars, child, min_true, duration_ms)  # type: ignore[arg-type]

    def _comparison(
        self, lhs_raw: Any, op_raw: str, rhs_raw: Any, tol_raw: Any, path: PathKey,
        arity: int | None,
    ) -> Node:
        def at(i: int, name: str) -> PathKey:
            return (*path, i) if arity is not None else (*path, name)

        op = op_raw.strip()
        if op not in ALL_OPS:
            return self.error(at(1, "op"), f"unknown operator '{op}'{suggest(op, ALL_OPS)}"
                              + ("" if suggest(op, ALL_OPS) else f", expected {one_of(ALL_OPS)}"))
        near = op in ("near_pct", "near_abs")
        if near and tol_raw is None:
            return self.error(path, f"'{op}' needs a tolerance: [lhs, {op}, rhs, tolerance]")
        if not near and tol_raw is not None:
            return self.error(at(3, "tolerance"), f"only near_pct / near_abs take a tolerance, "
                                                  f"not '{op}'")
        lhs = self.operand(lhs_raw, at(0, "lhs"))
        if op == "between":
            if not (isinstance(rhs_raw, list) and len(rhs_raw) == 2):
                return self.error(at(2, "rhs"), f"'between' expects [low, high], found "
                                                f"{shown(rhs_raw)}")
            lo = self.operand(rhs_raw[0], (*at(2, "rhs"), 0))
            hi = self.operand(rhs_raw[1], (*at(2, "rhs"), 1))
            if isinstance(lo, Const) and isinstance(hi, Const) and lo.value > hi.value:
                return self.error(at(2, "rhs"), f"'between' low {lo.value:g} is above high "
                                                f"{hi.value:g}")
            return Between(lhs, lo, hi)
        if op == "in":
            if not isinstance(rhs_raw, list) or not rhs_raw:
                return self.error(at(2, "rhs"), f"'in' expects a list of integers, found "
                                                f"{shown(rhs_raw)}")
            values: list[float] = []
            for i, v in enumerate(rhs_raw):
                code = self._enum_code(lhs, v)
                if code is not None:
                    values.append(code)
                    continue
                if not _is_integral(v):
                    return self.error((*at(2, "rhs"), i),
                                      f"'in' compares discrete values; expected an integer, "
                                      f"found {shown(v)}")
                values.append(float(v))
            self._check_discrete(lhs, "in", at(0, "lhs"))
            return In(lhs, tuple(values))
        code = self._enum_code(lhs, rhs_raw)
        if code is not None:
            rhs: Expr = Const(code)
        else:
            rhs = self.operand(rhs_raw, at(2, "rhs"))
        if near:
            tol = self.operand(tol_raw, at(3, "tolerance"))
            if isinstance(tol, Const) and tol.value < 0:
                return self.error(at(3, "tolerance"), f"tolerance must be >= 0, found "
                                                      f"{tol.value:g}")
            return Near("pct" if op == "near_pct" else "abs", lhs, rhs, tol)
        if op in ("cross_above", "cross_below"):
            return Cross("above" if op == "cross_above" else "below", lhs, rhs)
        cop = COMPARE_OPS[op]
        if cop in ("==", "!="):
            self._check_discrete(lhs, cop, at(0, "lhs"))
            self._check_discrete(rhs, cop, at(2, "rhs"))
        return Compare(cop, lhs, rhs)

    def _enum_code(self, lhs: Expr, raw: Any) -> float | None:
        """`"bullish"` compared with an enum output (`ms.bos_direction`) -> its code."""
        if not (isinstance(raw, str) and isinstance(lhs, Ref)):
            return None
        if _REF.match(raw.strip()) and raw.strip().split(".")[0].split("[")[0] in self.sources:
            return None  # a reference, not a literal
        table = ENUM_VALUES.get(lhs.name.rsplit(".", 1)[-1])
        if table is None:
            return None
        code = table.get(raw.strip().lower())
        return None if code is None else float(code)

    def _check_discrete(self, expr: Expr, op: str, path: PathKey) -> None:
        if isinstance(expr, Const):
            if not float(expr.value).is_integer():
                self.error(path, f"'{op}' compares discrete values; expected an integer, "
                                 f"found {expr.value:g} (use near_abs for prices)")
        elif isinstance(expr, Ref):
            if not expr.discrete:
                self.error(path, f"'{op}' compares discrete values, but '{expr.name}' is "
                                 f"continuous; use >, <, between or near_pct/near_abs")
        else:
            self.error(path, f"'{op}' compares discrete values, not arithmetic results")

    # ------------------------------------------------------------ operands
    def operand(self, raw: Any, path: PathKey) -> Expr:
        """Compile a value: number, reference string, `{feature_id, field, offset}`, arithmetic."""
        if isinstance(raw, bool):
            return Const(1.0 if raw else 0.0)  # true/false compare with 1/0 flags
        if raw is None:
            self.error(path, f"expected a number or feature, found {shown(raw)}")
            return Const(math.nan)
        if isinstance(raw, int | float):
            return Const(float(raw))
        if isinstance(raw, str):
            return self._ref_text(raw, path)
        if isinstance(raw, list):
            if len(raw) == 3 and isinstance(raw[1], str) and raw[1] in ARITH_OPS:
                return Arith(raw[1], self.operand(raw[0], (*path, 0)),
                             self.operand(raw[2], (*path, 2)))
            self.error(path, f"expected arithmetic [a, op, b] with op {one_of(ARITH_OPS)}, "
                             f"found {shown(raw)}")
            return Const(math.nan)
        if isinstance(raw, dict):
            if "feature_id" in raw:
                return self._ref_dict(raw, path)
            if len(raw) == 1:
                ((k, v),) = raw.items()
                if k in ARITH_OPS and isinstance(v, list) and len(v) == 2:
                    return Arith(cast(ArithOp, k), self.operand(v[0], (*path, k, 0)),
                                 self.operand(v[1], (*path, k, 1)))
                if k in ARITH_OPS:
                    self.error((*path, k), f"expected two operands [a, b], found {shown(v)}")
                    return Const(math.nan)
            self.error(path, f"expected {{feature_id: ..}} or {{op: [a, b]}} with op "
                             f"{one_of(ARITH_OPS)}, found {shown(raw)}")
            return Const(math.nan)
        self.error(path, f"expected a number or feature, found {shown(raw)}")
        return Const(math.nan)

    def _ref_dict(self, raw: dict[str, Any], path: PathKey) -> Expr:
        allowed = {"feature_id", "field", "offset"}
        for k in raw:
            if k not in allowed:
                self.error((*path, k), f"unknown field '{k}'{suggest(str(k), allowed)}")
                return Const(math.nan)
        fid, fld, off = raw["feature_id"], raw.get("field"), raw.get("offset", 0)
        if not isinstance(fid, str):
            self.error((*path, "feature_id"), f"expected a feature id, found {shown(fid)}")
            return Const(math.nan)
        if fld is not None and not isinstance(fld, str):
            self.error((*path, "field"), f"expected a field name, found {shown(fld)}")
            return Const(math.nan)
        if not _is_int(off) or off < 0:
            self.error((*path, "offset"), f"expected a whole number of bars >= 0, found "
                                          f"{shown(off)}")
            return Const(math.nan)
        text = fid if fld is None else f"{fid}.{fld}"
        return self._resolve(text, fid, fld, int(off), path)

    def _ref_text(self, raw: str, path: PathKey) -> Expr:
        raw = _LEVEL_UNDERSCORE.sub(r"\1.level[\2]\3", raw.strip())  # TRADE: fib.level_0.618
        b = _BRACKET_REF.match(raw)
        m = _REF.match(raw.strip())
        # `dc.upper[1]` is the previous bar of a field: a bracket belongs to the field's name
        # only when no such reading applies or the source has that bracketed output
        if b is not None and (m is None or bracket_field(b.group(2)) in self.sources.get(
                b.group(1), Source(())).outputs):
            return self._resolve(raw, b.group(1), bracket_field(b.group(2)), int(b.group(3) or 0),
                                 path)
        if m is None:
            self.error(path, f"expected a feature, field or builtin, found '{raw}'"
                             f"{suggest(raw, self.operand_names())}")
            return Const(math.nan)
        name, fld, off = m.group(1), m.group(2), int(m.group(3) or 0)
        return self._resolve(raw, name, fld, off, path)

    def _resolve(self, text: str, name: str, fld: str | None, off: int, path: PathKey) -> Expr:
        out = self._lookup(text, name, fld, off, path)
        if isinstance(out, Ref) and not out.discrete and out.name in self.discrete_series:
            return Ref(out.name, out.offset, discrete=True)
        return out

    def _lookup(self, text: str, name: str, fld: str | None, off: int, path: PathKey) -> Expr:
        if name in BUILTINS:
            if fld is not None:
                self.error(path, f"builtin '{name}' has no field '{fld}'")
                return Const(math.nan)
            return Ref(name, off, discrete=False)
        src = self.sources.get(name)
        if src is None and name in NOT_YET_BUILTINS:
            self.error(path, f"'{name}' is not available in conditions yet "
                             f"({NOT_YET_BUILTINS[name]})")
            return Const(math.nan)
        if src is None:
            names = self.operand_names()
            hint = suggest(text, names) or suggest(name, names)
            self.error(path, f"undeclared feature '{name}'{hint}")
            return Const(math.nan)
        if fld is None:
            if src.outputs == ("value",):
                return Ref(name, off, discrete=False)
            if "value" in src.outputs:  # the bare id is the main line (supertrend, trix)
                return Ref(f"{name}.value", off, discrete=False)
            if src.primary is not None:  # TRADE reads a bare multi-output id as its primary
                return Ref(f"{name}.{src.primary}", off, discrete=False)
            opts = [f"{name}.{o}" for o in src.outputs]
            self.error(path, f"'{name}' has several outputs, expected {one_of(opts)}")
            return Const(math.nan)
        fld = src.aliases.get(fld, fld)  # TRADE's output names (trade.indicators.aliases)
        if fld not in src.outputs:
            self.error(path, f"'{name}' has no field '{fld}'{suggest(fld, src.outputs)}"
                             + ("" if suggest(fld, src.outputs) else
                                f", expected {one_of(src.outputs)}"))
            return Const(math.nan)
        series = name if src.outputs == ("value",) else f"{name}.{fld}"
        # a slot field (`zone[0].state`) is discrete when its last part is
        return Ref(series, off, discrete=fld.rsplit(".", 1)[-1] in DISCRETE_OUTPUTS)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_integral(v: Any) -> bool:
    return (_is_int(v)) or (isinstance(v, float) and v.is_integer())


def shown(v: Any) -> str:
    """How an error message quotes a value found in a Play: `'text'`, `a mapping`,
    `a list of 3`, `nothing`, else its repr."""
    if isinstance(v, str):
        return f"'{v}'"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    if v is None:
        return "nothing"
    return repr(v)


def simple_context(
    names: Iterable[str],
    *,
    discrete: Iterable[str] = (),
    exec_interval_ms: int = 60_000,
    setups: Mapping[str, Any] | None = None,
) -> ConditionContext:
    """A condition context for tests and tools, without a Play.

    Parameters
    ----------
    names : iterable of str
        Each name is a single-output feature; ``a.b`` declares field ``b`` of feature ``a``.
    discrete : iterable of str
        Series that count as discrete (e.g. ``trend.direction``), compared exactly.
    exec_interval_ms : int
        The exec bar length (for duration windows).
    setups : Mapping[str, Any], optional
        Named conditions that `{setup: NAME}` may reference.

    Returns
    -------
    ConditionContext
    """
    outputs: dict[str, list[str]] = {}
    for n in names:
        base, _, fld = n.partition(".")
        outputs.setdefault(base, []).append(fld or "value")
    return ConditionContext(
        sources={k: Source(tuple(v)) for k, v in outputs.items()},
        smap=SourceMap("<condition>"),
        exec_interval_ms=exec_interval_ms,
        setups=setups or {},
        discrete_series=frozenset(discrete),
    )
