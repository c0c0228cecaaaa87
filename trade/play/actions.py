"""Compile a Play's `actions` into per-bar entry/exit decisions (vectorised and incremental).

Both spellings compile to `CaseBlock`s that are evaluated independently and ORed:

* mapping form `{entry_long: COND, exit_long: {when: COND, percent: 50}}` gives one
  block per action with a single case;
* list form `[{id, cases: [{when, emit: [{action, percent}]}], else: {emit}}]` gives
  first-match blocks: the first case whose `when` holds emits; if none holds,
  `else` emits.

Then `position_policy` applies: `long_only` drops short entries, `short_only`
drops long entries, `exit_mode: sl_tp_only` drops signal exits. `exit_all` sets
both exits. Several exits on one bar close the largest percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trade.play.conditions import ConditionContext, shown
from trade.play.errors import one_of, suggest
from trade.play.evaluate import IncrementalEvaluator, VectorEvaluator
from trade.play.ir import INTRABAR_BUILTINS, ConditionPlan
from trade.play.yamlsrc import PathKey

#: the actions a Play may name, in the order they are evaluated
ACTION_NAMES: tuple[str, ...] = ("entry_long", "entry_short", "exit_long", "exit_short", "exit_all")
EMIT_NAMES: tuple[str, ...] = (*ACTION_NAMES, "no_action")
_EXITS = ("exit_long", "exit_short", "exit_all")
Bool = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Emit:
    action: str
    percent: float = 100.0
    metadata: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    when: ConditionPlan
    emits: tuple[Emit, ...]


@dataclass(frozen=True, slots=True)
class CaseBlock:
    id: str
    cases: tuple[Case, ...]
    else_emits: tuple[Emit, ...] = ()

    @property
    def intrabar(self) -> bool:
        return any(c.when.intrabar for c in self.cases)

    @property
    def actions(self) -> frozenset[str]:
        emits = [e for c in self.cases for e in c.emits] + list(self.else_emits)
        return frozenset(e.action for e in emits if e.action != "no_action")


@dataclass(frozen=True, slots=True)
class CompiledActions:
    blocks: tuple[CaseBlock, ...]
    mode: str = "long_only"
    exit_mode: str = "first_hit"

    @property
    def plans(self) -> tuple[ConditionPlan, ...]:
        return tuple(c.when for b in self.blocks for c in b.cases)

    @property
    def series(self) -> frozenset[str]:
        """Every series name the actions read."""
        return frozenset().union(*(p.series for p in self.plans))

    @property
    def lookback(self) -> int:
        return max((p.lookback for p in self.plans), default=0)

    @property
    def intrabar(self) -> bool:
        """Some action reads `last_price`/`mark_price`: evaluate also at every 1m close."""
        return any(b.intrabar for b in self.blocks)

    @property
    def intrabar_actions(self) -> frozenset[str]:
        """Actions whose decision depends on a 1m builtin (`exit_all` expanded)."""
        out: set[str] = set()
        for b in self.blocks:
            if b.intrabar:
                out |= b.actions
        if "exit_all" in out:
            out |= {"exit_long", "exit_short"}
        return frozenset(out)

    @property
    def intrabar_series(self) -> frozenset[str]:
        return self.series & INTRABAR_BUILTINS


class ActionSignals:
    """Per-exec-bar decisions. `*_pct` is the percent of the position to close (0 = no exit).

    The percent arrays are built on first read from the exits that fired (a run whose exits
    all close the whole position never reads them)."""

    __slots__ = ("_pct", "_pct_hits", "entry_long", "entry_short", "exit_long", "exit_short")

    def __init__(self, entry_long: Bool, entry_short: Bool, exit_long: Bool, exit_short: Bool,
                 exit_long_pct: F64 | None = None, exit_short_pct: F64 | None = None, *,
                 pct_hits: tuple[list[tuple[Bool, float]], list[tuple[Bool, float]]] | None = None
                 ) -> None:
        self.entry_long = entry_long
        self.entry_short = entry_short
        self.exit_long = exit_long
        self.exit_short = exit_short
        self._pct: list[F64 | None] = [exit_long_pct, exit_short_pct]
        self._pct_hits = pct_hits if pct_hits is not None else ([], [])

    @property
    def exit_long_pct(self) -> F64:
        return self._pct_of(0)

    @property
    def exit_short_pct(self) -> F64:
        return self._pct_of(1)

    def _pct_of(self, side: int) -> F64:
        pct = self._pct[side]
        if pct is None:
            pct = np.zeros(len(self.exit_long))
            for hit, p in self._pct_hits[side]:
                # several exits on one bar close the largest percent
                np.maximum(pct, p, out=pct, where=hit)
            self._pct[side] = pct
        return pct

    def __repr__(self) -> str:
        return (f"ActionSignals(entry_long={self.entry_long!r}, entry_short={self.entry_short!r}, "
                f"exit_long={self.exit_long!r}, exit_short={self.exit_short!r}, "
                f"exit_long_pct={self.exit_long_pct!r}, exit_short_pct={self.exit_short_pct!r})")


@dataclass(slots=True)
class ActionDecision:
    """One bar's decisions (the incremental counterpart of one row of ActionSignals)."""

    entry_long: bool = False
    entry_short: bool = False
    exit_long: bool = False
    exit_short: bool = False
    exit_long_pct: float = 0.0
    exit_short_pct: float = 0.0


# ====================================================================== compile


def compile_actions(
    raw: Any, ctx: ConditionContext, *, mode: str = "long_only", exit_mode: str = "first_hit",
    path: PathKey = ("actions",),
) -> CompiledActions:
    """Compile a Play's `actions` section into entry/exit plans.

    Parameters
    ----------
    raw : Any
        The section as loaded from YAML.
    ctx : ConditionContext
        What conditions may reference; every problem found is appended to `ctx.issues`
        (nothing is raised).
    mode : str
        The position policy's mode (``long_only``, ``short_only``, ``long_short``).
    exit_mode : str
        The position policy's exit mode (``first_hit``, ...).
    path : tuple
        Where the section sits in the document (for error locations).

    Returns
    -------
    CompiledActions
        Valid only when `ctx.issues` stayed empty.
    """
    blocks: list[CaseBlock] = []
    if isinstance(raw, dict) and "cases" in raw:
        blocks.append(_block(raw, ctx, path, "actions"))
    elif isinstance(raw, dict):
        if not raw:
            ctx.error(path, f"no actions declared, expected {one_of(ACTION_NAMES)}")
        for name, body in raw.items():
            sub = (*path, name)
            if name not in ACTION_NAMES:
                ctx.error(sub, f"unknown action '{name}'{suggest(str(name), ACTION_NAMES)}"
                          + ("" if suggest(str(name), ACTION_NAMES) else
                             f", expected {one_of(ACTION_NAMES)}"))
                continue
            percent = 100.0
            cond = body
            if isinstance(body, dict) and "when" in body:
                for k in body:
                    if k not in ("when", "percent"):
                        ctx.error((*sub, k), f"unknown field '{k}'"
                                  f"{suggest(str(k), ('when', 'percent'))}")
                cond = body["when"]
                if "percent" in body:
                    percent = _percent(body["percent"], name, ctx, (*sub, "percent"))
            plan = ConditionPlan.of(ctx.compile(cond, (*sub, "when") if cond is not body else sub))
            blocks.append(CaseBlock(name, (Case(plan, (Emit(name, percent),)),)))
    elif isinstance(raw, list):
        if not raw:
            ctx.error(path, "no actions declared")
        for i, block in enumerate(raw):
            if not isinstance(block, dict):
                ctx.error((*path, i), f"expected a mapping with 'cases', found {shown(block)}")
                continue
            blocks.append(_block(block, ctx, (*path, i), str(block.get("id", i))))
    else:
        ctx.error(path, f"expected a mapping of actions or a list of case blocks, "
                        f"found {shown(raw)}")
    return CompiledActions(tuple(blocks), mode, exit_mode)


def _percent(v: Any, action: str, ctx: ConditionContext, path: PathKey) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 100:
        ctx.error(path, f"expected a percent in (0, 100], found {shown(v)}")
        return 100.0
    if not action.startswith("exit"):
        ctx.error(path, f"only exits take 'percent', not '{action}'")
    return float(v)


def _emits(raw: Any, ctx: ConditionContext, path: PathKey) -> tuple[Emit, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[Emit] = []
    for i, item in enumerate(items):
        sub = (*path, i) if isinstance(raw, list) else path
        if isinstance(item, str):
            item = {"action": item}
        if not isinstance(item, dict) or "action" not in item:
            ctx.error(sub, f"expected {{action: NAME}}, found {shown(item)}")
            continue
        for k in item:
            if k not in ("action", "percent", "metadata"):
                ctx.error((*sub, k), f"unknown field '{k}'"
                          f"{suggest(str(k), ('action', 'percent', 'metadata'))}")
        action = item["action"]
        if action not in EMIT_NAMES:
            ctx.error((*sub, "action"), f"unknown action {shown(action)}"
                      f"{suggest(str(action), EMIT_NAMES)}")
            continue
        pct = _percent(item["percent"], action, ctx, (*sub, "percent")) if "percent" in item \
            else 100.0
        meta = item.get("metadata") or {}
        if not isinstance(meta, dict):
            ctx.error((*sub, "metadata"), f"expected a mapping, found {shown(meta)}")
            meta = {}
        out.append(Emit(action, pct, tuple(sorted((str(k), v) for k, v in meta.items()))))
    return tuple(out)


def _block(raw: dict[str, Any], ctx: ConditionContext, path: PathKey, bid: str) -> CaseBlock:
    for k in raw:
        if k not in ("id", "cases", "else"):
            ctx.error((*path, k), f"unknown field '{k}'{suggest(str(k), ('id', 'cases', 'else'))}")
    cases_raw = raw.get("cases")
    if not isinstance(cases_raw, list) or not cases_raw:
        ctx.error((*path, "cases"), f"expected a non-empty list of cases, found "
                                    f"{shown(cases_raw)}")
        cases_raw = []
    cases: list[Case] = []
    for i, c in enumerate(cases_raw):
        sub = (*path, "cases", i)
        if not isinstance(c, dict) or "when" not in c or "emit" not in c:
            ctx.error(sub, "expected {when: CONDITION, emit: [...]}")
            continue
        for k in c:
            if k not in ("when", "emit"):
                ctx.error((*sub, k), f"unknown field '{k}'{suggest(str(k), ('when', 'emit'))}")
        plan = ConditionPlan.of(ctx.compile(c["when"], (*sub, "when")))
        cases.append(Case(plan, _emits(c["emit"], ctx, (*sub, "emit"))))
    else_emits: tuple[Emit, ...] = ()
    if "else" in raw:
        e = raw["else"]
        sub = (*path, "else")
        if isinstance(e, dict) and set(e) == {"emit"}:
            else_emits = _emits(e["emit"], ctx, (*sub, "emit"))
        else:
            ctx.error(sub, "expected {emit: [...]}")
    return CaseBlock(bid, tuple(cases), else_emits)


# ====================================================================== evaluate


class _Collect:
    """The per-action truth arrays of `evaluate_actions`, ORed as cases fire. A case's truth
    array is kept as is the first time (no copy); a second hit ORs into a new array."""

    def __init__(self, compiled: CompiledActions) -> None:
        # position_policy: the dropped actions are never written (their arrays stay false)
        self.allowed = {"entry_long": compiled.mode != "short_only",
                        "entry_short": compiled.mode != "long_only"}
        exits = compiled.exit_mode != "sl_tp_only"  # sl_tp_only: only SL/TP close positions
        self.allowed.update(exit_long=exits, exit_short=exits)
        self.arrays: dict[str, Bool] = {}
        self.owned: set[str] = set()
        self.pct_hits: tuple[list[tuple[Bool, float]], list[tuple[Bool, float]]] = ([], [])

    def _or(self, name: str, hit: Bool) -> None:
        if not self.allowed[name]:
            return
        cur = self.arrays.get(name)
        if cur is None:
            self.arrays[name] = hit
        elif name in self.owned:
            cur |= hit
        else:
            self.arrays[name] = cur | hit
            self.owned.add(name)

    def apply(self, emits: tuple[Emit, ...], hit: Bool) -> None:
        for e in emits:
            if e.action in ("entry_long", "entry_short"):
                self._or(e.action, hit)
            if e.action in ("exit_long", "exit_all"):
                self._or("exit_long", hit)
                if self.allowed["exit_long"]:
                    self.pct_hits[0].append((hit, e.percent))
            if e.action in ("exit_short", "exit_all"):
                self._or("exit_short", hit)
                if self.allowed["exit_short"]:
                    self.pct_hits[1].append((hit, e.percent))

    def signals(self, n: int) -> ActionSignals:
        seen: set[int] = set()
        out: list[Bool] = []
        for name in ("entry_long", "entry_short", "exit_long", "exit_short"):
            a = self.arrays.get(name)
            if a is None:
                a = np.zeros(n, dtype=bool)
            elif id(a) in seen:
                a = a.copy()  # every field its own array
            seen.add(id(a))
            out.append(a)
        return ActionSignals(out[0], out[1], out[2], out[3], pct_hits=self.pct_hits)


def evaluate_actions(
    compiled: CompiledActions, series: Mapping[str, npt.ArrayLike], *, n: int | None = None
) -> ActionSignals:
    """Entry and exit signals for every exec bar (see the module docstring for the rules).

    Parameters
    ----------
    compiled : CompiledActions
        From `compiled_actions(play)`.
    series : Mapping[str, array_like]
        Every series the actions read (`compiled.series`), one value per exec bar, higher
        timeframes already aligned (`align_to_exec`).
    n : int, optional
        The number of bars; needed only when the actions read no series.

    Returns
    -------
    ActionSignals

    Raises
    ------
    ValueError
        The bar count cannot be inferred (no series given and no `n`), or a series is
        missing or of another length.
    """
    if n is None:
        lengths = {len(np.asarray(series[k])) for k in compiled.series if k in series}
        if len(lengths) != 1:
            raise ValueError("cannot infer the number of bars; pass n=")
        n = lengths.pop()
    vec = VectorEvaluator(series)  # plans reading the same series share their arrays
    out = _Collect(compiled)
    for block in compiled.blocks:
        remaining: Bool | None = None  # bars no earlier case matched (None: every bar)
        last = len(block.cases) - 1
        for i, case in enumerate(block.cases):
            truth = vec.evaluate(case.when, n=n)
            hit = truth if remaining is None else truth & remaining  # first matching case wins
            out.apply(case.emits, hit)
            if i < last or block.else_emits:
                if remaining is None:
                    remaining = ~truth
                else:
                    remaining &= ~truth
        if block.else_emits:
            out.apply(block.else_emits, np.ones(n, dtype=bool) if remaining is None
                      else remaining)
    return out.signals(n)


class ActionEvaluator:
    """Incremental counterpart of `evaluate_actions`: one `update` per exec bar."""

    def __init__(self, compiled: CompiledActions) -> None:
        self.compiled = compiled
        self._evals = [[IncrementalEvaluator(c.when) for c in b.cases] for b in compiled.blocks]

    def update(self, values: Mapping[str, float]) -> ActionDecision:
        return self._step(values, peek=False)

    def peek(self, values: Mapping[str, float]) -> ActionDecision:
        """Decisions for `values` without committing the bar (1m sub-exec evaluation)."""
        return self._step(values, peek=True)

    def _step(self, values: Mapping[str, float], *, peek: bool) -> ActionDecision:
        d = ActionDecision()
        for block, evals in zip(self.compiled.blocks, self._evals, strict=True):
            # every case is evaluated each bar so window state stays current
            truths = [ev.peek(values) if peek else ev.update(values) for ev in evals]
            chosen = block.else_emits
            for case, t in zip(block.cases, truths, strict=True):
                if t:
                    chosen = case.emits
                    break
            for e in chosen:
                if e.action == "entry_long":
                    d.entry_long = True
                elif e.action == "entry_short":
                    d.entry_short = True
                if e.action in ("exit_long", "exit_all"):
                    d.exit_long = True
                    d.exit_long_pct = max(d.exit_long_pct, e.percent)
                if e.action in ("exit_short", "exit_all"):
                    d.exit_short = True
                    d.exit_short_pct = max(d.exit_short_pct, e.percent)
        mode, exit_mode = self.compiled.mode, self.compiled.exit_mode
        if mode == "long_only":
            d.entry_short = False
        elif mode == "short_only":
            d.entry_long = False
        if exit_mode == "sl_tp_only":
            d.exit_long = d.exit_short = False
            d.exit_long_pct = d.exit_short_pct = 0.0
        return d
