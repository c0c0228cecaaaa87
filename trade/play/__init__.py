"""The Play layer: YAML strategy files, their validation, and the condition compiler.

Public API:

* `load_play(path, *, overrides=None)` / `load_play_text(text, *, source=...)` -> `Play`
  (raise `PlayError` listing every `PlayIssue(file, line, path, message)`);
* `apply_overrides(play, {"features.ema_21.params.length": 30})` -> re-validated `Play`;
* `play_hash(play)` -> sha256 hex of the canonical form;
* `compiled_actions(play)` -> `CompiledActions`; `evaluate_actions(...)` (vectorised) and
  `ActionEvaluator` (incremental) turn it into entry/exit decisions;
* `ConditionPlan`, `evaluate_vectorized(plan, series)`, `IncrementalEvaluator(plan)`;
* `align_to_exec(...)` for higher-timeframe series.
"""

from trade.data.synth import PATTERN_REGIMES
from trade.play.actions import (
    ACTION_NAMES,
    ActionDecision,
    ActionEvaluator,
    ActionSignals,
    CaseBlock,
    CompiledActions,
    compile_actions,
    evaluate_actions,
)
from trade.play.conditions import DISCRETE_OUTPUTS, ConditionContext, Source, simple_context
from trade.play.errors import PlayError, PlayIssue
from trade.play.evaluate import IncrementalEvaluator, evaluate_vectorized
from trade.play.ir import BUILTINS, INTRABAR_BUILTINS, MARKET_BUILTINS, ConditionPlan
from trade.play.loader import (
    apply_overrides,
    compiled_actions,
    load_play,
    load_play_text,
    play_hash,
)
from trade.play.mtf import align_to_exec
from trade.play.schema import Play
from trade.play.timeframes import INTERVAL_MINUTES, interval_ms, parse_duration_ms

__all__ = [
    "ACTION_NAMES",
    "BUILTINS",
    "DISCRETE_OUTPUTS",
    "INTERVAL_MINUTES",
    "INTRABAR_BUILTINS",
    "MARKET_BUILTINS",
    "PATTERN_REGIMES",
    "ActionDecision",
    "ActionEvaluator",
    "ActionSignals",
    "CaseBlock",
    "CompiledActions",
    "ConditionContext",
    "ConditionPlan",
    "IncrementalEvaluator",
    "Play",
    "PlayError",
    "PlayIssue",
    "Source",
    "align_to_exec",
    "apply_overrides",
    "compile_actions",
    "compiled_actions",
    "evaluate_actions",
    "evaluate_vectorized",
    "interval_ms",
    "load_play",
    "load_play_text",
    "parse_duration_ms",
    "play_hash",
    "simple_context",
]
