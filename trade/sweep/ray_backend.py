"""The Ray backend: the same `evaluate` in Ray tasks.

The SweepContext (Play, 1m bars, windows, settings) is `ray.put` once; tasks receive its
reference wrapped in a list (so Ray does not resolve it per task) and each worker process
keeps the resolved context — and with it its FrameCache of indicators — in a module-level
dict for the whole sweep. Arrow tables in the object store are read zero-copy, so a node
holds one copy of the bars however many workers it runs. Variants go in small batches per
task to amortise scheduling.

`address`: None or "local" starts a local Ray (bound to 127.0.0.1, no dashboard); "auto" or
"ray://host:port" / "host:port" joins a running cluster (whose workers must have `trade`
installed). A Ray already initialised in this process is reused and left running.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from trade.core import InputError
from trade.sweep.evaluate import SweepContext
from trade.sweep.space import Scalar

_CONTEXTS: dict[str, SweepContext] = {}


def _eval_batch(key: str, ctx_ref: list[Any], batch: list[dict[str, Scalar]]
                ) -> list[dict[str, Any]]:
    import ray

    from trade.sweep.runner import evaluate_safe

    ctx = _CONTEXTS.get(key)
    if ctx is None:
        _CONTEXTS.clear()  # one sweep's context per worker at a time (bounded memory)
        ctx = ray.get(ctx_ref[0])
        _CONTEXTS[key] = ctx
    return [evaluate_safe(ctx, p) for p in batch]


class RayExecutor:
    def __init__(self, ctx: SweepContext, *, address: str | None = None,
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

    def submit(self, batch: list[dict[str, Scalar]]) -> Future[list[dict[str, Any]]]:
        ref = self._remote.remote(self._key, [self._ref], batch)
        fut: Future[list[dict[str, Any]]] = ref.future()
        return fut

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()
