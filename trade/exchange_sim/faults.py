"""Seeded fault injection: what the simulator does wrong on purpose.

A `FaultConfig` is plain data (from a test, or a YAML/JSON file for the CLI); a
`FaultInjector` turns it into seeded decisions. The server consults the injector on
every REST call and every WebSocket push, so the same seed and the same traffic give
the same faults.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trade.core import InputError
from trade.core.safe_yaml import read_yaml_text, safe_load

RestFault = Literal["ok", "http_error", "timeout", "rate_limit"]
WsAction = Literal["send", "drop", "duplicate", "delay", "reorder"]


class FaultConfig(BaseModel):
    """Fractions are probabilities in [0, 1], drawn independently per REST call / WS message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    # REST: which paths are eligible (prefix match); empty = every path.
    rest_paths: tuple[str, ...] = ()
    rest_error_rate: float = Field(0.0, ge=0, le=1)
    rest_error_status: int = Field(503, ge=500, le=599)
    rest_timeout_rate: float = Field(0.0, ge=0, le=1)
    rest_timeout_s: float = Field(1.0, ge=0)  # hang this long, then close without answering
    rest_rate_limit_rate: float = Field(0.0, ge=0, le=1)
    # WebSocket pushes (data messages only; acks, auth and pongs are never faulted).
    ws_drop_rate: float = Field(0.0, ge=0, le=1)
    ws_duplicate_rate: float = Field(0.0, ge=0, le=1)
    ws_delay_rate: float = Field(0.0, ge=0, le=1)
    ws_delay_s: float = Field(0.2, ge=0)
    ws_reorder_rate: float = Field(0.0, ge=0, le=1)  # hold a message back behind the next one
    ws_close_after: int | None = Field(None, ge=1)  # close each connection after N pushes
    # Server clock skew (ms) applied to auth checks, /v5/market/time and the envelope time.
    clock_skew_ms: int = 0

    @classmethod
    def from_file(cls, path: Path) -> FaultConfig:
        """Load from YAML or JSON; errors name the file and the field."""
        try:
            text = read_yaml_text(path)  # bounded size
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read faults file {path}: {exc}") from exc
        try:
            # bounded nesting and alias expansion (YamlLimitError is an InputError)
            data = json.loads(text) if path.suffix == ".json" else safe_load(text, str(path))
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"faults file {path} is not valid YAML/JSON: {exc}") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(f"faults file {path} must hold a mapping of settings")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputError(f"faults file {path}: {exc}") from exc


class FaultInjector:
    """Seeded decisions from a FaultConfig. Thread-safe; swap the config with `configure`."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or FaultConfig.model_validate({})
        self._rng = random.Random(self.config.seed)

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the random sequence from the new seed."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)

    @property
    def clock_skew_ms(self) -> int:
        """The configured server clock skew (ms)."""
        return self.config.clock_skew_ms

    def rest_fault(self, path: str) -> RestFault:
        """What to do with one REST call on `path`: "ok", "http_error", "timeout" or
        "rate_limit" (one seeded draw per eligible call)."""
        cfg = self.config
        if cfg.rest_paths and not any(path.startswith(p) for p in cfg.rest_paths):
            return "ok"
        with self._lock:
            draw = self._rng.random()
        edge = cfg.rest_error_rate
        if draw < edge:
            return "http_error"
        edge += cfg.rest_timeout_rate
        if draw < edge:
            return "timeout"
        edge += cfg.rest_rate_limit_rate
        if draw < edge:
            return "rate_limit"
        return "ok"

    def ws_action(self) -> WsAction:
        """What to do with one WebSocket data push: "send", "drop", "duplicate", "delay" or
        "reorder" (one seeded draw per push)."""
        cfg = self.config
        with self._lock:
            draw = self._rng.random()
        edge = cfg.ws_drop_rate
        if draw < edge:
            return "drop"
        edge += cfg.ws_duplicate_rate
        if draw < edge:
            return "duplicate"
        edge += cfg.ws_delay_rate
        if draw < edge:
            return "delay"
        edge += cfg.ws_reorder_rate
        if draw < edge:
            return "reorder"
        return "send"
