"""Cython extension list for trade._kernels (everything else lives in pyproject.toml).

Sources live in kernels/ and compile into the package trade._kernels. So that
`from trade._kernels.X cimport Y` resolves at build time, the .pxd files are
mirrored into build/pxd/trade/_kernels before cythonize runs.
"""

import os
import shutil
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).resolve().parent
KERNELS = HERE / "kernels"
PXD_ROOT = HERE / "build" / "pxd"


def _mirror_pxd() -> Path:
    pkg = PXD_ROOT / "trade" / "_kernels"
    pkg.mkdir(parents=True, exist_ok=True)
    (PXD_ROOT / "trade" / "__init__.pxd").touch()
    (pkg / "__init__.pxd").touch()
    for pxd in KERNELS.glob("*.pxd"):
        shutil.copy2(pxd, pkg / pxd.name)
    return PXD_ROOT


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


def _packages() -> list[str]:
    # the two remapped packages (see pyproject's package-dir) and every package under trade/
    return [*find_packages(include=["trade", "trade.*"]), "trade._kernels", "trade.plays"]


setup(
    packages=_packages(),
    ext_modules=cythonize(
        _extensions(),
        include_path=[str(_mirror_pxd())],
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "cdivision": True,
        },
    ),
)
