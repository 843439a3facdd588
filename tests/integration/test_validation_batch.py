"""Many windows, one Great Expectations run: each window judged as if it were alone.

The chunks of the OHLCV DAGs validate their fetched windows in batches
(``validate_windows``). These tests hold a batch to the single-window path: the same valid
rows, rejects with the same rules, flags and counts per window, even when the windows share
timestamps (uniqueness is per window), when one window breaks rules and the others do not,
and when one frame is unusable.
"""

from __future__ import annotations

import pandas as pd
import pytest

from candleflow.domain import Instrument
from candleflow.errors import BadInputError
from candleflow.validation import validate_bars, validate_windows
from tests.support.windows import END, FAR_FUTURE, FRAMES, H1, START, bars, hour_window


def _alone(symbol: str, frame: pd.DataFrame):
    return validate_bars(
        frame, instrument=Instrument(symbol), timeframe=H1, start=START, end=END, now=FAR_FUTURE
    )


def test_a_batch_judges_each_window_as_it_would_be_judged_alone():
    frames = {symbol: make() for symbol, make in FRAMES.items()}
    batch = validate_windows([hour_window(s, f) for s, f in frames.items()])
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
    outcomes = validate_windows([hour_window(s, f) for s, f in frames.items()])
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
        hour_window("BINANCE:BTCUSDT", bars()),
        hour_window("BINANCE:ETHUSDT", bars().drop(columns="low")),
    ]
    good, bad = validate_windows(frames)
    assert isinstance(bad, BadInputError) and "low" in str(bad)
    assert len(good.valid) == 6 and good.summary["gx_batch"]["windows"] == 1


def test_a_batch_of_only_unusable_frames_runs_no_suite():
    (bad,) = validate_windows([hour_window("BINANCE:BTCUSDT", bars().drop(columns="ts"))])
    assert isinstance(bad, BadInputError)


def test_validate_bars_raises_what_its_window_got():
    with pytest.raises(BadInputError, match="volume"):
        _alone("BINANCE:BTCUSDT", bars().drop(columns="volume"))
