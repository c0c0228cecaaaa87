"""Every indicator against an established library on real data (Coinbase BTC/USD 1h).

Oracle: TA-Lib where it has the indicator; otherwise talipp, or TA-Lib building
blocks / a plain reference loop written here from the published definition.

Tolerance: 1e-9 relative, with an absolute floor of 1e-9 times the largest |value|
of the reference series. The floor matters only for oscillators that cross or touch
zero (MACD hist, Aroon osc, %K...), where a running-sum residue of ~1e-13 against an
exact 0 would otherwise be an "infinite" relative error.

Warm-up: our per-output warm-up (`warmups`) is asserted exactly: NaN before it,
finite from it on (indicators; structure levels may stay NaN until a pivot exists).
Values are compared wherever the oracle has a value at or after our warm-up; where
both come from TA-Lib-style seeding the comparison starts at the first bar.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from talipp.indicators import ALMA, TSI, VTX, ZLEMA
from talipp.ohlcv import OHLCV

from trade.indicators import REGISTRY, compute, get_spec, resolve_params, warmups

DATA = Path(__file__).resolve().parents[1] / "trade" / "datasets" / "coinbase_btcusd_1h.csv.gz"
N_ROWS = 3000
Bars = dict[str, np.ndarray]


def _load() -> Bars:
    if not DATA.exists():
        raise FileNotFoundError(f"real-data oracle needs {DATA} (see tests/data/README.md)")
    df = pd.read_csv(DATA, skiprows=1)  # line 1 is the CryptoDataDownload attribution
    ts = [
        datetime.strptime(s, "%Y-%m-%d %I-%p").replace(tzinfo=UTC).timestamp() * 1000.0
        for s in df["date"]
    ]
    df = df.assign(ts=ts).iloc[::-1].reset_index(drop=True).iloc[:N_ROWS]  # newest first
    assert df["ts"].is_monotonic_increasing
    return {
        k: np.ascontiguousarray(df[k].to_numpy(np.float64))
        for k in ("ts", "open", "high", "low", "close", "volume")
    }


@pytest.fixture(scope="module")
def bars() -> Bars:
    return _load()


def _close(mine: np.ndarray, ref: np.ndarray, start: int, what: str) -> None:
    idx = np.arange(len(ref))
    m = (idx >= start) & ~np.isnan(ref)
    assert m.sum() > len(ref) // 2, f"{what}: oracle has too few values to compare"
    assert not np.isnan(mine[m]).any(), f"{what}: NaN where the oracle has a value"
    scale = float(np.nanmax(np.abs(ref[m])))
    np.testing.assert_allclose(mine[m], ref[m], rtol=1e-9, atol=1e-9 * scale, err_msg=what)


def _talipp(ind: object, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for i, v in enumerate(ind):  # type: ignore[attr-defined]
        if v is not None:
            out[i] = v
    return out


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[k:] = x[:-k] if k else x
    return out


# ----------------------------------------------------------- reference loops


def ref_fisher(b: Bars, n: int) -> tuple[np.ndarray, np.ndarray]:
    """TradingView/Ehlers Fisher transform, written from its published script."""
    hl2 = (b["high"] + b["low"]) / 2
    hi, lo = talib.MAX(hl2, n), talib.MIN(hl2, n)
    fish = np.full(len(hl2), np.nan)
    value, prev = 0.0, 0.0
    for i in range(n - 1, len(hl2)):
        v = 0.66 * ((hl2[i] - lo[i]) / max(hi[i] - lo[i], 0.001) - 0.5) + 0.67 * value
        value = 0.999 if v > 0.99 else (-0.999 if v < -0.99 else v)
        prev = 0.5 * np.log((1 + value) / (1 - value)) + 0.5 * prev
        fish[i] = prev
    return fish, _shift(fish, 1)


def ref_supertrend_all(b: Bars, n: int, mult: float) -> dict[str, np.ndarray]:
    val, dirn = ref_supertrend(b, n, mult)
    return {"value": val, "direction": dirn, "long": np.where(dirn == 1, val, np.nan),
            "short": np.where(dirn == -1, val, np.nan)}


def ref_supertrend(b: Bars, n: int, mult: float) -> tuple[np.ndarray, np.ndarray]:
    """Supertrend: hl2 +- mult*ATR bands that only tighten; flip on a close beyond them."""
    atr = talib.ATR(b["high"], b["low"], b["close"], n)
    c = b["close"]
    mid = (b["high"] + b["low"]) / 2
    val = np.full(len(c), np.nan)
    dirn = np.full(len(c), np.nan)
    up = lo = np.nan
    d = 0
    for i in range(n, len(c)):
        bu, bl = mid[i] + mult * atr[i], mid[i] - mult * atr[i]
        if d == 0:
            up, lo, d = bu, bl, 1
        else:
            up = bu if (bu < up or c[i - 1] > up) else up
            lo = bl if (bl > lo or c[i - 1] < lo) else lo
            if d == -1 and c[i] > up:
                d = 1
            elif d == 1 and c[i] < lo:
                d = -1
        val[i] = lo if d == 1 else up
        dirn[i] = d
    return val, dirn


def ref_supertrend_pandas_ta(b: Bars, n: int, mult: float) -> dict[str, np.ndarray]:
    """pandas-ta's supertrend (TRADE's), written from its published loop: basic bands
    hl2 +- mult*ATR (TA-Lib's ATR, which pandas-ta calls when TA-Lib is installed); the
    close is compared with the previous bar's final bands; when it is beyond neither, the
    direction carries over and only the band of that side is held; long bias at first."""
    atr = talib.ATR(b["high"], b["low"], b["close"], n)
    c = b["close"]
    hl2 = (b["high"] + b["low"]) / 2
    ub, lb = hl2 + mult * atr, hl2 - mult * atr  # NaN through the ATR's warm-up
    m = len(c)
    dir_ = np.ones(m)
    trend = np.full(m, np.nan)
    for i in range(1, m):
        if c[i] > ub[i - 1]:  # a comparison with a NaN band is False, as in pandas
            dir_[i] = 1
        elif c[i] < lb[i - 1]:
            dir_[i] = -1
        else:
            dir_[i] = dir_[i - 1]
            if dir_[i] > 0 and lb[i] < lb[i - 1]:
                lb[i] = lb[i - 1]
            if dir_[i] < 0 and ub[i] > ub[i - 1]:
                ub[i] = ub[i - 1]
        trend[i] = lb[i] if dir_[i] > 0 else ub[i]
    dirn = np.where(np.isnan(trend), np.nan, dir_)
    return {"value": trend, "direction": dirn, "long": np.where(dirn == 1, trend, np.nan),
            "short": np.where(dirn == -1, trend, np.nan)}


def ref_vwap(b: Bars, anchor: str) -> np.ndarray:
    t = pd.to_datetime(b["ts"], unit="ms", utc=True)
    key = {
        "D": t.floor("D"),
        "W": (t - pd.to_timedelta(t.day_of_week, unit="D")).floor("D"),
        "M": t.year * 12 + t.month,
        "4h": t.floor("4h"),
    }[anchor]
    tp = (b["high"] + b["low"] + b["close"]) / 3
    df = pd.DataFrame({"pv": tp * b["volume"], "v": b["volume"], "k": np.asarray(key)})
    g = df.groupby("k", sort=False)
    return (g["pv"].cumsum() / g["v"].cumsum()).to_numpy()


def ref_cmf(b: Bars, n: int) -> np.ndarray:
    h, lo, c, v = b["high"], b["low"], b["close"], b["volume"]
    mfv = np.where(h != lo, ((c - lo) - (h - c)) / np.where(h != lo, h - lo, 1.0) * v, 0.0)
    return (pd.Series(mfv).rolling(n).sum() / pd.Series(v).rolling(n).sum()).to_numpy()


def ref_swing(b: Bars, left: int, right: int, equal_right: bool = False) -> np.ndarray:
    """Pivot high: strictly above the `left` highs before and the `right` highs after (with
    equal_right: >= those after); reported at p+right and carried forward (mirror for lows).
    O(n*w) on purpose."""
    h, lo = b["high"], b["low"]
    out = np.full((len(h), 4), np.nan)
    cur = [np.nan] * 4
    for i in range(len(h)):
        p = i - right
        if p - left >= 0:
            rh, rl = h[p + 1 : i + 1].max(), lo[p + 1 : i + 1].min()
            if h[p] > h[p - left : p].max() and (h[p] > rh or (equal_right and h[p] == rh)):
                cur[0], cur[2] = h[p], float(p)
            if lo[p] < lo[p - left : p].min() and (lo[p] < rl or (equal_right and lo[p] == rl)):
                cur[1], cur[3] = lo[p], float(p)
        out[i] = cur
    return out


def ref_swing_all(b: Bars, left: int, right: int, equal_right: bool = False) -> np.ndarray:
    """The four level columns of ref_swing plus the counters, flags and the high/low pair:
    a pivot of the other kind than the previous one completes a pair (+1 when the low came
    first, -1 when the high did); highs are taken before lows on the same bar."""
    base = ref_swing(b, left, right, equal_right)
    out = np.full((len(base), 14), np.nan)
    out[:, :4] = base
    ver = hv = lv = pv = last = pdir = 0
    ph = pl = np.nan
    for i in range(len(base)):
        new_h = base[i, 2] == i - right
        new_l = base[i, 3] == i - right
        for kind, new in ((1, new_h), (-1, new_l)):
            if not new:
                continue
            ver += 1
            hv, lv = (hv + 1, lv) if kind == 1 else (hv, lv + 1)
            if last not in (0, kind):
                ph, pl, pdir, pv = base[i, 0], base[i, 1], kind, pv + 1
            last = kind
        out[i, 4:] = (ver, hv, lv, float(new_h), float(new_l), ph, pl, pdir, pv, last)
    return out


def ref_trend_pivots(b: Bars, left: int, right: int) -> np.ndarray:
    """method pivots: the latest high and low each compared with the pivot before."""
    sw = ref_swing(b, left, right)
    out = np.zeros((len(sw), 10))
    since = version = wave = 0
    prev_d = 0
    ph = pl = np.nan
    hdir = ldir = run = 0
    for i in range(len(sw)):
        events = []
        if sw[i, 2] == i - right:  # a high pivot confirmed on this bar
            if not np.isnan(ph):
                hdir = int(np.sign(sw[i, 0] - ph))
                events.append(hdir)
            ph = sw[i, 0]
        if sw[i, 3] == i - right:
            if not np.isnan(pl):
                ldir = int(np.sign(sw[i, 1] - pl))
                events.append(ldir)
            pl = sw[i, 1]
        for s in events:
            run = 0 if s == 0 else (run + s if run != 0 and np.sign(run) == s else s)
        if sw[i, 2] == i - right:
            wave = 1
        if sw[i, 3] == i - right:
            wave = -1
        d = 1 if (hdir == 1 and ldir == 1) else (-1 if (hdir == -1 and ldir == -1) else 0)
        if d != prev_d:
            version, since = version + 1, 0
        else:
            since += 1
        prev_d = d
        out[i] = (d, abs(run) if d else 0, since, abs(run), wave, hdir == 1, ldir == 1,
                  hdir == -1, ldir == -1, version)
    return out


def _wave_rule(hh: bool, lh: bool, hl: bool, ll: bool) -> int:
    table = ((hh and hl, 1), (lh and ll, -1), (hh and not ll, 1), (lh and not hl, -1),
             (hl and not lh, 1), (ll and not hh, -1))
    return next((d for ok, d in table if ok), 0)


def ref_trend(b: Bars, left: int, right: int, method: str = "waves",
              history: int = 4) -> np.ndarray:
    """TRADE's wave trend: alternating pivots close waves (a same-kind pivot only pushes the
    pending end further out); each wave end is compared with the previous pivot of its
    kind; the newest two waves give the direction, older pairs the strength."""
    if method == "pivots":
        return ref_trend_pivots(b, left, right)
    sw = ref_swing(b, left, right)
    out = np.zeros((len(sw), 10))
    waves: list[tuple[int, bool, bool, bool, bool]] = []  # (end kind, hh, lh, hl, ll)
    pend: tuple[int, float] | None = None
    ph = pl = np.nan
    d = strength = count = version = since = wdir = 0
    flags = [False] * 4  # last hh, hl, lh, ll

    def pair(newer: tuple[int, bool, bool, bool, bool],
             older: tuple[int, bool, bool, bool, bool] | None) -> int:
        hw, lw = (newer, older) if newer[0] == 1 else (older, newer)
        return _wave_rule(bool(hw and hw[1]), bool(hw and hw[2]), bool(lw and lw[3]),
                          bool(lw and lw[4]))

    for i in range(len(sw)):
        changed = False
        news = [(k, sw[i, 0] if k == 1 else sw[i, 1]) for k in (1, -1)
                if sw[i, 2 if k == 1 else 3] == i - right]
        for kind, lvl in news:
            if pend is None or (kind == pend[0] and (lvl - pend[1]) * kind >= 0):
                pend = (kind, lvl)
                continue
            if kind == pend[0]:
                continue
            prev = ph if kind == 1 else pl
            up, dn = (lvl > prev, lvl < prev) if not np.isnan(prev) else (False, False)
            wave = (kind, up, dn, False, False) if kind == 1 else (kind, False, False, up, dn)
            if not np.isnan(prev):
                if kind == 1:
                    flags[0], flags[2] = up, dn
                else:
                    flags[1], flags[3] = up, dn
            waves = [*waves, wave][-history:]
            wdir, pend = kind, (kind, lvl)
            if len(waves) == 1:
                nd, strength, count = kind, 0, 1
            else:
                older = waves[-2] if waves[-2][0] != kind else None
                nd = pair(waves[-1], older)
                strength = count = 0
                if nd:
                    count = 1
                    for j in range(len(waves) - 3, -1, -2):
                        if pair(waves[j + 1], waves[j]) != nd:
                            break
                        count += 1
                    strength = 2 if count >= 2 else 1
            if nd != d:
                d, version, changed = nd, version + 1, True
        for kind, lvl in news:
            if kind == 1:
                ph = lvl
            else:
                pl = lvl
        since = 0 if changed else since + 1
        out[i] = (d, strength, since, count, wdir, *map(float, flags), version)
    return out


def ref_market_structure(b: Bars, left: int, right: int, close_break: bool = False,
                         anchor: str = "latest") -> np.ndarray:
    """TRADE's BOS/CHoCH machine: with a bias the break against it (CHoCH) is checked first;
    one event a bar; a BOS level breaks once and a new pivot re-arms its side. The level a
    CHoCH breaks: anchor "latest", the latest unbroken swing against the bias; "bos", the
    latest opposing swing when the last event (BOS or CHoCH) happened."""
    sw = ref_swing(b, left, right)
    c = b["close"]
    up_px, dn_px = (c, c) if close_break else (b["high"], b["low"])
    out = np.zeros((len(c), 15))
    hi = lo = level = np.nan
    last = {1: np.nan, -1: np.nan}  # the latest swing high (1) / low (-1), broken or not
    watch = np.nan  # with anchor "bos": what a CHoCH must break
    bias = bos_dir = choch_dir = version = 0
    bos_i = bos_l = choch_i = choch_l = np.nan
    for i in range(len(c)):
        if sw[i, 2] == i - right:
            hi = last[1] = sw[i, 0]
        if sw[i, 3] == i - right:
            lo = last[-1] = sw[i, 1]
        bos_lvl = {1: hi, -1: lo}
        if anchor == "bos" and bias:
            choch_lvl = {-bias: watch}
        else:
            choch_lvl = bos_lvl
        order = (-bias, bias) if bias else (1, -1)
        bos = choch = 0
        for d in order:
            is_bos = d == bias or bias == 0
            lvl = (bos_lvl if is_bos else choch_lvl)[d]
            if np.isnan(lvl) or not (up_px[i] > lvl if d == 1 else dn_px[i] < lvl):
                continue
            if is_bos:
                bos, bos_dir, bos_i, bos_l = d, d, i, lvl
            else:
                choch, choch_dir, choch_i, choch_l = d, d, i, lvl
            version += 1
            bias, level = d, lvl
            hi, lo = (np.nan, lo) if d == 1 else (hi, np.nan)
            if not np.isnan(last[-d]):
                watch = last[-d]
            elif not is_bos:
                watch = np.nan
            break
        out[i] = (bos, choch, level, bias, bos != 0, choch != 0, bos_dir, choch_dir, bos_i,
                  bos_l, choch_i, choch_l, hi, lo, version)
    return out


def ref_session_levels(b: Bars) -> dict[str, np.ndarray]:
    """Per UTC day (ISO week): running high/low, and the previous one's final high/low."""
    t = pd.to_datetime(b["ts"], unit="ms", utc=True)
    day = np.asarray(t.floor("D").asi8)
    week = np.asarray((t - pd.to_timedelta(t.day_of_week, unit="D")).floor("D").asi8)
    h, lo = pd.Series(b["high"]), pd.Series(b["low"])
    out: dict[str, np.ndarray] = {}
    for key, name in ((day, "day"), (week, "week")):
        run_h = h.groupby(key).cummax().to_numpy()
        run_l = lo.groupby(key).cummin().to_numpy()
        last_h = h.groupby(key).max()
        last_l = lo.groupby(key).min()
        keys = list(last_h.index)
        prev_h = {k: (last_h.iloc[i - 1] if i else np.nan) for i, k in enumerate(keys)}
        prev_l = {k: (last_l.iloc[i - 1] if i else np.nan) for i, k in enumerate(keys)}
        out[f"prev_{name}_high"] = np.array([prev_h[k] for k in key])
        out[f"prev_{name}_low"] = np.array([prev_l[k] for k in key])
        if name == "day":
            out["current_day_high"], out["current_day_low"] = run_h, run_l
    return out


def ref_anchored_vwap(b: Bars, source: str, left: int, right: int) -> dict[str, np.ndarray]:
    sw = ref_swing_all(b, left, right)
    tp = (b["high"] + b["low"] + b["close"]) / 3
    val, since = np.full(len(tp), np.nan), np.zeros(len(tp))
    pv = v = 0.0
    n = 0
    for i in range(len(tp)):
        hv_up = i > 0 and sw[i, 5] > sw[i - 1, 5]
        lv_up = i > 0 and sw[i, 6] > sw[i - 1, 6]
        if i == 0:
            hv_up, lv_up = sw[0, 5] > 0, sw[0, 6] > 0
        pair_up = sw[i, 12] > (sw[i - 1, 12] if i else 0)
        reset = {
            "swing_high": hv_up, "swing_low": lv_up, "swing_any": hv_up or lv_up,
            "pair_high": pair_up and sw[i, 11] == 1, "pair_low": pair_up and sw[i, 11] == -1,
            "pair_any": pair_up,
        }[source]
        if reset:
            pv = v = 0.0
            n = 0
        n += 1
        pv += tp[i] * b["volume"][i]
        v += b["volume"][i]
        val[i] = pv / v if v > 0 else np.nan
        since[i] = n
    return {"value": val, "bars_since_anchor": since}


def _profile(h: np.ndarray, lo: np.ndarray, v: np.ndarray, c: float, nb: int,
             va: float) -> tuple[float, ...]:
    top, bot = h.max(), lo.min()
    width = (top - bot) / nb
    vol = np.zeros(nb)
    # newest bar first and v * (overlap / range): the kernel's order, so exact ties (equal
    # buckets) resolve alike
    for hi_i, lo_i, v_i in zip(h[::-1], lo[::-1], v[::-1], strict=True):
        if width <= 0:
            vol[0] += v_i
            continue
        lows = bot + np.arange(nb) * width
        highs = lows + width
        a = int(min(max((lo_i - bot) // width, 0), nb - 1))
        z = int(min(max((hi_i - bot) // width, 0), nb - 1))
        if hi_i <= lo_i or a == z:
            vol[a] += v_i
            continue
        overlap = np.clip(np.minimum(highs, hi_i) - np.maximum(lows, lo_i), 0, None)
        vol += v_i * (overlap / (hi_i - lo_i))
    k = int(np.argmax(vol))
    lo_b = hi_b = k
    acc = vol[k]
    total = 0.0
    for v_i in v[::-1]:
        total += v_i
    while acc < va * total and (lo_b > 0 or hi_b < nb - 1):
        below = vol[lo_b - 1] if lo_b > 0 else -1.0
        above = vol[hi_b + 1] if hi_b < nb - 1 else -1.0
        if above >= below:
            hi_b, acc = hi_b + 1, acc + above
        else:
            lo_b, acc = lo_b - 1, acc + below
    width = max(width, 0.0)
    poc, vah, val = bot + (k + 0.5) * width, bot + (hi_b + 1) * width, bot + lo_b * width
    return poc, vah, val, vol[k], float(c > poc), float(val <= c <= vah)


def ref_volume_profile(b: Bars, nb: int, lookback: int, va: float,
                       anchored: bool = False) -> dict[str, np.ndarray]:
    names = ("poc", "vah", "val", "poc_volume", "above_poc", "in_value_area")
    out = np.full((len(b["close"]), 7), np.nan)
    sw = ref_swing_all(b, 5, 5) if anchored else None
    since = 0
    for i in range(len(b["close"])):
        if sw is not None and sw[i, 12] > (sw[i - 1, 12] if i else 0):
            since = 0
        since += 1
        n = min(i + 1, lookback, since) if anchored else lookback
        if not anchored and i + 1 < lookback:
            continue
        s = slice(i + 1 - n, i + 1)
        out[i, :6] = _profile(b["high"][s], b["low"][s], b["volume"][s], b["close"][i], nb, va)
        out[i, 6] = since
    res = {k: out[:, j] for j, k in enumerate(names)}
    if anchored:
        res["bars_since_anchor"] = out[:, 6]
    return res


def ref_fibonacci(b: Bars, levels: list[float], mode: str, anchor: str,
                  left: int = 5, right: int = 5) -> dict[str, np.ndarray]:
    """TRADE's fibonacci from the swing/trend references: paired anchors refresh when a pair
    completes, unpaired when a pivot index changes (once a high and a low exist), trend ones
    while the trend has a side (which is then the anchor's direction)."""
    sw, tr = ref_swing_all(b, left, right), ref_trend(b, left, right)
    n = len(sw)
    out = {f"level[{r:g}]": np.full(n, np.nan) for r in levels}
    fixed = {k: np.full(n, np.nan) for k in ("anchor_high", "anchor_low", "range")}
    adir, tdir = np.zeros(n), np.zeros(n)
    hi = lo = np.nan
    d = t = 0.0
    last: tuple[float, ...] = (-1.0,)
    for i in range(n):
        if anchor == "paired" and (sw[i, 12],) != last:
            last = (sw[i, 12],)
            hi, lo, d = sw[i, 9], sw[i, 10], sw[i, 11]
        elif anchor == "unpaired":
            key = (-1.0 if np.isnan(sw[i, 2]) else sw[i, 2],
                   -1.0 if np.isnan(sw[i, 3]) else sw[i, 3])
            if key != last:
                last = key
                if not (np.isnan(sw[i, 0]) or np.isnan(sw[i, 1])):
                    hi, lo = sw[i, 0], sw[i, 1]
        elif anchor == "trend" and (tr[i, 9], sw[i, 12]) != last:
            last = (tr[i, 9], sw[i, 12])
            if tr[i, 0] != 0 and not np.isnan(sw[i, 9]):
                hi, lo, d, t = sw[i, 9], sw[i, 10], tr[i, 0], tr[i, 0]
        rng = hi - lo
        for r in levels:
            if mode == "retracement":
                x = hi - r * rng
            elif mode == "extension_up" or (mode == "extension" and d >= 0):
                x = hi + r * rng
            else:
                x = lo - r * rng
            out[f"level[{r:g}]"][i] = x
        fixed["anchor_high"][i], fixed["anchor_low"][i], fixed["range"][i] = hi, lo, rng
        adir[i], tdir[i] = d, t
    return {**out, **fixed, "anchor_direction": adir, "anchor_trend_direction": tdir}


def ref_premium_discount(b: Bars) -> dict[str, np.ndarray]:
    sw = ref_swing_all(b, 5, 5)
    hi, lo, c = sw[:, 9], sw[:, 10], b["close"]
    span = hi - lo
    eq, prem, disc = lo + 0.5 * span, lo + 0.75 * span, lo + 0.25 * span
    zone = np.where(np.isnan(span), 0.0, np.where(c >= prem, 1.0, np.where(c <= disc, -1.0, 2.0)))
    depth = np.clip((c - lo) / span, 0.0, 1.0)
    version = np.cumsum(np.diff(zone, prepend=0.0) != 0).astype(float)
    return {"equilibrium": eq, "premium_level": prem, "discount_level": disc, "zone": zone,
            "depth_pct": depth, "version": version}


def ref_displacement(b: Bars, n: int, body_min: float, wick_max: float) -> dict[str, np.ndarray]:
    o, h, lo, c = b["open"], b["high"], b["low"], b["close"]
    atr = talib.ATR(h, lo, c, n)
    body = np.abs(c - o)
    wicks = (h - np.maximum(o, c)) + (np.minimum(o, c) - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(atr > 0, body / atr, np.nan)  # both ratios need an ATR (TRADE's)
        wick = np.where(atr > 0, np.where(body > 0, wicks / body, np.inf), np.nan)
    hit = (ratio >= body_min) & (wick <= wick_max) & (body > 0)
    direction = np.where(hit, np.sign(c - o), 0.0)
    idx = np.where(hit, np.arange(len(c), dtype=float), np.nan)
    last_idx = pd.Series(idx).ffill().to_numpy()
    last_dir = pd.Series(np.where(hit, direction, np.nan)).ffill().fillna(0.0).to_numpy()
    return {"is_displacement": hit.astype(float), "direction": direction,
            "body_atr_ratio": ratio, "wick_ratio": wick, "last_idx": last_idx,
            "last_direction": last_dir, "version": np.cumsum(hit).astype(float)}


def ref_liquidity_zones(b: Bars, tol_atr: float = 0.3, sweep_atr: float = 0.1,
                        min_touches: int = 2, max_active: int = 5,
                        history: int = 20) -> dict[str, np.ndarray]:
    """TRADE's liquidity pools written as plain Python lists (zones: [side, level, touches])."""
    sw = ref_swing_all(b, 5, 5)
    atr = talib.ATR(b["high"], b["low"], b["close"], 14)
    names = ("new_zone_this_bar", "sweep_this_bar", "sweep_direction", "swept_level",
             "nearest_high_level", "nearest_low_level", "nearest_high_touches",
             "nearest_low_touches", "version")
    out = np.full((len(atr), 9), np.nan)
    hist: dict[int, list[float]] = {1: [], -1: []}
    last_idx = {1: np.nan, -1: np.nan}
    zones: list[list[float]] = []
    version = 0
    for i in range(len(atr)):
        new = sweep = False
        sdir, slevel = 0.0, np.nan
        a = atr[i]
        if not np.isnan(a) and a > 0:
            for side, lvl_col, idx_col in ((1, 0, 2), (-1, 1, 3)):
                idx = sw[i, idx_col]
                if np.isnan(idx) or idx == last_idx[side]:
                    continue
                last_idx[side] = idx
                hist[side] = (hist[side] + [sw[i, lvl_col]])[-history:]
                if len(hist[side]) < min_touches:
                    continue
                newest = hist[side][-1]
                cluster = [newest] + [p for p in hist[side][:-1] if abs(p - newest) <= tol_atr * a]
                if len(cluster) < min_touches:
                    continue
                level = sum(cluster) / len(cluster)
                near = [z for z in zones if z[0] == side and abs(z[1] - level) <= tol_atr * a]
                if near:
                    near[0][1], near[0][2] = level, len(cluster)
                    continue
                zones.append([side, level, len(cluster)])
                new, version = True, version + 1
                while sum(z[0] == side for z in zones) > max_active:
                    zones.remove(next(z for z in zones if z[0] == side))
            kept = []
            for z in zones:
                if (z[0] == 1 and b["high"][i] > z[1] + sweep_atr * a) or (
                        z[0] == -1 and b["low"][i] < z[1] - sweep_atr * a):
                    sweep, sdir, slevel, version = True, z[0], z[1], version + 1
                else:
                    kept.append(z)
            zones = kept
        near_h = min((z for z in zones if z[0] == 1), key=lambda z: abs(z[1] - b["close"][i]),
                     default=None)
        near_l = min((z for z in zones if z[0] == -1), key=lambda z: abs(z[1] - b["close"][i]),
                     default=None)
        out[i] = (new, sweep, sdir, slevel, near_h[1] if near_h else np.nan,
                  near_l[1] if near_l else np.nan, near_h[2] if near_h else 0,
                  near_l[2] if near_l else 0, version)
    return {k: out[:, j] for j, k in enumerate(names)}


def ref_zone(b: Bars, supply: bool, width_atr: float) -> dict[str, np.ndarray]:
    sw = ref_swing_all(b, 5, 5)
    atr = talib.ATR(b["high"], b["low"], b["close"], 14)
    out = np.full((len(atr), 5), np.nan)
    state, version = 0, 0
    up = lo = anchor = last = np.nan
    for i in range(len(atr)):
        idx = sw[i, 2] if supply else sw[i, 3]
        if not np.isnan(idx) and idx != last:
            last, anchor = idx, idx
            level = sw[i, 0] if supply else sw[i, 1]
            w = 0.0 if np.isnan(atr[i]) else atr[i] * width_atr
            lo, up = (level, level + w) if supply else (level - w, level)
            state, version = 1, version + 1
        c = b["close"][i]
        if state == 1 and ((not supply and c < lo) or (supply and c > up)):
            state, version = 2, version + 1
        out[i] = (state, up, lo, anchor, version)
    return {k: out[:, j] for j, k in enumerate(("state", "upper", "lower", "anchor_idx",
                                                   "version"))}


def ref_fvg(b: Bars, min_gap_atr: float, cap: int) -> dict[str, np.ndarray]:
    h, lo, c = b["high"], b["low"], b["close"]
    atr = talib.ATR(h, lo, c, 14)
    names = ("new_this_bar", "new_direction", "new_upper", "new_lower", "nearest_bull_upper",
             "nearest_bull_lower", "nearest_bear_upper", "nearest_bear_lower",
             "active_bull_count", "active_bear_count", "any_mitigated_this_bar", "version",
             "nearest_bull_fill_pct", "nearest_bear_fill_pct")
    out = np.full((len(c), 14), np.nan)
    gaps: list[dict[str, float]] = []
    version = 0

    def passes(gap: float, a: float) -> bool:
        return min_gap_atr <= 0 or (not np.isnan(a) and a > 0 and gap >= min_gap_atr * a)

    for i in range(len(c)):
        new, d, nu, nl, mit = 0.0, 0.0, np.nan, np.nan, 0.0
        if i >= 2:
            if lo[i] > h[i - 2] and passes(lo[i] - h[i - 2], atr[i]):
                new, d, nu, nl = 1.0, 1.0, lo[i], h[i - 2]
            elif h[i] < lo[i - 2] and passes(lo[i - 2] - h[i], atr[i]):
                new, d, nu, nl = 1.0, -1.0, lo[i - 2], h[i]
            if new:
                gaps.insert(0, {"d": d, "u": nu, "l": nl, "s": 1, "f": 0.0})
                version += 1
        for g in gaps:
            rng = g["u"] - g["l"]
            if g["s"] != 1 or rng <= 0:
                continue
            if g["d"] > 0:
                if lo[i] <= g["u"]:
                    g["f"] = max(g["f"], min((g["u"] - lo[i]) / rng, 1.0))
                    if g["f"] >= 0.5:
                        g["s"], mit = 2, 1.0
                if c[i] < g["l"]:
                    g["s"] = 3
            else:
                if h[i] >= g["l"]:
                    g["f"] = max(g["f"], min((h[i] - g["l"]) / rng, 1.0))
                    if g["f"] >= 0.5:
                        g["s"], mit = 2, 1.0
                if c[i] > g["u"]:
                    g["s"] = 3
        gaps = gaps[:cap]
        act = [g for g in gaps if g["s"] == 1]
        bull = min((g for g in act if g["d"] > 0),
                   key=lambda g: abs(c[i] - (g["u"] + g["l"]) / 2), default=None)
        bear = min((g for g in act if g["d"] < 0),
                   key=lambda g: abs(c[i] - (g["u"] + g["l"]) / 2), default=None)
        out[i] = (new, d, nu, nl, bull["u"] if bull else np.nan, bull["l"] if bull else np.nan,
                  bear["u"] if bear else np.nan, bear["l"] if bear else np.nan,
                  sum(g["d"] > 0 for g in act), sum(g["d"] < 0 for g in act), mit, version,
                  bull["f"] * 100.0 if bull else np.nan, bear["f"] * 100.0 if bear else np.nan)
    return {k: out[:, j] for j, k in enumerate(names)}


def ref_derived_zone(b: Bars, levels: list[float], k: int, width: float, paired: bool,
                     tol: float = 0.001) -> dict[str, np.ndarray]:
    """TRADE's derived_zone: zones per ratio on each new anchor, newest first, K slots."""
    sw = ref_swing_all(b, 5, 5)
    c = b["close"]
    n = len(c)
    fields = ("lower", "upper", "state", "touched_this_bar", "inside", "touch_count", "age_bars",
              "anchor_idx", "last_touch_age")
    out = {f"zone[{j}].{f}": np.full(n, np.nan) for j in range(k) for f in fields}
    agg = {f: np.full(n, np.nan) for f in ("active_count", "any_active", "any_touched",
                                          "any_inside", "first_active_lower",
                                          "first_active_upper", "first_active_idx",
                                          "newest_active_idx", "source_version")}
    zones: list[dict[str, float]] = []
    last = 0.0
    for i in range(n):
        ver = sw[i, 12] if paired else sw[i, 4]
        if ver != last:
            last = ver
            hi, lo = (sw[i, 9], sw[i, 10]) if paired else (sw[i, 0], sw[i, 1])
            if not (np.isnan(hi) or np.isnan(lo)) and hi - lo > 0:
                for r in levels:
                    centre = hi - (hi - lo) * r
                    w = centre * width
                    zones.insert(0, {"l": centre - w / 2, "u": centre + w / 2, "s": 1, "t": 0,
                                     "in": 0, "c": 0, "a": i, "lt": -1})
                zones = zones[:k]
        for z in zones:
            z["t"] = 0
            if z["s"] != 1:
                z["in"] = 0
                continue
            inside = z["l"] <= c[i] <= z["u"]
            z["t"], z["in"], z["c"] = int(inside), int(inside), z["c"] + int(inside)
            z["lt"] = i if inside else z["lt"]
            if z["a"] < i and (c[i] < z["l"] * (1 - tol) or c[i] > z["u"] * (1 + tol)):
                z["s"] = 2  # not on the bar that made it (TRADE's rule)
        for j in range(k):
            vals = ((zones[j]["l"], zones[j]["u"], zones[j]["s"], zones[j]["t"], zones[j]["in"],
                     zones[j]["c"], i - zones[j]["a"], zones[j]["a"],
                     i - zones[j]["lt"] if zones[j]["lt"] >= 0 else -1) if j < len(zones)
                    else (np.nan, np.nan, 0, 0, 0, 0, -1, np.nan, -1))
            for f, x in zip(fields, vals, strict=True):
                out[f"zone[{j}].{f}"][i] = x
        act = [z for z in zones if z["s"] == 1]
        agg["active_count"][i] = len(act)
        agg["any_active"][i] = float(bool(act))
        agg["any_touched"][i] = float(any(z["t"] for z in act))
        agg["any_inside"][i] = float(any(z["in"] for z in act))
        agg["first_active_lower"][i] = act[0]["l"] if act else np.nan
        agg["first_active_upper"][i] = act[0]["u"] if act else np.nan
        first = next((j for j, z in enumerate(zones) if z["s"] == 1), np.nan)
        agg["first_active_idx"][i] = agg["newest_active_idx"][i] = first
        agg["source_version"][i] = last
    return {**out, **agg}


def _blocks_step(blocks: list[dict[str, float]], i: int, h: float, lo: float, c: float,
                 cap: int) -> tuple[float, float, list[dict[str, float]], list[float]]:
    """Mitigate / invalidate / prune / aggregate, as order and breaker blocks do."""
    mit = inv = 0.0
    last_inv = [0.0, np.nan, np.nan]
    for z in blocks:
        if z["s"] != 1 or z["a"] == i:
            continue
        if z["d"] > 0:
            if c < z["l"]:
                z["s"] = 3
            elif lo <= z["u"]:
                z["s"], mit = 2, 1.0
        else:
            if c > z["u"]:
                z["s"] = 3
            elif h >= z["l"]:
                z["s"], mit = 2, 1.0
        if z["s"] == 3:
            inv, last_inv = 1.0, [z["d"], z["u"], z["l"]]
    blocks = blocks[:cap]
    act = [z for z in blocks if z["s"] == 1]
    bull = min((z for z in act if z["d"] > 0), key=lambda z: abs(c - (z["u"] + z["l"]) / 2),
               default=None)
    bear = min((z for z in act if z["d"] < 0), key=lambda z: abs(c - (z["u"] + z["l"]) / 2),
               default=None)
    near = [bull["u"] if bull else np.nan, bull["l"] if bull else np.nan,
            bear["u"] if bear else np.nan, bear["l"] if bear else np.nan,
            sum(z["d"] > 0 for z in act), sum(z["d"] < 0 for z in act), mit]
    return inv, mit, blocks, [*near, inv, *last_inv]


def ref_order_block(b: Bars, cap: int = 5, lookback: int = 3, body_min: float = 1.5,
                    wick_max: float = 0.4, use_body: bool = True) -> np.ndarray:
    o, h, lo, c = b["open"], b["high"], b["low"], b["close"]
    atr = talib.ATR(h, lo, c, 14)
    out = np.full((len(c), 16), np.nan)
    blocks: list[dict[str, float]] = []
    hist: list[tuple[float, float, float, float]] = []
    version = 0
    for i in range(len(c)):
        new = [0.0, 0.0, np.nan, np.nan]
        body = abs(c[i] - o[i])
        d = 0.0
        if not np.isnan(atr[i]) and atr[i] > 0 and body > 0:
            wicks = (h[i] - max(o[i], c[i])) + (min(o[i], c[i]) - lo[i])
            if body / atr[i] >= body_min and wicks / body <= wick_max:
                d = 1.0 if c[i] > o[i] else -1.0
        if d:
            for (ho, hh, hl, hc) in reversed(hist):
                if (d > 0 and hc < ho) or (d < 0 and hc > ho):
                    u, lw = (max(ho, hc), min(ho, hc)) if use_body else (hh, hl)
                    if u > lw:
                        blocks.insert(0, {"d": d, "u": u, "l": lw, "s": 1, "a": i})
                        version += 1
                        new = [1.0, d, u, lw]
                    break
        hist = ([*hist, (o[i], h[i], lo[i], c[i])])[-(lookback + 2):]
        _, _, blocks, rest = _blocks_step(blocks, i, h[i], lo[i], c[i], cap)
        out[i] = (*new, *rest, version)
    return out


def ref_breaker_block(b: Bars, close_break: bool = False) -> np.ndarray:
    ob = ref_order_block(b)
    ms = ref_market_structure(b, 5, 5, close_break)
    h, lo, c = b["high"], b["low"], b["close"]
    out = np.full((len(c), 12), np.nan)
    blocks: list[dict[str, float]] = []
    version = 0
    for i in range(len(c)):
        new = [0.0, 0.0, np.nan, np.nan]
        if ob[i, 11] == 1 and ms[i, 5] == 1 and ob[i, 12] != 0 and ob[i, 13] > ob[i, 14]:
            d = -ob[i, 12]
            blocks.insert(0, {"d": d, "u": ob[i, 13], "l": ob[i, 14], "s": 1, "a": i})
            version += 1
            new = [1.0, d, ob[i, 13], ob[i, 14]]
        _, _, blocks, rest = _blocks_step(blocks, i, h[i], lo[i], c[i], 5)
        out[i] = (*new, *rest[:7], version)
    return out


# --------------------------------------------------------------- oracle table

Ref = Callable[[Bars], dict[str, np.ndarray]]


def _tl(fn: Callable[..., np.ndarray], *fields: str, **kw: float) -> Ref:
    return lambda b: {"value": fn(*(b[f] for f in fields), **kw)}


def _ohlcv(b: Bars) -> list[OHLCV]:
    return [
        OHLCV(o, h, lo, c, v)
        for o, h, lo, c, v in zip(
            b["open"], b["high"], b["low"], b["close"], b["volume"], strict=True
        )
    ]


def _macd(b: Bars) -> dict[str, np.ndarray]:
    _, s, h = talib.MACD(b["close"], 12, 26, 9)
    return {"signal": s, "hist": h, "macd": talib.MACD(b["close"], 12, 26, 1)[0]}


def _ppo(b: Bars) -> dict[str, np.ndarray]:
    p = talib.PPO(b["close"], 12, 26, 1)  # matype 1 = EMA
    s = talib.EMA(p, 9)
    return {"ppo": p, "signal": s, "hist": p - s}


def _stochrsi(b: Bars, k_smooth: int) -> dict[str, np.ndarray]:
    if k_smooth == 1:
        k, d = talib.STOCHRSI(b["close"], 14, 14, 3, 0)
        return {"k": k, "d": d}
    r = talib.RSI(b["close"], 14)
    k, d = talib.STOCH(r, r, r, 14, k_smooth, 0, 3, 0)
    return {"k": k, "d": d}


def _bbands(b: Bars) -> dict[str, np.ndarray]:
    u, m, lo = talib.BBANDS(b["close"], 20, 2.0, 2.0, 0)
    return {
        "upper": u,
        "middle": m,
        "lower": lo,
        "bandwidth": (u - lo) / m,
        "percent_b": (b["close"] - lo) / (u - lo),
    }


def _bbands_pandas_ta(b: Bars) -> dict[str, np.ndarray]:
    """pandas-ta's form (TRADE's): sample deviation, bandwidth in percent."""
    c = pd.Series(b["close"])
    m = c.rolling(20).mean().to_numpy()
    sd = c.rolling(20).std(ddof=1).to_numpy()
    u, lo = m + 2.0 * sd, m - 2.0 * sd
    return {"upper": u, "middle": m, "lower": lo, "bandwidth": 100 * (u - lo) / m,
            "percent_b": (b["close"] - lo) / (u - lo)}


def _keltner(b: Bars) -> dict[str, np.ndarray]:
    m = talib.EMA(b["close"], 20)
    a = talib.ATR(b["high"], b["low"], b["close"], 10)
    return {"upper": m + 2.0 * a, "middle": m, "lower": m - 2.0 * a}


def _true_range(b: Bars) -> np.ndarray:
    """max(high - low, |high - previous close|, |low - previous close|); NaN on bar 0."""
    h, lo, c = b["high"], b["low"], b["close"]
    pc = np.r_[np.nan, c[:-1]]
    tr = np.maximum(h - lo, np.maximum(np.abs(h - pc), np.abs(lo - pc)))
    tr[0] = np.nan
    return tr


def _ema_mean_seed(x: np.ndarray, n: int, alpha: float | None = None) -> np.ndarray:
    """EMA (alpha 2/(n+1) unless given) whose first value, n values after x's first
    non-NaN one, is the plain mean of those n values."""
    a = 2.0 / (n + 1) if alpha is None else alpha
    out = np.full(len(x), np.nan)
    s = int(np.flatnonzero(~np.isnan(x))[0])
    out[s + n - 1] = np.mean(x[s:s + n])
    for i in range(s + n, len(x)):
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out


def ref_keltner_pandas_ta(b: Bars, n: int, mult: float) -> dict[str, np.ndarray]:
    """pandas-ta's kc with its default EMA (TRADE's keltner): basis EMA(close, n), band
    EMA(true range, n), each seeded with the mean of its first n values; the true range
    starts at bar 1, so the channel (basis included, as TRADE shows it) starts at bar n."""
    mid = _ema_mean_seed(b["close"], n)
    band = _ema_mean_seed(_true_range(b), n)
    mid[np.isnan(band)] = np.nan
    return {"upper": mid + mult * band, "middle": mid, "lower": mid - mult * band}


def _squeeze(b: Bars) -> dict[str, np.ndarray]:
    h, lo, c = b["high"], b["low"], b["close"]
    sma, sd = talib.SMA(c, 20), talib.STDDEV(c, 20, 1.0)
    rng = talib.SMA(talib.TRANGE(h, lo, c), 20)
    on = (sma - 2 * sd > sma - 1.5 * rng) & (sma + 2 * sd < sma + 1.5 * rng)
    off = (sma - 2 * sd < sma - 1.5 * rng) & (sma + 2 * sd > sma + 1.5 * rng)
    on_f = np.where(np.isnan(rng), np.nan, on.astype(float))
    off_f = np.where(np.isnan(rng), np.nan, off.astype(float))
    mom = talib.LINEARREG(c - ((talib.MAX(h, 20) + talib.MIN(lo, 20)) / 2 + sma) / 2, 20)
    return {"on": on_f, "momentum": mom, "off": off_f,
            "no_sqz": np.where(np.isnan(rng), np.nan, ((on_f == 0) & (off_f == 0)).astype(float))}


def _hma(b: Bars, n: int) -> dict[str, np.ndarray]:
    c = b["close"]
    raw = 2 * talib.WMA(c, n // 2) - talib.WMA(c, n)
    return {"value": talib.WMA(raw, int(np.sqrt(n)))}


def _zlma_talib(b: Bars, n: int) -> dict[str, np.ndarray]:
    c = b["close"]
    lag = (n - 1) // 2
    return {"value": talib.EMA(c + (c - _shift(c, lag)), n)}


def ref_sar_af(h: np.ndarray, lo: np.ndarray, init: float, step: float, cap: float) -> np.ndarray:
    """The acceleration factor in force after each bar of Wilder's SAR (TA-Lib's start:
    short when the first bar's down-move dominates), written from the definition."""
    af = np.full(len(h), np.nan)
    dp, dm = h[1] - h[0], lo[0] - lo[1]
    is_long = not (dm > 0 and dp < dm)
    ep = h[1] if is_long else lo[1]
    sar = lo[0] if is_long else h[0]
    a = init
    for i in range(1, len(h)):
        ph, pl = h[i - 1], lo[i - 1]
        if i == 1:
            ph, pl = h[0], lo[0]
        if is_long:
            if lo[i] <= sar:
                is_long, sar, a, ep = False, max(ep, ph, h[i]), init, lo[i]
                sar = max(sar + a * (ep - sar), ph, h[i])
            else:
                if h[i] > ep:
                    ep, a = h[i], min(a + step, cap)
                sar = min(sar + a * (ep - sar), pl, lo[i])
        else:
            if h[i] >= sar:
                is_long, sar, a, ep = True, min(ep, pl, lo[i]), init, h[i]
                sar = min(sar + a * (ep - sar), pl, lo[i])
            else:
                if lo[i] < ep:
                    ep, a = lo[i], min(a + step, cap)
                sar = max(sar + a * (ep - sar), ph, h[i])
        af[i] = a
    return af


def _psar(b: Bars, init: float = 0.02) -> dict[str, np.ndarray]:
    s = talib.SAREXT(b["high"], b["low"], 0, 0, init, 0.02, 0.2, init, 0.02, 0.2)
    s = np.abs(s)  # SAREXT marks short-side values negative
    mid = (b["high"] + b["low"]) / 2  # long SAR sits at/below the low, short at/above the high
    d = np.where(np.isnan(s), np.nan, np.where(s < mid, 1.0, -1.0))
    rev = np.where(np.isnan(d), np.nan, (d != _shift(d, 1)) & ~np.isnan(_shift(d, 1)))
    return {"value": s, "direction": d, "long": np.where(d == 1, s, np.nan),
            "short": np.where(d == -1, s, np.nan),
            "af": ref_sar_af(b["high"], b["low"], init, 0.02, 0.2),
            "reversal": rev.astype(float)}


def ref_psar_pandas_ta(b: Bars, step: float, cap: float) -> dict[str, np.ndarray]:
    """TRADE's parabolic SAR (its copy of pandas-ta's loop with the close given): the SAR
    starts at the first close; short when bar 1's high and low are both below bar 0's,
    else long, the EP being bar 0's low / high. Per bar from 1: candidate = SAR + af (EP -
    SAR); reversal when the low (long) / high (short) crosses the candidate; a new extreme
    moves EP and raises af by `step` up to `cap`; the candidate is kept outside the
    previous bar's range; on a reversal the SAR is the EP, af = step, EP = this bar's
    extreme on the new side."""
    h, lo, c = b["high"], b["low"], b["close"]
    m = len(c)
    out = {k: np.full(m, np.nan) for k in ("value", "direction", "long", "short", "af",
                                           "reversal")}
    sar, af = c[0], step
    short = bool(h[1] < h[0] and lo[1] < lo[0])
    ep = lo[0] if short else h[0]
    for i in range(1, m):
        cand = sar + af * (ep - sar)
        if short:
            flip = h[i] > cand
            if lo[i] < ep:
                ep, af = lo[i], min(af + step, cap)
            cand = max(h[i - 1], cand)
        else:
            flip = lo[i] < cand
            if h[i] > ep:
                ep, af = h[i], min(af + step, cap)
            cand = min(lo[i - 1], cand)
        if flip:
            cand, af, short = ep, step, not short
            ep = lo[i] if short else h[i]
        sar = cand
        out["value"][i] = sar
        out["direction"][i] = -1.0 if short else 1.0
        out["short" if short else "long"][i] = sar
        out["af"][i] = af
        out["reversal"][i] = float(flip)
    return out


def _vortex(b: Bars) -> dict[str, np.ndarray]:
    vals = list(VTX(14, input_values=_ohlcv(b)))
    plus = np.array([np.nan if v is None else v.plus_vtx for v in vals], dtype=float)
    minus = np.array([np.nan if v is None else v.minus_vtx for v in vals], dtype=float)
    return {"plus": plus, "minus": minus}


def _tsi(b: Bars) -> dict[str, np.ndarray]:
    t = _talipp(TSI(13, 25, input_values=list(b["close"])), len(b["close"]))
    return {"tsi": t, "signal": talib.EMA(t, 13)}


def _adx(b: Bars) -> dict[str, np.ndarray]:
    h, lo, c = b["high"], b["low"], b["close"]
    return {
        "adx": talib.ADX(h, lo, c, 14),
        "plus_di": talib.PLUS_DI(h, lo, c, 14),
        "minus_di": talib.MINUS_DI(h, lo, c, 14),
        "adxr": talib.ADXR(h, lo, c, 14),
    }


def ref_atr_first_range(b: Bars, n: int) -> np.ndarray:
    """TRADE's ATR: the first bar's high - low counts as its true range, the seed is the
    mean of the first n ranges (at bar n - 1), then Wilder's step."""
    tr = _true_range(b)
    tr[0] = b["high"][0] - b["low"][0]
    atr = np.full(len(tr), np.nan)
    atr[n - 1] = np.mean(tr[:n])
    for i in range(n, len(tr)):
        atr[i] = (atr[i - 1] * (n - 1) + tr[i]) / n
    return atr


def ref_kama_pandas_ta(b: Bars, n: int, fast: int, slow: int) -> np.ndarray:
    """pandas-ta's KAMA (TRADE's): the mean of the first n closes at bar n - 1, then
    kama += sc (close - kama), sc = (er (2/(fast+1) - 2/(slow+1)) + 2/(slow+1))^2,
    er = |close - close n bars ago| / sum of the n |bar-to-bar changes| (0 if that is 0)."""
    c = b["close"]
    f, sl = 2 / (fast + 1), 2 / (slow + 1)
    out = np.full(len(c), np.nan)
    out[n - 1] = np.mean(c[:n])
    for i in range(n, len(c)):
        path = np.sum(np.abs(np.diff(c[i - n:i + 1])))
        er = abs(c[i] - c[i - n]) / path if path else 0.0
        sc = (er * (f - sl) + sl) ** 2
        out[i] = out[i - 1] + sc * (c[i] - out[i - 1])
    return out


def ref_alma(b: Bars, n: int, offset: float, sigma: float, floor: bool) -> np.ndarray:
    """ALMA: weights exp(-(i - m)^2 / (2 (n / sigma)^2)) on the window, oldest i = 0,
    m = offset (n - 1), rounded down to a whole bar when `floor` (pandas-ta, TRADE)."""
    m = offset * (n - 1)
    m = float(np.floor(m)) if floor else m
    w = np.exp(-((np.arange(n) - m) ** 2) / (2 * (n / sigma) ** 2))
    w /= w.sum()
    c = b["close"]
    out = np.full(len(c), np.nan)
    win = np.lib.stride_tricks.sliding_window_view(c, n)
    out[n - 1:] = win @ w
    return out


def _ewm_first(x: np.ndarray, alpha: float) -> np.ndarray:
    """y = alpha x + (1 - alpha) y', from x's first non-NaN value, which it starts at."""
    out = np.full(len(x), np.nan)
    s = int(np.flatnonzero(~np.isnan(x))[0])
    out[s] = x[s]
    for i in range(s + 1, len(x)):
        out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]
    return out


def ref_adx_pandas_ta(b: Bars, n: int) -> dict[str, np.ndarray]:
    """TRADE's adx (pandas-ta's without TA-Lib), from its described steps: +DM / -DM by
    the usual rule from bar 1, each smoothed by an EMA of weight 1/n seeded with its
    first value; ATR the mean of the n-1 true ranges of bars 1..n-1, then Wilder's step,
    its first bar left out (pandas-ta: TA-Lib's ATR warm-up); DI = 100 DM / ATR, DX =
    100 |+DI - -DI| / (+DI + -DI) (0 when both are 0), ADX the same EMA of DX seeded with
    the first DX; ADXR the mean of ADX now and n-1 bars ago."""
    h, lo = b["high"], b["low"]
    up = np.r_[np.nan, np.diff(h)]
    down = np.r_[np.nan, -np.diff(lo)]
    pos = np.where((up > down) & (up > 0), up, 0.0)
    neg = np.where((down > up) & (down > 0), down, 0.0)
    pos[0] = neg[0] = np.nan
    sp, sn = _ewm_first(pos, 1 / n), _ewm_first(neg, 1 / n)
    tr = _true_range(b)
    atr = np.full(len(h), np.nan)
    atr[n - 1] = np.mean(tr[1:n])
    for i in range(n, len(h)):
        atr[i] = (atr[i - 1] * (n - 1) + tr[i]) / n
    atr[n - 1] = np.nan
    pdi, mdi = 100 * sp / atr, 100 * sn / atr
    tot = pdi + mdi
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(tot > 0, 100 * np.abs(pdi - mdi) / tot, 0.0)
    dx[np.isnan(atr)] = np.nan
    adx = _ewm_first(dx, 1 / n)
    return {"adx": adx, "plus_di": pdi, "minus_di": mdi,
            "adxr": (adx + _shift(adx, n - 1)) / 2}


def _kvo(b: Bars, fast: int, slow: int, signal: int) -> dict[str, np.ndarray]:
    """pandas-ta's Klinger: volume signed by the hlc3 change (first bar up), EMA difference."""
    tp = (b["high"] + b["low"] + b["close"]) / 3
    sign = np.sign(np.diff(tp, prepend=np.nan))
    sign[0] = 1.0
    sv = sign * b["volume"]
    kvo = talib.EMA(sv, fast) - talib.EMA(sv, slow)
    return {"kvo": kvo, "signal": talib.EMA(kvo, signal)}


def _aroon(b: Bars) -> dict[str, np.ndarray]:
    down, up = talib.AROON(b["high"], b["low"], 14)
    return {"up": up, "down": down, "osc": talib.AROONOSC(b["high"], b["low"], 14)}


def _stoch(b: Bars) -> dict[str, np.ndarray]:
    k, d = talib.STOCH(b["high"], b["low"], b["close"], 14, 3, 0, 3, 0)
    return {"k": k, "d": d}


def _donchian(b: Bars) -> dict[str, np.ndarray]:
    u, lo = talib.MAX(b["high"], 20), talib.MIN(b["low"], 20)
    return {"upper": u, "middle": (u + lo) / 2, "lower": lo}


def _cols(arr: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {n: arr[:, j] for j, n in enumerate(names)}


CASES: list[tuple[str, dict[str, object], Ref]] = [
    ("sma", {"length": 20}, _tl(talib.SMA, "close", timeperiod=20)),
    (
        "sma",
        {"length": 7, "source": "hlc3"},
        lambda b: {"value": talib.SMA((b["high"] + b["low"] + b["close"]) / 3, 7)},
    ),
    ("ema", {"length": 21}, _tl(talib.EMA, "close", timeperiod=21)),
    ("wma", {"length": 20}, _tl(talib.WMA, "close", timeperiod=20)),
    ("dema", {"length": 20}, _tl(talib.DEMA, "close", timeperiod=20)),
    ("tema", {"length": 20}, _tl(talib.TEMA, "close", timeperiod=20)),
    ("trima", {"length": 20}, _tl(talib.TRIMA, "close", timeperiod=20)),
    ("trima", {"length": 21}, _tl(talib.TRIMA, "close", timeperiod=21)),
    ("kama", {"length": 10}, _tl(talib.KAMA, "close", timeperiod=10)),
    ("kama", {"style": "pandas_ta"}, lambda b: {"value": ref_kama_pandas_ta(b, 10, 2, 30)}),
    ("kama", {"length": 5, "fast": 3, "slow": 20, "style": "pandas_ta"},
     lambda b: {"value": ref_kama_pandas_ta(b, 5, 3, 20)}),
    ("alma", {"floor_centre": True}, lambda b: {"value": ref_alma(b, 9, 0.85, 6.0, True)}),
    ("alma", {"length": 20, "offset": 0.5, "floor_centre": True},
     lambda b: {"value": ref_alma(b, 20, 0.5, 6.0, True)}),
    (
        "alma",
        {"length": 9},
        lambda b: {"value": _talipp(ALMA(9, 0.85, 6.0, input_values=list(b["close"])), N_ROWS)},
    ),
    (
        "zlma",
        {"length": 21},
        lambda b: {"value": _talipp(ZLEMA(21, input_values=list(b["close"])), N_ROWS)},
    ),
    ("zlma", {"length": 20}, lambda b: _zlma_talib(b, 20)),
    ("hma", {"length": 16}, lambda b: _hma(b, 16)),
    ("hma", {"length": 21}, lambda b: _hma(b, 21)),
    ("linreg", {"length": 14}, _tl(talib.LINEARREG, "close", timeperiod=14)),
    ("vwap", {"anchor": "D"}, lambda b: {"value": ref_vwap(b, "D")}),
    ("vwap", {"anchor": "W"}, lambda b: {"value": ref_vwap(b, "W")}),
    ("vwap", {"anchor": "M"}, lambda b: {"value": ref_vwap(b, "M")}),
    ("rsi", {"length": 14}, _tl(talib.RSI, "close", timeperiod=14)),
    ("cmo", {"length": 14}, _tl(talib.CMO, "close", timeperiod=14)),
    ("stoch", {}, _stoch),
    ("stoch", {"flat_k": 50.0}, _stoch),  # no flat 14-hour window in these bars
    ("stochrsi", {"k_smooth": 1}, lambda b: _stochrsi(b, 1)),
    ("stochrsi", {"k_smooth": 3}, lambda b: _stochrsi(b, 3)),
    ("cci", {"length": 20}, _tl(talib.CCI, "high", "low", "close", timeperiod=20)),
    ("willr", {"length": 14}, _tl(talib.WILLR, "high", "low", "close", timeperiod=14)),
    ("mfi", {"length": 14}, _tl(talib.MFI, "high", "low", "close", "volume", timeperiod=14)),
    # flat: mid changes only bars with nothing to measure; these bars have none
    ("rsi", {"flat": "mid"}, lambda b: {"value": ref_rsi(b, 14, 50.0)}),
    ("willr", {"flat": "mid"}, lambda b: {"value": ref_willr(b, 14, -50.0)}),
    ("mfi", {"flat": "mid"}, lambda b: {"value": ref_mfi(b, 14, True)}),
    ("roc", {"length": 10}, _tl(talib.ROC, "close", timeperiod=10)),
    ("mom", {"length": 10}, _tl(talib.MOM, "close", timeperiod=10)),
    ("macd", {}, _macd),
    ("ppo", {}, _ppo),
    (
        "trix",
        {"length": 15},
        lambda b: {"value": talib.TRIX(b["close"], 15),
                   "signal": talib.EMA(talib.TRIX(b["close"], 15), 9)},
    ),
    ("tsi", {}, _tsi),
    (
        "fisher",
        {"length": 9},
        lambda b: dict(zip(("fisher", "signal"), ref_fisher(b, 9), strict=True)),
    ),
    ("adx", {"length": 14}, _adx),
    ("adx", {"style": "pandas_ta"}, lambda b: ref_adx_pandas_ta(b, 14)),
    ("adx", {"length": 5, "style": "pandas_ta"}, lambda b: ref_adx_pandas_ta(b, 5)),
    ("aroon", {"length": 14}, _aroon),
    (
        "supertrend",
        {"length": 10, "mult": 3.0},
        lambda b: ref_supertrend_all(b, 10, 3.0),
    ),
    ("supertrend", {"style": "pandas_ta"}, lambda b: ref_supertrend_pandas_ta(b, 10, 3.0)),
    ("supertrend", {"length": 7, "mult": 1.5, "style": "pandas_ta"},
     lambda b: ref_supertrend_pandas_ta(b, 7, 1.5)),
    ("psar", {}, _psar),
    ("psar", {"initial": 0.01}, lambda b: _psar(b, 0.01)),
    ("psar", {"style": "pandas_ta"}, lambda b: ref_psar_pandas_ta(b, 0.02, 0.2)),
    ("psar", {"accel": 0.05, "maximum": 0.3, "style": "pandas_ta"},
     lambda b: ref_psar_pandas_ta(b, 0.05, 0.3)),
    ("vortex", {"length": 14}, _vortex),
    ("atr", {"length": 14}, _tl(talib.ATR, "high", "low", "close", timeperiod=14)),
    ("atr", {"first_range": True}, lambda b: {"value": ref_atr_first_range(b, 14)}),
    ("atr", {"length": 1, "first_range": True},
     lambda b: {"value": ref_atr_first_range(b, 1)}),
    ("natr", {"length": 7, "first_range": True},
     lambda b: {"value": 100 * ref_atr_first_range(b, 7) / b["close"]}),
    ("natr", {"length": 14}, _tl(talib.NATR, "high", "low", "close", timeperiod=14)),
    ("bbands", {}, _bbands),
    ("bbands", {"ddof": 1, "bandwidth_pct": True}, _bbands_pandas_ta),
    ("keltner", {}, _keltner),
    ("keltner", {"style": "pandas_ta"}, lambda b: ref_keltner_pandas_ta(b, 20, 2.0)),
    ("keltner", {"length": 10, "mult": 1.5, "style": "pandas_ta", "atr_length": 3},
     lambda b: ref_keltner_pandas_ta(b, 10, 1.5)),
    ("donchian", {}, _donchian),
    ("squeeze", {}, _squeeze),
    ("obv", {}, _tl(talib.OBV, "close", "volume")),
    ("cmf", {"length": 20}, lambda b: {"value": ref_cmf(b, 20)}),
    ("volume_sma", {"length": 20}, _tl(talib.SMA, "volume", timeperiod=20)),
    ("rolling_min", {"length": 20}, _tl(talib.MIN, "low", timeperiod=20)),
    ("rolling_max", {"length": 20}, _tl(talib.MAX, "high", timeperiod=20)),
    ("rolling_max", {"length": 9, "source": "close"}, _tl(talib.MAX, "close", timeperiod=9)),
    (
        "swing",
        {"left": 5, "right": 5},
        lambda b: _cols(ref_swing_all(b, 5, 5), get_spec("swing").outputs),
    ),
    (
        "swing",
        {"left": 3, "right": 8},
        lambda b: _cols(ref_swing_all(b, 3, 8), get_spec("swing").outputs),
    ),
    (
        "swing",
        {"left": 2, "right": 2, "equal_right": True},
        lambda b: _cols(ref_swing_all(b, 2, 2, True), get_spec("swing").outputs),
    ),
    (
        "trend",
        {"left": 5, "right": 5},
        lambda b: _cols(ref_trend(b, 5, 5), get_spec("trend").outputs),
    ),
    (
        "trend",
        {"left": 3, "right": 2, "wave_history_size": 6},
        lambda b: _cols(ref_trend(b, 3, 2, history=6), get_spec("trend").outputs),
    ),
    (
        "trend",
        {"left": 5, "right": 5, "method": "pivots"},
        lambda b: _cols(ref_trend(b, 5, 5, "pivots"), get_spec("trend").outputs),
    ),
    (
        "market_structure",
        {},
        lambda b: _cols(ref_market_structure(b, 5, 5, True, "bos"),
                        get_spec("market_structure").outputs),
    ),
    (
        "market_structure",
        {"left": 3, "right": 2, "confirmation_close": False},
        lambda b: _cols(ref_market_structure(b, 3, 2, False, "bos"),
                        get_spec("market_structure").outputs),
    ),
    (
        "market_structure",
        {"left": 5, "right": 5, "confirmation_close": False, "choch_anchor": "latest"},
        lambda b: _cols(ref_market_structure(b, 5, 5), get_spec("market_structure").outputs),
    ),
    (
        "market_structure",
        {"left": 5, "right": 5, "choch_anchor": "latest"},
        lambda b: _cols(ref_market_structure(b, 5, 5, True),
                        get_spec("market_structure").outputs),
    ),
    ("midprice", {"length": 14}, _tl(talib.MIDPRICE, "high", "low", timeperiod=14)),
    ("ohlc4", {}, lambda b: {"value": (b["open"] + b["high"] + b["low"] + b["close"]) / 4}),
    (
        "dm",
        {"length": 14},
        lambda b: {"dmp": talib.PLUS_DM(b["high"], b["low"], 14),
                   "dmn": talib.MINUS_DM(b["high"], b["low"], 14)},
    ),
    (
        "uo",
        {},
        _tl(talib.ULTOSC, "high", "low", "close", timeperiod1=7, timeperiod2=14,
            timeperiod3=28),
    ),
    ("kvo", {}, lambda b: _kvo(b, 34, 55, 13)),
    ("rolling_window", {"size": 20, "mode": "max", "source": "high", "full_window": True},
     _tl(talib.MAX, "high", timeperiod=20)),
    # TRADE's default: over the bars so far until the window is full
    ("rolling_window", {"size": 10, "mode": "min", "source": "low"},
     lambda b: {"value": pd.Series(b["low"]).rolling(10, min_periods=1).min().to_numpy()}),
    (
        "donchian",
        {"length": 20, "lower_length": 10},
        lambda b: {"upper": talib.MAX(b["high"], 20), "lower": talib.MIN(b["low"], 10),
                   "middle": (talib.MAX(b["high"], 20) + talib.MIN(b["low"], 10)) / 2},
    ),
    ("vwap", {"anchor": "4h"}, lambda b: {"value": ref_vwap(b, "4h")}),
    ("session_levels", {}, ref_session_levels),
    ("anchored_vwap", {}, lambda b: ref_anchored_vwap(b, "swing_any", 5, 5)),
    ("anchored_vwap", {"anchor_source": "pair_any"},
     lambda b: ref_anchored_vwap(b, "pair_any", 5, 5)),
    ("anchored_vwap", {"anchor_source": "pair_low", "left": 3, "right": 4},
     lambda b: ref_anchored_vwap(b, "pair_low", 3, 4)),
    ("anchored_vwap", {"anchor_source": "swing_high"},
     lambda b: ref_anchored_vwap(b, "swing_high", 5, 5)),
    ("volume_profile", {}, lambda b: ref_volume_profile(b, 50, 50, 0.7)),
    ("volume_profile", {"num_buckets": 12, "lookback": 30, "value_area_pct": 0.5},
     lambda b: ref_volume_profile(b, 12, 30, 0.5)),
    ("anchored_volume_profile", {}, lambda b: ref_volume_profile(b, 50, 50, 0.7, True)),
    ("fibonacci", {"levels": [0.382, 0.5, 0.618]},
     lambda b: ref_fibonacci(b, [0.382, 0.5, 0.618], "retracement", "paired")),
    ("fibonacci", {"levels": [0.272, 1.0], "mode": "extension"},
     lambda b: ref_fibonacci(b, [0.272, 1.0], "extension", "paired")),
    ("fibonacci", {"levels": [0.618, 0.705], "use_paired_anchor": False},
     lambda b: ref_fibonacci(b, [0.618, 0.705], "retracement", "unpaired")),
    ("fibonacci", {"levels": [1.618], "mode": "extension_down", "use_paired_anchor": False,
                   "use_trend_anchor": True},
     lambda b: ref_fibonacci(b, [1.618], "extension_down", "trend")),
    ("premium_discount", {}, ref_premium_discount),
    ("displacement", {}, lambda b: ref_displacement(b, 14, 1.5, 0.4)),
    ("displacement", {"body_atr_min": 1.0, "wick_ratio_max": 0.6},
     lambda b: ref_displacement(b, 14, 1.0, 0.6)),
    ("liquidity_zones", {}, ref_liquidity_zones),
    ("zone", {"zone_type": "demand", "width_atr": 1.5}, lambda b: ref_zone(b, False, 1.5)),
    ("zone", {"zone_type": "supply", "width_atr": 0.5}, lambda b: ref_zone(b, True, 0.5)),
    ("fair_value_gap", {}, lambda b: ref_fvg(b, 0.0, 5)),
    ("order_block", {}, lambda b: _cols(ref_order_block(b), get_spec("order_block").outputs)),
    ("order_block", {"use_body": False, "body_atr_min": 1.0, "max_active": 3, "lookback": 5},
     lambda b: _cols(ref_order_block(b, 3, 5, 1.0, 0.4, False), get_spec("order_block").outputs)),
    ("breaker_block", {}, lambda b: _cols(ref_breaker_block(b), get_spec("breaker_block").outputs)),
    ("breaker_block", {"confirmation_close": True},
     lambda b: _cols(ref_breaker_block(b, True), get_spec("breaker_block").outputs)),
    ("derived_zone", {"levels": [0.382, 0.5, 0.618], "max_active": 5, "width_pct": 0.002},
     lambda b: ref_derived_zone(b, [0.382, 0.5, 0.618], 5, 0.002, True)),
    ("derived_zone", {"levels": [0.5], "max_active": 2, "width_pct": 0.01,
                      "use_paired_source": False, "break_tolerance_pct": 0.001},
     lambda b: ref_derived_zone(b, [0.5], 2, 0.01, False, 0.001)),
    ("fair_value_gap", {"min_gap_atr": 0.3, "max_active": 3}, lambda b: ref_fvg(b, 0.3, 3)),
    ("liquidity_zones", {"tolerance_atr": 0.6, "sweep_atr": 0.3, "max_active": 2,
                         "max_swing_history": 8},
     lambda b: ref_liquidity_zones(b, 0.6, 0.3, 2, 2, 8)),
]


#: outputs that carry a value only while on their side (NaN on the other), by definition
ONE_SIDED = {("supertrend", "long"), ("supertrend", "short"), ("psar", "long"), ("psar", "short"),
             # previous sessions exist only after the first day / week has passed
             ("session_levels", "prev_day_high"), ("session_levels", "prev_day_low"),
             ("session_levels", "prev_week_high"), ("session_levels", "prev_week_low"),
             ("anchored_vwap", "value"),  # NaN while its window has had no volume
             ("displacement", "wick_ratio"),  # infinite on a bar with no body
             ("liquidity_zones", "swept_level"),  # only on a sweep bar
             ("fair_value_gap", "new_upper"), ("fair_value_gap", "new_lower")}  # only when new


def test_every_registered_indicator_has_an_oracle_case() -> None:
    assert {c[0] for c in CASES} == set(REGISTRY)


@pytest.mark.parametrize(
    ("name", "params", "ref"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_oracle(bars: Bars, name: str, params: dict[str, object], ref: Ref) -> None:
    mine = compute(name, params, bars)
    spec = get_spec(name)
    assert tuple(mine) == spec.outputs_for(resolve_params(name, params))
    expected = ref(bars)
    outputs = spec.outputs_for(resolve_params(name, params))
    assert set(expected) == set(outputs), "the oracle must cover every output"
    for field, w in zip(outputs, warmups(name, params), strict=True):
        out = mine[field]
        assert out.shape == (N_ROWS,)
        assert np.isnan(out[:w]).all(), f"{name}.{field}: value before its warm-up {w}"
        if spec.kind == "indicator" and (name, field) not in ONE_SIDED:
            assert np.isfinite(out[w:]).all(), f"{name}.{field}: NaN after its warm-up {w}"
        # NaN exactly where the oracle is NaN, else equal: one-sided outputs, and structure
        # outputs (a level exists only while there is a pivot, zone or gap to carry it)
        if (name, field) in ONE_SIDED or spec.kind == "structure":
            ref = expected[field]
            np.testing.assert_array_equal(np.isnan(out[w:]), np.isnan(ref[w:]))
            m = ~np.isnan(ref) & (np.arange(N_ROWS) >= w)
            assert m.sum() > 0, f"{name}.{field}: no values to compare"
            np.testing.assert_allclose(out[m], ref[m], rtol=1e-9, err_msg=f"{name}.{field}")
            continue
        _close(out, expected[field], w, f"{name}.{field}")


def test_structure_reference_is_not_vacuous(bars: Bars) -> None:
    """The real data has many pivots, trend states and both kinds of break."""
    sw = compute("swing", {"left": 5, "right": 5}, bars)
    assert len(np.unique(sw["high_idx"][~np.isnan(sw["high_idx"])])) > 100
    tr = compute("trend", {}, bars)
    assert {-1.0, 0.0, 1.0} <= set(np.unique(tr["direction"]))
    assert {0.0, 1.0, 2.0} <= set(np.unique(tr["strength"]))
    tr = compute("trend", {"method": "pivots"}, bars)
    assert {-1.0, 0.0, 1.0} <= set(np.unique(tr["direction"]))
    assert tr["strength"].max() >= 3
    ms = compute("market_structure", {}, bars)
    assert {-1.0, 1.0} <= set(np.unique(ms["bos"]))
    assert {-1.0, 1.0} <= set(np.unique(ms["choch"]))


def test_supertrend_styles_differ_on_real_bars(bars: Bars) -> None:
    """The two band rules give different signals on real prices (the pandas_ta case above
    is not a copy of the default), and each matches its own reference exactly in direction."""
    tv = compute("supertrend", {}, bars)
    pt = compute("supertrend", {"style": "pandas_ta"}, bars)
    w = warmups("supertrend", {})[0]
    flips_tv = int(np.sum(np.diff(tv["direction"][w:]) != 0))
    flips_pt = int(np.sum(np.diff(pt["direction"][w:]) != 0))
    assert flips_tv > 50 and flips_pt > 50
    assert np.sum(tv["direction"][w:] != pt["direction"][w:]) > 0
    ref = ref_supertrend_pandas_ta(bars, 10, 3.0)
    np.testing.assert_array_equal(pt["direction"][w:], ref["direction"][w:])
    ref_tv = ref_supertrend_all(bars, 10, 3.0)
    np.testing.assert_array_equal(tv["direction"][w:], ref_tv["direction"][w:])


def _flat_bars() -> Bars:
    """Moving prices, then 30 bars at one price (high == low == close), then moving again."""
    rng = np.random.default_rng(7)
    n = 90
    close = 100.0 + np.cumsum(rng.normal(0, 1.0, n))
    close[30:60] = close[29]
    high = close + np.abs(rng.normal(0, 0.5, n))
    low = close - np.abs(rng.normal(0, 0.5, n))
    high[30:60] = low[30:60] = close[30:60]
    return {"ts": 3_600_000.0 * np.arange(n), "open": close.copy(), "high": high, "low": low,
            "close": close, "volume": np.ones(n)}


def ref_rsi(b: Bars, n: int, flat: float) -> np.ndarray:
    """Wilder's RSI from its definition: mean gain and loss of the first n changes, then
    Wilder's step; 100 g / (g + l), `flat` while g and l are both 0 (TA-Lib 0, TRADE 50)."""
    d = np.diff(b["close"])
    g, lo = np.maximum(d, 0.0), np.maximum(-d, 0.0)
    ag, al = np.full(len(b["close"]), np.nan), np.full(len(b["close"]), np.nan)
    ag[n], al[n] = g[:n].mean(), lo[:n].mean()
    for i in range(n + 1, len(ag)):
        ag[i] = (ag[i - 1] * (n - 1) + g[i - 1]) / n
        al[i] = (al[i - 1] * (n - 1) + lo[i - 1]) / n
    with np.errstate(invalid="ignore"):
        return np.where(ag + al == 0, flat, 100 * ag / (ag + al))


def ref_willr(b: Bars, n: int, flat: float) -> np.ndarray:
    """Williams %R: -100 (HH - c) / (HH - LL) over n bars, `flat` where HH == LL."""
    hh = pd.Series(b["high"]).rolling(n).max().to_numpy()
    ll = pd.Series(b["low"]).rolling(n).min().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hh == ll, flat, (hh - b["close"]) / (hh - ll) * -100.0)


def ref_mfi(b: Bars, n: int, mid: bool) -> np.ndarray:
    """Money flow index over n typical-price changes. mid (TRADE's guards): no negative
    flow -> 100 if any positive flow else 50, else 100 - 100 / (1 + pos / neg); else
    TA-Lib's: 0 when pos + neg < 1, else 100 pos / (pos + neg)."""
    tp = (b["high"] + b["low"] + b["close"]) / 3
    d = np.r_[np.nan, np.diff(tp)]
    money = tp * b["volume"]
    pos = pd.Series(np.where(d > 0, money, 0.0)[1:]).rolling(n).sum().to_numpy()
    neg = pd.Series(np.where(d < 0, money, 0.0)[1:]).rolling(n).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        if mid:
            out = np.where(neg == 0, np.where(pos > 0, 100.0, 50.0),
                           100 - 100 / (1 + pos / neg))
        else:
            out = np.where(pos + neg < 1, 0.0, 100 * pos / (pos + neg))
    out[np.isnan(pos)] = np.nan
    return np.r_[np.nan, out]


def ref_stoch(b: Bars, k: int, smooth: int, d: int, flat: float) -> dict[str, np.ndarray]:
    """Slow stochastic from its definition: raw %K = 100 (c - LL) / (HH - LL), `flat` where
    HH == LL; %K = SMA(smooth) of it, %D = SMA(d) of %K."""
    hh = pd.Series(b["high"]).rolling(k).max().to_numpy()
    ll = pd.Series(b["low"]).rolling(k).min().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(hh == ll, flat, 100.0 * (b["close"] - ll) / (hh - ll))
    raw[np.isnan(hh)] = np.nan
    kk = pd.Series(raw).rolling(smooth).mean().to_numpy()
    return {"k": kk, "d": pd.Series(kk).rolling(d).mean().to_numpy()}


@pytest.mark.parametrize("flat", [0.0, 50.0, 100.0])
def test_stoch_on_a_flat_window(flat: float) -> None:
    """A window whose high equals its low: raw %K is `flat_k` (TA-Lib: 0, TRADE: 50);
    the default is TA-Lib's and equals talib.STOCH there."""
    b = _flat_bars()
    got = compute("stoch", {"flat_k": flat}, b)
    ref = ref_stoch(b, 14, 3, 3, flat)
    for f in ("k", "d"):
        np.testing.assert_allclose(got[f], ref[f], rtol=1e-12, atol=1e-9, equal_nan=True)
    # well inside the flat stretch (the running sums leave a residue of ~1e-14)
    assert abs(got["k"][50] - flat) < 1e-9 and abs(got["d"][55] - flat) < 1e-9
    if flat == 0.0:
        k, d = talib.STOCH(b["high"], b["low"], b["close"], 14, 3, 0, 3, 0)
        w = 14 + 3 + 3 - 3  # TA-Lib reports %K from %D's first bar
        np.testing.assert_allclose(got["k"][w:], k[w:], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(got["d"][w:], d[w:], rtol=1e-12, atol=1e-9)


def test_stochrsi_on_a_flat_window() -> None:
    """RSI pinned at exactly 0 (every close lower from the first bar: no gain ever enters
    the Wilder average) makes a flat RSI window: raw %K = flat_k there."""
    b = _flat_bars()
    b["close"][:40] = 200.0 - np.arange(40.0)
    for flat in (0.0, 50.0):
        got = compute("stochrsi", {"flat_k": flat, "k_smooth": 1, "d_length": 1}, b)
        assert (compute("rsi", {}, b)["value"][14:40] == 0.0).all()
        assert (got["k"][27:40] == flat).all(), flat
        assert np.isfinite(got["k"][27:]).all()


def test_keltner_styles_differ_on_real_bars(bars: Bars) -> None:
    """The pandas_ta band (EMA of the true range over `length`, 20) is not the Wilder ATR
    over atr_length (10): same middle line; the half-widths differ by 0.6 % at the median
    bar and by up to 4 % (the two smoothers weigh a new range alike: 2/21 and 1/10)."""
    atr = compute("keltner", {}, bars)
    pt = compute("keltner", {"style": "pandas_ta"}, bars)
    w = 20
    np.testing.assert_array_equal(atr["middle"][w:], pt["middle"][w:])
    half_atr = (atr["upper"] - atr["middle"])[w:]
    half_pt = (pt["upper"] - pt["middle"])[w:]
    rel = np.abs(half_pt / half_atr - 1)
    assert np.median(rel) > 1e-3 and rel.max() > 0.03 and (rel > 0.01).mean() > 0.2


def test_adx_styles_converge_on_real_bars(bars: Bars) -> None:
    """Both forms smooth by weight 1/length and differ only by their seeds, whose weight
    decays by (1 - 1/length) a bar: on the BTC hourly bars the ADX differs by more than a
    point early on and by < 1e-9 relative from bar 40 * length."""
    ta = compute("adx", {}, bars)
    pt = compute("adx", {"style": "pandas_ta"}, bars)
    early = slice(27, 60)
    assert np.max(np.abs(ta["adx"][early] - pt["adx"][early])) > 1.0
    late = slice(40 * 14, None)
    for f in ("adx", "plus_di", "minus_di", "adxr"):
        np.testing.assert_allclose(pt[f][late], ta[f][late], rtol=1e-9, err_msg=f)


def _no_move_bars() -> Bars:
    """_flat_bars with its first 20 bars at one price too (no move since the start, so
    RSI's average gain and loss are exactly 0 there), the volume 1e-4 of a unit
    (money flows below 1), then 20 rising bars (no negative flow)."""
    b = _flat_bars()
    b["close"][:20] = b["close"][20]
    b["high"][:20] = b["low"][:20] = b["open"][:20] = b["close"][:20]
    b["close"][60:80] = b["close"][59] + np.arange(1.0, 21.0)
    b["high"][60:80] = b["close"][60:80] + 0.25
    b["low"][60:80] = b["close"][60:80] - 0.25
    b["volume"] = np.full(len(b["close"]), 1e-4)
    return b


@pytest.mark.parametrize("flat", ["zero", "mid"])
def test_zero_guards_with_nothing_to_measure(flat: str) -> None:
    """rsi / willr / mfi where there is nothing to measure: TA-Lib's 0 (flat: zero, equal
    to talib there) or TRADE's middle of the scale (flat: mid), each against its
    reference on the same bars."""
    b = _no_move_bars()
    mid = flat == "mid"
    h, lo, c = b["high"], b["low"], b["close"]
    rsi = compute("rsi", {"flat": flat}, b)["value"]
    np.testing.assert_allclose(rsi, ref_rsi(b, 14, 50.0 if mid else 0.0), rtol=1e-12,
                               atol=1e-9, equal_nan=True)
    assert (rsi[14:20] == (50.0 if mid else 0.0)).all()
    willr = compute("willr", {"flat": flat}, b)["value"]
    np.testing.assert_allclose(willr, ref_willr(b, 14, -50.0 if mid else 0.0), rtol=1e-12,
                               atol=1e-9, equal_nan=True)
    assert (willr[43:60] == (-50.0 if mid else 0.0)).all()
    mfi = compute("mfi", {"flat": flat}, b)["value"]
    np.testing.assert_allclose(mfi, ref_mfi(b, 14, mid), rtol=1e-12, atol=1e-9,
                               equal_nan=True)
    if mid:  # no flow at all; then only rising bars in the window; else the plain ratio
        assert (mfi[14:20] == 50.0).all() and (mfi[44:60] == 50.0).all()
        assert (mfi[74:80] == 100.0).all() and (mfi[20:44] > 0).any()
    else:  # every window's flow is below 1: TA-Lib's C guard (0.4) reports 0 throughout
        # (the TA-Lib 0.8 of the Python wrapper tests for a total of exactly 0 instead, so
        # talib.MFI is not compared here)
        assert (mfi[14:] == 0.0).all()
        for mine, ta in ((rsi[14:], talib.RSI(c, 14)[14:]),
                         (willr[13:], talib.WILLR(h, lo, c, 14)[13:])):
            np.testing.assert_allclose(mine, ta, rtol=1e-12, atol=1e-9)


def test_atr_first_range_on_real_bars(bars: Bars) -> None:
    """TRADE's seed starts the ATR a bar earlier; the seeds' difference decays by
    (1 - 1/length) a bar, so the two agree to 1e-9 relative from bar 40 * length."""
    ta = compute("atr", {}, bars)["value"]
    fr = compute("atr", {"first_range": True}, bars)["value"]
    assert np.isnan(ta[13]) and np.isfinite(fr[13])
    assert abs(fr[14] / ta[14] - 1) > 1e-3
    np.testing.assert_allclose(fr[40 * 14:], ta[40 * 14:], rtol=1e-9)


def test_kama_and_alma_forms_on_real_bars(bars: Bars) -> None:
    """TRADE's KAMA starts a bar earlier from another seed and converges to TA-Lib's;
    ALMA with the centre rounded down is another weighting, apart on every bar."""
    ta = compute("kama", {}, bars)["value"]
    pt = compute("kama", {"style": "pandas_ta"}, bars)["value"]
    assert np.isnan(ta[9]) and np.isfinite(pt[9])
    assert abs(pt[10] - ta[10]) > 1.0
    np.testing.assert_allclose(pt[1000:], ta[1000:], rtol=1e-9)
    exact = compute("alma", {}, bars)["value"][8:]
    floor = compute("alma", {"floor_centre": True}, bars)["value"][8:]
    rel = np.abs(floor / exact - 1)
    assert (rel > 0).mean() > 0.99 and np.median(rel) > 1e-4


def test_psar_styles_differ_on_real_bars(bars: Bars) -> None:
    """TRADE's SAR (first close, one-bar clamp) against TA-Lib's on the BTC hourly bars:
    both reverse often; they disagree on the side on 3 % of the bars and on the value on
    29 %."""
    ta = compute("psar", {}, bars)
    pt = compute("psar", {"style": "pandas_ta"}, bars)
    assert ta["reversal"][1:].sum() > 100 and pt["reversal"][1:].sum() > 100
    side = (ta["direction"][1:] != pt["direction"][1:]).mean()
    value = (ta["value"][1:] != pt["value"][1:]).mean()
    assert 0.01 < side < 0.1 and value > 0.2
