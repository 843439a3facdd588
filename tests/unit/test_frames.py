"""When a bar closes (``candleflow.frames.bar_ends``): at its last session's close for a
session instrument's daily, weekly and monthly bars, one bar length later otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from candleflow.calendars import Market
from candleflow.domain import Timeframe
from candleflow.frames import bar_ends

XNYS = Market.of("NASDAQ:NVDA")
CRYPTO = Market.of("BINANCE:BTCUSDT")


def ends(stamps: list[str], timeframe: str, market) -> list[pd.Timestamp]:
    ts = pd.DatetimeIndex(stamps, tz="UTC").as_unit("us").asi8
    return list(pd.to_datetime(bar_ends(ts, Timeframe.parse(timeframe), market), unit="us"))


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-30 14:30", "2026-11-30 05:00", "2026-11-30 00:00"],  # open, NY midnight, UTC
)
def test_a_daily_equity_bar_ends_at_its_session_close_however_it_is_stamped(stamp):
    assert ends([stamp], "1d", XNYS) == [pd.Timestamp("2026-11-30 21:00")]


def test_an_early_close_and_a_holiday():
    got = ends(["2026-11-27 14:30", "2026-11-26 14:30"], "1d", XNYS)
    assert got[0] == pd.Timestamp("2026-11-27 18:00")  # 13:00 New York
    assert got[1] == pd.Timestamp("2026-11-27 14:30")  # Thanksgiving: no session, one day


def test_weeks_and_months_end_at_their_last_session():
    assert ends(["2026-11-23 14:30"], "1w", XNYS) == [pd.Timestamp("2026-11-27 18:00")]
    assert ends(["2026-11-02 14:30"], "1mo", XNYS) == [pd.Timestamp("2026-11-30 21:00")]


def test_a_24x7_bar_ends_one_bar_length_later():
    assert ends(["2026-11-30"], "1d", CRYPTO) == [pd.Timestamp("2026-12-01")]
    assert ends(["2026-11-01"], "1mo", CRYPTO) == [pd.Timestamp("2026-12-01")]
    assert ends(["2026-11-30 14:30"], "1h", XNYS) == [pd.Timestamp("2026-11-30 15:30")]


def test_a_bar_without_a_timestamp_has_no_end():
    from candleflow.frames import NAT

    ts = pd.DatetimeIndex(["2026-11-30 14:30"], tz="UTC").as_unit("us").asi8
    got = bar_ends([NAT, ts[0]], Timeframe.parse("1d"), XNYS)
    assert got[0] == NAT and got[1] == pd.Timestamp("2026-11-30 21:00", tz="UTC").value // 1000


def test_normalize_bars_makes_the_canonical_frame_once():
    """µs UTC ts, float64 values, sorted, forming and out-of-window bars dropped, identical
    duplicates collapsed and conflicting ones kept (for validation to reject)."""
    import datetime as dt

    from candleflow.frames import TS_DTYPE, is_canonical, normalize_bars

    raw = pd.DataFrame(
        {
            "ts": ["2024-01-01 00:02", "2024-01-01 00:01", "2024-01-01 00:01", "2024-01-01 00:00",
                   "2024-01-01 00:00", "2024-01-01 00:09", "2023-12-31 23:59"],
            "open": [3, 2, 2, 1, 1, 9, 0],
            "high": ["3", "2", "2", "1", "1.5", "9", "0"],
            "low": [3, 2, 2, 1, 1, 9, 0],
            "close": [3, 2, 2, 1, 1, 9, 0],
            "volume": [1, 1, 1, "n/a", "n/a", 1, 1],
        }
    )  # fmt: skip
    raw.attrs["reachable_start"] = "kept"
    utc = dt.UTC
    got = normalize_bars(
        raw,
        Timeframe.parse("1m"),
        dt.datetime(2024, 1, 1, tzinfo=utc),
        dt.datetime(2024, 1, 1, 0, 10, tzinfo=utc),
        dt.datetime(2024, 1, 1, 0, 9, 30, tzinfo=utc),  # the 00:09 bar is still forming
    )
    assert is_canonical(got) and str(got["ts"].dtype) == TS_DTYPE
    assert list(got["ts"].dt.strftime("%H:%M")) == ["00:00", "00:00", "00:01", "00:02"]
    assert list(got["high"]) == [1.0, 1.5, 2.0, 3.0]  # the conflicting 00:00 pair stays
    assert got["volume"].isna().sum() == 2
    assert got.attrs == {"reachable_start": "kept"}


def test_canonical_selects_a_canonical_frame_and_never_writes_the_callers():
    from candleflow.frames import canonical, empty_bars

    bars = pd.concat([empty_bars(), empty_bars()], ignore_index=True)
    bars["extra"] = 1
    got = canonical(bars)
    assert list(got.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert got is not bars and "extra" in bars.columns


def test_a_canonical_provider_frame_is_taken_as_it_is_with_its_duplicates_collapsed():
    """The no-copy path (TradingView's and ccxt's frames): same bars, the provider's frame
    untouched (its attrs included) when the result's are changed."""
    import datetime as dt

    from candleflow.frames import normalize_bars

    ts = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:01"], tz="UTC")
    raw = pd.DataFrame({"ts": ts.as_unit("us")})
    for col in ("open", "high", "low", "close", "volume"):
        raw[col] = [1.0, 2.0, 2.0]
    raw.attrs["reachable_start"] = "kept"
    utc = dt.UTC
    got = normalize_bars(
        raw,
        Timeframe.parse("1m"),
        dt.datetime(2024, 1, 1, tzinfo=utc),
        dt.datetime(2024, 1, 2, tzinfo=utc),
        dt.datetime(2024, 1, 2, tzinfo=utc),
    )
    assert len(got) == 2 and list(got["close"]) == [1.0, 2.0]
    got.attrs["corporate_actions"] = []
    assert raw.attrs == {"reachable_start": "kept"} and len(raw) == 3
