"""Load, validate, override and hash Plays."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from trade.core.safe_yaml import YamlLimitError, check_yaml, read_yaml_text

# `validation: {pattern}` names -> generator regimes: one table, owned by the data layer
from trade.data.synth import PATTERN_REGIMES, REGIMES
from trade.indicators.aliases import output_aliases, primary_output
from trade.indicators.spec import IndicatorSpec
from trade.play.actions import CompiledActions, compile_actions
from trade.play.conditions import ConditionContext, Source, shown
from trade.play.dialect import apply_trade_forms, normalize
from trade.play.errors import PlayError, PlayIssue, one_of, suggest
from trade.play.ir import BUILTINS
from trade.play.schema import Play, Synthetic
from trade.play.timeframes import INTERVAL_MINUTES, ROLES, interval_ms
from trade.play.yamlsrc import PathKey, SourceMap, dotted, load_yaml

DEFAULT_MAX_LEVERAGE = 100.0


def _default_registry() -> Mapping[str, IndicatorSpec]:
    import trade.indicators  # the indicator layer sits below the Play layer

    registry: Mapping[str, IndicatorSpec] = getattr(trade.indicators, "REGISTRY")  # noqa: B009
    return registry


# ====================================================================== public API


def load_play(
    path: str | Path,
    *,
    overrides: dict[str, object] | None = None,
    registry: Mapping[str, IndicatorSpec] | None = None,
    instrument_max_leverage: float = DEFAULT_MAX_LEVERAGE,
) -> Play:
    """Load and fully validate a Play file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : dict, optional
        Dotted path -> value replacements applied before validation (see
        `apply_overrides`).
    registry : Mapping[str, IndicatorSpec], optional
        The indicator registry (default `trade.indicators.REGISTRY`).
    instrument_max_leverage : float
        The instrument's maximum leverage, checked against the Play's.

    Returns
    -------
    Play
        Validated, with its actions compiled (`compiled_actions`).

    Raises
    ------
    PlayError
        Every problem found, each with file, line and dotted path; also a missing or
        unreadable file and one over the YAML reader's size or nesting limits.
    """
    p = Path(path)
    try:
        text = read_yaml_text(p)  # bounded: a Play is a few kB
    except YamlLimitError as exc:
        raise PlayError([PlayIssue(str(path), exc.line, "", exc.reason)]) from None
    except FileNotFoundError:
        raise PlayError([PlayIssue(str(path), 0, "", "file not found")]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise PlayError([PlayIssue(str(path), 0, "", f"cannot read: {exc}")]) from None
    return load_play_text(text, source=str(path), overrides=overrides, registry=registry,
                          instrument_max_leverage=instrument_max_leverage)


def load_play_text(
    text: str,
    *,
    source: str = "<string>",
    overrides: dict[str, object] | None = None,
    registry: Mapping[str, IndicatorSpec] | None = None,
    instrument_max_leverage: float = DEFAULT_MAX_LEVERAGE,
) -> Play:
    """Like `load_play`, from YAML text.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str
        Names the document in error messages (e.g. the file it came from).
    overrides, registry, instrument_max_leverage
        As in `load_play`.

    Returns
    -------
    Play

    Raises
    ------
    PlayError
        Every problem found, each with source, line and dotted path (also text over the
        YAML reader's size or nesting limits).
    """
    try:
        check_yaml(text, source)  # bounded size, nesting and alias expansion (alias bombs)
    except YamlLimitError as exc:
        raise PlayError([PlayIssue(source, exc.line, "", exc.reason)]) from None
    raw, smap = load_yaml(text, source)
    return _build(raw, smap, overrides or {}, registry, instrument_max_leverage)


def apply_overrides(
    play: Play,
    overrides: Mapping[str, object],
    *,
    registry: Mapping[str, IndicatorSpec] | None = None,
    instrument_max_leverage: float = DEFAULT_MAX_LEVERAGE,
) -> Play:
    """A new Play with dotted paths replaced, re-validated as a whole.

    Parameters
    ----------
    play : Play
        A Play from `load_play` / `load_play_text` (left unchanged).
    overrides : Mapping[str, object]
        Dotted path -> value, e.g. ``{"features.ema_21.params.length": 34}``; paths address
        the document as written (before `$variable` substitution).
    registry : Mapping[str, IndicatorSpec], optional
        The indicator registry (default `trade.indicators.REGISTRY`).
    instrument_max_leverage : float
        The instrument's maximum leverage, checked against the Play's.

    Returns
    -------
    Play

    Raises
    ------
    PlayError
        A path does not exist or the result is not a valid Play (every problem listed).

    Notes
    -----
    A sweep's usual overrides (numbers at `features.F.params.K`) take a short path that
    re-validates only feature F on top of the already validated `play`; it builds the same
    Play the whole pipeline builds (tests/test_play_overrides_fast.py) and hands anything
    else, or any problem, to the whole pipeline, so every message stays the same.
    """
    reg = registry if registry is not None else _default_registry()
    fast = _override_params(play, overrides, reg, instrument_max_leverage)
    if fast is not None:
        return fast
    return _apply_overrides_full(play, overrides, reg, instrument_max_leverage)


def _apply_overrides_full(play: Play, overrides: Mapping[str, object],
                          registry: Mapping[str, IndicatorSpec], max_lev: float) -> Play:
    """apply_overrides the long way: the whole document through the whole pipeline."""
    smap = play.source_map if isinstance(play.source_map, SourceMap) else SourceMap(play.source)
    return _build(copy.deepcopy(play.raw), smap, dict(overrides), registry, max_lev)


class _OverrideBase:
    """What the sweep fast path of `apply_overrides` reuses from a base Play."""

    def __init__(self, play: Play, registry: Mapping[str, IndicatorSpec], max_lev: float) -> None:
        self.play = play
        self.registry = registry
        self.max_lev = max_lev
        self.specs = _Checker(play, {}, SourceMap(play.source), registry, max_lev).specs
        self.unaliased = _tree_unaliased(play.raw)
        # the document rebuilt with this registry and leverage cap (the Play may have been
        # loaded with others): the template of every variant; None when it does not pass
        try:
            self.built: Play | None = _apply_overrides_full(play, {}, registry, max_lev)
        except PlayError:
            self.built = None


_OVERRIDE_BASES: dict[int, _OverrideBase] = {}  # the last few base Plays (held: ids stay theirs)
_OVERRIDE_LOCK = threading.Lock()
_PARAM_PATH = re.compile(r"features\.([A-Za-z_][A-Za-z0-9_]*)\.params\.([A-Za-z_][A-Za-z0-9_]*)")


def _tree_unaliased(raw: Any) -> bool:
    """No mapping or list appears twice in the document (no YAML alias shares one)."""
    seen: set[int] = set()
    stack = [raw]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:
                return False
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)
    return True


def _override_params(play: Play, overrides: Mapping[str, object],
                     registry: Mapping[str, IndicatorSpec], max_lev: float) -> Play | None:
    """`apply_overrides` for the common sweep case, or None when it does not apply.

    The case: every path is `features.F.params.K` with K already given as a number in the
    document, the new value a number too, and F untouched by `$variables` and by the dialect.
    Then only F's parameters change: the document without overrides is rebuilt once (with
    this registry and leverage cap) and must pass, and on that template F is re-validated
    alone (the same pydantic model and the same parameter checks). Any doubt or any
    problem -> None, and the full pipeline answers (with its messages)."""
    if not overrides or not isinstance(play.compiled, CompiledActions):
        return None
    per_feature: dict[str, dict[str, object]] = {}
    for key, value in overrides.items():
        m = _PARAM_PATH.fullmatch(key) if isinstance(key, str) else None
        if m is None or type(value) not in (int, float):
            return None
        per_feature.setdefault(m.group(1), {})[m.group(2)] = value
    with _OVERRIDE_LOCK:
        base = _OVERRIDE_BASES.get(id(play))
        if base is None or base.play is not play or base.registry is not registry \
                or base.max_lev != max_lev:
            base = _OverrideBase(play, registry, max_lev)
            if len(_OVERRIDE_BASES) >= 8:
                _OVERRIDE_BASES.pop(next(iter(_OVERRIDE_BASES)))
            _OVERRIDE_BASES[id(play)] = base
    tpl = base.built
    if tpl is None or not base.unaliased:
        return None
    raw = play.raw
    feats_raw = raw.get("features")
    if not isinstance(feats_raw, dict) or raw.get("structures"):
        return None  # the dialect may derive structure parameters from feature parameters
    if raw.get("indicator_forms") not in (None, "standard", "trade"):
        return None  # a `$variable` (or a mistake): the full pipeline decides
    smap = play.source_map if isinstance(play.source_map, SourceMap) else SourceMap(play.source)
    checker = _Checker(tpl, {}, smap, {}, max_lev)
    checker.specs = base.specs
    features = dict(tpl.features)
    new_raw_feats: dict[str, dict[str, Any]] = {}
    for fid, changes in per_feature.items():
        feat_raw = feats_raw.get(fid)
        feat = features.get(fid)
        if not isinstance(feat_raw, dict) or feat is None:
            return None
        params_raw = feat_raw.get("params")
        if not isinstance(params_raw, dict):
            return None
        for k in changes:
            if k == "source" or type(params_raw.get(k)) not in (int, float):
                return None
        new_feat_raw = _copy_tree(feat_raw)
        new_feat_raw["params"].update(changes)
        # the dialect and `$variables` must leave this feature as written
        if _has_variable(new_feat_raw):
            return None
        probe = {"features": {fid: _copy_tree(new_feat_raw)},
                 "structures": _copy_tree(raw.get("structures")),
                 "indicator_forms": raw.get("indicator_forms")}
        if raw.get("indicator_forms") == "trade":
            apply_trade_forms(new_feat_raw)  # what the dialect adds to every such feature
        probe_issues: list[PlayIssue] = []
        normalized = normalize(probe, SourceMap(play.source), probe_issues)
        if probe_issues or normalized.get("features", {}).get(fid) != new_feat_raw:
            return None
        try:
            new_feat = type(feat).model_validate(new_feat_raw)
        except ValidationError:
            return None
        spec = base.specs.get(new_feat.indicator)
        if spec is None or spec.kind != "indicator":
            return None
        checker.check_params(spec, new_feat.params, ("features", fid, "params"))
        if checker.issues:
            return None
        features[fid] = new_feat
        new_raw_feats[fid] = new_feat_raw
    new_raw = _copy_tree(raw)
    for fid, feat_raw in new_raw_feats.items():
        new_raw["features"][fid] = feat_raw
    out = tpl.model_copy(update={"features": features})
    out.bind_origin(source=smap.file, raw=new_raw, compiled=tpl.compiled, source_map=smap)
    return out


_ATOMIC = (str, int, float, bool, type(None))


def _copy_tree(v: Any) -> Any:
    """copy.deepcopy of an unaliased document (plain mappings and lists copied, plain scalars
    shared as deepcopy shares them, anything else deep-copied)."""
    t = type(v)
    if t is dict:
        return {k: _copy_tree(x) for k, x in v.items()}
    if t is list:
        return [_copy_tree(x) for x in v]
    if t in _ATOMIC:
        return v
    return copy.deepcopy(v)


def _has_variable(v: Any) -> bool:
    if isinstance(v, str):
        return _VAR.match(v.strip()) is not None
    if isinstance(v, dict):
        return any(_has_variable(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_variable(x) for x in v)
    return False


def play_hash(play: Play) -> str:
    """sha256 of the Play's canonical JSON form (after variables and overrides).

    Two Plays that differ only in formatting, comments or key order hash the same.

    Parameters
    ----------
    play : Play

    Returns
    -------
    str
        64 hex digits.
    """
    data = play.model_dump(mode="json")
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def compiled_actions(play: Play) -> CompiledActions:
    """The actions of `play`, compiled when it was loaded.

    Parameters
    ----------
    play : Play

    Returns
    -------
    CompiledActions

    Raises
    ------
    ValueError
        `play` was not built by `load_play` / `load_play_text` / `apply_overrides`.
    """
    compiled = play.compiled
    if not isinstance(compiled, CompiledActions):
        raise ValueError("Play was not built by load_play/load_play_text")
    return compiled


# ====================================================================== pipeline


def _build(
    raw: Any,
    smap: SourceMap,
    overrides: dict[str, object],
    registry: Mapping[str, IndicatorSpec] | None,
    max_lev: float,
) -> Play:
    if not isinstance(raw, dict):
        raise PlayError([smap.issue((), f"expected a YAML mapping at the top, found {shown(raw)}")])
    issues: list[PlayIssue] = []
    for key, value in overrides.items():
        _set_path(raw, key, value, smap, issues)
    if issues:
        raise PlayError(issues)
    original_with_overrides = copy.deepcopy(raw)
    data = _substitute_variables(raw, smap, issues)
    data = normalize(data, smap, issues)  # TRADE's spellings -> ours (trade.play.dialect)
    try:
        play = Play.model_validate(data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, data, smap))
        raise PlayError(issues) from None
    if issues:
        raise PlayError(issues)
    reg = registry if registry is not None else _default_registry()
    checker = _Checker(play, data, smap, reg, max_lev)
    play = checker.run()
    if checker.issues:
        raise PlayError(checker.issues)
    play.bind_origin(source=smap.file, raw=original_with_overrides,
                     compiled=checker.compiled, source_map=smap)
    return play


# ------------------------------------------------------------------ overrides


def _split_path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for part in key.split("."):
        m = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", part)
        if m is None:
            parts.append(part)
            continue
        if m.group(1):
            parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return parts


def _set_path(raw: dict[str, Any], key: str, value: object, smap: SourceMap,
              issues: list[PlayIssue]) -> None:
    parts = _split_path(key)
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = tuple(parts[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                issues.append(smap.issue(here[:-1], f"override '{key}': no item [{part}]"))
                return
            if last:
                node[part] = value
                return
            node = node[part]
            continue
        if not isinstance(node, dict):
            issues.append(smap.issue(here[:-1], f"override '{key}': '{dotted(here[:-1])}' is not "
                                                f"a mapping"))
            return
        if last:
            node[part] = value
            return
        if part not in node:
            # create missing params/variables containers; anything else must exist
            if part in ("params", "variables", "backtest", "deploy", "risk", "entry"):
                node[part] = {}
            else:
                issues.append(smap.issue(here[:-1], f"override '{key}': no '{part}'"
                                                    f"{suggest(part, [str(k) for k in node])}"))
                return
        node = node[part]


# ------------------------------------------------------------------ variables

_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def _substitute_variables(raw: dict[str, Any], smap: SourceMap,
                          issues: list[PlayIssue]) -> dict[str, Any]:
    variables = raw.get("variables") or {}
    if not isinstance(variables, dict):
        return raw

    def walk(v: Any, path: PathKey) -> Any:
        if isinstance(v, str):
            m = _VAR.match(v.strip())
            if m is None:
                return v
            name = m.group(1)
            if name not in variables:
                hint = suggest(name, [str(k) for k in variables])
                issues.append(smap.issue(path, f"undefined variable '${name}'"
                                         + (hint.replace("'", "'$", 1) if hint else
                                            " (declare it under variables:)")))
                return v
            return copy.deepcopy(variables[name])
        if isinstance(v, dict):
            return {k: walk(x, (*path, k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, (*path, i)) for i, x in enumerate(v)]
        return v

    return {k: (v if k in ("variables", "sweep") else walk(v, (k,))) for k, v in raw.items()}


# ------------------------------------------------------------------ pydantic errors


def _unwrap(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for a in typing.get_args(ann):
            out.extend(_unwrap(a))
        return out
    return [ann]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at `loc`."""
    current: list[Any] = [Play]
    for part in loc:
        nxt: list[Any] = []
        for ann in current:
            origin = typing.get_origin(ann)
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                field = ann.model_fields.get(str(part))
                if field is not None:
                    nxt.extend(_unwrap(field.annotation))
            elif origin is dict:
                nxt.extend(_unwrap(typing.get_args(ann)[1]))
            elif origin in (list, tuple) and isinstance(part, int):
                args = typing.get_args(ann)
                if args:
                    nxt.extend(_unwrap(args[0]))
        current = nxt
    for ann in current:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
    return None


def _data_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Drop pydantic's union tags: keep the loc prefix that exists in the data (+ a missing key)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if _has(node, part):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and out[-1:] != [part]:
            out.append(part)  # a missing field
            break
        else:
            break
    return tuple(out)


_EXPECT = {
    "float_type": "a number", "int_type": "a whole number", "string_type": "a string",
    "bool_type": "true or false", "dict_type": "a mapping", "list_type": "a list",
    "tuple_type": "a list", "model_type": "a mapping", "int_from_float": "a whole number",
}


def _pydantic_issues(exc: ValidationError, data: Any, smap: SourceMap) -> list[PlayIssue]:
    grouped: dict[PathKey, list[dict[str, Any]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _data_path(loc, data)
        if err["type"] == "missing":
            path = (*_data_path(loc[:-1], data), loc[-1])
        grouped.setdefault(path, []).append(dict(err))
    issues: list[PlayIssue] = []
    for path, errs in grouped.items():
        issues.append(smap.issue(path, _message(path, errs)))
    return issues


def _message(path: PathKey, errs: list[dict[str, Any]]) -> str:
    err = errs[0]
    kind = err["type"]
    found = err.get("input")
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        fields = list(model.model_fields) if model else []
        key = str(path[-1]) if path else "?"
        hint = suggest(key, fields)
        return f"unknown field '{key}'" + (hint or (f", expected {one_of(fields)}" if fields
                                                    else ""))
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        return f"unknown value {shown(found)}{_hint(str(found), choices)}"
    if kind == "string_pattern_mismatch":
        field = path[-1] if path else ""
        if field == "name":
            return f"expected a name of letters, digits and _, found {shown(found)}"
        if field == "symbol":
            return f"expected a USDT perpetual symbol such as 'BTCUSDT', found {shown(found)}"
        return f"{err['msg']}, found {shown(found)}"
    if len(errs) > 1 or kind in _EXPECT:
        kinds = []
        for e in errs:
            k = _EXPECT.get(e["type"], e["msg"].removeprefix("Input should be "))
            if k not in kinds:
                kinds.append(k)
        expected = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
        return f"expected {expected}, found {shown(found)}"
    msg = str(err["msg"])
    if msg.startswith("Input should be "):
        return f"expected a value {msg.removeprefix('Input should be ')}, found {shown(found)}"
    return f"{msg}, found {shown(found)}"


# ------------------------------------------------------------------ semantic checks


class _Checker:
    def __init__(self, play: Play, data: dict[str, Any], smap: SourceMap,
                 registry: Mapping[str, IndicatorSpec], max_lev: float) -> None:
        self.play = play
        self.data = data
        self.smap = smap
        self.max_lev = max_lev
        self.issues: list[PlayIssue] = []
        self.compiled: CompiledActions | None = None
        self.specs: dict[str, IndicatorSpec] = {}
        for name, spec in registry.items():
            self.specs[name] = spec
            for alias in spec.aliases:
                self.specs.setdefault(alias, spec)
        self.sources: dict[str, Source] = {}
        self.feature_specs: dict[str, IndicatorSpec] = {}

    def err(self, path: PathKey, message: str) -> None:
        self.issues.append(self.smap.issue(path, message))

    def run(self) -> Play:
        p = self.play
        if not re.fullmatch(r"3(\.\d+){0,2}", p.version):
            self.err(("version",), f"unsupported version {shown(p.version)}, expected '3.x.y'")
        tf_ok = self._timeframes()
        self._account()
        self._features(tf_ok)
        self._structures(tf_ok)
        exec_ms = interval_ms(p.exec_tf) if tf_ok else 60_000
        ctx = ConditionContext(self.sources, self.smap, exec_ms, setups=p.setups)
        for name in p.setups:  # compile every setup, used or not, to report its errors
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.err(("setups", name), f"expected an identifier, found {shown(name)}")
            ctx.compile_setup(name, ("setups", name))
        self.compiled = compile_actions(p.actions, ctx, mode=p.position_policy.mode,
                                        exit_mode=p.position_policy.exit_mode)
        self._risk(ctx)
        self.issues.extend(ctx.issues)
        self._sweep()
        return self._synthetic()

    # -------------------------------------------------------------- timeframes
    def _timeframes(self) -> bool:
        tfs = self.play.timeframes
        ok = True
        for role in ROLES:
            value = getattr(tfs, role)
            if value is not None and value not in INTERVAL_MINUTES:
                self.err(("timeframes", role),
                         f"unknown interval {shown(value)}{_hint(value, INTERVAL_MINUTES)}")
                ok = False
        if tfs.exec not in ROLES:
            hint = ""
            for role in ROLES:
                if getattr(tfs, role) == tfs.exec:
                    hint = f" — did you mean '{role}'?"
            self.err(("timeframes", "exec"), f"exec must name a role, found {shown(tfs.exec)}"
                     f"{hint or _hint(tfs.exec, ROLES)}")
            ok = False
        elif getattr(tfs, tfs.exec) is None:
            self.err(("timeframes", "exec"), f"exec points at '{tfs.exec}', which is not set")
            ok = False
        if ok:
            mins = {r: INTERVAL_MINUTES[v] for r in ROLES if (v := getattr(tfs, r)) is not None}
            order = [r for r in ROLES if r in mins]
            for lo, hi in itertools.pairwise(order):
                if mins[hi] < mins[lo]:
                    self.err(("timeframes", hi), f"{hi} {getattr(tfs, hi)} is shorter than {lo} "
                             f"{getattr(tfs, lo)}; expected high_tf >= med_tf >= low_tf")
                    ok = False
        return ok

    def _role_of(self, tf: str | None, path: PathKey, tf_ok: bool) -> None:
        if tf is None or not tf_ok:
            return
        roles = ("exec", *ROLES)
        if tf in roles:
            if tf != "exec" and getattr(self.play.timeframes, tf) is None:
                self.err(path, f"timeframe role '{tf}' is not set under timeframes")
            return
        declared = [getattr(self.play.timeframes, r) for r in ROLES]
        if tf in declared:
            return
        self.err(path, f"unknown timeframe {shown(tf)}" + (
            suggest(tf, roles) or f", expected a role ({', '.join(roles)}) or a declared interval"))

    # -------------------------------------------------------------- account
    def _account(self) -> None:
        p = self.play
        lev = p.account.max_leverage
        if lev > self.max_lev:
            self.err(("account", "max_leverage"),
                     f"leverage {lev:g} is above the instrument's maximum {self.max_lev:g}")
        if p.risk_model and p.risk_model.sizing and p.risk_model.sizing.max_leverage is not None:
            slev = p.risk_model.sizing.max_leverage
            if slev > self.max_lev:
                self.err(("risk_model", "sizing", "max_leverage"),
                         f"leverage {slev:g} is above the instrument's maximum {self.max_lev:g}")
        if p.deploy and p.deploy.max_leverage is not None and p.deploy.max_leverage > self.max_lev:
            self.err(("deploy", "max_leverage"), f"leverage {p.deploy.max_leverage:g} is above "
                                                 f"the instrument's maximum {self.max_lev:g}")

    # -------------------------------------------------------------- features
    def check_params(self, spec: IndicatorSpec, params: Mapping[str, Any],
                     path: PathKey) -> None:
        """Check one feature's parameters against its spec (problems go to `issues`)."""
        self._params(spec, params, path)

    def _params(self, spec: IndicatorSpec, params: Mapping[str, Any], path: PathKey) -> None:
        before = len(self.issues)
        names = [ps.name for ps in spec.params]
        for key, value in params.items():
            sub = (*path, key)
            if key not in names:
                self.err(sub, f"unknown parameter '{key}' for '{spec.name}'"
                         f"{suggest(key, names)}"
                         + ("" if suggest(key, names) else
                            (f", expected {one_of(names)}" if names else " (it takes none)")))
                continue
            ps = spec.param(key)
            if ps.kind == "int":
                good = isinstance(value, int) and not isinstance(value, bool)
                want = "a whole number"
            elif ps.kind == "float":
                good = isinstance(value, int | float) and not isinstance(value, bool)
                want = "a number"
            elif ps.kind == "bool":
                good, want = isinstance(value, bool), "true or false"
            elif ps.kind == "floats":
                good = isinstance(value, list) and bool(value) and all(
                    isinstance(x, int | float) and not isinstance(x, bool) for x in value)
                want = "a non-empty list of numbers"
            else:
                good, want = isinstance(value, str), "a string"
            if not good:
                self.err(sub, f"expected {want}, found {shown(value)}")
                continue
            if ps.kind in ("int", "float"):
                if ps.min is not None and value < ps.min:
                    self.err(sub, f"must be >= {ps.min:g}, found {value!r}")
                if ps.max is not None and value > ps.max:
                    self.err(sub, f"must be <= {ps.max:g}, found {value!r}")
            if ps.choices and value not in ps.choices:
                self.err(sub, f"unknown value {shown(value)}{_hint(str(value), ps.choices)}")
        for ps in spec.params:
            if ps.required and ps.name not in params:
                self.err(path, f"missing required parameter '{ps.name}' for '{spec.name}'")
        if spec.check is not None and len(self.issues) == before:
            problem = spec.check(spec.with_defaults(params))
            if problem:
                self.err(path, problem)

    def _outputs(self, spec: IndicatorSpec, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The outputs of this instance (fibonacci's depend on its levels)."""
        if spec.dynamic_outputs is None:
            return tuple(spec.outputs)
        full = spec.with_defaults(params)
        if any(ps.required and ps.name not in full for ps in spec.params):
            return tuple(spec.outputs)
        try:
            return spec.outputs_for(full)
        except (TypeError, ValueError, KeyError):
            return tuple(spec.outputs)  # a bad parameter, reported by _params

    def _lookup(self, name: str, kind: str, path: PathKey) -> IndicatorSpec | None:
        spec = self.specs.get(name)
        if spec is not None and spec.kind == kind:
            return spec
        names = sorted(n for n, s in self.specs.items() if s.kind == kind)
        what = "indicator" if kind == "indicator" else "structure type"
        extra = ""
        if spec is not None:
            extra = f" ('{name}' is a {spec.kind}, declare it under "
            extra += "structures)" if spec.kind == "structure" else "features)"
        self.err(path, f"unknown {what} {shown(name)}{extra or _hint(name, names)}")
        return None

    def _features(self, tf_ok: bool) -> None:
        for fid, feat in self.play.features.items():
            path: PathKey = ("features", fid)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", fid):
                self.err(path, f"feature id must be an identifier (letters, digits, _), "
                               f"found {shown(fid)}")
                continue
            if fid in BUILTINS:
                self.err(path, f"'{fid}' is a builtin and cannot be redeclared")
                continue
            self._role_of(feat.tf, (*path, "tf"), tf_ok)
            spec = self._lookup(feat.indicator, "indicator", (*path, "indicator"))
            if spec is None:
                self.sources[fid] = Source(("value",))  # keep checking references to it
                continue
            self._params(spec, feat.params, (*path, "params"))
            if feat.source is not None:
                if "source" in feat.params:
                    self.err((*path, "source"), "give 'source' once: here or under params")
                elif "source" not in [ps.name for ps in spec.params]:
                    self.err((*path, "source"), f"'{spec.name}' takes no source")
                else:
                    self._params(spec, {"source": feat.source}, path)
            self.sources[fid] = Source(tuple(spec.outputs), "indicator",
                                       dict(output_aliases(spec.name)), primary_output(spec.name))
            self.feature_specs[fid] = spec

    def _structures(self, tf_ok: bool) -> None:
        roles = ("exec", *ROLES)
        declared = [v for r in ROLES if (v := getattr(self.play.timeframes, r)) is not None]
        for role, items in self.play.structures.items():
            rpath: PathKey = ("structures", role)
            if role not in roles and role not in declared:
                self.err(rpath, f"unknown timeframe role {shown(role)}{_hint(role, roles)}")
                continue
            self._role_of(role, rpath, tf_ok)
            for i, st in enumerate(items):
                path: PathKey = (*rpath, i)
                if st.key in self.sources or st.key in BUILTINS:
                    self.err((*path, "key"), f"duplicate key '{st.key}' (already declared)")
                    continue
                for dep in st.uses_list:
                    if dep not in self.sources or self.sources[dep].kind != "structure":
                        declared = [k for k, s in self.sources.items() if s.kind == "structure"]
                        self.err((*path, "uses"), f"'{dep}' is not a structure declared above"
                                 f"{suggest(dep, declared)}")
                spec = self._lookup(st.type, "structure", (*path, "type"))
                if spec is None:
                    self.sources[st.key] = Source(("value",), "structure")
                    continue
                self._params(spec, st.params, (*path, "params"))
                self.sources[st.key] = Source(self._outputs(spec, st.params), "structure",
                                              dict(output_aliases(spec.name)))

    # -------------------------------------------------------------- risk
    def _feature_ref(self, fid: str | None, path: PathKey, why: str) -> None:
        if fid is None:
            self.err(path[:-1], f"{why} needs 'atr_feature_id' naming a declared feature")
        elif fid not in self.play.features:
            self.err(path, f"undeclared feature '{fid}'{suggest(fid, self.play.features)}")

    def _risk(self, ctx: ConditionContext) -> None:
        p = self.play
        if p.risk is not None and p.risk_model is not None:
            self.err(("risk_model",), "give either 'risk' (shorthand) or 'risk_model', not both")
        rm = p.risk_model
        if rm is None:
            return
        if rm.stop_loss is not None:
            sl = rm.stop_loss
            base: PathKey = ("risk_model", "stop_loss")
            if sl.type in ("atr_multiple", "trailing_atr"):
                self._feature_ref(sl.atr_feature_id, (*base, "atr_feature_id"),
                                  f"stop_loss type {sl.type}")
            if sl.type == "structure":
                if sl.level is None:
                    self.err(base, "stop_loss type structure needs 'level' (e.g. swing.low_level)")
                else:
                    ctx.operand(sl.level, (*base, "level"))
            elif sl.value is None or sl.value <= 0:
                self.err((*base, "value"), f"stop_loss type {sl.type} needs a value > 0, found "
                                           f"{shown(sl.value)}")
        if rm.take_profit is not None and rm.take_profit.type == "atr_multiple":
            self._feature_ref(rm.take_profit.atr_feature_id,
                              ("risk_model", "take_profit", "atr_feature_id"),
                              "take_profit type atr_multiple")
        if (rm.take_profit is not None and rm.take_profit.type == "rr_ratio"
                and rm.stop_loss is None):
            self.err(("risk_model", "take_profit"), "take_profit rr_ratio needs a stop_loss")
        if rm.sizing is not None and rm.sizing.model == "risk_based" and rm.stop_loss is None:
            self.err(("risk_model", "sizing"), "sizing risk_based needs a stop_loss")

    # -------------------------------------------------------------- sweep
    def _sweep(self) -> None:
        for key, param in self.play.sweep.items():
            path: PathKey = ("sweep", key)
            if param.range is None and param.values is None:
                self.err(path, "expected 'range: [low, high, step]' or 'values: [...]'")
                continue
            if param.range is not None and param.values is not None:
                self.err(path, "give either 'range' or 'values', not both")
                continue
            if param.range is not None and param.range[2] <= 0:
                self.err((*path, "range"), f"range step must be > 0, found {param.range[2]:g}")
            elif param.range is not None and param.range[0] > param.range[1]:
                self.err((*path, "range"), f"range low {param.range[0]:g} is above high "
                                           f"{param.range[1]:g}")
            parts = _split_path(key)
            if self._path_exists(parts):
                continue
            if (len(parts) == 4 and parts[0] == "features" and parts[2] == "params"
                    and isinstance(parts[1], str) and parts[1] in self.feature_specs):
                spec = self.feature_specs[parts[1]]
                names = [ps.name for ps in spec.params]
                if parts[3] in names:
                    continue
                self.err(path, f"'{spec.name}' has no parameter '{parts[3]}'"
                               f"{suggest(str(parts[3]), names)}")
                continue
            if len(parts) == 2 and parts[0] in ("risk", "entry", "account"):
                model = _model_at((str(parts[0]),))
                if model is not None and parts[1] in model.model_fields:
                    continue
            self.err(path, f"sweep path '{key}' does not name a value in this Play"
                           f"{suggest(key, _leaf_paths(self.data))}")

    def _path_exists(self, parts: list[str | int]) -> bool:
        node: Any = self.data
        for part in parts:
            if _has(node, part):
                node = node[part]
            else:
                return False
        return True

    # -------------------------------------------------------------- synthetic
    def _synthetic(self) -> Play:
        p = self.play
        for block in (p.synthetic, p.validation):
            if block is not None and block.config:
                where = "synthetic" if block is p.synthetic else "validation"
                self.err((where, "config"), "pattern overrides are not supported: each "
                                            "pattern has one fixed shape; remove 'config'")
        if p.validation is None:
            if p.synthetic is not None and p.synthetic.regime not in PATTERN_REGIMES:
                given = p.synthetic.regime
                self.err(("synthetic", "regime"), f"unknown regime {shown(given)} (expected "
                         f"one of {', '.join(REGIMES)} or a pattern name)"
                         f"{suggest(given, PATTERN_REGIMES)}")
            return p
        if p.synthetic is not None:
            self.err(("validation",), "give either 'synthetic' or the older 'validation', "
                                      "not both")
            return p
        pattern = p.validation.pattern
        regime = PATTERN_REGIMES.get(pattern)
        if regime is None:
            self.err(("validation", "pattern"), f"unknown pattern {shown(pattern)}"
                     f"{suggest(pattern, PATTERN_REGIMES)}")
            return p
        v = p.validation
        synth = Synthetic(
            regime=regime,
            days=v.days if v.days is not None else 30,
            seed=v.seed if v.seed is not None else 0,
            bars=v.bars,
            pattern=pattern,
        )
        return p.model_copy(update={"synthetic": synth})


def _hint(found: str, candidates: Iterable[str]) -> str:
    """` — did you mean 'x'?` for a near miss, else `, expected one of ...`."""
    cands = list(candidates)
    return suggest(found, cands) or (f", expected {one_of(cands)}" if cands else "")


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _leaf_paths(data: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(_leaf_paths(v, f"{prefix}.{k}" if prefix else str(k)))
    elif not isinstance(data, list):
        out.append(prefix)
    return out
