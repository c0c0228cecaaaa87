"""The one-writer book: REST replies and WS pushes in any order, any number of times."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core import OrderRequest, OrderStatus, OrderType, Side
from trade.live.book import AccountBook, OrderHandle, position_from_row

SYM = "BTCUSDT"


def _order_row(link: str, oid: str, status: str, cum: float, qty: float, t: int,
               avg: float = 100.0) -> dict[str, Any]:
    return {"symbol": SYM, "orderId": oid, "orderLinkId": link, "orderStatus": status,
            "cumExecQty": str(cum), "qty": str(qty), "avgPrice": str(avg) if cum else "",
            "side": "Buy", "orderType": "Limit", "price": "100", "timeInForce": "GTC",
            "updatedTime": str(t), "createdTime": "1", "cumExecFee": "0"}


def _exec_row(link: str, oid: str, eid: str, qty: float, t: int) -> dict[str, Any]:
    return {"symbol": SYM, "orderId": oid, "orderLinkId": link, "execId": eid,
            "execQty": str(qty), "execPrice": "100", "execFee": "0.01", "side": "Buy",
            "execTime": str(t), "execType": "Trade", "createType": "CreateByUser"}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[str, Any]], dict[str, tuple[str, float]]]:
    """Orders with their true lifecycle as atoms (ack, order rows, executions), shuffled
    and partly duplicated; returns the atoms and each order's true final state."""
    n = draw(st.integers(1, 6))
    atoms: list[tuple[str, Any]] = []
    truth: dict[str, tuple[str, float]] = {}
    for i in range(n):
        link, oid = f"L{i}", f"O{i}"
        qty = 4.0
        parts = draw(st.lists(st.sampled_from([1.0, 2.0]), max_size=3))
        fills: list[float] = []
        total = 0.0
        for p in parts:
            if total + p > qty:
                break
            fills.append(p)
            total += p
        end = draw(st.sampled_from(["open", "cancel", "fill"]))
        if end == "fill" and total < qty:
            fills.append(qty - total)
            total = qty
        t = 10
        atoms.append(("ack", (link, oid)))
        atoms.append(("order", _order_row(link, oid, "New", 0.0, qty, t)))
        cum = 0.0
        for k, f in enumerate(fills):
            t += 10
            cum += f
            atoms.append(("exec", _exec_row(link, oid, f"{oid}-e{k}", f, t)))
            status = "Filled" if cum >= qty else "PartiallyFilled"
            atoms.append(("order", _order_row(link, oid, status, cum, qty, t)))
        final = "Filled" if cum >= qty else ("PartiallyFilled" if cum > 0 else "New")
        if end == "cancel" and cum < qty:
            t += 10
            final = "PartiallyFilledCanceled" if cum > 0 else "Cancelled"
            atoms.append(("order", _order_row(link, oid, final, cum, qty, t)))
        truth[link] = (final, cum)
    dupes = draw(st.lists(st.sampled_from(atoms), max_size=len(atoms)))
    everything = atoms + dupes
    order = draw(st.permutations(range(len(everything))))
    return [everything[j] for j in order], truth


def _submit_all(book: AccountBook, links: list[str]) -> None:
    for link in links:
        req = OrderRequest(SYM, Side.BUY, 4.0, OrderType.LIMIT, price=100.0,
                           order_link_id=link)
        book.add_pending(OrderHandle(link, req), 0)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_any_interleaving_keeps_the_books_exact(case: tuple[list[tuple[str, Any]],
                                                            dict[str, tuple[str, float]]]
                                               ) -> None:
    atoms, truth = case
    book = AccountBook()
    _submit_all(book, sorted(truth))
    for kind, payload in atoms:
        if kind == "ack":
            book.ack(*payload)
        elif kind == "order":
            book.apply_order_row(payload)
        else:
            book.apply_execution_row(payload)
    # No order lost or invented; each at its true final state (or, when the final
    # push was a fill-only step, at least as far as the fills prove).
    assert set(book.orders) == set(truth)
    for link, (final, cum) in truth.items():
        order = book.orders[link]
        assert order.filled_qty == cum, (link, order)
        assert order.status.bybit == final, (link, order.status, final)
    # Every fill counted exactly once.
    expected_fills = sum(1 for k, p in atoms if k == "exec" and True)
    unique = {p["execId"] for k, p in atoms if k == "exec"}
    assert len(book.fills) == len(unique) <= expected_fills
    assert sum(f.qty for f in book.fills) == sum(c for _, c in truth.values())
    # Futures resolve exactly for the orders that ended.
    for link, (final, _) in truth.items():
        handle = book.handles[link]
        ended = OrderStatus.from_bybit(final).is_terminal
        assert handle.future.done() == ended
        if ended:
            assert handle.future.result().status.bybit == final


def test_missed_pushes_route_through_the_transition_table() -> None:
    book = AccountBook()
    req = OrderRequest(SYM, Side.SELL, 1.0, OrderType.STOP_MARKET, trigger_price=90.0,
                       order_link_id="S1")
    book.add_pending(OrderHandle("S1", req), 0)
    row = _order_row("S1", "X1", "Untriggered", 0.0, 1.0, 5)
    row.update(orderType="Market", triggerPrice="90", side="Sell")
    book.apply_order_row(row)
    # The Triggered push was lost: Filled arrives straight after Untriggered.
    book.apply_order_row({**row, "orderStatus": "Filled", "cumExecQty": "1",
                          "avgPrice": "89.5", "updatedTime": "9"})
    statuses = [e.order.status for e in book.drain() if hasattr(e, "order")]
    assert statuses == [OrderStatus.CREATED, OrderStatus.UNTRIGGERED, OrderStatus.TRIGGERED,
                        OrderStatus.FILLED]
    # A stale row after the terminal state changes nothing.
    book.apply_order_row({**row, "orderStatus": "Triggered", "updatedTime": "7"})
    assert book.orders["S1"].status is OrderStatus.FILLED and book.stale_rows == 1


def test_position_rows_build_the_one_position_type_and_ignore_older_seq() -> None:
    book = AccountBook()
    row = {"symbol": SYM, "side": "Sell", "size": "0.5", "avgPrice": "30000",
           "leverage": "3", "markPrice": "29900", "liqPrice": "39000", "bustPrice": "40000",
           "unrealisedPnl": "50", "positionIM": "5000", "stopLoss": "31000", "seq": 7}
    pos = book.apply_position_row(row)
    assert pos is not None and type(pos).__name__ == "Position"
    assert (pos.side, pos.size, pos.entry_price, pos.leverage, pos.mark_price,
            pos.liq_price, pos.unrealized_pnl, pos.stop_loss) == (
        -1, 0.5, 30000.0, 3.0, 29900.0, 39000.0, 50.0, 31000.0)
    assert book.apply_position_row({**row, "size": "0", "side": "", "seq": 6}) is None
    assert book.position(SYM).size == 0.5
    flat = position_from_row({"symbol": SYM, "side": "", "size": "0", "entryPrice": "0"})
    assert flat.side == 0 and flat.size == 0


def test_filled_entries_are_reported_once_with_their_first_fill_time() -> None:
    book = AccountBook()
    plain = OrderRequest(SYM, Side.BUY, 1.0, OrderType.LIMIT, price=100.0,
                         break_even_activation=0.01)
    exit_ = OrderRequest(SYM, Side.SELL, 1.0, OrderType.LIMIT, price=100.0, reduce_only=True)
    book.add_pending(OrderHandle("E1", plain), 0)
    book.add_pending(OrderHandle("R1", exit_), 0)
    # two partial fills of E1 (the later one pushed first), duplicated; the order row after
    book.apply_execution_row(_exec_row("E1", "X1", "e2", 0.6, 180_000))
    book.apply_execution_row(_exec_row("E1", "X1", "e1", 0.4, 120_500))
    book.apply_execution_row(_exec_row("E1", "X1", "e1", 0.4, 120_500))
    book.apply_order_row(_order_row("E1", "X1", "Filled", 1.0, 1.0, 181_000))
    book.apply_order_row({**_order_row("R1", "X2", "Filled", 1.0, 1.0, 240_000),
                          "side": "Sell", "reduceOnly": True})
    # E1 has no bracket but break-even settings: an entry for break-even, not for brackets
    assert [o.order_id for o in book.entries_filled] == ["E1"]
    assert book.brackets_due == []
    assert book.first_fill_ts("E1") == 120_500  # by execTime, not by arrival order
    assert book.first_fill_ts("R1") is None  # its fills were never seen
    # a funding row (even one naming the order) is no fill of it
    funding = {**_exec_row("E1", "X1", "f1", 0.0, 60_000), "execType": "Funding"}
    book.apply_execution_row(funding)
    assert book.first_fill_ts("E1") == 120_500


def test_an_amend_the_request_cannot_hold_is_logged_and_asks_for_a_reconcile(
        caplog: Any) -> None:
    book = AccountBook()
    req = OrderRequest(SYM, Side.BUY, 1.0, OrderType.LIMIT, price=100.0, order_link_id="L1")
    book.add_pending(OrderHandle("L1", req), 0)
    row = _order_row("L1", "X1", "New", 0.0, 1.0, 5)
    row.update(orderType="Limit", price="100", side="Buy")
    book.apply_order_row(row)
    assert not book.needs_reconcile
    # the exchange reports a price no OrderRequest can hold (negative): keep ours, say so
    book.apply_order_row({**row, "price": "-5", "updatedTime": "6"})
    assert book.orders["L1"].request.price == 100.0
    assert book.needs_reconcile and len(book.invalid_rows) == 1
    assert "L1" in book.invalid_rows[0] or "L1" in caplog.text
    assert "not a valid request" in caplog.text and "-5" in caplog.text
    # a valid amend is taken as before
    book.apply_order_row({**row, "price": "101", "updatedTime": "7"})
    assert book.orders["L1"].request.price == 101.0
