# Order status codes shared by the kernel, the simulator and the live stack.
# Values match trade.core.OrderStatus (a test checks they agree).
cdef enum:
    ST_CREATED = 0
    ST_NEW = 1
    ST_PARTIALLY_FILLED = 2
    ST_FILLED = 3
    ST_CANCELLED = 4
    ST_REJECTED = 5
    ST_UNTRIGGERED = 6
    ST_TRIGGERED = 7
    ST_DEACTIVATED = 8
    ST_PARTIALLY_FILLED_CANCELED = 9
    N_STATUS = 10

cdef bint legal_transition(int src, int dst) noexcept nogil
cdef bint is_terminal(int status) noexcept nogil
