"""Cython extension list for trade._kernels (everything else lives in pyproject.toml).

The kernel sources live in trade/_kernels/ beside their .pxd (for `cimport`) and .pyi (for
type checkers) files, all shipped in the wheel. `kernels/` and `plays/` at the top of the
repository are links to trade/_kernels and trade/plays, kept for short paths.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
KERNELS = HERE / "trade" / "_kernels"


def _extensions() -> list[Extension]:
    # no fused multiply-add: the kernel must round exactly like the Python reference
    flags = ["-O3", "-ffp-contract=off"]
    if os.environ.get("TRADE_NATIVE") == "1":
        flags.append("-march=native")
    return [
        Extension(
            f"trade._kernels.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            extra_compile_args=flags,
        )
        for pyx in sorted(KERNELS.glob("*.pyx"))
    ]


setup(
    ext_modules=cythonize(
        _extensions(),
        include_path=[str(HERE)],
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "cdivision": True,
        },
    ),
)
