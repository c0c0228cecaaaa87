"""Compiled Cython kernels (sources in the repository's kernels/ folder).

Nothing here imports from the Python orchestration layer: kernels are the lowest layer.
"""
