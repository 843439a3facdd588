"""Many windows, one Great Expectations run: each window judged as if it were alone.

The chunks of the OHLCV DAGs validate their fetched windows in batches
(``validate_windows``). These tests hold a batch to the single-window path: the same valid
rows, rejects with the same rules, flags and counts per window, even when the windows share
timestamps (uniqueness is per window), when one window breaks rules and the others do not,
and when one frame is unusable.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow.domain import Instrument, Timeframe
from candleflow.errors import BadInputError
from candleflow.validation import Window, validate_bars, validate_windows

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


def _window(symbol: str, frame: pd.DataFrame) -> Window:
    return Window(frame, Instrument(symbol), H1, START, END, FAR_FUTURE)


def _alone(symbol: str, frame: pd.DataFrame):
    return validate_bars(
        frame, instrument=Instrument(symbol), timeframe=H1, start=START, end=END, now=FAR_FUTURE
    )


def test_a_batch_judges_each_window_as_it_would_be_judged_alone():
    frames = {symbol: make() for symbol, make in FRAMES.items()}
    batch = validate_windows([_window(s, f) for s, f in frames.items()])
    assert len(batch) == len(frames)
    for (symbol, frame), got in zip(frames.items(), batch, strict=True):
        alone = _alone(symbol, frame)
        pd.testing.assert_frame_equal(got.valid, alone.valid, obj=symbol)
        pd.testing.assert_frame_equal(got.rejected, alone.rejected, obj=symbol)
        pd.testing.assert_frame_equal(got.flagged, alone.flagged, obj=symbol)
        for key in ("rows_checked", "rows_rejected", "rows_flagged", "rules", "gx_success"):
            assert got.summary[key] == alone.summary[key], (symbol, key)
        assert got.summary["expectations"] == alone.summary["expectations"], symbol
        assert got.summary["gx_batch"]["windows"] == len(frames)
        assert alone.summary["gx_batch"]["windows"] == 1


def test_the_windows_broken_in_a_batch_are_the_ones_built_broken():
    frames = {symbol: make() for symbol, make in FRAMES.items()}
    outcomes = validate_windows([_window(s, f) for s, f in frames.items()])
    batch = dict(zip(frames, outcomes, strict=True))
    assert batch["BINANCE:ETHUSDT"].summary["rules"]["low_positive"] == 1
    assert batch["BINANCE:SOLUSDT"].summary["rules"]["unique_ts"] == 2
    assert batch["BINANCE:XRPUSDT"].summary["rules"]["price_jump"] >= 1
    for clean in ("BINANCE:BTCUSDT", "BINANCE:BNBUSDT"):  # same ts as the others: no conflict
        assert batch[clean].summary["rows_rejected"] == 0, clean
        assert batch[clean].summary["gx_success"] is True, clean
    assert batch["BINANCE:ETHUSDT"].summary["gx_success"] is False
    assert batch["BINANCE:BTCUSDT"].summary["gx_batch"]["gx_success"] is False  # the run's


def test_an_unusable_frame_gets_its_error_and_the_others_are_judged():
    frames = [
        _window("BINANCE:BTCUSDT", bars()),
        _window("BINANCE:ETHUSDT", bars().drop(columns="low")),
    ]
    good, bad = validate_windows(frames)
    assert isinstance(bad, BadInputError) and "low" in str(bad)
    assert len(good.valid) == 6 and good.summary["gx_batch"]["windows"] == 1


def test_a_batch_of_only_unusable_frames_runs_no_suite():
    (bad,) = validate_windows([_window("BINANCE:BTCUSDT", bars().drop(columns="ts"))])
    assert isinstance(bad, BadInputError)


def test_validate_bars_raises_what_its_window_got():
    with pytest.raises(BadInputError, match="volume"):
        _alone("BINANCE:BTCUSDT", bars().drop(columns="volume"))
