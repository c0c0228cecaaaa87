"""Type stubs of trade._kernels.book: the account's own order book (placement checks, submit,
cancel, amend). No Python API; its C functions are declared in book.pxd."""
