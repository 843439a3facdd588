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
