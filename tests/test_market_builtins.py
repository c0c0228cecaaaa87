"""The market builtins `funding_rate` and `open_interest` in every path.

* values: on each exec bar, the value an independent oracle (a plain loop over the stored
  records) says was known at the bar's closing 1m close, in the batch frame, the sweep's
  frame cache and the streaming engine;
* batch == event: the same Play reading them gives identical trade logs through
  `run_backtest` on both paths (exec 1m, 5m, and 15m with intrabar actions), and the
  conditions really decide (the Play without them trades differently);
* refusals: synthetic bars, a store without the series, bars in memory without the column;
* live: tests/test_live_market.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trade.core import InputError
from trade.data import Store, open_store, synth_bars
from trade.data.series import open_interest_column
from trade.engine import (
    DEFAULT_INSTRUMENT,
    PlayEngine,
    exec_frame,
    order_plan,
    run_backtest,
    sim_config,
)
from trade.engine.backtest import with_market_series
from trade.play import Play, apply_overrides, load_play_text
from trade.sim import BacktestAdapter
from trade.sweep import FrameCache
from trade.sweep.data import sweep_context_for

M = 60_000
H8 = 8 * 60 * M
SYM = "BTCUSDT"
START = 1_704_067_200_000  # 2024-01-01, an 8h mark

PLAY = """
version: "3.0.0"
name: market_builtins
symbol: BTCUSDT
timeframes: {low_tf: EXEC, exec: low_tf}
account:
  starting_equity_usdt: 10000
  max_leverage: 2
  fee_model: {taker_bps: 5.5, maker_bps: 2.0}
  slippage_bps: 2
features:
  ema_fast: {indicator: ema, params: {length: 3}}
  ema_slow: {indicator: ema, params: {length: 8}}
actions:
  entry_long:
    - [ema_fast, cross_above, ema_slow]
    - [open_interest, ">=", "open_interest[5]"]
    - [funding_rate, ">", -0.0002]
  exit_long: [ema_fast, cross_below, ema_slow]
  entry_short:
    - [ema_fast, cross_below, ema_slow]
    - [funding_rate, "<", 0.0001]
    - [open_interest, "<", 50000]
  exit_short: [ema_fast, cross_above, ema_slow]
position_policy: {mode: long_short, allow_flip: false, exit_mode: first_hit}
"""

PLAIN = """
version: "3.0.0"
name: market_builtins_plain
symbol: BTCUSDT
timeframes: {low_tf: EXEC, exec: low_tf}
account:
  starting_equity_usdt: 10000
  max_leverage: 2
  fee_model: {taker_bps: 5.5, maker_bps: 2.0}
  slippage_bps: 2
features:
  ema_fast: {indicator: ema, params: {length: 3}}
  ema_slow: {indicator: ema, params: {length: 8}}
actions:
  entry_long: [ema_fast, cross_above, ema_slow]
  exit_long: [ema_fast, cross_below, ema_slow]
  entry_short: [ema_fast, cross_below, ema_slow]
  exit_short: [ema_fast, cross_above, ema_slow]
position_policy: {mode: long_short, allow_flip: false, exit_mode: first_hit}
"""


def _play(exec_tf: str = "5m", text: str = PLAY, intrabar: bool = False) -> Play:
    text = text.replace("EXEC", exec_tf)
    if intrabar:  # an entry that also reads last_price: decided at every 1m close
        text = text.replace('    - [funding_rate, ">", -0.0002]\n',
                            '    - [funding_rate, ">", -0.0002]\n'
                            '    - [last_price, ">", ema_slow]\n')
    return load_play_text(text, source=f"market_builtins_{exec_tf}.yml")


def _records(first: int, stop: int, seed: int, *, oi_step: int = 5 * M,
             oi_from: int | None = None) -> tuple[pa.Table, pa.Table]:
    """Funding settlements at every 8h mark in [first - 1 day, stop] (alternating sign) and
    open interest stated every `oi_step` (a random walk around 50 000)."""
    rng = np.random.default_rng(seed)
    f_ts = np.arange(first - first % H8 - 3 * H8, stop + 1, H8, dtype=np.int64)
    rates = rng.normal(0, 2e-4, len(f_ts))
    lo = first if oi_from is None else oi_from
    o_ts = np.arange(lo - lo % oi_step, stop + 1, oi_step, dtype=np.int64)
    oi = 50_000 + np.cumsum(rng.normal(0, 150, len(o_ts)))
    return (pa.table({"ts": f_ts, "rate": rates}),
            pa.table({"ts": o_ts, "open_interest": np.abs(oi)}))


def _store(tmp: Path, bars: pa.Table, *, funding: bool = True, oi: bool = True,
           seed: int = 3, oi_step: int = 5 * M) -> Store:
    store = open_store(tmp)
    store.write_bars(SYM, bars)
    ts = bars.column("ts").to_numpy()
    f, o = _records(int(ts[0]) + M, int(ts[-1]) + M, seed, oi_step=oi_step)
    if funding:
        store.write_funding(SYM, f)
    if oi:
        store.write_open_interest(SYM, o)
    return store


@pytest.fixture(scope="module")
def market_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two days of synthetic 1m bars with funding and 5-minute open interest stored."""
    bars = synth_bars(SYM, 2, 5)
    return _store(tmp_path_factory.mktemp("market"), bars)


def _oracle(records: pa.Table, col: str, closes: np.ndarray, stale: int) -> list[float]:
    """The value known at each close: a plain loop, no searchsorted."""
    ts = records.column("ts").to_pylist()
    vals = records.column(col).to_pylist()
    out = []
    for c in closes.tolist():
        known = [(t, v) for t, v in zip(ts, vals, strict=True) if t <= c]
        out.append(known[-1][1] if known and c - known[-1][0] <= stale else float("nan"))
    return out


@pytest.mark.parametrize("exec_tf", ["1m", "5m", "15m"])
def test_exec_values_are_what_was_known_at_each_close(market_store: Store,
                                                      exec_tf: str) -> None:
    play = _play(exec_tf)
    bars = market_store.read_bars(SYM)
    with_cols = with_market_series(play, bars, market_store, SYM, {"kind": "store"})
    frame = exec_frame(play, with_cols)
    closes = np.asarray(with_cols.column("ts").to_numpy())[frame.close_idx] + M
    fund = _oracle(market_store.read_funding(SYM), "rate", closes, 3 * H8)
    oi = _oracle(market_store.read_open_interest(SYM), "open_interest", closes, 15 * M)
    np.testing.assert_array_equal(frame.series["funding_rate"], fund)
    np.testing.assert_array_equal(frame.series["open_interest"], oi)
    assert np.isfinite(fund).all() and np.isfinite(oi).all()  # records cover the run
    # the sweep's frame cache builds the same series
    cached = FrameCache(with_cols).frame(play)
    for name in ("funding_rate", "open_interest"):
        np.testing.assert_array_equal(cached.series[name], frame.series[name])
        np.testing.assert_array_equal(cached.market_1m[name], frame.market_1m[name])
    # the streaming engine sees the same values at every exec close
    engine = PlayEngine(play, BacktestAdapter(sim_config(play, order_plan(
        play, DEFAULT_INSTRUMENT), DEFAULT_INSTRUMENT)))
    assert engine.market_builtins == {"funding_rate", "open_interest"}
    got: dict[str, list[float]] = {"funding_rate": [], "open_interest": []}
    rows = with_cols.to_pylist()
    for row in rows:
        bars_before = engine.stats.exec_bars
        engine.on_bar(row["ts"], row["open"], row["high"], row["low"], row["close"],
                      row["volume"], funding_rate=row["last_funding_rate"],
                      open_interest=row["open_interest"])
        if engine.stats.exec_bars > bars_before:
            for name in got:
                got[name].append(engine.features.values[name])
    np.testing.assert_array_equal(got["funding_rate"], fund)
    np.testing.assert_array_equal(got["open_interest"], oi)


def test_a_one_hour_open_interest_series_is_carried_for_its_interval(tmp_path: Path) -> None:
    bars = synth_bars(SYM, 1, 2)
    store = _store(tmp_path, bars, oi_step=60 * M)
    col, n = open_interest_column(bars, store, SYM)
    assert n == bars.num_rows  # no hole between hourly values (carried up to 3 h)
    closes = bars.column("ts").to_numpy() + M
    np.testing.assert_array_equal(col, _oracle(store.read_open_interest(SYM), "open_interest",
                                               closes, 3 * 60 * M))


@pytest.mark.parametrize(("exec_tf", "intrabar"), [("1m", False), ("5m", False),
                                                   ("15m", True)])
def test_batch_and_event_paths_agree(market_store: Store, exec_tf: str,
                                     intrabar: bool) -> None:
    play = _play(exec_tf, intrabar=intrabar)
    batch = run_backtest(play, store=market_store, path="batch")
    event = run_backtest(play, store=market_store, path="event")
    assert batch.n_trades > 5
    assert batch.trades.to_pylist() == event.trades.to_pylist()
    assert batch.manifest["trade_log_sha256"] == event.manifest["trade_log_sha256"]
    assert batch.equity.equals(event.equity)
    # the market conditions decide: without them the same crosses trade differently
    plain = run_backtest(_play(exec_tf, PLAIN), store=market_store, path="batch")
    assert plain.n_trades > batch.n_trades


def test_a_play_reading_them_is_refused_without_the_series(tmp_path: Path) -> None:
    bars = synth_bars(SYM, 1, 2)
    play = _play("5m")
    no_oi = _store(tmp_path / "no_oi", bars, oi=False)
    with pytest.raises(InputError, match=r"`open_interest`, but there is no such series for "
                                         r"BTCUSDT: .*run `trade data fetch BTCUSDT --start "
                                         r"2024-01-01 --end 2024-01-02`"):
        run_backtest(play, store=no_oi)
    nothing = _store(tmp_path / "nothing", bars, oi=False, funding=False)
    with pytest.raises(InputError, match=r"`funding_rate` and `open_interest`, but"):
        run_backtest(play, store=nothing)
    # the plain Play needs neither
    assert run_backtest(_play("5m", PLAIN), store=nothing).n_trades > 0
    synth = load_play_text(PLAY.replace("EXEC", "5m") +
                           "synthetic: {regime: mixed, days: 1, seed: 1}\n", source="s.yml")
    with pytest.raises(InputError, match="synthetic bars have no funding or open interest"):
        run_backtest(synth, store=open_store(tmp_path / "empty"), synthetic=True)
    with pytest.raises(InputError, match="bars passed in memory need the column"):
        run_backtest(play, store=no_oi, bars=bars)
    with pytest.raises(InputError, match="1m bars have no open_interest column"):
        exec_frame(play, bars.append_column("last_funding_rate",
                                            pa.array(np.zeros(bars.num_rows))))


def test_a_sweep_of_a_play_reading_them_equals_its_backtests(market_store: Store,
                                                             tmp_path: Path) -> None:
    play = _play("5m")
    ctx = sweep_context_for(play, store=market_store)
    for length in (3, 5):
        params = {"features.ema_fast.params.length": length}
        _, result, _ = ctx.simulate(params)
        ref = run_backtest(apply_overrides(play, params), store=market_store, path="batch")
        assert ref.n_trades > 0
        assert result.trades.equals(ref.trades)
    # the circuit breaker's variants run on the event path, reading the same columns
    params = {"account.max_drawdown_pct": 90}
    _, result, _ = ctx.simulate(params)
    ref = run_backtest(apply_overrides(play, params), store=market_store, path="event")
    assert result.trades.equals(ref.trades)
    bars = synth_bars(SYM, 1, 2)
    with pytest.raises(InputError, match="`open_interest`, but there is no such series"):
        sweep_context_for(play, store=_store(tmp_path, bars, oi=False))
