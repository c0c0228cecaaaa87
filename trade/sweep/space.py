"""Parameter spaces: dimensions, constraints, and grid / random enumeration.

A dimension names one value of a Play by its dotted path (`features.ema_fast.params.length`,
`risk.stop_loss_pct`, `variables.rsi_max`) and says which values it takes:

* discrete — `range:LO:HI:STEP` (inclusive) or `values:A,B,C`, or a Play's `sweep:` entry
  (`{range: [lo, hi, step]}` / `{values: [...]}`); usable by every search;
* continuous — `int:LO..HI` or `float:LO..HI` (append `:log` for a log scale); usable by
  random and Bayesian search only (a grid needs discrete values).

Constraints are Python-like boolean expressions over dotted paths and numbers
(`features.ema_fast.params.length < features.ema_slow.params.length`,
`risk.take_profit_pct >= 2 * risk.stop_loss_pct`); a path that is not swept takes its value
from the base Play. Only comparisons, `and`/`or`/`not`, `+ - * / %`, unary minus and
literals are accepted: the expression is interpreted, never `eval`-ed.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from trade.core import InputError

Scalar = int | float | str | bool
Kind = Literal["discrete", "int", "float"]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One swept value of a Play: its dotted path and the values it takes.

    `kind` "discrete" takes exactly `values`; "int" and "float" take any value in
    [`low`, `high`] (log-uniformly when `log`). Immutable; construction raises
    `trade.core.InputError` for an empty path segment, a discrete dimension without values,
    non-finite or inverted bounds, or a log scale with `low` <= 0."""

    path: str
    kind: Kind
    values: tuple[Scalar, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def __post_init__(self) -> None:
        if not self.path or any(not p for p in self.path.split(".")):
            raise InputError(f"parameter path {self.path!r} is not a dotted path")
        if self.kind == "discrete" and not self.values:
            raise InputError(f"parameter {self.path}: no values")
        if self.kind != "discrete":
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise InputError(f"parameter {self.path}: bounds must be finite")
            if self.low > self.high:
                raise InputError(f"parameter {self.path}: low {self.low:g} is above high "
                                 f"{self.high:g}")
            if self.log and self.low <= 0:
                raise InputError(f"parameter {self.path}: a log scale needs low > 0")

    @property
    def is_discrete(self) -> bool:
        """True when the dimension lists its values (usable by grid search)."""
        return self.kind == "discrete"

    def arrow_kind(self) -> Literal["int", "float", "bool", "str"]:
        """The column type of this parameter in the results table."""
        if self.kind == "int":
            return "int"
        if self.kind == "float":
            return "float"
        vals = self.values
        if all(isinstance(v, bool) for v in vals):
            return "bool"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return "int"
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            return "float"
        return "str"

    def sample(self, rng: np.random.Generator) -> Scalar:
        """One value drawn uniformly (log-uniformly with `log`)."""
        if self.kind == "discrete":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "int":
            if self.log:
                x = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(max(math.floor(x), self.low), self.high))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def _scalar(text: str) -> Scalar:
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _range_points(lo: float, hi: float, step: float, where: str) -> tuple[Scalar, ...]:
    if step <= 0:
        raise InputError(f"{where}: range step must be > 0, found {step:g}")
    if lo > hi:
        raise InputError(f"{where}: range low {lo:g} is above high {hi:g}")
    n = int((hi - lo) / step + 1e-9) + 1
    pts = [lo + i * step for i in range(n)]
    if all(float(x).is_integer() for x in (lo, hi, step)):
        return tuple(int(p) for p in pts)
    return tuple(round(p, 12) for p in pts)


def parse_dimension(text: str) -> Dimension:
    """A dimension from a command-line `--param PATH=SPEC` (see the module docstring).

    Parameters
    ----------
    text : str
        ``PATH=SPEC`` with SPEC one of ``range:LO:HI:STEP`` (inclusive; integers when LO, HI
        and STEP all are), ``values:A,B,C`` (each read as bool, int, float or else string),
        ``int:LO..HI`` or ``float:LO..HI``, optionally followed by ``:log``.

    Returns
    -------
    Dimension
        Discrete for ``range`` / ``values``, "int" or "float" for the continuous specs.

    Raises
    ------
    InputError
        No ``=``, an unknown spec or flag, a malformed or unreadable number, a range step
        <= 0 or low above high, no values, non-integer int bounds, or anything the
        `Dimension` itself refuses.
    """
    if "=" not in text:
        raise InputError(f"--param {text!r}: expected PATH=SPEC, e.g. "
                         "features.ema_fast.params.length=range:5:50:5")
    path, spec = (s.strip() for s in text.split("=", 1))
    where = f"--param {path}"
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    try:
        if kind == "range":
            parts = rest.split(":")
            if len(parts) != 3:
                raise InputError(f"{where}: expected range:LOW:HIGH:STEP, found {spec!r}")
            lo, hi, step = (float(p) for p in parts)
            return Dimension(path, "discrete", _range_points(lo, hi, step, where))
        if kind == "values":
            vals = tuple(_scalar(v) for v in rest.split(",") if v.strip())
            if not vals:
                raise InputError(f"{where}: values: needs at least one value")
            return Dimension(path, "discrete", vals)
        if kind in ("int", "float"):
            bounds, _, flag = rest.partition(":")
            if ".." not in bounds:
                raise InputError(f"{where}: expected {kind}:LOW..HIGH, found {spec!r}")
            lo_s, hi_s = bounds.split("..", 1)
            if flag.strip() not in ("", "log"):
                raise InputError(f"{where}: unknown flag {flag!r} (only 'log')")
            lo_f, hi_f = float(lo_s), float(hi_s)
            if kind == "int" and not (lo_f.is_integer() and hi_f.is_integer()):
                raise InputError(f"{where}: int bounds must be integers, found {spec!r}")
            return Dimension(path, "int" if kind == "int" else "float", low=lo_f, high=hi_f,
                             log=flag.strip() == "log")
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{where}: cannot read {spec!r}: {exc}") from None
    raise InputError(f"{where}: unknown spec {spec!r} (expected range:LO:HI:STEP, "
                     "values:A,B,C, int:LO..HI or float:LO..HI)")


def dimension_from_sweep(path: str, param: Any) -> Dimension:
    """A Play `sweep:` entry (trade.play.schema.SweepParam) as a Dimension.

    Parameters
    ----------
    path : str
        The dotted Play path the entry sweeps (its key in the `sweep:` section).
    param : SweepParam
        The entry; anything with a ``points()`` method returning the values in order.

    Returns
    -------
    Dimension
        A discrete dimension over ``param.points()``.

    Raises
    ------
    InputError
        From `Dimension`: the path is not dotted or the entry yields no values.
    """
    return Dimension(path, "discrete", tuple(param.points()))


# ====================================================================== constraints

_CMP: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_BIN: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@dataclass(frozen=True, slots=True)
class Constraint:
    """A boolean expression over dotted Play paths (see the module docstring)."""

    text: str
    tree: ast.expr = field(compare=False, repr=False)
    paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Read and check a constraint expression; InputError on a syntax error or on any
        construct other than dotted paths, literals, comparisons, and/or/not and
        ``+ - * / %``."""
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise InputError(f"constraint {text!r}: {exc.msg}") from None
        paths: list[str] = []
        cls._check(tree, text, paths)
        return cls(text.strip(), tree, tuple(dict.fromkeys(paths)))

    @staticmethod
    def _check(node: ast.expr, text: str, paths: list[str]) -> None:
        dotted = _dotted(node)
        if dotted is not None:
            paths.append(dotted)
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return
        children: list[ast.expr]
        if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
            children = [node.left, *node.comparators]
        elif isinstance(node, ast.BoolOp):
            children = list(node.values)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            children = [node.left, node.right]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            children = [node.operand]
        else:
            raise InputError(f"constraint {text!r}: '{ast.unparse(node)}' is not allowed "
                             "(use dotted paths, numbers, comparisons, and/or/not, + - * / %)")
        for c in children:
            Constraint._check(c, text, paths)

    def holds(self, lookup: Callable[[str], Any]) -> bool:
        """Evaluate with `lookup(path)` giving each path's value."""
        return bool(self._eval(self.tree, lookup))

    def _eval(self, node: ast.expr, lookup: Callable[[str], Any]) -> Any:
        dotted = _dotted(node)
        if dotted is not None:
            return lookup(dotted)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, lookup)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comp, lookup)
                if not _CMP[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, lookup) for v in node.values)
            return any(self._eval(v, lookup) for v in node.values)
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, lookup), self._eval(node.right, lookup)
            try:
                return _BIN[type(node.op)](a, b)
            except ZeroDivisionError:
                return math.nan  # comparisons with NaN are False
        assert isinstance(node, ast.UnaryOp)
        v = self._eval(node.operand, lookup)
        return (not v) if isinstance(node.op, ast.Not) else -v


def raw_value(raw: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a Play document; KeyError naming the path if absent."""
    node: Any = raw
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def variant_id(params: Mapping[str, Any]) -> str:
    """A stable id of a parameter set: sha256 of its canonical JSON, 16 hex digits.

    Numbers are canonicalised so `30` and `30.0` give the same id.

    Parameters
    ----------
    params : Mapping[str, Any]
        Dotted path -> value; key order does not matter. Values must be JSON-serialisable
        (a TypeError otherwise).

    Returns
    -------
    str
        16 lowercase hex digits (the `variant_id` column of the results table).
    """
    canon = {k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
             for k, v in params.items()}
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Space:
    """Dimensions plus constraints; `base` (the Play document as written) supplies the
    constraint values that are not swept.

    Immutable. Construction raises `trade.core.InputError` when a path is swept twice or a
    constraint names a path that is neither swept nor in `base`. `grid()` and `random()`
    enumerate the admissible points as dotted path -> value dicts."""

    dims: tuple[Dimension, ...]
    constraints: tuple[Constraint, ...] = ()
    base: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for d in self.dims:
            if d.path in seen:
                raise InputError(f"parameter {d.path} is given twice")
            seen.add(d.path)
        for c in self.constraints:
            for p in c.paths:
                if p in seen:
                    continue
                try:
                    raw_value(self.base, p)
                except KeyError:
                    raise InputError(f"constraint {c.text!r}: '{p}' is neither swept nor a "
                                     "value of the Play") from None

    @property
    def paths(self) -> tuple[str, ...]:
        """The swept dotted paths, in dimension order."""
        return tuple(d.path for d in self.dims)

    @property
    def discrete(self) -> bool:
        """True when every dimension is discrete (a grid can be enumerated)."""
        return all(d.is_discrete for d in self.dims)

    def grid_size(self) -> int:
        """The number of grid points before constraints."""
        if not self.discrete:
            return 0
        return math.prod(len(d.values) for d in self.dims)

    def admits(self, params: Mapping[str, Any]) -> bool:
        """True when every constraint holds for `params`."""

        def lookup(path: str) -> Any:
            if path in params:
                return params[path]
            return raw_value(self.base, path)

        return all(c.holds(lookup) for c in self.constraints)

    def grid(self) -> Iterator[dict[str, Scalar]]:
        """Every grid point that satisfies the constraints, in a fixed order."""
        if not self.discrete:
            cont = [d.path for d in self.dims if not d.is_discrete]
            raise InputError(f"grid search needs discrete values; {', '.join(cont)} "
                             "are ranges (use --search random or bayes)")
        for combo in itertools.product(*(d.values for d in self.dims)):
            params = dict(zip(self.paths, combo, strict=True))
            if self.admits(params):
                yield params

    def random(self, budget: int, seed: int = 0) -> Iterator[dict[str, Scalar]]:
        """Up to `budget` distinct admissible points drawn at random (seeded).

        When the space is a grid no larger than the budget, the whole grid is returned."""
        if budget <= 0:
            raise InputError(f"budget must be > 0, got {budget}")
        if self.discrete and self.grid_size() <= budget:
            yield from self.grid()
            return
        rng = np.random.default_rng(seed)
        seen: set[str] = set()
        attempts = 0
        max_attempts = budget * 200 + 1000
        while len(seen) < budget and attempts < max_attempts:
            attempts += 1
            params = {d.path: d.sample(rng) for d in self.dims}
            vid = variant_id(params)
            if vid in seen or not self.admits(params):
                continue
            seen.add(vid)
            yield params
