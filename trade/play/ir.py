"""The compiled condition plan: a small typed IR shared by both evaluators.

Value expressions (`Expr`) produce a float per bar; condition nodes (`Node`)
produce a bool per bar. A `ConditionPlan` wraps a root node with what an engine
needs to feed it: the series names it reads, how much history it needs and
whether it reads the 1m builtins `last_price` / `mark_price`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CompareOp = Literal[">", "<", ">=", "<=", "==", "!="]
ArithOp = Literal["+", "-", "*", "/", "%"]

#: Builtin series; `last_price` / `mark_price` change on every 1m bar.
BUILTINS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "last_price", "mark_price",
                             "funding_rate", "open_interest")
#: the builtins that change inside an exec bar: reading one makes an action decide every 1m
INTRABAR_BUILTINS: frozenset[str] = frozenset({"last_price", "mark_price"})
#: the builtins read from the exchange's funding and open-interest series (not the bars):
#: a run that reads one needs that series (stored for backtests, read live from the exchange)
MARKET_BUILTINS: tuple[str, ...] = ("funding_rate", "open_interest")


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Const:
    value: float


@dataclass(frozen=True, slots=True)
class Ref:
    """The value of series `name`, `offset` bars ago (0 = the current bar)."""

    name: str
    offset: int = 0
    discrete: bool = False  # integer-valued output (see conditions.DISCRETE_OUTPUTS)


@dataclass(frozen=True, slots=True)
class Arith:
    op: ArithOp
    left: Expr
    right: Expr


Expr = Const | Ref | Arith


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class Literal_:
    """A constant truth value (an empty `all` is true, an empty `any` false)."""

    value: bool


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True, slots=True)
class Cross:
    """`above`: lhs[1] <= rhs[1] and lhs > rhs; `below`: lhs[1] >= rhs[1] and lhs < rhs."""

    direction: Literal["above", "below"]
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True, slots=True)
class Between:
    """lo <= x <= hi (inclusive)."""

    x: Expr
    lo: Expr
    hi: Expr


@dataclass(frozen=True, slots=True)
class Near:
    """`pct`: |lhs - rhs| <= |rhs| * (tol / 100); `abs`: |lhs - rhs| <= tol."""

    kind: Literal["pct", "abs"]
    lhs: Expr
    rhs: Expr
    tol: Expr


@dataclass(frozen=True, slots=True)
class In:
    x: Expr
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class All:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Window:
    """`holds`: child true on each of the last `bars` bars (false before `bars` bars exist);
    `occurred`: true on at least one of the last `bars` bars;
    `count`: true on at least `min_true` of the last `bars` bars.
    `duration_ms` is set for the `*_duration` forms (bars = ceil(duration / exec interval)).
    """

    kind: Literal["holds", "occurred", "count"]
    bars: int
    child: Node
    min_true: int = 1
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    """An included named setup block."""

    name: str
    child: Node


Node = Literal_ | Compare | Cross | Between | Near | In | All | AnyOf | Not | Window | Setup


# ---------------------------------------------------------------- plan


def expr_refs(expr: Expr) -> list[Ref]:
    if isinstance(expr, Ref):
        return [expr]
    if isinstance(expr, Arith):
        return expr_refs(expr.left) + expr_refs(expr.right)
    return []


def _expr_history(expr: Expr) -> int:
    return max((r.offset for r in expr_refs(expr)), default=0)


def node_exprs(node: Node) -> list[Expr]:
    """The value expressions directly inside `node` (not in child nodes)."""
    if isinstance(node, Compare | Cross):
        return [node.lhs, node.rhs]
    if isinstance(node, Between):
        return [node.x, node.lo, node.hi]
    if isinstance(node, Near):
        return [node.lhs, node.rhs, node.tol]
    if isinstance(node, In):
        return [node.x]
    return []


def node_children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, All | AnyOf):
        return node.children
    if isinstance(node, Not | Window | Setup):
        return (node.child,)
    return ()


def series_of(node: Node) -> frozenset[str]:
    """Every series name the node reads."""
    names = {r.name for e in node_exprs(node) for r in expr_refs(e)}
    for child in node_children(node):
        names |= series_of(child)
    return frozenset(names)


def history_of(node: Node) -> int:
    """How many past bars of each series the node reads (max offset, +1 inside a cross)."""
    own = max((_expr_history(e) for e in node_exprs(node)), default=0)
    if isinstance(node, Cross):
        own += 1
    return max([own, *(history_of(c) for c in node_children(node))])


def lookback_of(node: Node) -> int:
    """Bars before the first bar at which the node can be true (history plus window spans)."""
    if isinstance(node, Window):
        return lookback_of(node.child) + node.bars - 1
    own = max((_expr_history(e) for e in node_exprs(node)), default=0)
    if isinstance(node, Cross):
        own += 1
    return max([own, *(lookback_of(c) for c in node_children(node))])


@dataclass(frozen=True, slots=True)
class ConditionPlan:
    """A compiled condition: evaluate with `evaluate_vectorized` or `IncrementalEvaluator`."""

    root: Node
    series: frozenset[str]
    history: int
    lookback: int

    @classmethod
    def of(cls, root: Node) -> ConditionPlan:
        return cls(root, series_of(root), history_of(root), lookback_of(root))

    @property
    def intrabar(self) -> bool:
        """True when the condition reads `last_price` or `mark_price` and so is also
        evaluated at every 1m close inside the exec bar (docs/play_reference.md, Conditions)."""
        return bool(self.series & INTRABAR_BUILTINS)
