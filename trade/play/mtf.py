"""Multi-timeframe alignment: no look-ahead across timeframes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def align_to_exec(
    htf_ts_open: npt.ArrayLike,
    htf_values: npt.ArrayLike,
    htf_interval_ms: int,
    exec_ts_open: npt.ArrayLike,
    exec_interval_ms: int,
) -> npt.NDArray[np.float64]:
    """Project a higher-timeframe series onto exec bars, visible only once closed.

    The higher-timeframe bar [t, t + H) becomes visible on the exec bar whose close
    time (open + E) is >= t + H, and stays (forward-filled) until the next one
    closes. Exec bars before the first closed higher-timeframe bar get NaN
    (docs/architecture.md, invariant 4: no look-ahead).

    Parameters
    ----------
    htf_ts_open : array_like of int
        Open times (ms) of the higher-timeframe bars, strictly increasing.
    htf_values : array_like of float
        One value per higher-timeframe bar.
    htf_interval_ms : int
        H, the higher timeframe's bar length in ms.
    exec_ts_open : array_like of int
        Open times (ms) of the exec bars, strictly increasing.
    exec_interval_ms : int
        E, the exec bar length in ms.

    Returns
    -------
    numpy.ndarray of float64
        One value per exec bar.

    Raises
    ------
    ValueError
        An interval is not > 0, the value array's shape differs from the timestamps', or
        a timestamp array is not strictly increasing.
    """
    h_ts = np.asarray(htf_ts_open, dtype=np.int64)
    vals = np.asarray(htf_values, dtype=np.float64)
    e_ts = np.asarray(exec_ts_open, dtype=np.int64)
    if htf_interval_ms <= 0 or exec_interval_ms <= 0:
        raise ValueError(
            f"intervals must be > 0 ms, got htf={htf_interval_ms} exec={exec_interval_ms}"
        )
    if h_ts.ndim != 1 or vals.shape != h_ts.shape:
        raise ValueError(
            f"htf_values shape {vals.shape} does not match htf_ts_open shape {h_ts.shape}"
        )
    for name, ts in (("htf_ts_open", h_ts), ("exec_ts_open", e_ts)):
        if len(ts) > 1:
            bad = np.flatnonzero(np.diff(ts) <= 0)
            if len(bad):
                raise ValueError(f"{name} is not strictly increasing at index {int(bad[0]) + 1}")
    htf_close = h_ts + htf_interval_ms
    exec_close = e_ts + exec_interval_ms
    # the last higher-timeframe bar whose close time is <= the exec bar's close time
    idx = np.searchsorted(htf_close, exec_close, side="right") - 1
    out = np.full(len(e_ts), np.nan)
    seen = idx >= 0
    out[seen] = vals[idx[seen]]
    return out
