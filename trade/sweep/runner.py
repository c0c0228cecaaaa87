"""Run a sweep: propose variants (grid / random / Bayesian), evaluate them on a backend, stream
rows to Parquet, and summarise.

Backends: `local` — a thread pool (default: one thread per core) over `evaluate`; the
kernel runs its whole loop with the GIL released, so threads scale across cores, and every
thread reads the same 1m bars and the same cached features. `ray` — the same `evaluate` in
Ray tasks (trade.sweep.ray_backend); the context (Play, bars, windows) is put in the object
store once. Both give the same rows for the same parameters (a test compares the tables).

The summary (trade.sweep.analysis.summarize: best variant, walk-forward selection, deflated
Sharpe ratio, PBO, overfitting flag) is returned and written beside the results as
`<stem>.summary.json`.

Interrupting (KeyboardInterrupt, or `stop.set()`) stops proposing, lets the variants already
running finish, writes them, and closes the file: it stays valid, and `resume=True` carries
on from it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from trade.core import InputError
from trade.engine import order_plan, sim_config
from trade.play import PlayError
from trade.play.errors import PlayIssue
from trade.sweep.analysis import higher_is_better, summarize
from trade.sweep.evaluate import SweepContext, evaluate
from trade.sweep.portfolio import (
    PortfolioSweepContext,
    evaluate_portfolio,
    portfolio_preflight,
    portfolio_space,
)
from trade.sweep.results import ResultsWriter, read_results, results_schema
from trade.sweep.space import Dimension, Scalar, Space, variant_id

Search = Literal["grid", "random", "bayes"]
Backend = Literal["local", "ray"]
ProgressFn = Callable[[int, int | None], None]
Params = dict[str, Scalar]
#: a sweep's shared context: one Play, or a portfolio (trade.sweep.portfolio)
AnyContext = SweepContext | PortfolioSweepContext


def evaluate_safe(ctx: AnyContext, params: Mapping[str, Any]) -> dict[str, Any]:
    """`evaluate`, or an error row when the variant cannot run (bad parameter value...).

    Parameters
    ----------
    ctx : SweepContext or PortfolioSweepContext
        The sweep's shared context (a portfolio's variants are scored by
        `trade.sweep.portfolio.evaluate_portfolio`).
    params : Mapping[str, Any]
        The variant: dotted Play path -> value.

    Returns
    -------
    dict[str, Any]
        The row of `evaluate`; when it raised a ValueError (PlayError and InputError are
        ValueErrors) instead a row with `variant_id`, the `param.` columns, `n_trades` 0,
        `eligible` False and `error` (the first line of the message, at most 500 characters).
        Other exceptions propagate.
    """
    try:
        if isinstance(ctx, PortfolioSweepContext):
            return evaluate_portfolio(ctx, params)
        return evaluate(ctx, params)
    except ValueError as exc:  # PlayError / InputError are ValueErrors: the variant is invalid
        row: dict[str, Any] = {"variant_id": variant_id(params), "n_trades": 0,
                               "eligible": False, "error": str(exc).splitlines()[0][:500]}
        for k, v in params.items():
            row[f"param.{k}"] = v
        return row


# ====================================================================== pre-flight


def probe_values(d: Dimension) -> list[Scalar]:
    """Values of one dimension that stand for all of them in the pre-flight check."""
    if d.kind == "discrete":
        return list(dict.fromkeys(d.values))[:64]
    if d.kind == "int":
        return list(dict.fromkeys([int(d.low), int((d.low + d.high) // 2), int(d.high)]))
    # interior points of a float range (what random / Bayesian search will draw)
    return [d.low + (d.high - d.low) * f for f in (0.13, 0.37, 0.61, 0.89)] \
        if d.high > d.low else [d.low]


def _variant_issue(ctx: SweepContext, params: Mapping[str, Any]) -> PlayIssue | None:
    """Why the variant of `params` cannot run (its first Play issue), or None if it can."""
    try:
        play = ctx.variant_play(params)
        sim_config(play, order_plan(play, ctx.instrument), ctx.instrument)
    except PlayError as exc:
        return exc.issues[0]
    except ValueError as exc:  # InputError from the order rules
        return PlayIssue(ctx.play.source, 0, "", str(exc).splitlines()[0])
    return None


def preflight(ctx: AnyContext, space: Space) -> None:
    """Find errors common to every variant before the sweep starts: a dimension whose every
    value makes the Play invalid (a mistyped path, `values:a,b` for a number, `float:` on an
    integer). Raises PlayError with one issue per such dimension (as `trade play validate`);
    a portfolio's are `trade.sweep.portfolio.portfolio_preflight`'s."""
    if isinstance(ctx, PortfolioSweepContext):
        portfolio_preflight(ctx, space)
        return
    issues: list[PlayIssue] = []
    for d in space.dims:
        probes = probe_values(d)
        found = [_variant_issue(ctx, {d.path: v}) for v in probes]
        if probes and all(i is not None for i in found):
            first = found[0]
            assert first is not None
            spec = {"discrete": "value", "int": "int value", "float": "float value"}[d.kind]
            issues.append(PlayIssue(first.file, first.line, first.path,
                                    f"{first.message} (--param {d.path}: every {spec} tried "
                                    f"is invalid, so no variant can run)"))
    if issues:
        raise PlayError(issues)


# ====================================================================== proposers


class Proposer(Protocol):
    total: int | None

    def ask(self) -> Params | None: ...

    def tell(self, params: Params, row: Mapping[str, Any]) -> None: ...


class IterProposer:
    """Grid or random points, skipping ids already done."""

    def __init__(self, points: Iterator[Params], total: int | None, done: set[str]) -> None:
        self._it = points
        self.total = total
        self._done = done

    def ask(self) -> Params | None:
        for p in self._it:
            if variant_id(p) not in self._done:
                return p
        return None

    def tell(self, params: Params, row: Mapping[str, Any]) -> None:
        return None


class BayesProposer:
    """Optuna TPE (seeded) with ask/tell; constraint violations are pruned trials, repeats of a
    known variant are told its known score. Finished rows (resume) seed the study."""

    def __init__(self, space: Space, budget: int, sort: str, seed: int,
                 previous: Sequence[Mapping[str, Any]]) -> None:
        try:
            import optuna
        except ImportError:
            raise InputError("--search bayes needs optuna: pip install optuna") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.space = space
        self.sort = sort
        self.sign = 1.0 if higher_is_better(sort) else -1.0
        self.total: int | None = budget
        self._budget = budget
        self._asked = 0
        self._known: dict[str, float | None] = {}
        self._pending: dict[str, list[Any]] = {}
        self.study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self._dists = {d.path: self._dist(d) for d in space.dims}
        for row in previous:
            params = {d.path: row.get(f"param.{d.path}") for d in space.dims}
            value = self._value(row)
            self._known[variant_id(params)] = value
            self._asked += 1
            if value is not None:
                self.study.add_trial(optuna.trial.create_trial(
                    params=params, distributions=self._dists, value=value))

    def _dist(self, d: Dimension) -> Any:
        dist = self._optuna.distributions
        if d.kind == "int":
            return dist.IntDistribution(int(d.low), int(d.high), log=d.log)
        if d.kind == "float":
            return dist.FloatDistribution(d.low, d.high, log=d.log)
        return dist.CategoricalDistribution(list(d.values))

    def _value(self, row: Mapping[str, Any]) -> float | None:
        v = row.get(f"metric.{self.sort}")
        if v is None or row.get("error") is not None or not math.isfinite(float(v)):
            return None
        if not row.get("eligible", True):
            return None
        return float(v) * self.sign

    def ask(self) -> Params | None:
        tries = 0
        while self._asked < self._budget and tries < 200:
            tries += 1
            trial = self.study.ask(self._dists)
            params: Params = {d.path: trial.params[d.path] for d in self.space.dims}
            if not self.space.admits(params):
                self.study.tell(trial, state=self._optuna.trial.TrialState.PRUNED)
                continue
            vid = variant_id(params)
            if vid in self._known:  # a repeat: tell what we know, do not run it again
                value = self._known[vid]
                if value is None:
                    self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
                else:
                    self.study.tell(trial, value)
                continue
            if vid in self._pending:
                self._pending[vid].append(trial)
                continue
            self._pending[vid] = [trial]
            self._asked += 1
            return params
        return None

    def tell(self, params: Params, row: Mapping[str, Any]) -> None:
        vid = variant_id(params)
        value = self._value(row)
        self._known[vid] = value
        for trial in self._pending.pop(vid, []):
            if value is None:
                self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, value)


def make_proposer(space: Space, search: Search, budget: int | None, seed: int, sort: str,
                  done: set[str], previous: Sequence[Mapping[str, Any]]) -> Proposer:
    if search == "grid":
        total = space.grid_size() if not space.constraints else None
        if budget is not None:
            it = space.grid()
            limited = (p for _, p in zip(range(budget), it, strict=False))
            return IterProposer(limited, budget if total is None else min(budget, total), done)
        return IterProposer(space.grid(), total, done)
    if search == "random":
        if budget is None:
            raise InputError("--search random needs --budget N")
        return IterProposer(space.random(budget, seed), budget, done)
    if search == "bayes":
        if budget is None:
            raise InputError("--search bayes needs --budget N")
        return BayesProposer(space, budget, sort, seed, previous)
    raise InputError(f"unknown search {search!r}: grid, random or bayes")


# ====================================================================== executors


class Executor(Protocol):
    slots: int

    def submit(self, batch: list[Params]) -> Future[list[dict[str, Any]]]: ...

    def close(self) -> None: ...


_WORKER_CTX: list[AnyContext] = []  # the context of a worker process (set once)


def _init_worker(ctx: AnyContext) -> None:
    _WORKER_CTX[:] = [ctx]


def _worker_eval(batch: list[Params]) -> list[dict[str, Any]]:
    return [evaluate_safe(_WORKER_CTX[0], p) for p in batch]


class LocalExecutor:
    """Threads over `evaluate` (the kernel releases the GIL). Event-path sweeps (Plays with
    `account.max_drawdown_pct`: Python bar by bar, holding the GIL) use worker processes
    instead, each receiving the context once."""

    def __init__(self, ctx: AnyContext, workers: int) -> None:
        self.ctx = ctx
        self.slots = workers
        self.batch = 1
        self._processes = ctx.needs_event and workers > 1
        self._pool: ThreadPoolExecutor | ProcessPoolExecutor
        if self._processes:
            # spawn, not fork: a forked pyarrow/thread state is not safe to use in the child
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(ctx,))
        else:
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")

    def submit(self, batch: list[Params]) -> Future[list[dict[str, Any]]]:
        if self._processes:
            return self._pool.submit(_worker_eval, batch)
        return self._pool.submit(lambda: [evaluate_safe(self.ctx, p) for p in batch])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class SweepOutcome:
    """What a sweep did: the results file, counts, and the summary (trade.sweep.analysis).

    `n_new` rows were evaluated by this run, `n_skipped` were already in the file (resume),
    `interrupted` is True after Ctrl-C or `stop`; `summary` is what `summarize` returned plus
    `data` (where the bars came from), also written to `<stem>.summary.json`."""

    path: Path
    n_new: int
    n_skipped: int
    interrupted: bool
    summary: dict[str, Any] = field(default_factory=dict)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def run_sweep(
    ctx: AnyContext,
    space: Space,
    out: str | Path,
    *,
    search: Search = "grid",
    budget: int | None = None,
    seed: int = 0,
    backend: Backend = "local",
    address: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    row_group: int = 128,
) -> SweepOutcome:
    """Evaluate the variants of `space` and write the results table to `out`.

    Errors common to every variant are raised before anything is written (`preflight`); a
    sweep in which no variant ran leaves `out` as it was and raises InputError.

    Parameters
    ----------
    ctx : SweepContext or PortfolioSweepContext
        The base Play (or portfolio), bars, settings, windows and hold-out.
    space : Space
        The dimensions and constraints to search.
    out : str or Path
        The results Parquet file; the summary goes beside it as `<stem>.summary.json`.
    search : {"grid", "random", "bayes"}
        How variants are proposed: every grid point, `budget` random points, or Optuna TPE
        for `budget` trials.
    budget : int, optional
        The number of variants; required by random and Bayesian search, caps a grid.
    seed : int
        Seed of the random and Bayesian proposers.
    backend : {"local", "ray"}
        Threads in this process (processes for event-path Plays) or Ray tasks.
    address : str, optional
        The Ray cluster to join (Ray backend only; None starts a local Ray).
    workers : int, optional
        Parallel evaluations (default: the CPUs this process may use).
    resume : bool
        Keep the rows of an existing `out` and skip their variants.
    progress : callable, optional
        Called as ``progress(done, total)`` after each finished batch (total None when
        unknown, e.g. a constrained grid).
    stop : threading.Event, optional
        Set it to stop proposing; running variants finish and are written.
    row_group : int
        Rows per Parquet row group (bounds the memory of buffered rows).

    Returns
    -------
    SweepOutcome
        The results path, new and skipped row counts, whether it was interrupted, and the
        summary.

    Raises
    ------
    InputError
        An unknown backend or search, random/Bayesian search without a budget, a `resume`
        file that does not match, or not one variant could run.
    PlayError
        From the pre-flight check: a dimension whose every value makes an invalid Play.
    KeyboardInterrupt
        Re-raised after the finished rows are written and the file closed.
    """
    preflight(ctx, space)
    schema = results_schema(space.dims, ctx.settings.metrics, walk_forward=bool(ctx.windows),
                            holdout=ctx.selection_end is not None,
                            keep_daily=ctx.settings.keep_daily)
    # the data source travels with the results (a synthetic sweep says so in the file)
    schema = schema.with_metadata({b"trade.data": json.dumps(ctx.data, sort_keys=True,
                                                             default=str).encode()})
    writer = ResultsWriter(out, schema, resume=resume, row_group=row_group)
    previous: list[dict[str, Any]] = []
    if resume and writer.done_ids and search == "bayes":
        previous = read_results(out).to_pylist()
    n_skipped = len(writer.done_ids)
    executor: Executor
    n_workers = workers or default_workers()
    if backend == "local":
        executor = LocalExecutor(ctx, n_workers)
    elif backend == "ray":
        from trade.sweep.ray_backend import RayExecutor

        executor = RayExecutor(ctx, address=address, workers=workers)
    else:
        writer.close()
        raise InputError(f"unknown backend {backend!r}: local or ray")
    n_new = 0
    interrupted = False
    try:
        proposer = make_proposer(space, search, budget, seed, ctx.settings.sort,
                                 writer.done_ids, previous)
        total = proposer.total
        if total is not None:
            total = max(total - n_skipped, 0)
        inflight: dict[Future[list[dict[str, Any]]], list[Params]] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(inflight) < executor.slots * 2 and not (
                        stop is not None and stop.is_set()):
                    batch: list[Params] = []
                    for _ in range(getattr(executor, "batch", 1)):
                        p = proposer.ask()
                        if p is None:
                            exhausted = True
                            break
                        batch.append(p)
                    if batch:
                        inflight[executor.submit(batch)] = batch
                if not inflight:
                    break
                if stop is not None and stop.is_set():
                    interrupted = True
                    exhausted = True
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    batch = inflight.pop(fut)
                    rows = fut.result()
                    for p, row in zip(batch, rows, strict=True):
                        writer.add(row)
                        proposer.tell(p, row)
                        n_new += 1
                    if progress is not None:
                        progress(n_new, total)
        except KeyboardInterrupt:
            interrupted = True
            for fut in list(inflight):  # what is running finishes; what is queued is dropped
                if fut.cancel():
                    inflight.pop(fut)
            for fut in inflight:
                try:
                    rows = fut.result()
                except KeyboardInterrupt:
                    break
                for row in rows:
                    writer.add(row)
                    n_new += 1
    except KeyboardInterrupt:
        executor.close()
        writer.close()  # a Ctrl-C keeps the finished rows (resume carries on)
        raise
    except BaseException:
        executor.close()
        writer.abort()  # a failed sweep (disk full, a bug) leaves the results as they were
        raise
    executor.close()
    if n_new == 0 and n_skipped == 0 and not interrupted:
        # no variant was proposed at all (the constraints exclude every point): the sweep
        # has nothing to report, so it fails and the results file stays as it was
        writer.abort()
        raise InputError("no variant of the sweep satisfies the constraints "
                         f"({'; '.join(c.text for c in space.constraints) or 'none'}); "
                         "nothing ran")
    if writer.n_ok == 0 and writer.first_error is not None and not interrupted:
        # not one variant could run: the sweep failed; the results file stays as it was
        writer.abort()
        raise InputError(f"no variant of the sweep could run ({writer.n_errors} failed); "
                         f"first error: {writer.first_error}")
    writer.close()
    table = read_results(writer.path)
    summary = summarize(table, ctx.settings.sort, min_trades=ctx.settings.min_trades,
                        windows=ctx.windows)
    summary["data"] = ctx.data
    summary_path(writer.path).write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                         encoding="utf-8")
    return SweepOutcome(writer.path, n_new, n_skipped, interrupted, summary)


def summary_path(results: Path) -> Path:
    """Where the summary of a results file is written: `<results stem>.summary.json`."""
    return results.with_name(results.stem + ".summary.json")


def space_for(ctx: AnyContext, params: Sequence[str] = (), constraints: Sequence[str] = (),
              *, use_play_sweep: bool = True) -> Space:
    """The space of a sweep: the Play's `sweep:` section, then `--param` specs (which replace
    a Play entry of the same path), and constraints.

    Parameters
    ----------
    ctx : SweepContext or PortfolioSweepContext
        Supplies the Play (its `sweep:` section and its document, for constraint values);
        a portfolio's space is `trade.sweep.portfolio.portfolio_space`'s.
    params : Sequence[str]
        ``PATH=SPEC`` texts (`parse_dimension`).
    constraints : Sequence[str]
        Constraint expressions (`Constraint.parse`).
    use_play_sweep : bool
        Start from the Play's `sweep:` section (False: only `params`).

    Returns
    -------
    Space
        The dimensions in order (Play entries first), the constraints, and the Play
        document as the base for unswept constraint values.

    Raises
    ------
    InputError
        Nothing to sweep (no `sweep:` section used and no `params`), or a spec or constraint
        that `parse_dimension`, `Constraint.parse` or `Space` refuses.
    """
    from trade.sweep.space import Constraint, dimension_from_sweep, parse_dimension

    if isinstance(ctx, PortfolioSweepContext):
        return portfolio_space(ctx, params, constraints, use_play_sweep=use_play_sweep)
    dims: dict[str, Dimension] = {}
    if use_play_sweep:
        for path, sp in ctx.play.sweep.items():
            dims[path] = dimension_from_sweep(path, sp)
    for text in params:
        d = parse_dimension(text)
        dims[d.path] = d
    if not dims:
        raise InputError(f"{ctx.play.source}: nothing to sweep: the Play has no sweep: section "
                         "and no --param was given")
    return Space(tuple(dims.values()), tuple(Constraint.parse(c) for c in constraints),
                 ctx.play.raw)
