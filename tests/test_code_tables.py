"""The kernel's integer codes and Python's names for them are one table each.

`trade.core.enums` is the Python home of every code the compiled kernels use (order
types, times in force, order statuses, exec types, exit reasons); here every member is
checked against the kernel: against the tables the compiled modules export (`STATUS_CODES`,
`ORDER_TYPE_CODES`, `TIME_IN_FORCE_CODES`, `EXEC_TYPE_CODES`, `EXIT_REASON_CODES`,
`EXIT_REASON_NAMES`, `REJECT_CODES`) and against the C constants of
`trade/_kernels/engine.pxd`, the declaration the kernel is compiled from. The
exit-reason metrics and the trade log's reasons come from the same table.
"""

from __future__ import annotations

import re
from enum import IntEnum
from pathlib import Path

import pytest

import trade._kernels.lifecycle as kernel_lifecycle
import trade._kernels.sim as kernel_sim
from trade.core import EXIT_REASONS, ExecType, ExitReason, OrderStatus, OrderType, TimeInForce
from trade.metrics.docs import EXIT_REASON_KEYS, METRIC_DOCS

KERNELS = Path(kernel_sim.__file__).resolve().parent


def pxd_constants(pxd: str, prefix: str) -> dict[str, int]:
    """`{NAME: value}` of the `cdef enum` constants `<prefix>NAME = value` in a .pxd."""
    text = (KERNELS / pxd).read_text()
    found = {m.group(1): int(m.group(2))
             for m in re.finditer(rf"^\s+{prefix}([A-Z_]+)\s*=\s*(-?\d+)\s*(?:#.*)?$", text,
                                  re.MULTILINE)}
    assert found, f"no {prefix}* constants in {pxd}"
    return found


def kernel_codes(exported: str) -> dict[str, int]:
    """The table the compiled kernel exports (`{NAME: code}`)."""
    return {str(k): int(v) for k, v in dict(getattr(kernel_sim, exported)).items()}


def members(enum: type[IntEnum]) -> dict[str, int]:
    return {m.name: int(m) for m in enum}


@pytest.mark.parametrize(("enum", "exported", "prefix"), [
    (OrderType, "ORDER_TYPE_CODES", "OT_"),
    (TimeInForce, "TIME_IN_FORCE_CODES", "TIF_"),
    (ExecType, "EXEC_TYPE_CODES", "X_"),
    (ExitReason, "EXIT_REASON_CODES", "R_"),
], ids=["OT_", "TIF_", "X_", "R_"])
def test_every_enum_member_is_the_kernels_constant(enum: type[IntEnum], exported: str,
                                                   prefix: str) -> None:
    # the compiled module's table, and the .pxd declaration it is compiled from
    assert members(enum) == kernel_codes(exported) == pxd_constants("engine.pxd", prefix)


def test_order_statuses_are_the_lifecycle_kernels() -> None:
    assert {s.bybit: int(s) for s in OrderStatus} == kernel_lifecycle.STATUS_CODES
    assert members(OrderStatus) == pxd_constants("lifecycle.pxd", "ST_")


def test_exit_reason_names_are_the_kernels() -> None:
    """The compiled kernel writes EXIT_REASON_NAMES[code] into the trade log."""
    assert tuple(kernel_sim.EXIT_REASON_NAMES) == EXIT_REASONS
    for reason in ExitReason:
        assert kernel_sim.EXIT_REASON_NAMES[reason] == reason.label
        assert ExitReason.from_label(reason.label) is reason


def test_reject_codes_are_the_kernels() -> None:
    from trade.sim.rejects import RejectCode

    assert members(RejectCode) == {k: int(v) for k, v in kernel_sim.REJECT_CODES.items()}
    assert members(RejectCode) == pxd_constants("engine.pxd", "RJ_")


def test_every_exit_reason_has_its_metric() -> None:
    assert tuple(EXIT_REASON_KEYS) == EXIT_REASONS
    for key in EXIT_REASON_KEYS.values():
        doc = METRIC_DOCS[key]
        assert doc.group == "trades" and doc.unit == "count", key
    counted = {k for k in METRIC_DOCS if k.startswith("exits_")}
    assert counted == set(EXIT_REASON_KEYS.values())


def test_the_simulators_exit_reasons_are_the_same_table() -> None:
    """trade.sim.results keeps its own EXIT_REASONS (to be imported from trade.core)."""
    from trade.sim import results

    assert tuple(results.EXIT_REASONS) == EXIT_REASONS


def test_an_unknown_exit_reason_label_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown exit reason 'stop'"):
        ExitReason.from_label("stop")
