"""Bad inputs raise a clear ValueError naming the row/field, and nothing is half-applied."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from trade.core import OrderRequest, OrderType, Side
from trade.sim import SignalArrays, SimConfig, SimExchange, run_batch

MIN = 60_000


def _state(ex: SimExchange) -> tuple:
    b = ex.balance()
    return (
        ex.position().to_dict(),
        (b.wallet_balance, b.equity, b.used_margin),
        ex.equity_curve().num_rows,
        ex.trade_log().num_rows,
        [o.order_id for o in ex.open_orders()],
    )


def _exchange_with_position() -> SimExchange:
    ex = SimExchange(SimConfig())
    ex.on_bar(0, 100, 101, 99, 100)
    ex.submit(OrderRequest("BTCUSDT", Side.BUY, 1.0, stop_loss=50.0))
    ex.submit(OrderRequest("BTCUSDT", Side.BUY, 1.0, order_type=OrderType.LIMIT, price=90.0))
    ex.on_bar(MIN, 100, 101, 99, 100)
    ex.drain_events()
    return ex


@pytest.mark.parametrize(
    ("bar", "field"),
    [
        ((MIN, 100, 101, 99, 100, 0.0), "ts"),  # duplicate ts
        ((0, 100, 101, 99, 100, 0.0), "ts"),  # earlier ts
        ((2 * MIN, math.nan, 101, 99, 100, 0.0), "open"),
        ((2 * MIN, 100, 101, 99, math.inf, 0.0), "close"),
        ((2 * MIN, 100, 101, -1.0, 100, 0.0), "low"),
        ((2 * MIN, 100, 0.0, 99, 100, 0.0), "high"),
        ((2 * MIN, 100, 98, 99, 98.5, 0.0), "high"),  # high < low
        ((2 * MIN, 100, 99.5, 99, 99.2, 0.0), "high"),  # high < open
        ((2 * MIN, 100, 101, 100.5, 101, 0.0), "low"),  # low > open
        ((2 * MIN, 100, 101, 99, 100, -1.0), "volume"),
    ],
)
def test_bad_bar_raises_and_changes_nothing(bar: tuple, field: str) -> None:
    ex = _exchange_with_position()
    before = _state(ex)
    with pytest.raises(ValueError, match=f"field '{field}'") as info:
        ex.on_bar(*bar)
    assert f"ts={bar[0]}" in str(info.value)
    assert _state(ex) == before
    assert ex.drain_events() == []
    # the exchange still works after the refusal
    ex.on_bar(2 * MIN, 100, 101, 99, 100)
    assert ex.equity_curve().num_rows == before[2] + 1


def test_bad_mark_price_or_funding_rate() -> None:
    ex = _exchange_with_position()
    with pytest.raises(ValueError, match="mark_price"):
        ex.on_bar(2 * MIN, 100, 101, 99, 100, 0.0, -5.0)
    with pytest.raises(ValueError, match="funding_rate"):
        ex.on_bar(2 * MIN, 100, 101, 99, 100, 0.0, math.nan, math.inf)


def test_bad_orders() -> None:
    ex = _exchange_with_position()
    before = _state(ex)
    with pytest.raises(ValueError, match="qty"):
        OrderRequest("BTCUSDT", Side.BUY, -1.0)
    with pytest.raises(ValueError, match="qty"):
        OrderRequest("BTCUSDT", Side.BUY, 0.0)
    with pytest.raises(ValueError, match="ETHUSDT"):
        ex.submit(OrderRequest("ETHUSDT", Side.BUY, 1.0))
    with pytest.raises(ValueError, match="must be >= 0"):
        ex.set_trading_stop(stop_loss=-1.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        ex.set_trading_stop(take_profit=math.nan)
    assert _state(ex) == before


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="leverage"):
        SimConfig(leverage=0.0)
    with pytest.raises(ValueError, match="leverage"):
        SimConfig(leverage=-2.0)
    with pytest.raises(ValueError, match="initial_balance"):
        SimConfig(initial_balance=math.nan)
    with pytest.raises(ValueError, match="SimConfig"):
        SimExchange({"leverage": 1.0})


def _bars(n: int = 50) -> dict[str, np.ndarray]:
    c = 100 + np.sin(np.arange(n) / 3.0)
    return {
        "ts": np.arange(n, dtype=np.int64) * MIN,
        "open": c.copy(),
        "high": c + 0.5,
        "low": c - 0.5,
        "close": c.copy(),
        "volume": np.ones(n),
    }


def _signals(n: int = 50) -> SignalArrays:
    s = SignalArrays.empty(np.arange(4, n, 5))
    s.entry_long[::2] = 1
    s.exit_long[1::2] = 1
    s.size_value[:] = 10
    return s


def test_batch_runs_on_good_input() -> None:
    res = run_batch(pa.table(_bars()), _signals(), SimConfig())
    assert res.equity.num_rows == 50 and res.n_trades > 0


@pytest.mark.parametrize(
    ("column", "row", "value", "field"),
    [
        ("ts", 7, 6 * MIN, "ts"),  # duplicate of row 6
        ("ts", 9, 3 * MIN, "ts"),  # unsorted
        ("close", 12, math.nan, "close"),
        ("open", 3, -1.0, "open"),
        ("high", 20, 50.0, "high"),  # high < low
        ("low", 30, 200.0, "low"),  # low > min(open, close) (and > high)
        ("volume", 40, -3.0, "volume"),
    ],
)
def test_batch_bad_bar_names_the_row(column: str, row: int, value: float, field: str) -> None:
    cols = _bars()
    cols[column][row] = value
    with pytest.raises(ValueError, match=f"row {row}") as info:
        run_batch(pa.table(cols), _signals(), SimConfig())
    assert f"'{field}'" in str(info.value) or field in str(info.value)


def test_batch_bad_tables_and_signals() -> None:
    cols = _bars()
    with pytest.raises(ValueError, match="close"):
        run_batch(
            pa.table({k: v for k, v in cols.items() if k != "close"}), _signals(), SimConfig()
        )
    nulls = pa.table({**cols, "close": pa.array([None, *cols["close"][1:].tolist()], pa.float64())})
    with pytest.raises(ValueError, match="null"):
        run_batch(nulls, _signals(), SimConfig())
    s = _signals()
    s.size_value[3] = -1.0
    with pytest.raises(ValueError, match="size_value is negative at row 3"):
        run_batch(pa.table(cols), s, SimConfig())
    s = _signals()
    s.size_value[2] = math.nan
    with pytest.raises(ValueError, match="size_value is NaN at row 2"):
        run_batch(pa.table(cols), s, SimConfig())
    s = _signals()
    s.exec_close_idx[4] = s.exec_close_idx[3]
    with pytest.raises(ValueError, match="strictly increasing at row 4"):
        run_batch(pa.table(cols), s, SimConfig())
    s = _signals()
    s.sl_pct[1] = 1.5
    with pytest.raises(ValueError, match="sl_pct"):
        run_batch(pa.table(cols), s, SimConfig())
    s = _signals()
    s.tp_pct[1] = math.inf
    with pytest.raises(ValueError, match="tp_pct is infinite at row 1"):
        run_batch(pa.table(cols), s, SimConfig())
    s = SignalArrays.empty([0, 60])
    with pytest.raises(ValueError, match="out of range"):
        run_batch(pa.table(cols), s, SimConfig())


def test_batch_reads_chunked_columns() -> None:
    cols = _bars()
    table = pa.table(cols)
    chunked = pa.concat_tables([table.slice(0, 20), table.slice(20)])
    assert chunked.column("close").num_chunks == 2
    a = run_batch(table, _signals(), SimConfig())
    b = run_batch(chunked, _signals(), SimConfig())
    assert a.trades.equals(b.trades) and a.equity.equals(b.equity)
