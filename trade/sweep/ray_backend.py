"""The Ray backend: the same `evaluate` in Ray tasks.

The SweepContext (Play, 1m bars, windows, settings) is `ray.put` once; tasks receive its
reference wrapped in a list (so Ray does not resolve it per task) and each worker process
keeps the resolved context — and with it its FrameCache of indicators — in a module-level
dict for the whole sweep. Arrow tables in the object store are read zero-copy, so a node
holds one copy of the bars however many workers it runs. Variants go in small batches per
task to amortise scheduling.

`address`: None or "local" starts a local Ray (bound to 127.0.0.1, no dashboard); "auto" or
"ray://host:port" / "host:port" joins a running cluster (whose workers must have `trade`
installed). A Ray already initialised in this process is reused and left running. Starting
and stopping a local Ray costs seconds per command; a cluster started once with `ray start
--head` and joined with `--address auto` pays that once (see docs/sweeps.md).

Each task reports the id of the node it ran on; `RayExecutor.nodes_used` collects them, so
a caller (and the multi-node test) can see that the work was spread.

Thread ownership: a RayExecutor belongs to the sweep runner's thread; Ray completes the
futures on its own threads, and the only state they touch is `nodes_used` (a set, updated
under the GIL by single `add` calls).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from trade.core import InputError
from trade.sweep.evaluate import SweepContext
from trade.sweep.portfolio import PortfolioSweepContext
from trade.sweep.space import Scalar

_CONTEXTS: dict[str, SweepContext | PortfolioSweepContext] = {}


def _eval_batch(key: str, ctx_ref: list[Any], batch: list[dict[str, Scalar]]
                ) -> tuple[str, list[dict[str, Any]]]:
    import ray

    from trade.sweep.runner import evaluate_safe

    ctx = _CONTEXTS.get(key)
    if ctx is None:
        _CONTEXTS.clear()  # one sweep's context per worker at a time (bounded memory)
        ctx = ray.get(ctx_ref[0])
        _CONTEXTS[key] = ctx
    node = str(ray.get_runtime_context().get_node_id())
    return node, [evaluate_safe(ctx, p) for p in batch]


class RayExecutor:
    """Evaluates sweep variants in Ray tasks on a local or a joined cluster."""

    def __init__(self, ctx: SweepContext | PortfolioSweepContext, *, address: str | None = None,
                 workers: int | None = None, batch: int = 4) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--backend ray needs Ray: pip install 'trade[ray]'") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            if address in (None, "local"):
                ray.init(address="local", num_cpus=workers, include_dashboard=False,
                         _node_ip_address="127.0.0.1", log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._owned = True
        cpus = int(ray.cluster_resources().get("CPU", 1)) or 1  # type: ignore[no-untyped-call]
        self.slots = workers or cpus
        self.batch = batch
        self._ref = ray.put(ctx)
        import uuid

        self._key = uuid.uuid4().hex
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_eval_batch)
        self.nodes_used: set[str] = set()

    def submit(self, batch: list[dict[str, Scalar]]) -> Future[list[dict[str, Any]]]:
        """Run one batch of variants in a Ray task; the future holds their result rows."""
        ref = self._remote.remote(self._key, [self._ref], batch)
        task: Future[tuple[str, list[dict[str, Any]]]] = ref.future()
        rows: Future[list[dict[str, Any]]] = Future()

        def _done(f: Future[tuple[str, list[dict[str, Any]]]]) -> None:
            exc = f.exception()
            if exc is not None:
                rows.set_exception(exc)  # the runner sees the task's failure as the batch's
                return
            node, result = f.result()
            self.nodes_used.add(node)
            rows.set_result(result)

        task.add_done_callback(_done)
        return rows

    def close(self) -> None:
        """Shut Ray down if this executor started it; a joined or reused Ray stays up."""
        if self._owned:
            self._ray.shutdown()
