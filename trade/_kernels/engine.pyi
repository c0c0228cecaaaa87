"""Type stubs of trade._kernels.engine: the simulation engine's state (structs, codes, buffers,
the event log). It has no Python API; its C functions are declared in engine.pxd for the other
kernel parts (and for your own Cython through `cimport`)."""
