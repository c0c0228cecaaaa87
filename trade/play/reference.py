"""The Play reference (docs/play_reference.md), generated from the live schema and registry.

    python -m trade.play.reference                   # print the reference
    python -m trade.play.reference --write           # write docs/play_reference.md
    python -m trade.play.reference --check           # exit 1 when that file is out of date

Everything that could drift is read from the code at render time: every key of the
pydantic `Play` model (type, bounds, default), the condition operators and keywords
(`trade.play.conditions`), the action names (`trade.play.actions`), the builtins
(`trade.play.ir`), the intervals (`trade.play.timeframes`), every indicator and structure
of `trade.indicators.REGISTRY` (parameters, bounds, outputs, warm-up) and the synthetic
patterns (`trade.data.synth`). The prose lives in `reference_parts/*.md` (shipped with the
package), stitched in file-name order; a line `<!-- generated: NAME -->` in a part is
replaced by the generated block NAME.

Meanings come from the code where it has them (pydantic `Field(description=...)`,
`ParamSpec.doc`, `IndicatorSpec.doc`); the tables below fill in what the code does not
say. `missing_descriptions()` lists what has no meaning from either source (the docs test
fails on any), `stale_descriptions()` the table entries that no longer name anything.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trade.data.synth import PATTERN_REGIMES, PATTERN_SHAPES, PATTERN_SPELLINGS, REGIMES
from trade.indicators.aliases import (
    ENUM_VALUES,
    NAME_ALIASES,
    OUTPUT_ALIASES,
    PARAM_ALIASES,
    PRIMARY_OUTPUTS,
)
from trade.indicators.spec import IndicatorSpec, ParamSpec
from trade.play.actions import ACTION_NAMES, EMIT_NAMES
from trade.play.conditions import (
    ARITH_OPS,
    COMPARE_OPS,
    CONDITION_KEYS,
    DISCRETE_OUTPUTS,
    OTHER_OPS,
    WINDOW_KEYS,
)
from trade.play.defaults import OUR_DIFFERENCES, TRADE_DEFAULTS
from trade.play.dialect import ORDER_TYPE_KEYS, RISK_LIMIT_KEYS
from trade.play.ir import BUILTINS, INTRABAR_BUILTINS
from trade.play.schema import Play
from trade.play.timeframes import INTERVAL_MINUTES, ROLES

DEFAULT_OUTPUT = Path("docs") / "play_reference.md"
PARTS_DIR = "reference_parts"
_PLACEHOLDER = re.compile(r"^<!-- generated: ([a-z_]+) -->$")

# ====================================================================== meanings

#: Meanings of schema keys the pydantic models carry no `description` for. Keyed by the
#: dotted path of `schema_keys()` (`features.<id>.tf`) or by `Model.field` (`FeeModel.taker_bps`)
#: for a model used at several paths. A `Field(description=...)` in the schema wins.
KEY_DOCS: dict[str, str] = {
    # ---------------------------------------------------------------- top level
    "version": "Play format version; `3`, `3.x` or `3.x.y` (quote it: `\"3.0.0\"`).",
    "name": "Identifier of the Play; names run folders and journals.",
    "description": "Free text, shown in reports.",
    "symbol": "The Bybit USDT perpetual traded, e.g. `BTCUSDT`.",
    "indicator_forms": "`standard` (default): every indicator as defined here (TA-Lib's where "
                       "TA-Lib has it); `trade`: TRADE's (pandas-ta's) form wherever it differs, "
                       "for each parameter a feature leaves out (see Indicators, \"Where TRADE's "
                       "indicators differ\").",
    "timeframes": "Timeframe roles (see Timeframes); the rest of the Play names roles, "
                  "not intervals.",
    "account": "The simulated account and its costs.",
    "features": "Indicators by feature id; a condition refers to a feature by its id.",
    "structures": "Market-structure detectors, a list per timeframe role (`exec`, "
                  "`low_tf`, `med_tf`, `high_tf`).",
    "setups": "Named, reusable conditions, included with `setup: NAME`.",
    "actions": "When to enter and exit: the mapping form or the list of case blocks "
               "(see Actions).",
    "position_policy": "Which sides may be traded and which exits count.",
    "risk": "Risk shorthand (ROI percentages of margin). Give `risk` or `risk_model`, "
            "not both.",
    "risk_model": "Full risk model: stop loss, take profit, sizing, break-even.",
    "entry": "How entries are placed (market or limit).",
    "sweep": "Parameter space for `trade sweep`, keyed by the dotted path of the value "
             "it varies.",
    "variables": "Named constants; `$name` anywhere in the Play is replaced by the value "
                 "at load time (sweepable as `variables.name`).",
    "backtest": "Simulation-only values that replace the account's in backtests and sweeps.",
    "deploy": "Live settings. Validated (the leverage against the instrument's maximum); "
              "`trade run` takes its live settings from its own options.",
    "synthetic": "Generated data for a Play run with no stored history.",
    "validation": "The older spelling of `synthetic:`; converted to it at load time.",
    # ---------------------------------------------------------------- timeframes
    "timeframes.low_tf": "Interval of the lowest role, e.g. `15m`.",
    "timeframes.med_tf": "Interval of the middle role (optional).",
    "timeframes.high_tf": "Interval of the highest role (optional).",
    "timeframes.exec": "The role (`low_tf`, `med_tf` or `high_tf`, not an interval) whose "
                       "bar closes the engine decides on.",
    # ---------------------------------------------------------------- account
    "account.starting_equity_usdt": "Initial wallet balance, USDT.",
    "account.max_leverage": "Leverage of every position (lowered by "
                            "`risk_model.sizing.max_leverage`; above the instrument's "
                            "maximum it is refused).",
    "account.margin_mode": "Isolated margin in USDT, the only mode.",
    "account.fee_model": "Trading fees.",
    "FeeModel.taker_bps": "Taker fee in basis points of notional (market orders, stops, "
                          "marketable limits).",
    "FeeModel.maker_bps": "Maker fee in basis points of notional (resting limits); "
                          "negative = a rebate.",
    "account.slippage_bps": "Slippage against the trader on market and stop fills, basis "
                            "points of price.",
    "account.min_trade_notional_usdt": "Entries below this notional are skipped (the "
                                       "instrument's own minimum also applies).",
    "account.maintenance_margin_rate": "Maintenance-margin rate of the liquidation price.",
    "account.max_drawdown_pct": "Circuit breaker: once equity is this percent below its "
                                "running peak the engine flattens and stops trading "
                                "(runs on the event path).",
    # ---------------------------------------------------------------- features
    "features.<id>.indicator": "Indicator name or alias (see Indicators).",
    "features.<id>.params": "The indicator's parameters; omitted ones take their defaults.",
    "features.<id>.tf": "Timeframe: a role (`exec`, `low_tf`, `med_tf`, `high_tf`) or a "
                        "declared interval; default exec.",
    "features.<id>.source": "Bar field or derived price the indicator reads (same as "
                            "`params.source`; give it once).",
    # ---------------------------------------------------------------- structures
    "structures.<role>[].type": "Structure type (see Structures).",
    "structures.<role>[].key": "The id conditions use for it (`swing.high`); unique "
                               "among features and structures.",
    "structures.<role>[].params": "The structure's parameters; a structure with `uses` "
                                  "and no params takes the matching params of the one it "
                                  "uses.",
    "structures.<role>[].uses": "Key (or list of keys) of structures declared above it "
                                "that it builds on.",
    # ---------------------------------------------------------------- policy
    "position_policy.mode": "`long_only` drops short entries, `short_only` long entries, "
                            "`long_short` keeps both.",
    "position_policy.exit_mode": "`first_hit`: signal exits and SL/TP alike; `signal`: no "
                                 "take profit is attached (the stop stays); `sl_tp_only`: "
                                 "signal exits are ignored.",
    "position_policy.max_positions_per_symbol": "One position per symbol (one-way mode); "
                                                "only 1 is accepted.",
    "position_policy.allow_flip": "An opposite entry while a position is open closes it and "
                                  "opens the other way in one market order; otherwise it "
                                  "waits until flat.",
    # ---------------------------------------------------------------- risk shorthand
    "risk.stop_loss_pct": "Stop loss as an ROI percentage of margin (price move = pct / "
                          "leverage).",
    "risk.take_profit_pct": "Take profit as an ROI percentage of margin.",
    "risk.max_position_pct": "Percent of equity used as margin per entry (at most 95 is "
                             "used, leaving room for the fee).",
    "risk.trailing_stop_pct": "Trailing stop distance as an ROI percentage of margin.",
    # ---------------------------------------------------------------- risk model
    "risk_model.stop_loss": "The protective stop.",
    "risk_model.stop_loss.type": "How the stop distance is measured (see Risk).",
    "risk_model.stop_loss.value": "Distance in the type's unit: ROI percent, ATR multiple "
                                  "or price points; not used by `structure`.",
    "risk_model.stop_loss.atr_feature_id": "The ATR feature of `atr_multiple` / "
                                           "`trailing_atr`.",
    "risk_model.stop_loss.activation_pct": "Trailing types only: the trail arms once the "
                                           "best price moved this ROI percent in favour.",
    "risk_model.stop_loss.level": "`structure` type: the level series to stop beyond, "
                                  "e.g. `swing.low`.",
    "risk_model.take_profit": "The take-profit target.",
    "risk_model.take_profit.type": "How the target distance is measured (see Risk).",
    "risk_model.take_profit.value": "ROI percent, reward/risk ratio, ATR multiple or price "
                                    "points.",
    "risk_model.take_profit.atr_feature_id": "The ATR feature of `atr_multiple`.",
    "risk_model.sizing": "Position size of each entry.",
    "risk_model.sizing.model": "`percent_equity`: percent of equity as margin; "
                               "`risk_based`: percent of equity lost at the stop; "
                               "`fixed_usdt`: notional in USDT.",
    "risk_model.sizing.value": "The model's number (percent or USDT).",
    "risk_model.sizing.max_leverage": "Caps `account.max_leverage` for this Play.",
    "risk_model.break_even": "Move the stop to break-even after a favourable move.",
    "risk_model.break_even.activation_pct": "Favourable move, percent of the entry price, "
                                            "that triggers it.",
    "risk_model.break_even.offset_pct": "The new stop, percent of the entry price beyond "
                                        "entry in the trade's favour.",
    # ---------------------------------------------------------------- entry
    "entry.order_type": "`MARKET` (next 1m open) or `LIMIT` (at an offset from the "
                        "signal close).",
    "entry.limit_offset_pct": "Limit price distance from the signal close, percent (below "
                              "for a long, above for a short); 0 = a market entry.",
    "entry.time_in_force": "Time in force of limit entries (ignored for market ones).",
    "entry.expire_after_bars": "Cancel an unfilled limit entry after this many exec bars; "
                               "0 = never.",
    # ---------------------------------------------------------------- sweep
    "sweep.<path>.range": "`[low, high, step]`, inclusive.",
    "sweep.<path>.values": "An explicit list of values.",
    # ---------------------------------------------------------------- backtest
    "backtest.starting_equity_usdt": "Replaces `account.starting_equity_usdt`.",
    "backtest.slippage_bps": "Replaces `account.slippage_bps`.",
    "backtest.fee_model": "Replaces `account.fee_model`.",
    "backtest.maintenance_margin_rate": "Replaces `account.maintenance_margin_rate`.",
    "backtest.intrabar": "When one 1m bar touches stop and target: `sl_first` (default, "
                         "the stop wins) or `ohlc_path` (open → nearer extreme → farther "
                         "extreme decides).",
    "backtest.start": "First bar of the run (`YYYY-MM-DD`, ISO time or ms); the CLI's "
                      "`--start` wins.",
    "backtest.end": "End of the run, exclusive; the CLI's `--end` wins.",
    # ---------------------------------------------------------------- deploy
    "deploy.capital_usdt": "Capital meant for the live deployment, USDT.",
    "deploy.settle_coin": "Settlement coin; USDT only.",
    "deploy.dcp_window_s": "Disconnect-cancel-all window, seconds (Bybit accepts 3-300).",
    "deploy.max_leverage": "Leverage meant for the live deployment.",
    # ---------------------------------------------------------------- synthetic
    "synthetic.regime": "Generator regime or pattern name (see Synthetic data).",
    "synthetic.days": "Days of 1m bars to generate.",
    "synthetic.seed": "Seed (the CLI's `--seed` wins); the same seed gives byte-identical "
                      "bars.",
    "synthetic.bars": "Length in exec bars after the features' warm-up, instead of `days` "
                      "(wins when given); the warm-up is generated in front of them, as TRADE "
                      "means it.",
    "synthetic.pattern": "Set by the loader from `validation.pattern` (the original name).",
    "validation.pattern": "A pattern name (see Synthetic data).",
    "validation.bars": "Length in exec bars (becomes `synthetic.bars`).",
    "validation.seed": "Seed (default 0).",
    "validation.days": "Days of data (default 30).",
    "validation.config": "Per-pattern overrides; refused when given (each pattern has one "
                         "fixed shape).",
    "synthetic.config": "Per-pattern overrides; refused when given (each pattern has one "
                        "fixed shape).",
    # ---------------------------------------------------------------- expected
    "expected": "What a backtest of the Play should show; `trade play test` checks it.",
    "expected.min_trades": "At least this many trades.",
    "expected.max_trades": "At most this many trades.",
    "expected.pnl_direction": "The sign the net PnL should have (`any`: not checked; a run "
                              "without trades meets neither sign).",
    "expected.min_win_rate_pct": "Lowest acceptable win rate, percent of trades.",
    "expected.max_drawdown_pct": "Highest acceptable maximum drawdown, percent.",
}

#: Keys the loader accepts in other spellings and rewrites before validation
#: (trade.play.dialect) -> (what they become, meaning). Keys of the risk-limit and order-type
#: tables are added from the dialect module's own tuples.
DIALECT_DOCS: dict[str, tuple[str, str]] = {
    "synthetic.bars_per_tf": ("`synthetic.bars`", "TRADE's generator makes that many bars of "
                              "every timeframe; the exec timeframe's count sets the length "
                              "(also under `validation:`)"),
    "account.risk_per_trade_pct": (
        "`risk_model.sizing: {model: risk_based, value: P}`, or `percent_equity` without a stop",
        "percent of equity at risk per trade when the Play has a stop loss; without one, as "
        "TRADE falls back, that percent of equity as margin (notional = margin x leverage); "
        "with a `risk_based` sizing that has no value, it is that value. Also accepted under "
        "the shorthand `risk:`"),
    "risk_limits": ("`account.*`", "the limits below, moved into `account`; a value that "
                                   "contradicts the account's own is an error"),
    "risk_limits.max_drawdown_pct": ("`account.max_drawdown_pct`", "the circuit breaker"),
    "risk_limits.max_leverage": ("`account.max_leverage`", "the leverage"),
    "risk.tp_order_type": ("`risk.tp_order_type`", "`Market` or `Limit` in any case (also "
                                "under `risk_model`): a limit take-profit, see Risk"),
    "risk.sl_order_type": ("`risk.sl_order_type`", "as `tp_order_type`, for the stop loss"),
    "risk.tp_trigger_by": ("`risk.tp_trigger_by`", "`LastPrice` or `MarkPrice` in any case; "
                                "`IndexPrice` is refused with a reason (no index price series)"),
    "risk.sl_trigger_by": ("`risk.sl_trigger_by`", "as `tp_trigger_by`, for the stop loss"),
    "structures.<role>.<interval>[]": (
        "`structures.<role>[]`",
        "structures keyed by an interval under a role; the interval must be the role's own "
        "or one the Play declares"),
    "synthetic.pattern": ("`synthetic.regime`", "a pattern name given without `regime`"),
    "structures.<role>[].params.atr_key": (
        "`params.atr_length`",
        "names an `atr` feature; the structure computes the same ATR itself with that "
        "feature's length (a swing without ATR outputs ignores it)"),
    "risk.take_profit_levels": ("`risk.take_profit_levels`", "split take-profits, as "
                                "written (also under `risk_model`), see Risk"),
}

#: Canonical condition operators (the values of COMPARE_OPS and OTHER_OPS) -> meaning.
OPERATOR_DOCS: dict[str, str] = {
    ">": "lhs greater than rhs.",
    "<": "lhs less than rhs.",
    ">=": "lhs greater than or equal to rhs.",
    "<=": "lhs less than or equal to rhs.",
    "==": "Equal; discrete values only (see Discrete outputs).",
    "!=": "Not equal; discrete values only.",
    "between": "`[x, between, [low, high]]`: low <= x <= high, inclusive.",
    "near_pct": "`[a, near_pct, b, tol]`: |a - b| <= |b| × tol / 100.",
    "near_abs": "`[a, near_abs, b, tol]`: |a - b| <= tol (price units).",
    "in": "`[x, in, [1, -1]]`: x equals one of the integers; discrete values only.",
    "cross_above": "a <= b on the previous bar and a > b on this one.",
    "cross_below": "a >= b on the previous bar and a < b on this one.",
}

ARITH_DOCS: dict[str, str] = {
    "+": "sum",
    "-": "difference",
    "*": "product",
    "/": "quotient (division by zero gives a missing value, so the comparison is false)",
    "%": "remainder (modulo zero gives a missing value)",
}

#: Condition keywords (CONDITION_KEYS) -> (form, meaning).
CONDITION_DOCS: dict[str, tuple[str, str]] = {
    "all": ("{all: [COND, ...]}", "true when every condition holds (an empty list is true)"),
    "any": ("{any: [COND, ...]}", "true when at least one holds (an empty list is false)"),
    "not": ("{not: COND}", "negation"),
    "setup": ("{setup: NAME}", "the named condition under `setups:`; cycles are errors"),
    "holds_for": ("{holds_for: {bars: N, expr: COND}}",
                  "COND true on each of the last N exec bars"),
    "occurred_within": ("{occurred_within: {bars: N, expr: COND}}",
                        "COND true on at least one of the last N exec bars"),
    "count_true": ("{count_true: {bars: N, min_true: K, expr: COND}}",
                   "COND true on at least K of the last N exec bars"),
    "holds_for_duration": ("{holds_for_duration: {duration: \"4h\", expr: COND}}",
                           "`holds_for` over ceil(duration / exec interval) bars"),
    "occurred_within_duration": ("{occurred_within_duration: {duration: \"1d\", expr: COND}}",
                                 "`occurred_within` over a duration"),
    "count_true_duration": ("{count_true_duration: {duration: \"2h\", min_true: K, "
                            "expr: COND}}", "`count_true` over a duration"),
    "lhs": ("{lhs: A, op: OP, rhs: B, tolerance: T}",
            "the mapping spelling of `[A, OP, B]` / `[A, OP, B, T]`"),
}

#: Sub-keys of the grammar's mapping forms -> meaning (the loader accepts exactly these).
GRAMMAR_KEY_DOCS: dict[str, tuple[str, str]] = {
    "lhs": ("comparison mapping", "left operand"),
    "op": ("comparison mapping", "operator"),
    "rhs": ("comparison mapping", "right operand (a `[low, high]` list for `between`, a "
                                  "list of integers for `in`)"),
    "tolerance": ("comparison mapping", "tolerance of `near_pct` / `near_abs` only"),
    "bars": ("window", "window length in exec bars (>= 1)"),
    "duration": ("`*_duration` window", "window length as a duration: `30m`, `4h`, `1d`, "
                                        "`1w`, `D`, `W` (at least one exec bar)"),
    "min_true": ("`count_true*` window", "how many bars of the window must be true "
                                         "(1..bars)"),
    "expr": ("window", "the condition counted"),
    "feature_id": ("operand mapping", "feature id, structure key or builtin"),
    "field": ("operand mapping", "output field of a multi-output feature"),
    "offset": ("operand mapping", "bars back (0 = the current bar); same as `name[1]`"),
    "when": ("action / case", "the condition"),
    "percent": ("exit action / emit", "percent of the position to close, in (0, 100]; "
                                      "exits only"),
    "id": ("case block", "a name for the block (reports)"),
    "cases": ("case block", "list of `{when, emit}`; the first that holds emits"),
    "else": ("case block", "`{emit: [...]}` emitted when no case holds"),
    "emit": ("case", "an action name, `{action, percent, metadata}`, or a list of them"),
    "action": ("emit", "one of the emit names below"),
    "metadata": ("emit", "free mapping carried with the decision"),
}

#: Action and emit names -> meaning.
ACTION_DOCS: dict[str, str] = {
    "entry_long": "open (or, with `allow_flip`, flip to) a long position",
    "entry_short": "open (or flip to) a short position",
    "exit_long": "close the long (or `percent` of it)",
    "exit_short": "close the short (or `percent` of it)",
    "exit_all": "close whichever position is open",
    "no_action": "emit nothing (a case that only stops the first-match search)",
}

#: Builtin series -> meaning.
BUILTIN_DOCS: dict[str, str] = {
    "open": "open of the exec bar",
    "high": "high of the exec bar",
    "low": "low of the exec bar",
    "close": "close of the exec bar",
    "volume": "volume of the exec bar (base units)",
    "last_price": "close of the latest 1m bar",
    "mark_price": "mark price of the latest 1m bar (its close when the data has no mark "
                  "price)",
    "funding_rate": "the last *settled* funding rate known at the bar's close (a fraction: "
                    "0.0001 = 0.01 %), carried forward between settlements; NaN before the "
                    "first one (needs the symbol's stored funding history; live: Bybit's "
                    "funding history, not the ticker's predicted rate)",
    "open_interest": "the latest open interest stated at or before the bar's close (base-"
                     "coin contracts; Bybit states it every 5 minutes), carried forward; NaN "
                     "before the first value (needs the symbol's stored open interest; live: "
                     "Bybit's 5-minute open-interest history)",
}

#: Meanings of indicator parameters whose ParamSpec has no `doc`, by parameter name.
PARAM_DOCS: dict[str, str] = {
    "length": "window length in bars",
    "source": "bar field or derived price to read",
    "fast": "fast EMA length",
    "slow": "slow EMA length",
    "signal": "signal-line EMA length",
    "rsi_length": "RSI length",
    "stoch_length": "stochastic window over the RSI",
    "k_smooth": "SMA of %K",
    "d_length": "SMA of smoothed %K",
    "long_length": "first (long) EMA length",
    "short_length": "second (short) EMA length",
    "atr_length": "ATR length",
    "bb_length": "Bollinger length",
    "bb_mult": "Bollinger width in stddevs",
    "kc_length": "Keltner length",
    "kc_mult": "Keltner width in ATRs",
    "left": "bars before the pivot it must exceed",
    "right": "bars after the pivot; it is reported only once they closed",
    "medium": "middle window length",
}

#: Type texts the annotation cannot give (fields typed `Any`, compiled after validation).
TYPE_TEXTS: dict[str, str] = {
    "actions": "mapping or list (see Actions)",
}

#: Placeholder names in paths for the keys of user-named mappings.
_DICT_KEY_NAMES: dict[str, str] = {
    "features": "<id>",
    "structures": "<role>",
    "sweep": "<path>",
    "variables": "<name>",
    "setups": "<name>",
    "params": "<param>",
}

# ====================================================================== schema walk


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One key of the Play schema as the reference shows it."""

    path: str
    model: type[BaseModel]
    field: str
    type_text: str
    default_text: str
    description: str | None
    required: bool


def _unwrap_optional(ann: Any) -> tuple[Any, bool]:
    """(the annotation without `| None`, whether None was allowed)."""
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        optional = len(args) < len(typing.get_args(ann))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007 - built from a tuple
    return ann, False


def _strip_annotated(ann: Any) -> tuple[Any, list[Any]]:
    """(the base type, its Annotated constraints)."""
    if typing.get_origin(ann) is typing.Annotated:
        base, *meta = typing.get_args(ann)
        flat: list[Any] = []
        for m in meta:
            flat.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        inner, more = _strip_annotated(base)
        return inner, flat + more
    return ann, []


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _num(v: float) -> str:
    return f"{v:g}"


def _bounds(meta: list[Any]) -> str:
    parts: list[str] = []
    for m in meta:
        if isinstance(m, annotated_types.Gt):
            parts.append(f"> {_num(float(m.gt))}")  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Ge):
            parts.append(f">= {_num(float(m.ge))}")  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Lt):
            parts.append(f"< {_num(float(m.lt))}")  # type: ignore[arg-type]
        elif isinstance(m, annotated_types.Le):
            parts.append(f"<= {_num(float(m.le))}")  # type: ignore[arg-type]
    return ", ".join(parts)


def _lengths(meta: list[Any]) -> tuple[int | None, int | None]:
    lo = hi = None
    for m in meta:
        if isinstance(m, annotated_types.MinLen):
            lo = m.min_length
        elif isinstance(m, annotated_types.MaxLen):
            hi = m.max_length
    return lo, hi


def _pattern(meta: list[Any]) -> str | None:
    for m in meta:
        pat = getattr(m, "pattern", None)
        if isinstance(pat, str):
            return pat
    return None


def type_text(ann: Any, meta: list[Any] | None = None) -> str:
    """A reader's name for a field annotation, with its bounds (`number > 0`)."""
    meta = list(meta or [])
    ann, _ = _unwrap_optional(ann)
    ann, inner = _strip_annotated(ann)
    meta += inner
    origin = typing.get_origin(ann)
    if ann is Any:
        return "condition"
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{v}`" for v in typing.get_args(ann))
    if origin in (typing.Union, types.UnionType):
        names = [type_text(a) for a in typing.get_args(ann)]
        if names == ["integer", "number", "string", "boolean"]:
            return "number, string or boolean"
        return " or ".join(dict.fromkeys(names))
    if origin is dict:
        value = typing.get_args(ann)[1]
        return f"mapping of name to {_plural(value)}"
    if origin is list:
        item = typing.get_args(ann)[0]
        lo, hi = _lengths(meta)
        if lo is not None and lo == hi:
            return f"list of {lo} {_plural(item)}"
        if lo:
            return f"list of at least {lo} {_plural(item)}"
        return f"list of {_plural(item)}"
    if _is_model(ann):
        return "mapping"
    base = {str: "string", float: "number", int: "integer", bool: "boolean"}.get(ann)
    if base is None:
        raise TypeError(f"the reference cannot name the type {ann!r}; teach type_text")
    if base == "string" and (pat := _pattern(meta)):
        return f"string matching `{pat}`"
    b = _bounds(meta)
    return f"{base} {b}" if b else base


def _plural(ann: Any) -> str:
    text = type_text(ann)
    if _is_model(_strip_annotated(_unwrap_optional(ann)[0])[0]):
        return "mappings"
    table = {"number": "numbers", "integer": "integers", "string": "strings",
             "boolean": "booleans", "condition": "conditions",
             "number, string or boolean": "scalars", "list of mappings": "lists of mappings"}
    return table.get(text, text)


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{_num(value)}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, dict | list) and not value:
        return "`{}`" if isinstance(value, dict) else "`[]`"
    return f"`{value!r}`"


def _model_of(ann: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside a field annotation and the path suffix that reaches it."""
    ann = _strip_annotated(_unwrap_optional(ann)[0])[0]
    if _is_model(ann):
        return ann, ""
    if typing.get_origin(ann) is dict:
        value = _strip_annotated(_unwrap_optional(typing.get_args(ann)[1])[0])[0]
        if _is_model(value):
            return value, "{key}"
        if typing.get_origin(value) is list:
            item = _strip_annotated(typing.get_args(value)[0])[0]
            if _is_model(item):
                return item, "{key}[]"
    if typing.get_origin(ann) is list:
        item = _strip_annotated(typing.get_args(ann)[0])[0]
        if _is_model(item):
            return item, "[]"
    return None, ""


def describe(path: str, model: type[BaseModel], name: str, field: FieldInfo) -> str | None:
    """The meaning of a key: the schema's description, else KEY_DOCS by path or Model.field."""
    if field.description:
        return " ".join(field.description.split())
    return KEY_DOCS.get(path) or KEY_DOCS.get(f"{model.__name__}.{name}")


def _walk(model: type[BaseModel], prefix: str) -> Iterator[KeyDoc]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        key = _DICT_KEY_NAMES.get(name, "<name>")
        text = TYPE_TEXTS.get(path) or type_text(field.annotation, field.metadata)
        text = text.replace("mapping of name to", f"mapping of `{key}` to")
        yield KeyDoc(path, model, name, text, default_text(field),
                     describe(path, model, name, field), field.is_required())
        sub, suffix = _model_of(field.annotation)
        if sub is not None:
            yield from _walk(sub, path + suffix.replace("{key}", "." + key))


def schema_keys() -> list[KeyDoc]:
    """Every key of the Play schema, depth first in declaration order."""
    return list(_walk(Play, ""))


def missing_descriptions() -> list[str]:
    """Schema keys, operators, keywords, actions and parameters that have no meaning."""
    out = [k.path for k in schema_keys() if not k.description]
    ops = {*COMPARE_OPS.values(), *OTHER_OPS}
    out += [f"operator {o}" for o in sorted(ops) if o not in OPERATOR_DOCS]
    out += [f"arithmetic {o}" for o in ARITH_OPS if o not in ARITH_DOCS]
    out += [f"condition key {k}" for k in CONDITION_KEYS if k not in CONDITION_DOCS]
    out += [f"action {a}" for a in EMIT_NAMES if a not in ACTION_DOCS]
    out += [f"builtin {b}" for b in BUILTINS if b not in BUILTIN_DOCS]
    out += [f"dialect key {k}" for k in _dialect_keys() if k not in DIALECT_DOCS]
    for spec in specs():
        if not spec.doc.strip():
            out.append(f"{spec.kind} {spec.name}")
        out += [f"{spec.kind} {spec.name} parameter {p.name}" for p in spec.params
                if not _param_doc(p)]
    return out


def stale_descriptions() -> list[str]:
    """Entries of the meaning tables that name nothing the code has any more."""
    keys = schema_keys()
    live = {k.path for k in keys} | {f"{k.model.__name__}.{k.field}" for k in keys}
    out = [f"KEY_DOCS[{k!r}]" for k in KEY_DOCS if k not in live]
    out += [f"TYPE_TEXTS[{k!r}]" for k in TYPE_TEXTS if k not in live]
    ops = {*COMPARE_OPS.values(), *OTHER_OPS}
    out += [f"OPERATOR_DOCS[{k!r}]" for k in OPERATOR_DOCS if k not in ops]
    out += [f"ARITH_DOCS[{k!r}]" for k in ARITH_DOCS if k not in ARITH_OPS]
    out += [f"CONDITION_DOCS[{k!r}]" for k in CONDITION_DOCS if k not in CONDITION_KEYS]
    out += [f"ACTION_DOCS[{k!r}]" for k in ACTION_DOCS if k not in EMIT_NAMES]
    out += [f"BUILTIN_DOCS[{k!r}]" for k in BUILTIN_DOCS if k not in BUILTINS]
    params = {p.name for s in specs() for p in s.params}
    out += [f"PARAM_DOCS[{k!r}]" for k in PARAM_DOCS if k not in params]
    return out


def _dialect_keys() -> list[str]:
    """Paths of the other spellings: the documented ones plus every entry of the dialect's
    own key tables (so a key added there without a meaning is reported)."""
    keys = list(DIALECT_DOCS)
    keys += [f"risk_limits.{k}" for k in RISK_LIMIT_KEYS]
    keys += [f"risk.{k}" for k in ORDER_TYPE_KEYS]
    return list(dict.fromkeys(keys))


# ====================================================================== rendering helpers


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _registry() -> Mapping[str, IndicatorSpec]:
    import trade.indicators  # the indicator layer sits below the Play layer

    registry: Mapping[str, IndicatorSpec] = getattr(trade.indicators, "REGISTRY")  # noqa: B009
    return registry


def specs() -> list[IndicatorSpec]:
    """Every indicator and structure once (a registry key that is an alias is not repeated)."""
    unique: dict[str, IndicatorSpec] = {}
    for spec in _registry().values():
        unique.setdefault(spec.name, spec)
    return sorted(unique.values(), key=lambda s: s.name)


def aliases_of(spec: IndicatorSpec) -> list[str]:
    """Other names of `spec`: its declared aliases and registry keys that point at it."""
    names = [*spec.aliases, *(k for k, v in _registry().items() if v.name == spec.name),
             *(k for k, v in NAME_ALIASES.items() if v == spec.name)]
    return sorted(n for n in set(names) if n != spec.name)


def _param_doc(p: ParamSpec) -> str:
    return p.doc.strip() or PARAM_DOCS.get(p.name, "")


# ====================================================================== generated blocks


def _gen_keys() -> str:
    """One table per mapping of the schema: key, type, default, meaning."""
    keys = schema_keys()
    groups: dict[str, list[KeyDoc]] = {}
    for k in keys:
        parent = k.path.rsplit(".", 1)[0] if "." in k.path else ""
        groups.setdefault(parent, []).append(k)
    blocks: list[str] = []
    for parent, rows in groups.items():
        title = "Top level" if not parent else f"`{parent}`"
        model = rows[0].model
        doc = " ".join((model.__doc__ or "").split()) if parent else ""
        head = f"### {title}\n"
        if doc and not doc.startswith(model.__name__ + "("):
            head += f"\n{doc}\n"
        table = _table(
            ("key", "type", "default", "meaning"),
            [(f"`{k.path}`", k.type_text, k.default_text, k.description or "")
             for k in rows],
        )
        blocks.append(f"{head}\n{table}")
    return "\n\n".join(blocks)


def _gen_intervals() -> str:
    rows = [(f"`{name}`", f"{mins:,}".replace(",", " ") + " min" if name != "M" else
             "one calendar month (counted as 43 200 min for ordering)")
            for name, mins in INTERVAL_MINUTES.items()]
    roles = ", ".join(f"`{r}`" for r in ROLES)
    return f"Roles: {roles}, and `exec` (the role named by `timeframes.exec`).\n\n" + _table(
        ("interval", "length"), rows)


def _gen_builtins() -> str:
    rows = [(f"`{b}`", BUILTIN_DOCS.get(b, ""),
             "yes" if b in INTRABAR_BUILTINS else "no") for b in BUILTINS]
    return _table(("builtin", "value", "changes every 1m"), rows)


def _gen_operators() -> str:
    spellings: dict[str, list[str]] = {}
    for spelling, canonical in COMPARE_OPS.items():
        spellings.setdefault(canonical, []).append(spelling)
    rows = [(f"`{op}`", ", ".join(f"`{s}`" for s in spellings[op] if s != op) or "—",
             OPERATOR_DOCS.get(op, "")) for op in spellings]
    rows += [(f"`{op}`", "—", OPERATOR_DOCS.get(op, "")) for op in OTHER_OPS]
    ops = _table(("operator", "also written", "true when"), rows)
    arith = _table(("operator", "value"), [(f"`{o}`", ARITH_DOCS.get(o, "")) for o in ARITH_OPS])
    return f"{ops}\n\nArithmetic operators (operands only):\n\n{arith}"


def _gen_condition_keys() -> str:
    rows = [(f"`{k}`", f"`{CONDITION_DOCS[k][0]}`" if k in CONDITION_DOCS else "",
             CONDITION_DOCS[k][1] if k in CONDITION_DOCS else "") for k in CONDITION_KEYS]
    keys = _table(("keyword", "form", "meaning"), rows)
    sub = _table(("key", "inside", "meaning"),
                 [(f"`{k}`", where, what) for k, (where, what) in GRAMMAR_KEY_DOCS.items()])
    windows = ", ".join(f"`{w}`" for w in WINDOW_KEYS)
    return (f"{keys}\n\nWindow keywords: {windows}.\n\nKeys inside the mapping forms "
            f"(no others are accepted):\n\n{sub}")


def _gen_discrete() -> str:
    names = ", ".join(f"`{n}`" for n in sorted(DISCRETE_OUTPUTS))
    return f"Discrete output names: {names}."


def _gen_enums() -> str:
    rows = [(f"`{out}`", ", ".join(f"`\"{k}\"` = {v}" for k, v in values.items() if k))
            for out, values in sorted(ENUM_VALUES.items())]
    return _table(("output", "words accepted for its codes"), rows)


def _gen_dialect() -> str:
    rows = [(f"`{k}`", DIALECT_DOCS[k][0] if k in DIALECT_DOCS else "",
             DIALECT_DOCS[k][1] if k in DIALECT_DOCS else "") for k in _dialect_keys()]
    keys = _table(("key", "becomes", "meaning"), rows)
    names = _table(("name", "is"), [(f"`{a}`", f"`{ours}`")
                                    for a, ours in sorted(NAME_ALIASES.items())])
    params = _table(("indicator", "parameter names accepted"), [
        (f"`{ind}`", ", ".join(f"`{a}` = `{o}`" for a, o in sorted(m.items())))
        for ind, m in sorted(PARAM_ALIASES.items()) if m])
    outs = _table(("indicator", "output names accepted"), [
        (f"`{ind}`", ", ".join(f"`{a}` = `{o}`" for a, o in sorted(m.items())))
        for ind, m in sorted(OUTPUT_ALIASES.items()) if m])
    primary = _table(("indicator", "a bare reference reads"), [
        (f"`{ind}`", f"`{out}`") for ind, out in sorted(PRIMARY_OUTPUTS.items())])
    return (f"{keys}\n\nIndicator names:\n\n{names}\n\nParameter names:\n\n{params}"
            f"\n\nOutput names:\n\n{outs}\n\nBare references. A condition may name an "
            f"indicator with several outputs without a field, as TRADE allows "
            f"(`[\"adx_14\", \">\", 25]`); it reads the indicator's primary output, TRADE's "
            f"choice, in our names. An indicator with a `value` output reads `value` when "
            f"bare; for `psar` that is the SAR on whichever side it is, where TRADE's bare "
            f"`psar` reads its long side only (NaN while short).\n\n{primary}\n\n"
            f"Fibonacci levels may be written `fib.level_0.618` (TRADE) as well as "
            f"`fib.level[0.618]`.")


def _gen_defaults() -> str:
    def show(v: float | str) -> str:
        return f"`{_num(v)}`" if isinstance(v, float) else f"`{v}`"

    values = _table(("key", "value when omitted"),
                    [(f"`{k}`", show(v)) for k, v in TRADE_DEFAULTS.items()])
    diffs = _table(("what", "how `trade` does it, and why"),
                   [(f"`{k}`" if "." in k else k, v) for k, v in OUR_DIFFERENCES.items()])
    return f"{values}\n\nDeliberate differences:\n\n{diffs}"


def _gen_exit_mode_default() -> str:
    from trade.play.schema import PositionPolicy

    default = PositionPolicy.model_fields["exit_mode"].get_default()
    text = f"The default `exit_mode` is `{default}`"
    if default == "sl_tp_only":
        return (text + ": signal exits are then ignored, so a Play whose exits come from "
                "its conditions must set `exit_mode: first_hit` (or `signal`).")
    return text + "."


def _gen_actions() -> str:
    rows = [(f"`{a}`", ACTION_DOCS.get(a, ""),
             "action and emit" if a in ACTION_NAMES else "emit only") for a in EMIT_NAMES]
    return _table(("name", "effect", "where"), rows)


def _ref_of(spec: IndicatorSpec, out: str, fid: str) -> str:
    return f"`{fid}`" if spec.outputs == ("value",) else f"`{fid}.{out}`"


def _warmup_text(spec: IndicatorSpec) -> str:
    if any(p.required for p in spec.params):
        return ""
    from trade.indicators import warmups  # the indicator layer sits below the Play layer

    try:
        w = warmups(spec.name, {})
    except (KeyError, ValueError):
        return ""
    if len(set(w)) == 1:
        return f"{w[0]} bars"
    return ", ".join(f"`{o}` {n}" for o, n in zip(spec.outputs, w, strict=False))


def _bounds_text(p: ParamSpec) -> str:
    if p.choices:
        return "one of " + ", ".join(f"`{c}`" for c in p.choices)
    lo = "" if p.min is None else _num(p.min)
    hi = "" if p.max is None else _num(p.max)
    if not lo and not hi:
        return "—"
    return f"{lo or '-∞'} .. {hi or '∞'}"


def _default_param(p: ParamSpec) -> str:
    if p.default is None:
        return "required"
    if isinstance(p.default, bool):
        return f"`{str(p.default).lower()}`"
    if isinstance(p.default, float):
        return f"`{_num(p.default)}`"
    return f"`{p.default}`"


_KIND_TEXT = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}


def _spec_block(spec: IndicatorSpec) -> str:
    fid = "ind" if spec.kind == "indicator" else "st"
    lines = [f"### `{spec.name}`", "", " ".join(spec.doc.split())]
    facts: list[str] = []
    if aliases := aliases_of(spec):
        facts.append("Also named: " + ", ".join(f"`{a}`" for a in aliases) + ".")
    reads = ", ".join(f"`{i}`" for i in spec.inputs)
    if any(p.name == "source" for p in spec.params):
        reads += " (or the chosen `source`)"
    facts.append(f"Reads: {reads}.")
    warm = _warmup_text(spec)
    if warm:
        facts.append(f"Warm-up at the defaults: {warm}.")
    lines += ["", " ".join(facts), ""]
    p_alias = _inverse(PARAM_ALIASES.get(spec.name, {}))
    if spec.params:
        lines.append(_table(
            ("parameter", "type", "default", "bounds", "meaning", "also written"),
            [(f"`{p.name}`", _KIND_TEXT.get(p.kind, p.kind), _default_param(p),
              _bounds_text(p), _param_doc(p), _names(p_alias.get(p.name, [])))
             for p in spec.params]))
    else:
        lines.append("No parameters.")
    o_alias = _inverse(OUTPUT_ALIASES.get(spec.name, {}))
    outs = [(f"`{o}`", _ref_of(spec, o, fid), _output_kind(o), _names(o_alias.get(o, [])))
            for o in spec.outputs]
    lines += ["", _table(("output", f"referenced as (id `{fid}`)", "kind", "also written"),
                         outs)]
    return "\n".join(lines)


def _inverse(aliases: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for alias, ours in aliases.items():
        out.setdefault(ours, []).append(alias)
    return out


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names)) or "—"


def _output_kind(out: str) -> str:
    if out not in DISCRETE_OUTPUTS:
        return "continuous"
    values = ENUM_VALUES.get(out)
    if not values:
        return "discrete"
    shown = ", ".join(f"`{k}` = {v}" for k, v in values.items() if k)
    return f"discrete ({shown})"


def _gen_specs(kind: str) -> str:
    chosen = [s for s in specs() if s.kind == kind]
    index = ", ".join(f"`{s.name}`" for s in chosen)
    return f"All {len(chosen)}: {index}.\n\n" + "\n\n".join(_spec_block(s) for s in chosen)


def _gen_indicators() -> str:
    return _gen_specs("indicator")


def _gen_structures() -> str:
    return _gen_specs("structure")


def _gen_patterns() -> str:
    regimes = ", ".join(f"`{r}`" for r in REGIMES)
    rows: list[tuple[str, str, str]] = []
    for name in sorted(PATTERN_REGIMES):
        if name in REGIMES:
            continue
        if name in PATTERN_SPELLINGS:
            shape = f"the shape of `{PATTERN_SPELLINGS[name]}`"
        elif name in PATTERN_SHAPES:
            shape = "its own"
        else:
            shape = "the family's generic generator"
        rows.append((f"`{name}`", f"`{PATTERN_REGIMES[name]}`", shape))
    return f"Regimes: {regimes}.\n\n" + _table(("pattern", "family", "shape"), rows)


def _gen_portfolio_keys() -> str:
    """The keys of a portfolio file (trade.play.portfolio)."""
    from trade.play.portfolio import MEMBER_KEYS, PORTFOLIO_KEYS

    rows = [(f"`portfolio.{k}`", v) for k, v in PORTFOLIO_KEYS.items()]
    rows += [(f"`portfolio.members[].{k}`", v) for k, v in MEMBER_KEYS.items()]
    return _table(("key", "meaning"), rows)


GENERATED: dict[str, Callable[[], str]] = {
    "keys": _gen_keys,
    "intervals": _gen_intervals,
    "builtins": _gen_builtins,
    "operators": _gen_operators,
    "condition_keys": _gen_condition_keys,
    "discrete": _gen_discrete,
    "actions": _gen_actions,
    "enums": _gen_enums,
    "dialect": _gen_dialect,
    "defaults": _gen_defaults,
    "exit_mode_default": _gen_exit_mode_default,
    "indicators": _gen_indicators,
    "structures": _gen_structures,
    "patterns": _gen_patterns,
    "portfolio_keys": _gen_portfolio_keys,
}


# ====================================================================== assembly


def parts() -> list[tuple[str, str]]:
    """The prose fragments (name, text), in file-name order."""
    folder = resources.files("trade.play").joinpath(PARTS_DIR)
    found = sorted((p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir()
                   if p.name.endswith(".md"))
    if not found:
        raise FileNotFoundError(f"no reference parts in trade/play/{PARTS_DIR}")
    return found


def render() -> str:
    """The whole of docs/play_reference.md."""
    used: set[str] = set()
    out: list[str] = []
    for name, text in parts():
        for line in text.rstrip("\n").split("\n"):
            m = _PLACEHOLDER.match(line.strip())
            if m is None:
                out.append(line.rstrip())
                continue
            block = m.group(1)
            if block not in GENERATED:
                raise KeyError(f"{PARTS_DIR}/{name}: unknown generated block '{block}' "
                               f"(known: {', '.join(GENERATED)})")
            if block in used:
                raise KeyError(f"{PARTS_DIR}/{name}: block '{block}' is used twice")
            used.add(block)
            out.append(GENERATED[block]())
        out.append("")
    unused = [b for b in GENERATED if b not in used]
    if unused:
        raise KeyError(f"generated blocks no part places: {', '.join(unused)}")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trade.play.reference",
        description="Print (or write, or check) the Play reference generated from the code.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", nargs="?", const=str(DEFAULT_OUTPUT), metavar="PATH",
                       help=f"write the reference to PATH (default {DEFAULT_OUTPUT})")
    group.add_argument("--check", nargs="?", const=str(DEFAULT_OUTPUT), metavar="PATH",
                       help="exit 1 when PATH differs from the generated reference")
    args = parser.parse_args(argv)
    text = render()
    if args.write is not None:
        target = Path(args.write)
        if not target.parent.is_dir():
            print(f"error: folder {target.parent} does not exist (run from the repository "
                  f"root, or give a path)", file=sys.stderr)
            return 2
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
        return 0
    if args.check is not None:
        target = Path(args.check)
        try:
            current = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"error: {target} not found", file=sys.stderr)
            return 2
        if current != text:
            print(f"{target} is out of date: run `python -m trade.play.reference --write`",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
