"""The project's exception root. The CLI turns any TradeError into one clear line."""

from __future__ import annotations


class TradeError(Exception):
    """Base of every error `trade` raises on purpose (bad input, bad data, refused order)."""


class InputError(TradeError, ValueError):
    """Bad input from a user or a file: the message names what and where."""
