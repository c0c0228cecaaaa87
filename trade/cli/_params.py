"""Click parameter types shared by the commands."""

from __future__ import annotations

from pathlib import Path

import click

from trade.plays import bundled_plays, find_bundled_play


# click's ParamType takes no type argument up to 8.3, one in 8.4 and two in 8.5; leaving it
# bare fits all three, and the ignore covers the versions whose stubs call that incomplete.
class PlayFileType(click.ParamType):  # type: ignore[type-arg, unused-ignore]
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
