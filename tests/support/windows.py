"""Bar windows for the validation tests: a clean frame and frames that break one rule each.

``FRAMES`` maps a symbol to the frame it gets in a batch: valid, a rejected low, a
conflicting duplicate timestamp, a flagged price jump, and valid again; the batch tests and
the helper-process tests judge the same batch.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from candleflow.domain import Instrument, Timeframe
from candleflow.validation import Window

FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
H1 = Timeframe.parse("1h")


def bars(n: int = 6) -> pd.DataFrame:
    ts = pd.date_range(START, periods=n, freq="1h", tz="UTC").as_unit("us")
    return pd.DataFrame(
        {"ts": ts, "open": 100.0, "high": 102.0, "low": 98.0, "close": 101.0, "volume": 10.0}
    )


def broken_low() -> pd.DataFrame:
    frame = bars()
    frame.loc[2, "low"] = 0.0  # low_positive
    return frame


def conflicting_ts() -> pd.DataFrame:
    frame = pd.concat([bars(3), bars(3).iloc[[1]].assign(close=100.5)], ignore_index=True)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)  # unique_ts conflict


def jumping() -> pd.DataFrame:
    frame = bars()
    frame.loc[4, ["high", "close"]] = [180.0, 170.0]  # price_jump: flagged, still loads
    return frame


FRAMES = {
    "BINANCE:BTCUSDT": bars,
    "BINANCE:ETHUSDT": broken_low,
    "BINANCE:SOLUSDT": conflicting_ts,
    "BINANCE:XRPUSDT": jumping,
    "BINANCE:BNBUSDT": bars,
}


def hour_window(symbol: str, frame: pd.DataFrame) -> Window:
    """One hour-bar window of ``symbol`` over [START, END), judged as of far in the future."""
    return Window(frame, Instrument(symbol), H1, START, END, FAR_FUTURE)
