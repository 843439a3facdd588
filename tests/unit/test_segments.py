"""The segment format on its own (no database): scale choice, bounds, and exact round trips."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from candleflow.db import segments

UTC = dt.UTC


def bars(n: int, start: str = "2024-03-01", step: str = "1min") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    close = np.round(100 + np.cumsum(rng.normal(0, 0.2, n)), 2)
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=n, freq=step, tz="UTC").astype(
                "datetime64[us, UTC]"
            ),
            "open": open_,
            "high": np.round(np.maximum(open_, close) + rng.random(n) / 10, 2),
            "low": np.round(np.minimum(open_, close) - rng.random(n) / 10, 2),
            "close": close,
            "volume": rng.integers(0, 10_000, n).astype(float),
        }
    )


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([1.0, 2.0, 3.0], 1),
        ([0.1, 0.25], 100),
        ([0.00141300, 0.00141600], 10**6),
        ([100.0 / 3.0], None),  # no decimal scale reproduces a third
        ([2300413.7295, 218102.59507500002], None),  # a vendor's float artefact
    ],
)
def test_exact_scale_is_the_smallest_that_round_trips(values, scale):
    assert segments.exact_scale(np.array(values)) == scale


def test_the_instruments_own_scale_is_tried():
    assert segments.exact_scale(np.array([0.25, 0.5, 1.75]), first=4) == 4


def test_segments_are_utc_months_for_fine_timeframes_and_years_otherwise():
    ts = dt.datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
    assert segments.segment_bounds("1m", ts) == (
        dt.datetime(2024, 12, 1, tzinfo=UTC),
        dt.datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert segments.segment_bounds("1h", ts) == (
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        dt.datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_round_trip_is_exact_with_gaps_and_null_volumes():
    frame = bars(5000).drop(index=range(100, 400)).reset_index(drop=True)  # a gap
    frame.loc[::5, "volume"] = np.nan
    seg = segments.encode(frame, "1m")
    assert seg.price_scale == 100
    back = segments.decode(seg)
    assert (back["ts"] == frame["ts"]).all()
    for col in ("open", "high", "low", "close"):
        assert back[col].tolist() == frame[col].tolist(), col
    assert np.array_equal(back["volume"], frame["volume"], equal_nan=True)


def test_bars_of_two_segments_are_refused():
    with pytest.raises(ValueError, match="span more than the segment"):
        segments.encode(bars(10, start="2024-03-31 23:55"), "1m")


def test_unordered_bars_are_refused():
    with pytest.raises(ValueError, match="increasing ts"):
        segments.encode(bars(10).iloc[::-1], "1m")
