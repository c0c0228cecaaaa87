# The fill rules of docs/fill_model.md: one validated 1m bar through rules 1-7, the end of data.

from trade._kernels.engine cimport Engine

# fill order oi at price (maker or taker fee): closes / flips / opens the position, order FILLED
cdef void execute_order(Engine* e, long long oi, double price, bint maker) noexcept nogil
# rule 7 without recording: last close and mark, MAE / MFE; returns the unrealised PnL
cdef double mark_core(Engine* e, double h, double l, double c,
                      double mark_price) noexcept nogil
# first half of a bar: the bar starts and rule 1 fills market orders at its open
cdef void engine_bar_open(Engine* e, long long ts, double o) noexcept nogil
# rules 1-6 of one bar (the batch runner records rule 7 itself)
cdef void bar_rules(Engine* e, long long ts, double o, double h, double l, double c,
                    double mark_price, double funding_rate) noexcept nogil
# second half of the bar engine_bar_open started: rules 2-7
cdef void engine_bar_rest(Engine* e, long long ts, double o, double h, double l, double c,
                          double mark_price, double funding_rate) noexcept nogil
# one whole bar: rules 1-7 in order
cdef void engine_bar(Engine* e, long long ts, double o, double h, double l, double c,
                     double mark_price, double funding_rate) noexcept nogil
# end of data: close the position at the last close, cancel what is still open
cdef void engine_finish(Engine* e) noexcept nogil
# 0 when a bar is valid after prev_ts, else the code of its first bad field (sim.BAR_ERRORS)
cdef int check_bar(long long prev_ts, long long ts, double o, double h, double l, double c,
                   double v, double mark, double fr) noexcept nogil
