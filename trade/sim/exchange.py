"""SimExchange: the compiled exchange simulator advanced one 1m bar at a time.

The class itself lives in the kernel (`trade._kernels.sim.SimExchange`, a cdef class); this
module is its public home. Its surface is the step API shared with
`trade.sim.reference.ReferenceExchange`:

* ``SimExchange(config: SimConfig)``
* ``submit(request) -> Order`` (refusals come back Rejected with ``reject_reason``)
* ``cancel(order_id) -> Order``; ``amend(order_id, *, qty=None, price=None,
  trigger_price=None) -> Order``
* ``set_trading_stop(*, take_profit=None, stop_loss=None, trailing_distance=None,
  trailing_active_price=None)``
* ``set_take_profit_levels(levels, *, limit=False, by_mark=False)``;
  ``set_stop_mode(*, limit, by_mark)``; ``take_profit_levels() -> [(price, qty)]``
  (split take-profits, limit and mark-price brackets: docs/fill_model.md rule 4)
* ``on_bar(ts, open, high, low, close, volume=0.0, mark_price=nan, funding_rate=nan)``
* ``finish()``; ``position()``; ``balance()``; ``open_orders()``; ``drain_events()``;
  ``trade_log()``; ``equity_curve()``
"""

from __future__ import annotations

from trade._kernels.sim import BAR_ERRORS, EXIT_REASON_NAMES, SimExchange

__all__ = ["BAR_ERRORS", "EXIT_REASON_NAMES", "SimExchange"]
