"""TRADE's Play dialect, rewritten into ours before validation.

TRADE (the Bybit system `trade` replaces) writes Plays in a slightly different dialect. This
module turns such a document into the one our schema validates, in place, keeping each value's
YAML line so errors still point at what the user wrote. What it accepts, and what it means:

* indicator names, parameters and outputs in pandas-ta spelling: the alias tables of
  `trade.indicators.aliases` (parameters are renamed here; outputs and enum literals are
  resolved by the condition compiler);
* `kc` (Keltner) takes its ATR window from `length` unless `atr_length` is given;
* structures keyed by interval under a role (`high_tf: {D: [...]}`): the interval must be
  one the Play declares; the items run on it;
* `account.risk_per_trade_pct` (also accepted under the shorthand `risk:`): with no
  `risk_model.sizing`, sizing is risk-based with this percent of equity at risk per trade
  when the Play has a stop loss, and without one (as TRADE falls back) this percent of
  equity is the margin (`percent_equity`); with `sizing: {model: risk_based}` and no value,
  it is that value;
* `risk_limits`: `max_drawdown_pct` (the account's circuit breaker) and `max_leverage`
  (a cap on the account's leverage); other keys are refused with the list of known ones;
* `risk.tp_order_type` / `risk.sl_order_type` (`Market` or `Limit`), `risk.tp_trigger_by` /
  `risk.sl_trigger_by` (`LastPrice` or `MarkPrice`; `IndexPrice` is refused) in any case, and
  `risk.take_profit_levels` (split take-profits): Bybit's Partial mode, simulated by
  docs/fill_model.md rule 4, A-D;
* `synthetic: {pattern: NAME, bars, seed, config}`: the pattern names the generator;
  `bars_per_tf` is TRADE's other spelling of `bars`;
* `expected:` is validated by the schema (`trade.play.schema.Expected`).
"""

from __future__ import annotations

from typing import Any

from trade.indicators.aliases import NAME_ALIASES, PARAM_ALIASES, TRADE_FORMS
from trade.indicators.registry import REGISTRY
from trade.play.defaults import DEFAULT_MAX_POSITION_PCT
from trade.play.errors import PlayIssue, one_of
from trade.play.timeframes import INTERVAL_MINUTES, ROLES
from trade.play.yamlsrc import PathKey, SourceMap

RISK_LIMIT_KEYS: tuple[str, ...] = ("max_drawdown_pct", "max_leverage")
ORDER_TYPE_KEYS: tuple[str, ...] = ("tp_order_type", "sl_order_type")
TRIGGER_KEYS: tuple[str, ...] = ("tp_trigger_by", "sl_trigger_by")
#: TRADE's default percent of equity at risk per trade (its config/defaults.yml)
DEFAULT_RISK_PER_TRADE_PCT = 1.0


class _Ctx:
    def __init__(self, smap: SourceMap, issues: list[PlayIssue]) -> None:
        self.smap = smap
        self.issues = issues

    def err(self, path: PathKey, message: str) -> None:
        self.issues.append(self.smap.issue(path, message))

    def move_line(self, old: PathKey, new: PathKey) -> None:
        """`new` reports at the line of `old` (and so do its children)."""
        prefix = len(old)
        for path, line in list(self.smap.lines.items()):
            if path[:prefix] == old:
                self.smap.lines.setdefault((*new, *path[prefix:]), line)


def normalize(data: dict[str, Any], smap: SourceMap, issues: list[PlayIssue]) -> dict[str, Any]:
    """Rewrite TRADE's spellings in `data` (a Play after variable substitution) into ours."""
    ctx = _Ctx(smap, issues)
    feats = data.get("features")
    trade_forms = data.get("indicator_forms") == "trade"
    if isinstance(feats, dict):
        for fid, feat in feats.items():
            if isinstance(feat, dict):
                _indicator(feat, ("features", fid), "indicator", ctx)
                _swing_params(feat, data.get("structures"))
                if trade_forms:
                    apply_trade_forms(feat)
    structs = data.get("structures")
    if isinstance(structs, dict):
        data["structures"] = _structures(structs, data.get("timeframes"), feats, ctx)
    _risk_limits(data, ctx)
    _order_types(data, ctx)
    _risk_per_trade(data, ctx)
    _default_sizing(data)
    _synthetic(data)
    return data


def _default_sizing(data: dict[str, Any]) -> None:
    """A Play that states no size trades TRADE's default: 10 % of equity as margin."""
    rm = data.get("risk_model")
    if isinstance(rm, dict):
        if "sizing" not in rm and "risk" not in data:
            rm["sizing"] = {"model": "percent_equity", "value": DEFAULT_MAX_POSITION_PCT}
        return
    if "risk" not in data:
        data["risk"] = {}  # the shorthand's max_position_pct default applies


# ------------------------------------------------------------------ features / structures


def _indicator(item: dict[str, Any], path: PathKey, name_key: str, ctx: _Ctx) -> None:
    name = item.get(name_key)
    if not isinstance(name, str):
        return
    given = name
    name = NAME_ALIASES.get(name, name)
    item[name_key] = name
    params = item.get("params")
    if not isinstance(params, dict):
        return
    aliases = PARAM_ALIASES.get(name, {})
    for alias, ours in aliases.items():
        if alias not in params:
            continue
        if ours in params:
            ctx.err((*path, "params", alias), f"'{alias}' is another name for '{ours}'; "
                                              f"give only one of them")
            continue
        params[ours] = params.pop(alias)
        ctx.move_line((*path, "params", alias), (*path, "params", ours))
    if given == "kc" and "atr_length" not in params:
        # TRADE's kc averages the true range over the same window as its middle line
        params["atr_length"] = params.get("length", 20)


def apply_trade_forms(feat: dict[str, Any]) -> None:
    """`indicator_forms: trade`: TRADE's form of each indicator where it differs from ours,
    for every parameter the Play leaves out (what it sets itself stays)."""
    forms = TRADE_FORMS.get(str(feat.get("indicator")))
    if not forms:
        return
    params = feat.get("params")
    if params is None:
        params = feat["params"] = {}
    if isinstance(params, dict):
        for name, value in forms.items():
            params.setdefault(name, value)


SWING_ANCHORED: tuple[str, ...] = ("anchored_vwap", "anchored_volume_profile")


def _swing_params(feat: dict[str, Any], structs: Any) -> None:
    """A swing-anchored indicator without left/right uses the Play's swing on its timeframe
    (else its first swing), as TRADE feeds it that swing's events."""
    if feat.get("indicator") not in SWING_ANCHORED or not isinstance(structs, dict):
        return
    params = feat.setdefault("params", {})
    if not isinstance(params, dict) or ("left" in params and "right" in params):
        return
    role = feat.get("tf") or "exec"
    swings = [(r, st) for r, items in structs.items() if isinstance(items, list)
              for st in items if isinstance(st, dict) and st.get("type") == "swing"]
    swings.sort(key=lambda rs: rs[0] != role)
    if swings and isinstance(swings[0][1].get("params"), dict):
        for key in ("left", "right"):
            value = swings[0][1]["params"].get(key)
            if value is not None:
                params.setdefault(key, value)


def _structures(structs: dict[str, Any], tfs: Any, feats: Any, ctx: _Ctx) -> dict[str, Any]:
    """Flatten `role: {interval: [...]}` into `role: [...]` (or `interval: [...]`)."""
    declared: dict[str, str] = {}
    if isinstance(tfs, dict):
        for role in ROLES:
            value = tfs.get(role)
            if isinstance(value, str):
                declared.setdefault(value, role)
    out: dict[str, Any] = {}
    for role, items in structs.items():
        rpath: PathKey = ("structures", role)
        if isinstance(items, dict):
            for interval, sub in items.items():
                ipath: PathKey = (*rpath, interval)
                interval = str(interval)
                own = tfs.get(role) if isinstance(tfs, dict) and role in ROLES else None
                if interval not in INTERVAL_MINUTES:
                    ctx.err(ipath, f"expected a list of structures or an interval key, "
                                   f"found '{interval}'")
                    continue
                if own is not None and own != interval:
                    ctx.err(ipath, f"interval '{interval}' is not {role}'s ({own}); key "
                                   f"the structures by {role} alone or by its interval")
                    continue
                if own is None and interval not in declared:
                    ctx.err(ipath, f"interval '{interval}' is not declared under timeframes "
                                   f"(declared: {', '.join(declared) or 'none'})")
                    continue
                target = role if own is not None else declared[interval]
                dest = out.setdefault(target, [])
                if not isinstance(sub, list):
                    ctx.err(ipath, "expected a list of structures")
                    continue
                for i, st in enumerate(sub):
                    ctx.move_line((*ipath, i), ("structures", target, len(dest)))
                    dest.append(st)
            continue
        if isinstance(items, list):
            dest = out.setdefault(role, [])
            for i, st in enumerate(items):
                if len(dest) != i:
                    ctx.move_line((*rpath, i), (*rpath, len(dest)))
                dest.append(st)
        else:
            out[role] = items
    for role, items in out.items():
        if isinstance(items, list):
            for i, st in enumerate(items):
                if isinstance(st, dict):
                    _indicator(st, ("structures", role, i), "type", ctx)
                    _atr_key(st, ("structures", role, i), feats, ctx)
    return out


def _atr_key(st: dict[str, Any], path: PathKey, feats: Any, ctx: _Ctx) -> None:
    """`atr_key: atr_14` (TRADE reads that feature's ATR) -> our `atr_length` (the detector
    computes the same Wilder ATR itself, on its own timeframe)."""
    params = st.get("params")
    spec = REGISTRY.get(str(st.get("type")))
    if spec is None or not isinstance(params, dict):
        return
    if "atr_key" not in params:
        if "atr_length" not in {p.name for p in spec.params} or "atr_length" in params:
            return
        # TRADE reads the feature named "atr" when atr_key is omitted
        if isinstance(feats, dict) and isinstance(feats.get("atr"), dict):
            params["atr_key"] = "atr"
        elif spec.name == "zone":
            params["width_atr"] = 0.0  # no ATR: TRADE's zone is the swing level itself
            return
        elif spec.name == "breaker_block" and st.get("uses"):
            return  # it takes the ATR of the order block it uses
        elif spec.name != "fair_value_gap" or params.get("min_gap_atr", 0) != 0:
            ctx.err((*path, "type"), f"'{spec.name}' reads an ATR: give atr_key naming an atr "
                                     f"feature (TRADE reads a feature named 'atr', and this Play "
                                     f"declares none)")
            return
        else:
            return
    key = params.pop("atr_key")
    if "atr_length" not in {p.name for p in spec.params}:
        if spec.name == "swing":
            return  # TRADE's swing reads it only for its significance outputs
        ctx.err((*path, "params", "atr_key"), f"'{spec.name}' takes no atr_key")
        return
    feat = feats.get(key) if isinstance(feats, dict) else None
    if not isinstance(feat, dict) or feat.get("indicator") != "atr":
        ctx.err((*path, "params", "atr_key"), f"atr_key '{key}' names no atr feature "
                                              f"(declare it under features)")
        return
    fparams = feat.get("params")
    length = fparams.get("length", 14) if isinstance(fparams, dict) else 14
    params.setdefault("atr_length", length)
    ctx.move_line((*path, "params", "atr_key"), (*path, "params", "atr_length"))


# ------------------------------------------------------------------ account / risk


def _risk_limits(data: dict[str, Any], ctx: _Ctx) -> None:
    limits = data.pop("risk_limits", None)
    if limits is None:
        return
    if not isinstance(limits, dict):
        ctx.err(("risk_limits",), "expected a mapping")
        return
    account = data.setdefault("account", {})
    if not isinstance(account, dict):
        return
    for key, value in limits.items():
        path: PathKey = ("risk_limits", key)
        if key not in RISK_LIMIT_KEYS:
            ctx.err(path, f"unknown risk limit '{key}', expected {one_of(RISK_LIMIT_KEYS)}")
            continue
        if key in account and account[key] != value:
            ctx.err(path, f"risk_limits.{key} ({value!r}) contradicts account.{key} "
                          f"({account[key]!r}); give it once")
            continue
        if key == "max_leverage" and "max_leverage" in account:
            continue
        account[key] = value
        ctx.move_line(path, ("account", key))


#: TRADE's spellings of the bracket settings (any case) -> ours
_ORDER_TYPES = {"market": "Market", "limit": "Limit"}
_TRIGGERS = {"lastprice": "LastPrice", "markprice": "MarkPrice"}


def _order_types(data: dict[str, Any], ctx: _Ctx) -> None:
    # split take-profits, limit brackets and mark-price triggers (docs/fill_model.md rule 4,
    # A-D): spelled in any case; an index-price trigger is refused (no index price series)
    for block in ("risk", "risk_model"):
        risk = data.get(block)
        if not isinstance(risk, dict):
            continue
        for key in TRIGGER_KEYS:
            if key not in risk:
                continue
            value = risk[key]
            if isinstance(value, str) and value.lower() == "lastprice":
                risk.pop(key)  # the default: brackets trigger on the last price
            elif isinstance(value, str) and value.lower() in _TRIGGERS:
                risk[key] = _TRIGGERS[value.lower()]
            elif isinstance(value, str) and value.lower() == "indexprice":
                risk.pop(key)
                ctx.err((block, key), f"IndexPrice triggers are not supported (there is no "
                                      f"index price series); set '{key}' to LastPrice or "
                                      f"MarkPrice")
            else:
                risk.pop(key)
                ctx.err((block, key), f"expected LastPrice or MarkPrice, found {value!r}")
        for key in ORDER_TYPE_KEYS:
            if key not in risk:
                continue
            value = risk[key]
            if isinstance(value, str) and value.lower() == "market":
                risk.pop(key)  # the default: brackets fill as market orders
            elif isinstance(value, str) and value.lower() in _ORDER_TYPES:
                risk[key] = _ORDER_TYPES[value.lower()]
            else:
                risk.pop(key)
                ctx.err((block, key), f"expected Market or Limit, found {value!r}")


def _risk_per_trade(data: dict[str, Any], ctx: _Ctx) -> None:
    risk = data.get("risk")
    account = data.get("account")
    if isinstance(risk, dict) and "risk_per_trade_pct" in risk:
        # TRADE's shorthand `risk:` block may carry it too: it means the account's setting
        if isinstance(account, dict) and "risk_per_trade_pct" in account:
            ctx.err(("risk", "risk_per_trade_pct"), "risk_per_trade_pct is given under "
                                                     "account and under risk; give it once")
            return
        if not isinstance(account, dict):
            account = data["account"] = {}
        account["risk_per_trade_pct"] = risk.pop("risk_per_trade_pct")
        ctx.move_line(("risk", "risk_per_trade_pct"), ("account", "risk_per_trade_pct"))
    if not isinstance(account, dict) or "risk_per_trade_pct" not in account:
        return
    pct = account.pop("risk_per_trade_pct")
    path: PathKey = ("account", "risk_per_trade_pct")
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
        ctx.err(path, f"expected a percent in (0, 100], found {pct!r}")
        return
    rm = data.get("risk_model")
    has_stop = (isinstance(rm, dict) and rm.get("stop_loss") is not None) or (
        isinstance(risk, dict) and risk.get("stop_loss_pct") is not None)
    # TRADE sizes by the stop distance when there is a stop; without one its risk-based
    # sizing falls back to the percent-of-equity formula: this percent of equity as margin
    model = "risk_based" if has_stop else "percent_equity"
    if isinstance(rm, dict):
        sizing = rm.get("sizing")
        if isinstance(sizing, dict):
            if sizing.get("model") == "risk_based" and "value" not in sizing:
                sizing["value"] = float(pct)
            return
        rm["sizing"] = {"model": model, "value": float(pct)}
        ctx.move_line(path, ("risk_model", "sizing"))
        return
    if isinstance(risk, dict):
        # the shorthand has no sizing model: express it in the full form
        new_rm: dict[str, Any] = {"sizing": {"model": model, "value": float(pct)}}
        if risk.get("stop_loss_pct") is not None:
            new_rm["stop_loss"] = {"type": "percent", "value": risk.pop("stop_loss_pct")}
        if risk.get("take_profit_pct") is not None:
            new_rm["take_profit"] = {"type": "percent", "value": risk.pop("take_profit_pct")}
        if risk.get("trailing_stop_pct") is not None:
            ctx.err(path, "risk_per_trade_pct with risk.trailing_stop_pct: write the Play's "
                          "risk as risk_model (stop_loss type trailing_pct)")
            return
        risk.pop("max_position_pct", None)
        if risk:
            return
        data.pop("risk")
        data["risk_model"] = new_rm
        return
    data["risk_model"] = {"sizing": {"model": model, "value": float(pct)}}
    ctx.move_line(path, ("risk_model", "sizing"))


def _synthetic(data: dict[str, Any]) -> None:
    synth = data.get("synthetic")
    for block in (synth, data.get("validation")):
        if isinstance(block, dict) and "bars_per_tf" in block and "bars" not in block:
            # TRADE's generator makes that many bars of every timeframe; the exec timeframe's
            # count is what sets the run's length (and the others follow from it)
            block["bars"] = block.pop("bars_per_tf")
    if isinstance(synth, dict) and "pattern" in synth and "regime" not in synth:
        # TRADE's spelling: the pattern names the generator
        synth["regime"] = synth["pattern"]
