"""Every Play feature on its timeframe, in batch (whole arrays) and streaming (1m by 1m) form.

Series names follow the condition compiler: a single-output indicator is its feature id
(`ema_21`), a multi-output one `id.field` (`bb.upper`, `swing.low`). Builtins: `open`,
`high`, `low`, `close`, `volume` of the exec bar; `last_price` = the current 1m close;
`mark_price` = the 1m mark-price column when the bars have one, else the 1m close;
`funding_rate` = the 1m `last_funding_rate` column (the last settled rate known at each
close) and `open_interest` = the 1m `open_interest` column (the open interest known at each
close), both laid on the bars from the store by `trade.data.series` (a Play that reads one
on bars without its column is refused, `require_market_series`). Like `mark_price`, they
are sampled at the exec bar's closing 1m bar, and at every 1m close where actions are
evaluated inside the exec bar.

Timeframes: exec bars and every other role are resampled from the 1m bars with the same
rules as `trade.data.resample` (UTC buckets; open = first, high = max, low = min,
close = last, volume summed). A feature on another timeframe is visible on an exec bar only
once its own bar has closed (`trade.play.align_to_exec`: closed at or before the exec bar's
close), forward-filled, never early.

Streaming (`StreamFeatures`, used by PlayEngine): a bucket closes on the 1m bar whose close
time is the bucket's end; if that minute is missing, it closes when the first 1m bar of a later
bucket arrives (late, as live data would make it). On gap-free 1m data both forms give
bit-identical values (the indicators run the same compiled step in both forms); `exec_frame`
applies the same late-close rule, so gaps keep them equal too (see its docstring).

Structures (`structures: {role: [...]}`) are computed like features on their role; a
structure with `uses: other` takes the params of `other` that its type accepts and it does
not set itself (e.g. `trend` uses the `left`/`right` of its `swing`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade._kernels import sim as _sim
from trade.core import InputError
from trade.data import bucket_end, bucket_start, resample
from trade.data.series import LAST_FUNDING_COLUMN, OPEN_INTEREST_COLUMN
from trade.indicators import Incremental, compute, get_spec, make_incremental, resolve_params
from trade.play import MARKET_BUILTINS, Play, align_to_exec, compiled_actions, interval_ms

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BAR_BUILTINS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
ROLES: tuple[str, ...] = ("low_tf", "med_tf", "high_tf")
#: market builtin -> the 1m bar column it is read from
MARKET_COLUMNS: dict[str, str] = {"funding_rate": LAST_FUNDING_COLUMN,
                                  "open_interest": OPEN_INTEREST_COLUMN}


@dataclass(frozen=True, slots=True)
class FeatureDef:
    """One indicator or structure instance of a Play: its key, registry name, resolved
    parameters (defaults filled in), the interval it is computed on, and its outputs.
    Immutable."""

    key: str
    indicator: str
    params: dict[str, Any]
    interval: str
    outputs: tuple[str, ...]

    @property
    def series(self) -> tuple[str, ...]:
        """The names its outputs have in conditions: `key` for a single-valued indicator,
        else `key.output` for each output."""
        if self.outputs == ("value",):
            return (self.key,)
        return tuple(f"{self.key}.{o}" for o in self.outputs)


def _interval_of(play: Play, tf: str | None) -> str:
    if tf is None or tf == "exec":
        return play.exec_tf
    if tf in ROLES:
        return play.tf_of_role(tf)
    return tf  # a declared interval given directly


def feature_defs(play: Play) -> list[FeatureDef]:
    """Every feature and structure of `play`, in declaration order.

    Features come first, then structures by role; a structure inherits the parameters it
    accepts from the structures it `uses` (its own win).

    Parameters
    ----------
    play : Play
        A loaded Play.

    Returns
    -------
    list[FeatureDef]
        One per feature or structure, with resolved parameters and its timeframe as an
        interval ("exec" and the roles replaced by the Play's intervals).

    Raises
    ------
    InputError
        A feature gives `source` to an indicator that takes none, or (from the indicator
        registry) a parameter is out of range.
    """
    out: list[FeatureDef] = []
    for fid, feat in play.features.items():
        params = dict(feat.params)
        if feat.source is not None:
            names = [p.name for p in get_spec(feat.indicator).params]
            if "source" not in names:
                raise InputError(f"{play.source}: features.{fid}.source: indicator "
                                 f"'{feat.indicator}' takes no source")
            params["source"] = feat.source
        spec = get_spec(feat.indicator)
        resolved = resolve_params(spec.name, params)
        out.append(FeatureDef(fid, spec.name, resolved, _interval_of(play, feat.tf),
                              spec.outputs_for(resolved)))
    by_key: dict[str, dict[str, Any]] = {}
    for role, items in play.structures.items():
        for st in items:
            spec = get_spec(st.type)
            params = dict[str, Any](st.params)
            accepted = {p.name for p in spec.params}
            for dep in st.uses_list:  # inherit what the used structure was built with
                for k, v in by_key.get(dep, {}).items():
                    if k in accepted:
                        params.setdefault(k, v)  # its own params win
            resolved = resolve_params(spec.name, params)
            by_key[st.key] = resolved
            out.append(FeatureDef(st.key, spec.name, resolved, _interval_of(play, role),
                                  spec.outputs_for(resolved)))
    return out


def market_reads(play: Play) -> frozenset[str]:
    """The market builtins (`funding_rate`, `open_interest`) the Play's actions read."""
    return compiled_actions(play).series & frozenset(MARKET_BUILTINS)


def market_1m(bars_1m: pa.Table) -> dict[str, F64]:
    """The market builtins the 1m bars carry, as 1m arrays (`MARKET_COLUMNS`)."""
    return {name: np.asarray(bars_1m.column(col).to_numpy(zero_copy_only=False),
                             dtype=np.float64)
            for name, col in MARKET_COLUMNS.items() if col in bars_1m.column_names}


def market_series(market: Mapping[str, F64], close_idx: I64, identity: bool
                  ) -> dict[str, F64]:
    """The market builtins on the exec bars: their value on each exec bar's closing 1m bar
    (`identity`: every 1m bar closes an exec bar, the 1m arrays are used as they are)."""
    return {name: (m if identity else m[close_idx]) for name, m in market.items()}


def require_market_series(play: Play, available: frozenset[str] | set[str], symbol: str,
                          where: str) -> None:
    """Refuse a run whose Play reads a market builtin its data does not carry.

    Parameters
    ----------
    play : Play
        The Play whose actions are checked.
    available : set of str
        The market builtins the data carries.
    symbol : str
        The run's symbol (named in the message).
    where : str
        What the data is, ending the message: e.g. "synthetic bars have no funding or
        open interest", or how to fetch the series.

    Raises
    ------
    InputError
        One line naming the builtin, the symbol and `where`.
    """
    missing = sorted(market_reads(play) - set(available))
    if missing:
        names = " and ".join(f"`{n}`" for n in missing)
        raise InputError(f"{play.source or play.name}: the conditions read {names}, but there "
                         f"is no such series for {symbol}: {where}")


def _arrays(bars: pa.Table) -> dict[str, F64]:
    return {
        "ts": np.asarray(bars.column("ts").to_numpy(), dtype=np.float64),
        **{k: np.asarray(bars.column(k).to_numpy(), dtype=np.float64) for k in BAR_BUILTINS},
    }


@dataclass(slots=True)
class ExecFrame:
    """Exec bars of a run and every series on them (one value per exec bar).

    `series` maps each name conditions may use (bar fields, `last_price`, `mark_price`, the
    market builtins the bars carry and every `FeatureDef.series`) to its exec-bar array;
    `close_1m` / `mark_1m` are the 1m closes and marks, `defs` the features, `market_1m` the
    market builtins on the 1m bars (`market_1m`). Built by `exec_frame` or
    `trade.sweep.FrameCache.frame`; read-only once built, so threads may share one."""

    exec_ts: I64  # open time of each exec bar
    close_idx: I64  # index of each exec bar's last 1m bar in the 1m table
    series: dict[str, F64]
    close_1m: F64
    mark_1m: F64
    defs: list[FeatureDef] = field(default_factory=list)
    market_1m: dict[str, F64] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.exec_ts)

    def row(self, j: int, names: frozenset[str] | set[str]) -> dict[str, float]:
        """Values of `names` on exec bar `j` (NaN before the first bar)."""
        if j < 0:
            return {n: math.nan for n in names}
        return {n: float(self.series[n][j]) for n in names}


def exec_bars(bars_1m: pa.Table, exec_tf: str, ts_1m: I64
              ) -> tuple[I64, I64, dict[str, F64]]:
    """(open time of each closed exec bar, index of its closing 1m bar, its bar arrays).

    The exec bars are the closed buckets of `exec_tf` (a last bucket that the data ends inside
    is dropped); a bucket whose closing minute is missing closes on the next 1m bar. On a 1m
    exec timeframe over minute-aligned bars every 1m bar is its own exec bar: the 1m columns
    are used as they are (no resampling, no copy)."""
    if interval_ms(exec_tf) == 60_000 and _sim.minute_aligned(np.ascontiguousarray(ts_1m)):
        arr = _arrays(bars_1m)
        return ts_1m, np.arange(len(ts_1m), dtype=np.int64), arr
    ex = resample(bars_1m, exec_tf)
    ends = bucket_end(np.asarray(ex.column("ts").to_numpy(), dtype=np.int64), exec_tf)
    closed = ends <= ts_1m[-1] + 60_000  # the bucket closed within the data
    ex = ex.filter(pa.array(closed))
    ends = ends[closed]
    exec_ts = np.asarray(ex.column("ts").to_numpy(), dtype=np.int64)
    close_idx = (np.searchsorted(ts_1m, ends, side="left") - 1).astype(np.int64)
    # a bucket whose last minute is missing closes on the next 1m bar, as it does in streaming
    late = ts_1m[close_idx] + 60_000 < ends
    close_idx[late] += 1
    return exec_ts, close_idx, _arrays(ex)


def exec_frame(play: Play, bars_1m: pa.Table) -> ExecFrame:
    """Resample, compute and align every feature of `play` over `bars_1m` (batch form).

    The exec bars are the closed ones: a last bucket that the data ends inside is dropped
    (it never closed), so no decision is taken on it. A bucket whose closing minute is missing
    from the data closes on the next 1m bar (its decision is taken after that bar), exactly as
    `StreamFeatures` closes it; this keeps both paths equal on data with gaps, except when a
    bucket's only bar is the one that closes the previous bucket late (two closes on one
    minute: streaming takes one decision there, batch two).

    Parameters
    ----------
    play : Play
        Supplies the exec timeframe and the features.
    bars_1m : pyarrow.Table
        1m bars: `ts` (ms, ascending), OHLC, `volume`, optionally `mark_price` (else the
        close stands for it).

    Returns
    -------
    ExecFrame
        The exec bars and every series, features on other timeframes aligned so that a
        value is visible only once its own bar has closed (no look-ahead).

    Raises
    ------
    InputError
        `bars_1m` has no rows, a feature is invalid (`feature_defs`), or the Play reads a
        market builtin the bars have no column for (`require_market_series`).
    """
    exec_tf = play.exec_tf
    e_ms = interval_ms(exec_tf)
    ts_1m = np.asarray(bars_1m.column("ts").to_numpy(), dtype=np.int64)
    if len(ts_1m) == 0:
        raise InputError("no 1m bars to run on")
    close_1m = np.asarray(bars_1m.column("close").to_numpy(), dtype=np.float64)
    if "mark_price" in bars_1m.column_names:
        mark_1m = np.asarray(bars_1m.column("mark_price").to_numpy(), dtype=np.float64)
    else:
        mark_1m = close_1m
    exec_ts, close_idx, ex_arr = exec_bars(bars_1m, exec_tf, ts_1m)
    series: dict[str, F64] = {k: ex_arr[k] for k in BAR_BUILTINS}
    identity = len(close_idx) == len(ts_1m)  # every 1m bar closes an exec bar (1m exec)
    series["last_price"] = close_1m if identity else close_1m[close_idx]
    series["mark_price"] = mark_1m if identity else mark_1m[close_idx]
    market = market_1m(bars_1m)
    cols = [MARKET_COLUMNS[n] for n in sorted(market_reads(play) - set(market))]
    if cols:
        require_market_series(play, set(market), play.symbol,
                              f"the 1m bars have no {' or '.join(cols)} column (a stored run "
                              "adds it from the series `trade data fetch` stores)")
    series.update(market_series(market, close_idx, identity))
    defs = feature_defs(play)
    tf_cache: dict[str, dict[str, F64]] = {exec_tf: ex_arr}
    for d in defs:
        if d.interval not in tf_cache:
            tf_cache[d.interval] = _arrays(resample(bars_1m, d.interval))
        arr = tf_cache[d.interval]
        values = compute(d.indicator, d.params, arr)
        for out_name, name in zip(d.outputs, d.series, strict=True):
            v = values[out_name]
            if d.interval != exec_tf:
                # visible only once its own bar has closed (no look-ahead)
                v = align_to_exec(arr["ts"].astype(np.int64), v, interval_ms(d.interval),
                                  exec_ts, e_ms)
            series[name] = np.ascontiguousarray(v, dtype=np.float64)
    return ExecFrame(exec_ts, close_idx, series, close_1m, mark_1m, defs, market)


# ====================================================================== streaming


class _Bucket:
    """Aggregates 1m bars of one interval into its bars, as `trade.data.resample` does."""

    __slots__ = ("c", "end", "h", "indicators", "interval", "l", "last", "o", "start", "v")

    def __init__(self, interval: str, indicators: list[tuple[FeatureDef, Incremental]]) -> None:
        self.interval = interval
        self.indicators = indicators
        self.start = -1
        self.end = -1
        self.o = self.h = self.l = self.c = self.v = math.nan
        self.last: tuple[float, float, float, float, float] = (math.nan,) * 5

    def _open(self, ts: int) -> None:
        arr = np.array([ts], dtype=np.int64)
        start = bucket_start(arr, self.interval)
        self.start = int(start[0])
        self.end = int(bucket_end(start, self.interval)[0])  # bucket_end takes bucket starts

    def add(self, ts: int, o: float, h: float, lo: float, c: float, v: float,
            out: dict[str, float]) -> bool:
        """Add a 1m bar; returns True when a bar of this interval closed (values -> `out`)."""
        closed = False
        if self.start >= 0 and ts >= self.end:
            self._close(out)  # the closing minute was missing: close late
            closed = True
        if self.start < 0:
            self._open(ts)
            self.o, self.h, self.l, self.c, self.v = o, h, lo, c, v
        else:
            self.h = max(self.h, h)
            self.l = min(self.l, lo)
            self.c = c
            self.v += v
        if ts + 60_000 >= self.end:
            self._close(out)
            closed = True
        return closed

    def _close(self, out: dict[str, float]) -> None:
        for d, ind in self.indicators:
            vals = ind.update(float(self.start), self.o, self.h, self.l, self.c, self.v)
            for name, x in zip(d.series, vals, strict=True):
                out[name] = float(x)
        self.last = (self.o, self.h, self.l, self.c, self.v)
        self.start = -1


class StreamFeatures:
    """The streaming form: feed closed 1m bars, read values after each exec close.

    `values` holds the latest value of every series `ExecFrame` has (NaN until known);
    bars of every timeframe close exactly as `exec_frame` closes them, and timeframes
    closing on the exec close are updated first. Single-threaded: called only by the engine
    thread that owns it."""

    def __init__(self, play: Play) -> None:
        self.exec_tf = play.exec_tf
        self.defs = feature_defs(play)
        groups: dict[str, list[tuple[FeatureDef, Incremental]]] = {}
        for d in self.defs:
            groups.setdefault(d.interval, []).append((d, make_incremental(d.indicator,
                                                                          d.params)))
        groups.setdefault(self.exec_tf, [])
        # the exec bucket is processed last so higher/lower timeframes closing on the same
        # minute are visible to the exec decision
        order = sorted(groups, key=lambda k: k == self.exec_tf)
        self._buckets = [_Bucket(k, groups[k]) for k in order]
        self._exec = self._buckets[-1]
        self.values: dict[str, float] = {n: math.nan for d in self.defs for n in d.series}
        for n in (*BAR_BUILTINS, "last_price", "mark_price", *MARKET_BUILTINS):
            self.values[n] = math.nan

    def on_1m(self, ts: int, o: float, h: float, lo: float, c: float, v: float,
              mark: float, market: Mapping[str, float] | None = None) -> bool:
        """Consume one closed 1m bar; True when an exec bar closed on it (values updated).
        `market`: the market builtins known at this bar's close (`funding_rate`,
        `open_interest`), taken into the values when an exec bar closes."""
        closed = False
        ex = self._exec
        for b in self._buckets:
            if b is ex:
                closed = b.add(ts, o, h, lo, c, v, self.values)
                if closed:
                    for name, x in zip(BAR_BUILTINS, b.last, strict=True):
                        self.values[name] = float(x)
                    self.values["last_price"] = c
                    self.values["mark_price"] = c if math.isnan(mark) else mark
                    if market:
                        self.values.update(market)
            else:
                b.add(ts, o, h, lo, c, v, self.values)
        return closed


def peek_values(exec_values: Mapping[str, float], close: float, mark: float,
                market: Mapping[str, float] | None = None) -> dict[str, float]:
    """Values for a 1m-close evaluation inside an exec bar: the last closed exec values with
    `last_price` / `mark_price` (and the market builtins in `market`) of the current 1m
    bar."""
    vals = dict(exec_values)
    vals["last_price"] = close
    vals["mark_price"] = close if math.isnan(mark) else mark
    if market:
        vals.update(market)
    return vals
