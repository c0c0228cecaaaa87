"""Portfolio files: several Plays (each on a symbol, with a share of the account) on one wallet.

A portfolio file is a YAML document with one top-level key, `portfolio`:

    portfolio:
      name: two_markets            # optional: names the run folder (default: the file's stem)
      initial_balance: 10000       # optional: the wallet (default: the members' starting equity)
      members:
        - {play: ../01_ema_cross_basics.yml, symbol: BTCUSDT, alloc: 0.5}
        - {play: 05_donchian_limit_breakout, symbol: ETHUSDT}   # a bundled Play by name

`play` is a Play file, relative to the portfolio file (or the name of a bundled Play);
`symbol` overrides the Play's (default: the Play's own); `alloc` (> 0) is the share of the
account's equity the member's entries are sized on (default: 1 / the number of members).
`load_portfolio_file` reads and checks one; `is_portfolio_file` tells one from a Play file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trade.core.errors import InputError
from trade.core.safe_yaml import YamlLimitError, read_yaml_text, safe_load

#: The keys a portfolio mapping and a member mapping accept.
PORTFOLIO_KEYS: dict[str, str] = {
    "name": "Names the run folder and the report (default: the file's name without .yml).",
    "initial_balance": "The account's starting wallet, USDT (> 0); every member's Play "
                       "starting equity is replaced by it. Default: the members' Plays' "
                       "starting equity, which must then be the same for all.",
    "members": "The list of members (at least one), run in this order.",
}
MEMBER_KEYS: dict[str, str] = {
    "play": "A Play file, relative to the portfolio file, or the name of a bundled Play.",
    "symbol": "The symbol the member trades (default: its Play's `symbol`); upper-cased.",
    "alloc": "Share of the account's equity the member's entries are sized on (> 0; "
             "1 = the whole account, as a single run). Default: 1 / the number of members.",
}


class PortfolioFileError(InputError):
    """A portfolio file that cannot be read or is not valid (one line: file, key, reason)."""


@dataclass(frozen=True, slots=True)
class PortfolioEntry:
    """One member of a portfolio file: its Play file, symbol (None: the Play's) and
    allocation (None: an equal share)."""

    play: Path
    symbol: str | None
    alloc: float | None


@dataclass(frozen=True, slots=True)
class PortfolioFile:
    """A loaded portfolio file (see the module docstring). Immutable."""

    source: Path
    name: str
    initial_balance: float | None
    members: tuple[PortfolioEntry, ...]


def _read(path: Path) -> Any:
    try:
        text = read_yaml_text(path)
    except FileNotFoundError:
        raise PortfolioFileError(f"portfolio file not found: {path}") from None
    except YamlLimitError as exc:
        raise PortfolioFileError(str(exc)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise PortfolioFileError(f"{path}: cannot read: {exc}") from None
    try:
        return safe_load(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PortfolioFileError(f"{path}{line}: not valid YAML "
                                 f"({getattr(exc, 'problem', None) or exc})") from None


def is_portfolio_file(path: str | Path) -> bool:
    """Whether `path` holds a portfolio file (a mapping whose only key is `portfolio`).

    Parameters
    ----------
    path : str or Path
        Any file; one that cannot be read or parsed is not a portfolio file (the Play loader
        then reports what is wrong with it).

    Returns
    -------
    bool
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        raw = _read(p)
    except InputError:
        return False
    return isinstance(raw, dict) and list(raw) == ["portfolio"]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(float(value)) or float(value) <= 0:
        raise PortfolioFileError(f"{where}: must be a number > 0, got {value!r}")
    return float(value)


def _play_path(value: Any, base: Path, where: str) -> Path:
    from trade.plays import find_bundled_play

    if not isinstance(value, str) or not value.strip():
        raise PortfolioFileError(f"{where}: must be a Play file (a path), got {value!r}")
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    if path.is_file():
        return path
    bundled = find_bundled_play(value)
    if bundled is not None:
        return bundled
    raise PortfolioFileError(f"{where}: Play file not found: {path}")


def load_portfolio_file(path: str | Path) -> PortfolioFile:
    """Read and check a portfolio file (the Plays it names are checked to exist, not loaded).

    Parameters
    ----------
    path : str or Path
        The YAML file (see the module docstring for its format).

    Returns
    -------
    PortfolioFile
        Member Play paths resolved against the file's folder.

    Raises
    ------
    PortfolioFileError
        The file is missing, unreadable, not YAML, or breaks the format: an unknown key, no
        members, a member Play that does not exist, an alloc or balance that is not > 0.
    """
    src = Path(path)
    raw = _read(src)
    if not isinstance(raw, dict) or list(raw) != ["portfolio"]:
        raise PortfolioFileError(f"{src}: a portfolio file holds one key, `portfolio:`")
    body = raw["portfolio"]
    if not isinstance(body, dict):
        raise PortfolioFileError(f"{src}: portfolio: must be a mapping (name, initial_balance, "
                                 "members)")
    unknown = sorted(set(body) - set(PORTFOLIO_KEYS))
    if unknown:
        raise PortfolioFileError(f"{src}: portfolio.{unknown[0]}: unknown key (expected "
                                 f"{', '.join(PORTFOLIO_KEYS)})")
    name = body.get("name", src.stem)
    if not isinstance(name, str) or not name.strip():
        raise PortfolioFileError(f"{src}: portfolio.name: must be a non-empty string")
    balance = None
    if body.get("initial_balance") is not None:
        balance = _number(body["initial_balance"], f"{src}: portfolio.initial_balance")
    members = body.get("members")
    if not isinstance(members, list) or not members:
        raise PortfolioFileError(f"{src}: portfolio.members: must be a list of at least one "
                                 "member ({play: FILE, symbol: SYMBOL, alloc: SHARE})")
    entries = []
    for k, m in enumerate(members):
        where = f"{src}: portfolio.members[{k}]"
        if isinstance(m, str):
            m = {"play": m}
        if not isinstance(m, dict):
            raise PortfolioFileError(f"{where}: must be a mapping {{play, symbol, alloc}}")
        bad = sorted(set(m) - set(MEMBER_KEYS))
        if bad:
            raise PortfolioFileError(f"{where}.{bad[0]}: unknown key (expected "
                                     f"{', '.join(MEMBER_KEYS)})")
        if "play" not in m:
            raise PortfolioFileError(f"{where}: needs `play:` (a Play file)")
        play = _play_path(m["play"], src.parent, f"{where}.play")
        symbol = m.get("symbol")
        if symbol is not None and (not isinstance(symbol, str) or not symbol.strip()):
            raise PortfolioFileError(f"{where}.symbol: must be a symbol such as BTCUSDT")
        alloc = None if m.get("alloc") is None else _number(m["alloc"], f"{where}.alloc")
        entries.append(PortfolioEntry(play, symbol.strip().upper() if symbol else None, alloc))
    return PortfolioFile(src, name.strip(), balance, tuple(entries))
