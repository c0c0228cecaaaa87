# The one Position of the project: a C struct the kernel updates in nogil loops,
# and the Python class that wraps it (re-exported as trade.Position).

cdef struct PositionState:
    int side                      # +1 long, -1 short, 0 flat
    double size                   # base-asset quantity, >= 0
    double entry_price            # average entry price
    double leverage
    double margin                 # isolated position margin (USDT)
    double liq_price              # liquidation price (0 when flat)
    double bust_price             # bankruptcy price (0 when flat)
    double mark_price
    double unrealized_pnl
    double realized_pnl           # realised on this position since it opened (fees excluded)
    double fees_paid              # fees charged since it opened
    double funding_paid           # funding paid since it opened (negative = received)
    double stop_loss              # 0 = none
    double take_profit            # 0 = none
    double trailing_distance      # 0 = none; price distance of a trailing stop
    double trailing_stop          # current trailing stop price (0 = none)
    double mae                    # most adverse unrealised PnL seen (USDT, <= 0)
    double mfe                    # most favourable unrealised PnL seen (USDT, >= 0)
    double maintenance_margin_rate
    long long opened_ts           # ms UTC of the opening fill
    long long updated_ts          # ms UTC of the last change


cdef void position_reset(PositionState* p) noexcept nogil


cdef class Position:
    cdef PositionState st
    cdef public str symbol

    @staticmethod
    cdef Position wrap(str symbol, const PositionState* state)
