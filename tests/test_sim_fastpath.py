"""The batch runner's fast paths give the answers of the general path.

The batch loop skips the per-bar rule machinery on idle stretches (flat with no order;
a position with fixed SL / TP and no order), can skip bar validation for `ValidatedBars`,
and can record a summary of the equity curve instead of the curve (sweeps). Each is checked
against the plain path on long random series that cross UTC days and funding times:

* batch == step engine (SimExchange, every rule on every bar) to 1e-9 relative, as the
  differential tests do, with and without a mark-price column;
* run_batch(ValidatedBars) == run_batch(table) exactly, and ValidatedBars only come from
  validate_bars (bad rows raise ValueError naming the row);
* run_batch_summary == the figures computed from run_batch's equity table, exactly;
* the sweep's fast metrics from a summary == fast_metrics on the full curve (1e-12 rel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.sim import SimExchange, run_batch
from trade.sim.batch import ValidatedBars, run_batch_summary, validate_bars
from trade.sim.config import Intrabar, SimConfig, SizeMode
from trade.sim.driver import run_signals
from trade.sim.results import BatchResult, BatchSummary
from trade.sim.signals import SignalArrays
from trade.sweep.evaluate import day_index, fast_metrics, summary_metrics

DAY = 86_400_000
EIGHT_H = 8 * 3_600_000
REL = 1e-9


@st.composite
def long_bars(draw: st.DrawFn) -> pa.Table:
    """1 to 4 days of 1m bars (optionally with missing minutes, mark and funding columns)."""
    n = draw(st.integers(300, 4 * 1440))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    vol = draw(st.sampled_from([0.0004, 0.002]))
    start = DAY * 19_000 + 60_000 * draw(st.integers(0, 1439))
    steps = np.ones(n, dtype=np.int64)
    if draw(st.booleans()):
        steps[rng.random(n) < 0.02] = rng.integers(2, 600)  # gaps, some over a day boundary
    ts = start + np.cumsum(steps) * 60_000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    cols: dict[str, Any] = {"ts": ts, "open": open_, "high": high, "low": low, "close": close,
                            "volume": rng.random(n)}
    if draw(st.booleans()):
        mark = close * (1 + rng.normal(0, vol / 4, n))
        mark[rng.random(n) < 0.1] = np.nan  # NaN = use the close
        cols["mark_price"] = mark
    if draw(st.booleans()):
        cols["funding_rate"] = rng.choice([0.0001, -0.0003, np.nan], n)
    return pa.table(cols)


@st.composite
def sparse_signals(draw: st.DrawFn, n_bars: int) -> SignalArrays:
    """Exec bars of 5-60 minutes with rare entries / exits, so long flat and holding runs."""
    every = draw(st.sampled_from([5, 15, 60]))
    idx = np.arange(every - 1, n_bars, every, dtype=np.int64)
    m = len(idx)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mode = draw(st.sampled_from(list(SizeMode)))
    s = SignalArrays.empty(idx, size_mode=mode, allow_flip=draw(st.booleans()),
                           expire_bars=draw(st.sampled_from([0, 30])))
    p = draw(st.sampled_from([0.02, 0.1]))
    s.entry_long[:] = rng.random(m) < p
    s.entry_short[:] = rng.random(m) < p
    s.exit_long[:] = rng.random(m) < p / 2
    s.exit_short[:] = rng.random(m) < p / 2
    s.size_value[:] = {SizeMode.FIXED_USDT: 2_000.0, SizeMode.PERCENT_EQUITY: 30.0,
                       SizeMode.RISK_BASED: 1.0}[mode]
    s.sl_pct[:] = draw(st.sampled_from([0.0, 0.004, 0.01]))
    s.tp_pct[:] = draw(st.sampled_from([0.0, 0.006, 0.02]))
    s.exit_pct[:] = 100.0
    if draw(st.booleans()):
        s.trail_pct[:] = rng.choice([np.nan, 0.003], m)
        # a trail not yet armed keeps the holding run on the idle fast path until it may arm
        s.trail_activation[:] = rng.choice([np.nan, 0.0, 0.002, 0.008], m)
    if draw(st.booleans()):
        s.be_activation[:] = 0.004
        s.be_offset[:] = 0.001
    if draw(st.booleans()):
        s.entry_limit_offset[:] = rng.choice([np.nan, 0.001], m)
    return s


configs = st.builds(
    SimConfig,
    symbol=st.just("BTCUSDT"),
    initial_balance=st.just(10_000.0),
    leverage=st.sampled_from([1.0, 5.0, 50.0]),
    taker_fee=st.sampled_from([0.0, 0.00055]),
    maker_fee=st.just(0.0002),
    slippage=st.sampled_from([0.0, 0.0005]),
    maintenance_margin_rate=st.just(0.005),
    funding_rate=st.sampled_from([0.0, 0.0001]),
    intrabar=st.sampled_from(list(Intrabar)),
    qty_step=st.sampled_from([0.0, 0.001]),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[pa.Table, SignalArrays, SimConfig]:
    bars = draw(long_bars())
    return bars, draw(sparse_signals(bars.num_rows)), draw(configs)


def _close(a: float, b: float, rel: float) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b), 1.0)


def _agree(left: BatchResult, right: BatchResult, rel: float) -> None:
    assert left.trades.num_rows == right.trades.num_rows
    for name in left.trades.column_names:
        a, b = left.trades.column(name).to_pylist(), right.trades.column(name).to_pylist()
        assert all(_close(x, y, rel) if isinstance(x, float) else x == y
                   for x, y in zip(a, b, strict=True)), name
    for name in left.equity.column_names:
        a = np.asarray(left.equity.column(name).to_numpy())
        b = np.asarray(right.equity.column(name).to_numpy())
        assert np.allclose(a, b, rtol=rel, atol=rel), name
    assert _close(left.final_balance, right.final_balance, rel)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_batch_fast_paths_equal_the_step_engine(
        case: tuple[pa.Table, SignalArrays, SimConfig]) -> None:
    bars, signals, config = case
    batch = run_batch(bars, signals, config)
    step = run_signals(SimExchange(config), bars, signals, config)
    _agree(batch, step, REL)
    validated = run_batch(validate_bars(bars), signals, config)
    _agree(validated, batch, 0.0)


def _expected_segment(ts: np.ndarray, eq: np.ndarray, qty: np.ndarray, lo: int, hi: int,
                      base: float) -> dict[str, Any]:
    values = np.concatenate(([base], eq[lo:hi]))
    day = ts[lo:hi] // DAY
    last = np.append(np.flatnonzero(np.diff(day) != 0), hi - lo - 1)
    return {
        "max_drawdown": float(np.max(1.0 - values / np.maximum.accumulate(values))),
        "exposed_bars": int(np.count_nonzero(qty[lo:hi])),
        "final_equity": float(eq[hi - 1]),
        "day": day[last],
        "day_close": eq[lo:hi][last],
    }


@settings(max_examples=40, deadline=None)
@given(cases(), st.lists(st.floats(0.0, 1.0), max_size=3))
def test_summary_equals_the_full_curve(case: tuple[pa.Table, SignalArrays, SimConfig],
                                       fractions: list[float]) -> None:
    bars, signals, config = case
    n = bars.num_rows
    cuts = sorted({int(f * n) for f in fractions} - {0, n})
    full = run_batch(bars, signals, config)
    summary = run_batch_summary(bars, signals, config, cuts=cuts)
    _agree(BatchResult(summary.trades, full.equity, summary.final_balance), full, 0.0)
    ts = np.asarray(full.equity.column("ts").to_numpy())
    eq = np.asarray(full.equity.column("equity").to_numpy())
    qty = np.asarray(full.equity.column("position_qty").to_numpy())
    starts = [0, *cuts]
    assert [(s.start, s.stop) for s in summary.segments] == list(
        zip(starts, [*starts[1:], n], strict=True))
    for seg in summary.segments:
        base = config.initial_balance if seg.start == 0 else float(eq[seg.start - 1])
        assert seg.base == base
        want = _expected_segment(ts, eq, qty, seg.start, seg.stop, base)
        assert seg.max_drawdown == want["max_drawdown"]
        assert seg.exposed_bars == want["exposed_bars"]
        assert seg.final_equity == want["final_equity"]
        assert np.array_equal(seg.day, want["day"])
        assert np.array_equal(seg.day_close, want["day_close"])
    # the segments partition the bars: their margin figures combine to the whole run's
    parts = [seg.margin for seg in summary.segments]
    assert all(m is not None for m in parts) and full.margin is not None
    whole = full.margin
    ok = [m for m in parts if m is not None]
    assert sum(m.margin_call_bars for m in ok) == whole.margin_call_bars
    assert sum(m.entry_attempts for m in ok) == whole.entry_attempts
    assert sum(m.entry_rejections for m in ok) == whole.entry_rejections
    # (the idle path takes the exposure at a run's extreme marks, and a cut splits a run: the
    # last ulp of that ratio may differ)
    assert math.isclose(max(m.max_gross_exposure_pct for m in ok), whole.max_gross_exposure_pct,
                        rel_tol=1e-12)
    for name in ("min_margin_ratio", "closest_liquidation_pct"):
        values = [getattr(m, name) for m in ok if not math.isnan(getattr(m, name))]
        want_min = min(values) if values else math.nan
        got = getattr(whole, name)
        assert got == want_min or (math.isnan(got) and math.isnan(want_min)), name


@settings(max_examples=25, deadline=None)
@given(cases())
def test_fast_metrics_from_a_summary_equal_those_of_the_curve(
        case: tuple[pa.Table, SignalArrays, SimConfig]) -> None:
    bars, signals, config = case
    full = run_batch(bars, signals, config)
    summary = run_batch_summary(bars, signals, config)
    eq = full.equity
    ts = np.asarray(eq.column("ts").to_numpy())
    trades = full.trades
    net = np.asarray(trades.column("net_pnl").to_numpy())
    fees = np.asarray(trades.column("fees").to_numpy())
    want = fast_metrics(ts, np.asarray(eq.column("equity").to_numpy()),
                        np.asarray(eq.column("position_qty").to_numpy()), net, fees,
                        config.initial_balance, day_index(ts), full.margin)
    got = summary_metrics(summary.segments[0], net, fees)
    assert got.keys() == want.keys()
    assert got["entry_attempts"] is not None and got["max_gross_exposure_pct"] is not None
    for k, v in want.items():
        g = got[k]
        assert (v is None) == (g is None), k
        if v is not None and g is not None:
            assert _close(float(g), float(v), 1e-12), (k, g, v)


def _bars(n: int) -> pa.Table:
    ts = DAY * 19_000 + np.arange(n, dtype=np.int64) * 60_000
    c = np.linspace(100.0, 110.0, n)
    return pa.table({"ts": ts, "open": c, "high": c * 1.001, "low": c * 0.999, "close": c,
                     "volume": np.ones(n)})


def test_validated_bars_come_only_from_validate_bars() -> None:
    bars = _bars(50)
    with pytest.raises(ValueError, match="validate_bars"):
        ValidatedBars(bars, {}, object())
    v = validate_bars(bars)
    assert validate_bars(v) is v and v.num_rows == 50


@pytest.mark.parametrize(("column", "row", "value", "field"), [
    ("high", 7, float("nan"), "high"),
    ("low", 4100, -1.0, "low"),  # in the second 4096-row block
    ("ts", 4096, 0, "ts"),  # a block's first row against the previous block's last
    ("volume", 9, -2.0, "volume"),
])
def test_validate_bars_names_the_bad_row(column: str, row: int, value: float,
                                         field: str) -> None:
    bars = _bars(5_000)
    arr = np.asarray(bars.column(column).to_numpy()).copy()
    arr[row] = value
    bad = bars.set_column(bars.column_names.index(column), column, pa.array(arr))
    for run in (validate_bars,
                lambda b: run_batch(b, SignalArrays.empty(np.array([10])), SimConfig()),
                lambda b: run_batch_summary(b, SignalArrays.empty(np.array([10])), SimConfig())):
        with pytest.raises(ValueError, match=rf"row {row}.*'{field}'"):
            run(bad)


def test_negative_timestamps_are_rejected() -> None:
    bars = _bars(10)
    ts = np.asarray(bars.column("ts").to_numpy()) - DAY * 19_001
    bad = bars.set_column(0, "ts", pa.array(ts))
    with pytest.raises(ValueError, match=r"row 0.*'ts'"):
        validate_bars(bad)


def test_summary_cuts_are_checked() -> None:
    bars = _bars(100)
    sig = SignalArrays.empty(np.array([10]))
    for cuts in ([0], [100], [50, 50], [60, 40]):
        with pytest.raises(ValueError, match="cuts"):
            run_batch_summary(bars, sig, SimConfig(), cuts=cuts)
    assert isinstance(run_batch_summary(bars, sig, SimConfig(), cuts=[1, 99]), BatchSummary)


def _broadcast(s: SignalArrays, rng: np.random.Generator) -> SignalArrays:
    """The same signals with every column that is one value on all rows passed as that value
    broadcast (stride 0), the flags as bool arrays, and rows with no flag set spread between
    (1m rows: the kernel must skip them unless an entry limit rests)."""
    n = len(s)
    out = SignalArrays.empty(s.exec_close_idx, size_mode=s.size_mode, allow_flip=s.allow_flip,
                             expire_bars=s.expire_bars, entry_tif=s.entry_tif)
    for name in ("entry_long", "entry_short", "exit_long", "exit_short"):
        setattr(out, name, np.asarray(getattr(s, name)).astype(bool))
    for name in ("size_value", "sl_pct", "tp_pct", "trail_pct", "be_activation", "be_offset",
                 "exit_pct", "entry_limit_offset", "trail_activation"):
        col = np.asarray(getattr(s, name))
        same = n > 0 and bool(np.all(col == col[0]))
        setattr(out, name, np.broadcast_to(col[0], (n,)) if same and rng.random() < 0.9
                else col.copy())
    return out


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(0, 2**32 - 1))
def test_broadcast_columns_and_idle_rows_give_the_same_run(
        case: tuple[pa.Table, SignalArrays, SimConfig], seed: int) -> None:
    """A column given as one broadcast value (read as a scalar by the kernel) and the engine's
    checked=True path give exactly the run of the full per-row arrays."""
    bars, sig, cfg = case
    full = run_batch(bars, sig, cfg)
    b = _broadcast(sig, np.random.default_rng(seed))
    for checked in (False, True):
        got = run_batch(bars, b, cfg, checked=checked)
        assert got.trades.equals(full.trades) and got.equity.equals(full.equity)
        assert got.final_balance == full.final_balance
    summary = run_batch_summary(bars, b, cfg, checked=True)
    assert summary.trades.equals(full.trades)


def test_a_strided_signal_column_runs_as_its_contiguous_copy() -> None:
    """Any other layout than contiguous or one broadcast value is copied contiguous first
    (checked or not); the kernel entry itself refuses it."""
    from trade._kernels import sim as _sim

    bars = pa.table({"ts": 60_000 * np.arange(1, 101, dtype=np.int64),
                     "open": np.full(100, 100.0), "high": np.full(100, 101.0),
                     "low": np.full(100, 99.0), "close": np.full(100, 100.0)})
    s = SignalArrays.empty(np.arange(0, 100, 10), size_mode=SizeMode.FIXED_USDT)
    s.entry_long[::3] = 1
    s.size_value[:] = 1000.0
    plain = run_batch(bars, s, SimConfig())
    s.sl_pct = np.full(20, 0.0)[::2]
    for checked in (False, True):
        got = run_batch(bars, s, SimConfig(), checked=checked)
        assert got.trades.equals(plain.trades) and got.equity.equals(plain.equity)
    ts, o, h, lo, c = (np.asarray(bars.column(k).to_numpy())
                       for k in ("ts", "open", "high", "low", "close"))
    out = np.empty((3, 100))
    with pytest.raises(ValueError, match="sl_pct must be contiguous"):
        _sim.run_batch_arrays(ts, o, h, lo, c, None, None, None, s, SimConfig(), out[0], out[1],
                              out[2])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-3, 1e6), min_size=0, max_size=300), st.floats(1e-3, 1e6))
def test_max_drawdown_is_numpys_of_the_curve(values: list[float], base: float) -> None:
    """The kernel's one-pass drawdown rule == numpy's max(1 - value / running peak) of the
    curve [base, *values], to the bit."""
    from trade._kernels import sim as _sim

    curve = np.array([base, *values])
    expected = float(np.max(1.0 - curve / np.maximum.accumulate(curve)))
    assert _sim.max_drawdown(np.array(values, dtype=np.float64), base) == expected
