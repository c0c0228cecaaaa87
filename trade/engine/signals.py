"""Translate a Play into `SignalArrays` for the fast batch path.

Rows: one per exec bar (decisions from the vectorised evaluator). When some action reads
`last_price` / `mark_price`, one row per 1m bar instead: the exec-close rows as before, and
for every other 1m bar the decisions of those actions only, peeked on the last closed exec
values plus that 1m close (the same evaluation PlayEngine does at each 1m close; these rows
come from the incremental evaluator since they depend on a bar that was never committed).

Every number in a row (size, SL/TP/trailing distances and activation, break-even, limit
offset) and the run's entry time in force come from the same `OrderPlan` PlayEngine uses, so
the batch and event paths agree exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from trade.engine.features import ExecFrame, peek_values
from trade.engine.orders import OrderPlan
from trade.engine.play_engine import intrabar_actions, to_decision
from trade.play import ActionEvaluator, ActionSignals, CompiledActions, evaluate_actions
from trade.sim.signals import SignalArrays, constant


def _exit_pct(s: ActionSignals) -> npt.NDArray[np.float64]:
    both = s.exit_long & s.exit_short
    pct = np.where(s.exit_long, s.exit_long_pct, np.where(s.exit_short, s.exit_short_pct, 100.0))
    pct = np.where(both, np.maximum(s.exit_long_pct, s.exit_short_pct), pct)
    return np.where(pct > 0, pct, 100.0).astype(np.float64)


def _exit_pct_column(s: ActionSignals, n: int) -> npt.NDArray[np.float64]:
    """exit_pct of every row. Only rows with an exit set are ever read (the kernel reads it
    for an exit of the held side), so it is computed on those rows alone, and is one
    broadcast 100 when every exit there closes all."""
    rows = np.flatnonzero(s.exit_long | s.exit_short)
    if len(rows) == 0:
        return constant(n, 100.0)
    el, es = s.exit_long[rows], s.exit_short[rows]
    lp, sp = s.exit_long_pct[rows], s.exit_short_pct[rows]
    pct = np.where(el, lp, sp)
    pct = np.where(el & es, np.maximum(lp, sp), pct)
    pct = np.where(pct > 0, pct, 100.0)
    if bool(np.all(pct == 100.0)):
        return constant(n, 100.0)
    out = np.full(n, 100.0)
    out[rows] = pct
    return out


def _exits_close_all(compiled: CompiledActions) -> bool:
    """Every exit the actions can emit closes the whole position (percent >= 100, or 0 which
    means 100): exit_pct is then 100 wherever it is read, with no row scan."""
    emits = [e for b in compiled.blocks for es in (*(c.emits for c in b.cases), b.else_emits)
             for e in es if e.action in ("exit_long", "exit_short", "exit_all")]
    return all(e.percent >= 100 or e.percent <= 0 for e in emits)


def _flag(a: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """A 0/1 column as a uint8 view of the evaluator's bool array (no copy)."""
    return np.ascontiguousarray(a, dtype=np.bool_).view(np.uint8)


def _float_column(v: npt.NDArray[np.float64] | float, n: int) -> npt.NDArray[np.float64]:
    return constant(n, v) if isinstance(v, float) else v


def build_signals(compiled: CompiledActions, frame: ExecFrame, plan: OrderPlan) -> SignalArrays:
    """The batch inputs of a run (see the module docstring). Whole-array work only: a column
    that is the same on every row (the plan's sizing, break-even, limit offset, ROI brackets)
    is one broadcast value, not an array (`trade.sim.signals.constant`). The result is valid
    by construction: run it with `run_batch(..., checked=True)`.

    Parameters
    ----------
    compiled : CompiledActions
        The Play's compiled actions (`trade.play.compiled_actions(play)`).
    frame : ExecFrame
        The exec bars and series the actions read (`exec_frame`).
    plan : OrderPlan
        The sizing and bracket rules (`order_plan`).

    Returns
    -------
    SignalArrays
        One row per exec bar: entry and exit flags, exit percentage, sizing and bracket
        distances (fractions of the entry price). A Play with intrabar actions (reading
        `last_price` / `mark_price`) gets one row per 1m bar instead.
    """
    n_exec = len(frame)
    acts = evaluate_actions(compiled, frame.series, n=n_exec)
    if compiled.intrabar:
        return _intrabar_signals(compiled, frame, plan, acts)
    ref = frame.series["last_price"]  # the close of each exec bar's closing 1m bar
    if all(r.kind in ("none", "roi") for r in (plan.stop, plan.take_profit, plan.trail)):
        # brackets that read no price or feature are the same on every row: no row scan
        direction = np.zeros(0, dtype=np.int8)
    else:
        direction = acts.entry_long.astype(np.int8) - acts.entry_short.astype(np.int8)
    sl, tp, tr = plan.bracket_columns(direction, ref, frame.series)
    return SignalArrays(
        exec_close_idx=frame.close_idx,
        entry_long=_flag(acts.entry_long),
        entry_short=_flag(acts.entry_short),
        exit_long=_flag(acts.exit_long),
        exit_short=_flag(acts.exit_short),
        size_value=constant(n_exec, plan.size_value),
        sl_pct=_float_column(sl, n_exec),
        tp_pct=_float_column(tp, n_exec),
        trail_pct=_float_column(tr, n_exec),
        be_activation=constant(n_exec, plan.be_activation),
        be_offset=constant(n_exec, plan.be_offset),
        exit_pct=(constant(n_exec, 100.0) if _exits_close_all(compiled)
                  else _exit_pct_column(acts, n_exec)),
        entry_limit_offset=constant(n_exec, plan.limit_offset),
        trail_activation=constant(n_exec, plan.trail_activation),
        size_mode=plan.size_mode,
        allow_flip=plan.allow_flip,
        expire_bars=plan.expire_bars_1m,
        entry_tif=plan.entry_tif,
        **partial_mode(plan),
    )


def partial_mode(plan: OrderPlan) -> dict[str, Any]:
    """The plan's split take-profits and limit / mark-price brackets as the run constants
    of SignalArrays (docs/fill_model.md rule 4, A-D)."""
    return {"take_profit_levels": plan.tp_levels, "tp_limit": plan.tp_limit,
            "sl_limit": plan.sl_limit, "tp_by_mark": plan.tp_by_mark,
            "sl_by_mark": plan.sl_by_mark}


def _fill_orders(sig: SignalArrays, plan: OrderPlan) -> None:
    n = len(sig)
    sig.size_value = constant(n, plan.size_value)
    sig.be_activation = constant(n, plan.be_activation)
    sig.be_offset = constant(n, plan.be_offset)
    sig.entry_limit_offset = constant(n, plan.limit_offset)
    sig.trail_activation = constant(n, plan.trail_activation)


def _intrabar_signals(compiled: CompiledActions, frame: ExecFrame, plan: OrderPlan,
                      acts: ActionSignals) -> SignalArrays:
    n = len(frame.close_1m)
    sig = SignalArrays.empty(np.arange(n, dtype=np.int64),
                             size_mode=plan.size_mode,
                             allow_flip=plan.allow_flip, expire_bars=plan.expire_bars_1m,
                             entry_tif=plan.entry_tif, **partial_mode(plan))
    _fill_orders(sig, plan)
    exit_pct = _exit_pct(acts)
    intra = ActionEvaluator(intrabar_actions(compiled))
    names = set(frame.series)
    market = frame.market_1m
    exec_values: dict[str, float] = {k: math.nan for k in names}
    is_close = np.zeros(n, dtype=bool)
    is_close[frame.close_idx] = True
    j = 0
    for i in range(n):
        close = float(frame.close_1m[i])
        if is_close[i]:
            exec_values = frame.row(j, names)
            intra.update(exec_values)  # keep its window state in step with the engine's
            el, es = bool(acts.entry_long[j]), bool(acts.entry_short[j])
            sig.entry_long[i], sig.entry_short[i] = el, es
            sig.exit_long[i], sig.exit_short[i] = acts.exit_long[j], acts.exit_short[j]
            sig.exit_pct[i] = exit_pct[j]
            values = exec_values
            j += 1
        else:
            values = peek_values(exec_values, close, float(frame.mark_1m[i]),
                                 {k: float(m[i]) for k, m in market.items()})
            d = to_decision(intra.peek(values))
            el, es = d.entry_long, d.entry_short
            sig.entry_long[i], sig.entry_short[i] = el, es
            sig.exit_long[i], sig.exit_short[i] = d.exit_long, d.exit_short
            sig.exit_pct[i] = d.exit_pct
        if el != es:
            sl, tp, tr = plan.brackets(1 if el else -1, close, values)
            sig.sl_pct[i], sig.tp_pct[i], sig.trail_pct[i] = sl, tp, tr
    return sig
