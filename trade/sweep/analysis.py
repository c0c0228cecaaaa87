"""Honest results: best variant, walk-forward selection, deflated Sharpe ratio, PBO (CSCV).

* Deflated Sharpe ratio (Bailey & López de Prado, 2014): the probability that the best
  variant's Sharpe ratio beats the expected maximum Sharpe of N unskilled trials,
  `SR0 = sqrt(V[SR]) * ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))`,
  `DSR = Φ((SR* - SR0) sqrt(T - 1) / sqrt(1 - γ3 SR* + (γ4 - 1) / 4 SR*²))`, with per-day
  (not annualised) Sharpe ratios, T daily returns, γ3/γ4 the skewness/kurtosis of the best
  variant's daily returns, V[SR] the variance of the trials' Sharpe ratios. N counts every
  variant that ran (a no-trade one with a Sharpe ratio of 0); `--min-trades` only limits
  which variant may be the best. PBO uses the same N variants.
* Probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu, 2015) by
  combinatorially symmetric cross-validation: the T×N matrix of daily returns is cut into S
  blocks; for every half of the blocks as in-sample, the in-sample best variant's
  out-of-sample rank ω gives λ = ln(ω / (1 - ω)); PBO = the share of λ <= 0.
* Walk-forward efficiency (Pardo): the chosen variants' mean annualised out-of-sample return
  over their mean annualised in-sample return (simple annualisation, `r * 365 / days`);
  defined only when the in-sample return is positive, otherwise None and flagged. It is a
  ratio of returns whatever metric the sweep ranks by.
* Overfitting flag: DSR < 0.95, PBO > 0.5, a walk-forward efficiency < 0.5 or undefined, or
  (ranking by a higher-is-better metric) a mean out-of-sample score at or below zero while
  the in-sample one is positive.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.metrics import METRIC_DOCS
from trade.sweep.windows import Window

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()
DAY_MS = 86_400_000
WFE_MIN = 0.5  # walk-forward efficiency below this: out of sample keeps < half the edge


def higher_is_better(metric: str) -> bool:
    doc = METRIC_DOCS.get(metric)
    return not (doc is not None and doc.higher_is_better is False)


def deflated_sharpe(best_returns: npt.NDArray[np.float64], trial_sharpes: npt.NDArray[np.float64]
                    ) -> float | None:
    """DSR of the best trial (daily returns) against N trials' per-day Sharpe ratios.

    The formula is in the module docstring; with one trial the benchmark Sharpe SR0 is 0.

    Parameters
    ----------
    best_returns : ndarray of float64
        The best variant's daily returns (T of them).
    trial_sharpes : ndarray of float64
        The per-day (not annualised) Sharpe ratio of every trial, the best included;
        non-finite entries are ignored.

    Returns
    -------
    float or None
        The probability in [0, 1] that the best Sharpe ratio beats SR0; None with fewer than
        3 returns, no finite trial, flat returns, or a non-positive variance term.
    """
    r = np.asarray(best_returns, dtype=np.float64)
    t = r.shape[0]
    srs = np.asarray(trial_sharpes, dtype=np.float64)
    srs = srs[np.isfinite(srs)]
    n = srs.shape[0]
    if t < 3 or n < 1:
        return None
    sd = float(np.std(r, ddof=1))
    if sd == 0.0:
        return None
    sr = float(np.mean(r)) / sd
    var_sr = float(np.var(srs, ddof=1)) if n > 1 else 0.0
    if n > 1:
        sr0 = math.sqrt(var_sr) * ((1 - EULER_GAMMA) * _N.inv_cdf(1 - 1 / n)
                                   + EULER_GAMMA * _N.inv_cdf(1 - 1 / (n * math.e)))
    else:
        sr0 = 0.0
    z = (r - r.mean()) / float(np.std(r))
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if denom <= 0:
        return None
    return float(_N.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denom)))


def pbo_cscv(returns: npt.NDArray[np.float64], n_blocks: int = 16) -> float | None:
    """Probability of backtest overfitting of a T×N matrix of returns (N >= 2 variants).

    Combinatorially symmetric cross-validation (module docstring): the rows are cut into S
    contiguous blocks, S = `n_blocks` capped at T // 2 and made even; every choice of S/2
    blocks is one in-sample/out-of-sample split.

    Parameters
    ----------
    returns : ndarray of float64, shape (T, N)
        Daily returns: one row per day, one column per variant.
    n_blocks : int
        The wanted number of blocks S (C(S, S/2) splits: 16 gives 12,870).

    Returns
    -------
    float or None
        The share of splits whose in-sample best variant ranks in the lower half out of
        sample; None with fewer than 2 variants or fewer than 2 blocks.
    """
    m = np.asarray(returns, dtype=np.float64)
    t, n = m.shape
    s = min(n_blocks, t // 2)
    s -= s % 2
    if n < 2 or s < 2:
        return None
    blocks = np.array_split(np.arange(t), s)
    sums = np.stack([m[b].sum(axis=0) for b in blocks])
    sq = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    counts = np.array([len(b) for b in blocks], dtype=np.float64)

    def sharpe(sel: list[int]) -> npt.NDArray[np.float64]:
        k = counts[sel].sum()
        mu = sums[sel].sum(axis=0) / k
        var = np.maximum(sq[sel].sum(axis=0) / k - mu * mu, 0.0)
        sd = np.sqrt(var)
        out: npt.NDArray[np.float64] = np.where(sd > 0, mu / np.where(sd > 0, sd, 1.0), 0.0)
        return out

    logits: list[float] = []
    everything = set(range(s))
    for train in itertools.combinations(range(s), s // 2):
        test = sorted(everything - set(train))
        is_sr, oos_sr = sharpe(list(train)), sharpe(test)
        best = int(np.argmax(is_sr))
        rank = float((oos_sr < oos_sr[best]).sum() + 1)  # 1 = worst out of sample
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.asarray(logits) <= 0.0))


def _scores(table: pa.Table, col: str) -> npt.NDArray[np.float64]:
    vals = table.column(col).to_pylist()
    return np.array([math.nan if v is None else float(v) for v in vals], dtype=np.float64)


def summarize(table: pa.Table, sort: str, *, min_trades: int = 0,
              windows: Sequence[Window] = ()) -> dict[str, Any]:
    """The sweep's verdict from its results table (see the module docstring); `windows` are
    the walk-forward windows (their lengths annualise the efficiency's returns).

    Parameters
    ----------
    table : pyarrow.Table
        A results table (trade.sweep.results).
    sort : str
        The metric that ranks variants (lower is better where `METRIC_DOCS` says so).
    min_trades : int
        Train trades a variant needs to be chosen in a walk-forward window (the table's
        `eligible` column already applies it to the selection period).
    windows : Sequence[Window]
        The walk-forward windows the table was made with (empty without walk-forward).

    Returns
    -------
    dict[str, Any]
        Always `n_variants`, `sort`, `min_trades`; with rows, `n_eligible`, `n_errors` and
        `best` (None when no eligible variant has a finite score; else its `variant_id`,
        `params` and sort-metric values). When there is a best: `deflated_sharpe`, `pbo`,
        `n_trials` (with stored daily returns), `walk_forward` (with walk-forward columns),
        `overfit` and `overfit_reasons`.
    """
    out: dict[str, Any] = {"n_variants": table.num_rows, "sort": sort, "min_trades": min_trades}
    if table.num_rows == 0:
        return out
    sign = 1.0 if higher_is_better(sort) else -1.0
    ok = np.array([bool(e) for e in table.column("eligible").to_pylist()])
    err = np.array([e is not None for e in table.column("error").to_pylist()])
    ok &= ~err
    out["n_eligible"] = int(ok.sum())
    out["n_errors"] = int(err.sum())
    score = _scores(table, f"metric.{sort}") * sign
    valid = ok & np.isfinite(score)
    if not valid.any():
        out["best"] = None
        return out
    idx = int(np.flatnonzero(valid)[np.argmax(score[valid])])
    ids = table.column("variant_id").to_pylist()
    params = {c[len("param."):]: table.column(c)[idx].as_py()
              for c in table.column_names if c.startswith("param.")}
    best: dict[str, Any] = {"variant_id": ids[idx], "params": params,
                            f"metric.{sort}": table.column(f"metric.{sort}")[idx].as_py()}
    for prefix in ("is.metric.", "oos.metric.", "holdout.metric."):
        if f"{prefix}{sort}" in table.column_names:
            best[f"{prefix}{sort}"] = table.column(f"{prefix}{sort}")[idx].as_py()
    out["best"] = best
    flags: list[str] = []
    if "daily_returns" in table.column_names:
        dr = table.column("daily_returns").to_pylist()
        # every variant that ran is a trial (eligibility only chooses the best): dropping the
        # no-trade or few-trade ones would shrink N and flatter the deflated Sharpe ratio
        rows = [i for i in np.flatnonzero(~err) if dr[i] is not None and len(dr[i]) > 2]
        if rows:
            lengths = {len(dr[i]) for i in rows}
            t_len = min(lengths)
            mat = np.array([dr[i][:t_len] for i in rows], dtype=np.float64).T
            sd = mat.std(axis=0, ddof=1)
            # a flat (no-trade) equity curve is a trial with a Sharpe ratio of 0
            sr = np.where(sd > 0, mat.mean(axis=0) / np.where(sd > 0, sd, 1.0), 0.0)
            dsr = deflated_sharpe(np.asarray(dr[idx], dtype=np.float64), sr)
            pbo = pbo_cscv(mat)
            out["deflated_sharpe"] = dsr
            out["pbo"] = pbo
            out["n_trials"] = len(rows)
            if dsr is not None and dsr < 0.95:
                flags.append(f"deflated Sharpe ratio {dsr:.2f} < 0.95")
            if pbo is not None and pbo > 0.5:
                flags.append(f"probability of backtest overfitting {pbo:.2f} > 0.5")
    if "wf.is_score" in table.column_names:
        out["walk_forward"] = _walk_forward(table, ok, sign, min_trades, windows)
        wf = out["walk_forward"]
        if (sign > 0 and wf["mean_is"] is not None and wf["mean_oos"] is not None
                and wf["mean_is"] > 0 and wf["mean_oos"] <= 0):
            flags.append(f"walk-forward: out-of-sample {sort} <= 0 while in-sample > 0")
        if wf["efficiency"] is not None and wf["efficiency"] < WFE_MIN:
            flags.append(f"walk-forward efficiency {wf['efficiency']:.2f} < {WFE_MIN}")
        elif wf["efficiency"] is None and wf["annualised_is_return"] is not None:
            flags.append(f"walk-forward efficiency undefined: {wf['efficiency_note']}")
    out["overfit"] = bool(flags)
    out["overfit_reasons"] = flags
    return out


def annualised(total_return: float, days: float) -> float:
    """A window's total return as a simple yearly rate (`r * 365 / days`), the basis of the
    walk-forward efficiency (compounding a few days' return to a year would explode it)."""
    return total_return * 365.0 / days


def wf_efficiency(ann_is: float | None, ann_oos: float | None
                  ) -> tuple[float | None, str | None]:
    """Walk-forward efficiency = annualised out-of-sample return / annualised in-sample
    return, and why it is None. Meaningful only when the in-sample return is positive: a
    ratio of two losses (or of a gain over a loss) would read as a good score."""
    if ann_is is None or ann_oos is None:
        return None, "no window had a chosen variant"
    if not ann_is > 0.0:
        # a ratio against a zero or negative in-sample return has no meaning: none, flagged
        return None, f"in-sample annualised return {ann_is:.4g} is not positive"
    return ann_oos / ann_is, None


def _walk_forward(table: pa.Table, ok: npt.NDArray[np.bool_], sign: float,
                  min_trades: int, windows: Sequence[Window] = ()) -> dict[str, Any]:
    """Per window: the variant with the best train score (>= min_trades train trades), and
    its test score. `mean_is` / `mean_oos`: the chosen variants' mean train / test score
    (the sort metric, whatever its direction). Efficiency: `wf_efficiency` of the mean
    annualised train and test returns of the chosen variants (needs `windows`)."""
    is_s = table.column("wf.is_score").to_pylist()
    oos_s = table.column("wf.oos_score").to_pylist()
    is_t = table.column("wf.is_trades").to_pylist()
    has_ret = "wf.is_return" in table.column_names
    is_r = table.column("wf.is_return").to_pylist() if has_ret else None
    oos_r = table.column("wf.oos_return").to_pylist() if has_ret else None
    ids = table.column("variant_id").to_pylist()
    n_win = max((len(x) for x in is_s if x is not None), default=0)
    steps: list[dict[str, Any]] = []
    ann_is_vals: list[float] = []
    ann_oos_vals: list[float] = []
    for w in range(n_win):
        best_i, best_v = -1, -math.inf
        for i in np.flatnonzero(~np.array([x is None for x in is_s]) & _no_error(table)):
            v = is_s[i][w]
            if v is None or is_t[i][w] < min_trades:
                continue
            if v * sign > best_v:
                best_i, best_v = int(i), v * sign
        if best_i < 0:
            steps.append({"window": w, "variant_id": None, "is": None, "oos": None})
            continue
        step: dict[str, Any] = {"window": w, "variant_id": ids[best_i], "is": is_s[best_i][w],
                                "oos": oos_s[best_i][w]}
        if is_r is not None and oos_r is not None and w < len(windows):
            win = windows[w]
            r_is, r_oos = is_r[best_i][w], oos_r[best_i][w]
            if r_is is not None and r_oos is not None:
                step["is_return"], step["oos_return"] = r_is, r_oos
                ann_is_vals.append(annualised(r_is, (win.train_end - win.train_start) / DAY_MS))
                ann_oos_vals.append(annualised(r_oos, (win.test_end - win.test_start) / DAY_MS))
        steps.append(step)
    is_vals = [s["is"] for s in steps if s["is"] is not None]
    oos_vals = [s["oos"] for s in steps if s["oos"] is not None]
    mean_is = float(np.mean(is_vals)) if is_vals else None
    mean_oos = float(np.mean(oos_vals)) if oos_vals else None
    ann_is = float(np.mean(ann_is_vals)) if ann_is_vals else None
    ann_oos = float(np.mean(ann_oos_vals)) if ann_oos_vals else None
    eff, why = wf_efficiency(ann_is, ann_oos)
    return {"windows": steps, "mean_is": mean_is, "mean_oos": mean_oos,
            "annualised_is_return": ann_is, "annualised_oos_return": ann_oos,
            "efficiency": eff, "efficiency_note": why}


def _no_error(table: pa.Table) -> npt.NDArray[np.bool_]:
    return np.array([e is None for e in table.column("error").to_pylist()])
