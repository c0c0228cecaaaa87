"""Write trade/_kernels/indicators.pyi from trade/_kernels/indicators.pyx.

The indicator kernels are many small classes with one constructor each; their stub is derived
from the Cython source so it cannot be forgotten when a kernel is added. `mypy.stubtest` (run
by .ci/run) then checks the stub against the compiled module.

    python tools/gen_indicator_stub.py          # rewrite the stub
    python tools/gen_indicator_stub.py --check  # exit 1 if the stub is not current
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYX = ROOT / "trade" / "_kernels" / "indicators.pyx"
PYI = ROOT / "trade" / "_kernels" / "indicators.pyi"

_CTYPES = {"int": "int", "double": "float", "long long": "int", "bint": "bool", "str": "str",
           "object": "object", "": "object"}
_CLASS = re.compile(r"^cdef class (\w+)\((\w+)\):")
_INIT = re.compile(r"^    def __init__\(self(?:, )?(.*?)\):", re.S | re.M)
_PARAM = re.compile(
    r"^(?:(long long|unsigned int|int|double|bint|str|object)\s+)?(\w+)(?:\s*=\s*(.+))?$"
)

HEADER = '''"""Type stubs of trade._kernels.indicators (tools/gen_indicator_stub.py writes them)."""

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

SOURCES: dict[str, int]

@disjoint_base
class Kernel:
    """Base of all indicator kernels: one closed bar in, one float per output out."""

    n_out: int
    def update(
        self, ts: float, o: float, h: float, l: float, c: float, v: float
    ) -> tuple[float, ...]: ...
    def run(
        self,
        ts: npt.NDArray[np.float64],
        o: npt.NDArray[np.float64],
        h: npt.NDArray[np.float64],
        l: npt.NDArray[np.float64],
        c: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]: ...
    def run_columns(
        self,
        ts: npt.NDArray[np.float64],
        o: npt.NDArray[np.float64],
        h: npt.NDArray[np.float64],
        l: npt.NDArray[np.float64],
        c: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], ...]: ...
'''


def _params(raw: str) -> str:
    out = []
    for part in (p.strip() for p in " ".join(raw.split()).split(",")):
        if not part:
            continue
        m = _PARAM.match(part)
        if m is None:
            raise SystemExit(f"{PYX}: cannot read constructor parameter {part!r}")
        ctype, name, default = m.group(1) or "", m.group(2), m.group(3)
        typ = _CTYPES.get(ctype, "object")
        out.append(f"{name}: {typ}" + (" = ..." if default is not None else ""))
    return ", ".join(["self", *out])


def render() -> str:
    src = PYX.read_text()
    lines = src.splitlines()
    chunks = [HEADER]
    for i, line in enumerate(lines):
        m = _CLASS.match(line)
        if m is None or m.group(1) == "Kernel":
            continue
        name, base = m.groups()
        end = next((j for j in range(i + 1, len(lines)) if _CLASS.match(lines[j])), len(lines))
        body = "\n".join(lines[i + 1:end])
        im = _INIT.search(body)
        params = _params(im.group(1)) if im else "self"
        if params == "self":  # Cython compiles a parameterless __init__ as (*args, **kwargs)
            params = "self, *args: object, **kwargs: object"
        init = f"    def __init__({params}) -> None: ..."
        chunks.append(f"\n@disjoint_base\nclass {name}({base}):\n{init}\n")
    return "".join(chunks)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PYI.read_text() != text:
            print(f"{PYI} is stale: run python tools/gen_indicator_stub.py", file=sys.stderr)
            return 1
        return 0
    PYI.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
