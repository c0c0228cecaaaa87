"""Click parameter types shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from trade.plays import bundled_plays, find_bundled_play

if TYPE_CHECKING:  # click's ParamType is generic in its stubs only from click 8.3 on
    _ParamBase = click.ParamType[Path, object]
else:
    _ParamBase = click.ParamType


class PlayFileType(_ParamBase):
    """A Play file: a path that exists, else the name of a bundled Play (`trade play list`)."""

    name = "PLAY"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> Path:
        path = Path(str(value))
        if path.is_file():
            return path
        if path.is_dir():
            self.fail(f"{path} is a folder, not a Play file", param, ctx)
        bundled = find_bundled_play(str(value))
        if bundled is not None:
            return bundled
        names = ", ".join(p.stem for p in bundled_plays())
        self.fail(f"Play file not found: {path} (nor a bundled Play; bundled: {names})",
                  param, ctx)


PLAY_FILE = PlayFileType()
