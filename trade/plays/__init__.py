"""The example Plays shipped with trade (package data; `trade play list` shows them).

Any command that takes a Play file also takes the name of one of these (with or without
`.yml`, or as `plays/NAME.yml` from a folder that has no such file), so they run from an
installed wheel as they do from a clone.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_plays", "find_bundled_play"]


def _folder() -> Path:
    return Path(str(resources.files(__name__)))


def bundled_plays() -> list[Path]:
    """Every Play shipped with `trade`, sorted by name.

    Returns
    -------
    list of Path
        The YAML files inside the installed package.
    """
    return sorted(_folder().glob("*.yml"))


def find_bundled_play(name: str) -> Path | None:
    """The bundled Play a name names: ``01_ema_cross_basics``, with ``.yml``, or
    ``plays/NAME.yml``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Path or None
        The file inside the installed package, or None when no bundled Play has that name.
    """
    stem = Path(name).name.removesuffix(".yml").removesuffix(".yaml")
    if Path(name).parent.name not in ("", "plays"):
        return None
    path = _folder() / f"{stem}.yml"
    return path if path.is_file() else None
