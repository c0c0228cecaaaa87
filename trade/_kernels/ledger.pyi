"""Type stubs of trade._kernels.ledger: position arithmetic (margin, liquidation, opening and
closing). No Python API; its C functions are declared in ledger.pxd."""
