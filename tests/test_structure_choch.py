"""The documented December 2017 example (docs/play_reference.md, Structures): after a CHoCH
the bias turns back on the next break against it, so it follows the rally. This is TRADE's
state machine too (tests/test_structure_trade_parity.py compares every bar): an earlier note
here said TRADE waits for a new BOS, which its detector does not do. Close breaks
(confirmation_close: true) as the example was written; real data: the packaged Coinbase
sample."""

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
    params = {"left": 5, "right": 5, "confirmation_close": True}
    out = compute("market_structure", params, arrays)
    window = ((df.ts >= "2017-11-28") & (df.ts < "2017-12-18")).to_numpy()
    ts = df.ts[window].reset_index(drop=True)
    bias = out["bias"][window]
    choch = out["choch_this_bar"][window]
    events = [(str(ts[i]), int(choch[i]), int(bias[i])) for i in np.flatnonzero(choch != 0)]
    assert events[:2] == [("2017-11-29 19:00:00", 1, -1), ("2017-12-01 12:00:00", 1, 1)]
    assert int((bias > 0).sum()) == 384 and len(bias) == 480
    close = df.close[window].to_numpy()
    assert close.max() == 19847.11 and close.max() / close.min() > 2.0
