"""Play errors: each names the file, YAML line and path, what was found and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from trade.core.errors import InputError


@dataclass(frozen=True, slots=True)
class PlayIssue:
    """One problem in a Play; `line` is 1-based (0 = unknown), `path` dotted (`features.x.tf`)."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PlayError(InputError):
    """A Play failed to load; `issues` lists every problem found (at least one)."""

    def __init__(self, issues: Iterable[PlayIssue]) -> None:
        self.issues: list[PlayIssue] = sorted(issues, key=lambda i: (i.file, i.line, i.path))
        if not self.issues:
            raise ValueError("PlayError needs at least one issue")
        super().__init__("\n".join(str(i) for i in self.issues))


def suggest(found: str, candidates: Iterable[str]) -> str:
    """` — did you mean 'x'?` for the closest candidate, or '' when nothing is close."""
    match = difflib.get_close_matches(found, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" — did you mean '{match[0]}'?" if match else ""


def one_of(candidates: Iterable[str]) -> str:
    """Render an expected set: `one of 'a', 'b', 'c'`."""
    return "one of " + ", ".join(f"'{c}'" for c in sorted(set(candidates)))
