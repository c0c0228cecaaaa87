"""The documented example of where our market structure differs from TRADE's on purpose: after
a CHoCH the bias turns back on the next break against it (TRADE's waits for a new BOS and
stayed bearish through the December 2017 rally). Real data: the packaged Coinbase sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trade.indicators import compute

SAMPLE = "trade/datasets/coinbase_btcusd_1h.csv.gz"


def test_bias_turns_back_on_the_next_choch_in_the_december_2017_rally() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / SAMPLE
    df = pd.read_csv(path, skiprows=1)
    df["ts"] = pd.to_datetime(df["date"], format="%Y-%m-%d %I-%p")
    df = df.sort_values("ts").reset_index(drop=True)
    arrays = {k: df[k].to_numpy(float) for k in ("open", "high", "low", "close")}
    arrays["volume"] = df["volume_btc"].to_numpy(float)
    arrays["ts"] = (df["ts"].astype("int64") // 10**6).to_numpy(float)
    out = compute("market_structure", {"left": 5, "right": 5}, arrays)
    window = ((df.ts >= "2017-11-28") & (df.ts < "2017-12-18")).to_numpy()
    ts = df.ts[window].reset_index(drop=True)
    bias = out["bias"][window]
    choch = out["choch_this_bar"][window]
    events = [(str(ts[i]), int(choch[i]), int(bias[i])) for i in np.flatnonzero(choch != 0)]
    assert events[:2] == [("2017-11-29 19:00:00", 1, -1), ("2017-12-01 12:00:00", 1, 1)]
    assert int((bias > 0).sum()) == 384 and len(bias) == 480
    close = df.close[window].to_numpy()
    assert close.max() == 19847.11 and close.max() / close.min() > 2.0
