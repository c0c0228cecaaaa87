# The account's own order book: placement checks, submit, cancel, amend, lifecycle moves.

from trade._kernels.engine cimport Engine, COrder

# move order oi to status through the lifecycle table (an illegal move sets e.fault)
cdef bint move_order(Engine* e, long long oi, int status) noexcept nogil
# drop finished orders from the active list, keeping submission order
cdef void compact_active(Engine* e) noexcept nogil
# RJ_NONE when order o may be placed now, else why not
cdef int rejection_of(Engine* e, COrder* o) noexcept nogil
# place a copy of tmpl; its index (its status says whether it was rejected), -1 out of memory
cdef long long engine_submit(Engine* e, COrder* tmpl) noexcept nogil
# cancel order oi (an untriggered conditional order is deactivated)
cdef void engine_cancel(Engine* e, long long oi) noexcept nogil
# apply a validated amend (0 = leave as is)
cdef void engine_amend(Engine* e, long long oi, double qty, double price,
                       double trigger) noexcept nogil
