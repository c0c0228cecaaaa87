"""The Play format as pydantic v2 models (structure and types only).

Cross-field checks (feature references, indicator parameters, timeframe order,
leverage caps, setup cycles) live in `trade.play.validate`, which runs after
these models accept a document. Conditions stay raw (`Any`) here and are
compiled by `trade.play.conditions`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from trade.play.defaults import DEFAULT_MAX_POSITION_PCT

Scalar = int | float | str | bool
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Timeframes(_Model):
    """Timeframe roles; `exec` names the role the engine decides on."""

    low_tf: str
    med_tf: str | None = None
    high_tf: str | None = None
    exec: str = "low_tf"


class FeeModel(_Model):
    taker_bps: NonNegFloat = 5.5
    maker_bps: float = 2.0  # may be negative (a maker rebate)


class Account(_Model):
    starting_equity_usdt: PosFloat = 10_000.0
    max_leverage: PosFloat = 1.0
    margin_mode: Literal["isolated_usdt"] = "isolated_usdt"
    fee_model: FeeModel = FeeModel()
    slippage_bps: NonNegFloat = 2.0
    min_trade_notional_usdt: NonNegFloat = 10.0
    maintenance_margin_rate: Annotated[float, Field(ge=0, lt=1)] = 0.005
    # no breaker unless set: a deliberate difference from TRADE (trade.play.defaults)
    max_drawdown_pct: Annotated[float, Field(gt=0, le=100)] | None = None


class Feature(_Model):
    """`{indicator: NAME, params: {...}, tf: ROLE}`; `tf` defaults to exec."""

    indicator: str
    params: dict[str, Scalar] = {}
    tf: str | None = None
    source: Literal["open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4"] | None = None

    def resolved_params(self) -> dict[str, Scalar]:
        """`params` with a feature-level `source:` folded in (as the indicator's `source`)."""
        out = dict(self.params)
        if self.source is not None:
            out["source"] = self.source
        return out


class Structure(_Model):
    """A market-structure detector; `uses` names structures declared above it."""

    type: str
    key: str
    params: dict[str, Scalar | list[int | float]] = {}  # lists: fibonacci's levels
    uses: str | list[str] | None = None

    @property
    def uses_list(self) -> list[str]:
        if self.uses is None:
            return []
        return [self.uses] if isinstance(self.uses, str) else list(self.uses)


class PositionPolicy(_Model):
    mode: Literal["long_only", "short_only", "long_short"] = "long_only"
    exit_mode: Literal["sl_tp_only", "signal", "first_hit"] = "sl_tp_only"  # TRADE's default
    max_positions_per_symbol: Annotated[int, Field(ge=1, le=1)] = 1
    allow_flip: bool = False


class TakeProfitLevel(_Model):
    """One split take-profit: at `pct` (ROI percent of margin, as take_profit_pct) close
    `size_pct` percent of what the earlier levels leave (the last level closes the rest)."""

    pct: Annotated[float, Field(gt=0, description=(
        "where the level is: ROI percent of margin, as take_profit_pct (pct / leverage "
        "percent of the entry fill price); strictly increasing level by level"))]
    size_pct: Annotated[float, Field(gt=0, le=100, description=(
        "percent of what the earlier levels leave that this level closes (rounded down to "
        "the qty step); the last level closes all that is left"))] = 100.0


TakeProfitLevels = Annotated[list[TakeProfitLevel], Field(min_length=1, max_length=16)]


class _Brackets(_Model):
    """How the brackets are placed on Bybit (tpslMode Partial when any is not the default):
    split take-profits, limit take-profit / stop-loss orders, mark-price triggers."""

    take_profit_levels: Annotated[TakeProfitLevels | None, Field(description=(
        "split take-profits (Bybit Partial mode), 1 to 16 levels fixed at the entry fill; "
        "they replace the single take-profit"))] = None
    tp_order_type: Annotated[Literal["Market", "Limit"], Field(description=(
        "Limit: each take-profit is a reduce-only limit at its level, filled as maker once "
        "the price trades through it (a touch does not fill)"))] = "Market"
    sl_order_type: Annotated[Literal["Market", "Limit"], Field(description=(
        "Limit: the stop places a reduce-only limit at its level; it fills only when the "
        "price comes back through it and may never fill"))] = "Market"
    tp_trigger_by: Annotated[Literal["LastPrice", "MarkPrice"], Field(description=(
        "MarkPrice: take-profits are checked once per 1m bar against the mark (the close "
        "without a mark series) and fill at the close, not on the wick"))] = "LastPrice"
    sl_trigger_by: Annotated[Literal["LastPrice", "MarkPrice"], Field(description=(
        "MarkPrice: the stop is checked once per 1m bar against the mark (the close "
        "without a mark series) and fills at the close with slippage"))] = "LastPrice"

    @field_validator("take_profit_levels")
    @classmethod
    def _increasing(cls, levels: list[TakeProfitLevel] | None) -> list[TakeProfitLevel] | None:
        if levels is not None:
            for a, b in pairwise(levels):
                if not b.pct > a.pct:
                    raise ValueError(f"take_profit_levels pct must increase level by level "
                                     f"({b.pct:g} after {a.pct:g})")
        return levels


class RiskShorthand(_Brackets):
    """ROI percentages of margin: at 10x leverage a 2% stop is a 0.2% price move."""

    stop_loss_pct: PosFloat | None = None
    take_profit_pct: PosFloat | None = None
    # TRADE's default: 10 % of equity as margin when omitted (trade.play.defaults)
    max_position_pct: Annotated[float, Field(gt=0, le=100)] = DEFAULT_MAX_POSITION_PCT
    trailing_stop_pct: PosFloat | None = None


class StopLoss(_Model):
    type: Literal[
        "percent", "atr_multiple", "fixed_points", "structure", "trailing_pct", "trailing_atr"
    ]
    value: NonNegFloat | None = None
    atr_feature_id: str | None = None
    activation_pct: NonNegFloat | None = None
    level: str | None = None  # for type structure: the level to stop beyond, e.g. swing.low_level


class TakeProfit(_Model):
    type: Literal["percent", "rr_ratio", "atr_multiple", "fixed_points"]
    value: PosFloat
    atr_feature_id: str | None = None


class Sizing(_Model):
    model: Literal["percent_equity", "risk_based", "fixed_usdt"]
    value: PosFloat
    max_leverage: PosFloat | None = None


class BreakEven(_Model):
    activation_pct: PosFloat
    offset_pct: NonNegFloat = 0.0


class RiskModel(_Brackets):
    stop_loss: StopLoss | None = None
    take_profit: TakeProfit | None = None
    sizing: Sizing | None = None
    break_even: BreakEven | None = None


class Entry(_Model):
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    limit_offset_pct: NonNegFloat = 0.0
    time_in_force: Literal["GTC", "IOC", "FOK", "PostOnly"] = "GTC"
    expire_after_bars: Annotated[int, Field(ge=0)] = 0


class SweepParam(_Model):
    """`{range: [lo, hi, step]}` (inclusive) or `{values: [...]}`."""

    range: Annotated[list[float], Field(min_length=3, max_length=3)] | None = None
    values: Annotated[list[Scalar], Field(min_length=1)] | None = None

    def points(self) -> list[Scalar]:
        """The values this parameter takes, in order."""
        if self.values is not None:
            return list(self.values)
        assert self.range is not None
        lo, hi, step = self.range
        n = int((hi - lo) / step + 1e-9) + 1
        pts = [lo + i * step for i in range(max(n, 0))]
        if all(float(x).is_integer() for x in (lo, hi, step)):
            return [int(p) for p in pts]
        return [round(p, 12) for p in pts]


class BacktestOverrides(_Model):
    """Simulation-only values that replace the account's for backtests."""

    starting_equity_usdt: PosFloat | None = None
    slippage_bps: NonNegFloat | None = None
    fee_model: FeeModel | None = None
    maintenance_margin_rate: Annotated[float, Field(ge=0, lt=1)] | None = None
    intrabar: Literal["sl_first", "ohlc_path"] | None = None
    start: str | None = None
    end: str | None = None


class Deploy(_Model):
    """Live settings (paper/demo/live)."""

    capital_usdt: PosFloat | None = None
    settle_coin: Literal["USDT"] = "USDT"
    dcp_window_s: Annotated[int, Field(ge=3, le=300)] | None = None
    max_leverage: PosFloat | None = None


class Synthetic(_Model):
    """Generated data for a Play with no stored history."""

    regime: str
    days: Annotated[int, Field(gt=0)] = 30
    seed: int = 0
    bars: Annotated[int, Field(gt=0)] | None = None
    pattern: str | None = None  # the original pattern name when given as `validation:`
    config: dict[str, Scalar] | None = None  # TRADE's per-pattern overrides (refused if set)


class ValidationPattern(_Model):
    """The older spelling of `synthetic:`: `validation: {pattern: trend_up_clean}`."""

    pattern: str
    bars: Annotated[int, Field(gt=0)] | None = None
    seed: int | None = None
    days: Annotated[int, Field(gt=0)] | None = None
    config: dict[str, Scalar] | None = None


class Expected(_Model):
    """What a run of the Play should show (TRADE's `expected:`); checked by `trade backtest`
    and `trade play test` (trade.play.expect)."""

    min_trades: Annotated[int, Field(ge=0)] | None = None
    max_trades: Annotated[int, Field(ge=0)] | None = None
    pnl_direction: Literal["positive", "negative", "any"] | None = None
    min_win_rate_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    max_drawdown_pct: Annotated[float, Field(ge=0)] | None = None


class Play(_Model):
    """A whole Play after variable substitution. Build with `trade.play.load_play`."""

    version: str
    # TRADE's Plays use upper-case names too (LO_004_...): letters of either case are accepted
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    description: str = ""
    symbol: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,}USDT$")]
    timeframes: Timeframes
    account: Account = Account()
    # `trade`: every indicator in TRADE's (pandas-ta's) form where it differs from ours
    # (trade.indicators.aliases.TRADE_FORMS); `standard`: ours (TA-Lib's where it has one)
    indicator_forms: Literal["standard", "trade"] = "standard"
    features: dict[str, Feature] = {}
    structures: dict[str, list[Structure]] = {}
    setups: dict[str, Any] = {}
    actions: Any
    position_policy: PositionPolicy = PositionPolicy()
    risk: RiskShorthand | None = None
    risk_model: RiskModel | None = None
    entry: Entry = Entry()
    sweep: dict[str, SweepParam] = {}
    variables: dict[str, Scalar] = {}
    backtest: BacktestOverrides | None = None
    deploy: Deploy | None = None
    synthetic: Synthetic | None = None
    validation: ValidationPattern | None = None
    expected: Expected | None = None

    _source: str = PrivateAttr(default="<string>")
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _compiled: Any = PrivateAttr(default=None)
    _smap: Any = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """The file (or `<string>`) this Play was loaded from."""
        return self._source

    @property
    def raw(self) -> dict[str, Any]:
        """The document as written (before `$variable` substitution); overrides edit this."""
        return self._raw

    @property
    def compiled(self) -> object:
        """The actions compiled at load time (`trade.play.compiled_actions` gives them typed);
        None for a Play not built by the loader."""
        return self._compiled

    @property
    def source_map(self) -> object:
        """The loader's map from dotted paths to file lines (None when not loaded)."""
        return self._smap

    def bind_origin(self, *, source: str, raw: dict[str, Any], compiled: object,
                    source_map: object) -> None:
        """Record where this Play came from. The loader calls it once, after validation.

        Parameters
        ----------
        source : str
            The file (or `<string>`) it was read from.
        raw : dict
            The document as written, with overrides applied, before variable substitution.
        compiled : object
            The compiled actions (`trade.play.actions.CompiledActions`).
        source_map : object
            The `trade.play.yamlsrc.SourceMap` of the document.
        """
        self._source = source
        self._raw = raw
        self._compiled = compiled
        self._smap = source_map

    def tf_of_role(self, role: str) -> str:
        """Interval of a role name (`exec` resolves through `timeframes.exec`)."""
        if role == "exec":
            role = self.timeframes.exec
        value = getattr(self.timeframes, role, None)
        if not isinstance(value, str):
            raise KeyError(role)
        return value

    def interval_of(self, tf: str | None) -> str:
        """Interval of a feature's `tf` (a role, a declared interval, or None = exec)."""
        if tf is None:
            return self.exec_tf
        if tf in ("exec", "low_tf", "med_tf", "high_tf"):
            return self.tf_of_role(tf)
        return tf

    @property
    def exec_tf(self) -> str:
        """The exec interval, e.g. `15m`."""
        return self.tf_of_role("exec")
