"""Type stubs of trade._kernels.indicators (tools/gen_indicator_stub.py writes them)."""

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

SOURCES: dict[str, int]

@disjoint_base
class Kernel:
    """Base of all indicator kernels: one closed bar in, one float per output out."""

    n_out: int
    def update(
        self, ts: float, o: float, h: float, l: float, c: float, v: float
    ) -> tuple[float, ...]: ...
    def run(
        self,
        ts: npt.NDArray[np.float64],
        o: npt.NDArray[np.float64],
        h: npt.NDArray[np.float64],
        l: npt.NDArray[np.float64],
        c: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]: ...
    def run_columns(
        self,
        ts: npt.NDArray[np.float64],
        o: npt.NDArray[np.float64],
        h: npt.NDArray[np.float64],
        l: npt.NDArray[np.float64],
        c: npt.NDArray[np.float64],
        v: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], ...]: ...

@disjoint_base
class KSma(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KEma(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KWma(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KDema(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KTema(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KTrima(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KKama(Kernel):
    def __init__(self, length: int, fast: int = ..., slow: int = ..., src: int = ..., style: int = ...) -> None: ...

@disjoint_base
class KAlma(Kernel):
    def __init__(self, length: int, offset: float = ..., sigma: float = ..., src: int = ..., floor_centre: bool = ...) -> None: ...

@disjoint_base
class KZlma(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KHma(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KLinreg(Kernel):
    def __init__(self, length: int, src: int = ...) -> None: ...

@disjoint_base
class KVwap(Kernel):
    def __init__(self, anchor: int = ..., period_ms: float = ...) -> None: ...

@disjoint_base
class KRsi(Kernel):
    def __init__(self, length: int, src: int = ..., cmo: int = ..., flat: float = ...) -> None: ...

@disjoint_base
class KStoch(Kernel):
    def __init__(self, k_length: int, k_smooth: int, d_length: int, flat_k: float = ...) -> None: ...

@disjoint_base
class KStochRsi(Kernel):
    def __init__(self, rsi_length: int, stoch_length: int, k_smooth: int, d_length: int, src: int = ..., flat_k: float = ...) -> None: ...

@disjoint_base
class KCci(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KWillr(Kernel):
    def __init__(self, length: int, flat: float = ...) -> None: ...

@disjoint_base
class KMfi(Kernel):
    def __init__(self, length: int, mid: bool = ...) -> None: ...

@disjoint_base
class KRoc(Kernel):
    def __init__(self, length: int, mode: int = ..., src: int = ...) -> None: ...

@disjoint_base
class KMacd(Kernel):
    def __init__(self, fast: int, slow: int, signal: int, ppo: int = ..., src: int = ...) -> None: ...

@disjoint_base
class KTrix(Kernel):
    def __init__(self, length: int, src: int = ..., signal: int = ...) -> None: ...

@disjoint_base
class KTsi(Kernel):
    def __init__(self, long_length: int, short_length: int, signal: int, src: int = ...) -> None: ...

@disjoint_base
class KFisher(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KAtr(Kernel):
    def __init__(self, length: int, normalized: int = ..., first_range: bool = ...) -> None: ...

@disjoint_base
class KAdx(Kernel):
    def __init__(self, length: int, style: int = ...) -> None: ...

@disjoint_base
class KAroon(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KSupertrend(Kernel):
    def __init__(self, length: int, mult: float, style: int = ...) -> None: ...

@disjoint_base
class KPsar(Kernel):
    def __init__(self, accel: float, maximum: float, init: float = ..., style: int = ...) -> None: ...

@disjoint_base
class KVortex(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KBbands(Kernel):
    def __init__(self, length: int, mult: float, src: int = ..., sample: bool = ..., pct: bool = ...) -> None: ...

@disjoint_base
class KKeltner(Kernel):
    def __init__(self, length: int, mult: float, atr_length: int, style: int = ...) -> None: ...

@disjoint_base
class KDonchian(Kernel):
    def __init__(self, length: int, lower_length: int = ...) -> None: ...

@disjoint_base
class KSqueeze(Kernel):
    def __init__(self, bb_length: int, bb_mult: float, kc_length: int, kc_mult: float) -> None: ...

@disjoint_base
class KObv(Kernel):
    def __init__(self, *args: object, **kwargs: object) -> None: ...

@disjoint_base
class KCmf(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KRolling(Kernel):
    def __init__(self, length: int, is_max: bool, src: int, partial: bool = ...) -> None: ...

@disjoint_base
class KSwing(Kernel):
    def __init__(self, left: int, right: int, equal_right: bool = ...) -> None: ...

@disjoint_base
class KTrend(Kernel):
    def __init__(self, left: int, right: int, equal_right: bool = ..., method: int = ..., wave_history: int = ...) -> None: ...

@disjoint_base
class KMarketStructure(Kernel):
    def __init__(self, left: int, right: int, close_break: bool = ..., equal_right: bool = ..., anchor_mode: int = ...) -> None: ...

@disjoint_base
class KMidprice(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KDm(Kernel):
    def __init__(self, length: int) -> None: ...

@disjoint_base
class KUo(Kernel):
    def __init__(self, fast: int, medium: int, slow: int) -> None: ...

@disjoint_base
class KKvo(Kernel):
    def __init__(self, fast: int, slow: int, signal: int) -> None: ...

@disjoint_base
class KSessionLevels(Kernel):
    def __init__(self, *args: object, **kwargs: object) -> None: ...

@disjoint_base
class KAnchoredVwap(Kernel):
    def __init__(self, source: int, left: int, right: int) -> None: ...

@disjoint_base
class KVolumeProfile(Kernel):
    def __init__(self, buckets: int, lookback: int, va_pct: float, anchored: bool = ..., left: int = ..., right: int = ...) -> None: ...

@disjoint_base
class KFibonacci(Kernel):
    def __init__(self, levels: object, mode: int, anchor: int, left: int, right: int) -> None: ...

@disjoint_base
class KPremiumDiscount(Kernel):
    def __init__(self, left: int, right: int) -> None: ...

@disjoint_base
class KDisplacement(Kernel):
    def __init__(self, atr_length: int, body_atr_min: float, wick_ratio_max: float) -> None: ...

@disjoint_base
class KLiquidityZones(Kernel):
    def __init__(self, left: int, right: int, atr_length: int, tolerance_atr: float, sweep_atr: float, min_touches: int, max_active: int, history: int) -> None: ...

@disjoint_base
class KZone(Kernel):
    def __init__(self, left: int, right: int, supply: bool, width_atr: float, atr_length: int) -> None: ...

@disjoint_base
class KFairValueGap(Kernel):
    def __init__(self, atr_length: int, min_gap_atr: float, max_active: int) -> None: ...

@disjoint_base
class KDerivedZone(Kernel):
    def __init__(self, levels: object, mode: int, max_active: int, width_pct: float, paired: bool, break_tol: float, left: int, right: int) -> None: ...

@disjoint_base
class KOrderBlock(Kernel):
    def __init__(self, atr_length: int, use_body: bool, body_atr_min: float, wick_ratio_max: float, max_active: int, lookback: int) -> None: ...

@disjoint_base
class KBreakerBlock(Kernel):
    def __init__(self, atr_length: int, use_body: bool, body_atr_min: float, wick_ratio_max: float, lookback: int, max_active: int, left: int, right: int, close_break: bool) -> None: ...
