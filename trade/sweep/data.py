"""A sweep's inputs from a Play and a store: the same bars, funding and instrument that
`trade.engine.run_backtest` would use, plus the hold-out split and walk-forward windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trade.core import InputError
from trade.data import Store, open_store
from trade.engine import DEFAULT_INSTRUMENT, load_run_bars, parse_time
from trade.engine.backtest import with_funding  # the store's funding series, as run_backtest
from trade.play import Play
from trade.sweep.evaluate import SweepContext, SweepSettings
from trade.sweep.windows import WalkForward, Window, holdout_start


def selection_windows(first: int, stop: int, walk_forward: str | WalkForward | None,
                      holdout: str | None) -> tuple[int | None, tuple[Window, ...]]:
    """The hold-out boundary (ms, None without a hold-out) and the walk-forward windows over
    the minutes [first, stop) before it (none without `walk_forward`)."""
    selection_end = holdout_start(holdout, first, stop) if holdout else None
    windows: tuple[Window, ...] = ()
    if walk_forward is not None:
        wf = walk_forward if isinstance(walk_forward, WalkForward) else WalkForward.parse(
            walk_forward)
        windows = wf.windows(first, selection_end if selection_end is not None else stop)
    return selection_end, windows


def sweep_context_for(
    play: Play,
    *,
    settings: SweepSettings | None = None,
    data_dir: str | Path | None = None,
    store: Store | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    seed: int | None = None,
    walk_forward: str | WalkForward | None = None,
    holdout: str | None = None,
    synthetic: bool | None = None,
) -> SweepContext:
    """Load the Play's 1m bars and build the context. `synthetic` as in
    `trade.engine.load_run_bars`: True = the Play's synthetic block, False = the store only
    (a missing store or symbol is an error), None = the store, else the synthetic block."""
    st = store if store is not None else open_store(data_dir)
    sym = play.symbol
    bt = play.backtest
    start_ms = parse_time(start if start is not None else (bt.start if bt else None), "start")
    end_ms = parse_time(end if end is not None else (bt.end if bt else None), "end")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError("empty date range: end is not after start")
    instrument = st.read_instrument(sym, default=DEFAULT_INSTRUMENT.renamed(sym))
    bars, info = load_run_bars(play, st, sym, start_ms, end_ms, seed, synthetic=synthetic)
    if info["kind"] == "store":
        bars, _ = with_funding(bars, st, sym)
    ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
    first, stop = int(ts[0]), int(ts[-1]) + 60_000
    selection_end, windows = selection_windows(first, stop, walk_forward, holdout)
    data = {k: v for k, v in info.items() if k != "provenance"}
    data.update(start_ts=first, end_ts=stop, n_bars_1m=bars.num_rows)
    return SweepContext(play, bars, settings or SweepSettings(), instrument,
                        selection_end=selection_end, windows=windows, data=data)
