"""Type stubs of trade._kernels.fills: the 1m fill rules of docs/fill_model.md. No Python API;
its C functions are declared in fills.pxd."""
