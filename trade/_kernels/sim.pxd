# The Python-facing face of the simulation kernel: SimExchange (the step API) and the batch
# entry points of sim.pyx, over the parts engine / ledger / book / fills / batch.

from trade._kernels.engine cimport Engine


cdef class SimExchange:
    cdef Engine e
    cdef readonly object config
    cdef readonly str symbol
    cdef list _requests
    cdef bint _split_open
    cdef long long _split_ts
    cdef double _split_px
    cdef object _order(self, long long oi)
    cdef long long _index(self, str order_id) except -1
    cdef long long _open_index(self, str order_id) except -1
