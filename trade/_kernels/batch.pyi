"""Type stubs of trade._kernels.batch: the batch runner's nogil loop and the signal-row rules.
No Python API here; trade._kernels.sim is its Python face. C functions: batch.pxd."""
