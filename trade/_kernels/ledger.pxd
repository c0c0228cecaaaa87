# Ledger and position arithmetic: margin, liquidation price, opening and closing (trades).

from trade._kernels.engine cimport Engine

# margin reserved by resting non reduce-only limit / stop orders
cdef double reserved_margin(Engine* e) noexcept nogil
# margin and taker fee the pending (unfilled) market orders will take at the last close
cdef double pending_margin(Engine* e) noexcept nogil
# position margin + reserved margin
cdef double used_margin(Engine* e) noexcept nogil
# no position any more: the position record and its bracket state reset at ts
cdef void flatten(Engine* e, long long ts) noexcept nogil
# liquidation and bankruptcy prices of the position (isolated, linear)
cdef void set_liq(Engine* e) noexcept nogil
# close qty of the position at price: writes a trade, pays the fee, flattens when all is closed
cdef void close_part(Engine* e, double qty, double price, long long ts, double fee_rate,
                     int reason, int exec_type, long long oi, int side,
                     bint maker) noexcept nogil
# open or add qty at price from order oi: entry price, margin, liquidation, attached brackets
cdef void open_or_add(Engine* e, double qty, double price, int side, double fee_rate,
                      long long oi, bint maker) noexcept nogil
# a take-profit level (price, qty; INFINITY = the whole position), kept nearest first
cdef void add_level(Engine* e, double px, double qty) noexcept nogil
# Partial mode on when a level or limit / mark bracket is set (a Full-mode TP becomes a level)
cdef void partial_sync(Engine* e) noexcept nogil
