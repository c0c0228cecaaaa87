"""The documented December 2017 example (docs/play_reference.md, Structures): TRADE's
market structure (its detector at commit 92388bf, transcribed in
tests/test_structure_trade_parity.py) clears its CHoCH anchor on a CHoCH and sets one only on
a BOS, so after a bearish CHoCH its bias stays bearish until a bearish BOS re-arms it; on the
packaged Coinbase BTC/USD hourly sample, with TRADE's defaults (left 5, right 5, close
breaks), that keeps it bearish through a +86.9 % rally. Ours anchors the next CHoCH at the
swing high of the moment of that CHoCH and turns bullish 25 hours after it.

An earlier version of this file said the bias turned back in TRADE too: that was TRADE's
older detector (55d4013, no anchor, wick breaks), not the one TRADE runs now.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.test_structure_trade_parity import _coinbase, run_trade
from trade.indicators import compute


def _at(ts: pd.DatetimeIndex, when: str) -> int:
    return int(np.flatnonzero(ts == pd.Timestamp(when))[0])


def test_trade_stays_bearish_through_the_december_2017_rally_and_ours_turns() -> None:
    b = _coinbase()
    ts = pd.DatetimeIndex(pd.to_datetime(b["ts"], unit="s"))  # the loader's ts are seconds
    theirs = run_trade(b, 5, 5)["ms_trade"]
    ours = compute("market_structure", {}, b)  # TRADE's defaults
    close = b["close"]

    # both: a bearish CHoCH at 2017-11-30 20:00, the close 9,427.69 under the swing low
    # 9,438.02 that the last bullish BOS had anchored
    s = _at(ts, "2017-11-30 20:00")
    for out in (theirs, ours):
        assert out["choch_this_bar"][s] == 1 and out["bias"][s] == -1
        assert out["last_choch_level"][s] == 9438.02
    assert close[s] == 9427.69

    # TRADE: no anchor left, so no CHoCH back; its bias stays bearish until the bearish
    # BOS of 2017-12-09 16:00 (close 15,068) anchors the swing high 16,287.99 and a close
    # above the next anchor (15,495) turns it at 2017-12-10 15:00 (close 15,598.75)
    e = _at(ts, "2017-12-10 15:00")
    first_bos = _at(ts, "2017-12-09 16:00")
    assert (theirs["bias"][s:e] == -1).all() and e - s == 235
    assert np.isnan(theirs["trade_anchor"][s:first_bos]).all()
    assert theirs["bos_this_bar"][first_bos] == 1 and close[first_bos] == 15068.0
    assert theirs["trade_anchor"][first_bos] == 16287.99
    assert theirs["choch_this_bar"][e] == 1 and theirs["bias"][e] == 1
    assert theirs["last_choch_level"][e] == 15495.0 and close[e] == 15598.75

    # ...while the close rose 86.9 % to 17,616.78 (2017-12-08 01:00)
    top = s + int(np.argmax(close[s:e]))
    assert str(ts[top]) == "2017-12-08 01:00:00" and close[top] == 17616.78
    assert round(close[top] / close[s] - 1, 3) == 0.869
    assert theirs["bias"][top] == -1

    # ours: the bearish CHoCH anchors the swing high of its moment (10,850); the close
    # 10,895 at 2017-12-01 21:00 breaks it, and the bias stays bullish through the top
    # and until the next bearish CHoCH (2017-12-13 18:00)
    k = _at(ts, "2017-12-01 21:00")
    assert (ours["bias"][s:k] == -1).all() and k - s == 25
    assert ours["choch_this_bar"][k] == 1 and ours["choch"][k] == 1
    assert ours["last_choch_level"][k] == 10850.0 and close[k] == 10895.0
    nxt = _at(ts, "2017-12-13 18:00")
    assert (ours["bias"][k:nxt] == 1).all() and ours["choch"][nxt] == -1
    assert int((ours["bias"][s:e] == 1).sum()) == 210
