"""The report pages' static files (JavaScript, CSS, HTML) in trade/report/assets/.

They are plain files, shipped as package data, so an editor and a linter can read them
(`.ci/run` syntax-checks the JavaScript with node); the Python side only reads and inlines
them, since every report is one self-contained HTML file.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["asset"]


@functools.cache
def asset(name: str) -> str:
    """The text of assets/`name` (e.g. "run.js").

    Raises
    ------
    FileNotFoundError
        When the package was installed without its assets (a broken wheel).
    """
    return (resources.files("trade.report") / "assets" / name).read_text(encoding="utf-8")
