"""Freshness against the exchange calendar. Expected bars are worked out by hand from the
NYSE 2024 calendar (4 July closed, 3 July closes at 13:00 New York) and the DAG schedules."""

from __future__ import annotations

import datetime as dt

import pytest

from candleflow import watchlist
from candleflow.services.freshness import StaleData, check_freshness

UTC = dt.UTC
MONDAY_NOON = dt.datetime(2024, 7, 8, 12, tzinfo=UTC)  # before the 13:30 UTC open


@pytest.fixture
def wl(tmp_path):
    path = tmp_path / "watchlist.toml"
    path.write_text(
        'symbols = ["NASDAQ:AAPL", "BINANCE:BTCUSDT"]\n'
        '[timeframes.1h]\n[timeframes.1d]\ncalendar = "XNYS"\n'
    )
    return watchlist.load(path)


def _bar(db, symbol: str, timeframe: str, ts: dt.datetime, timezone: str = "UTC") -> None:
    exchange, ticker = symbol.split(":")
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (symbol, series_session) DO NOTHING",
            (symbol, exchange, ticker, timezone),
        )
        cur.execute(
            "INSERT INTO candleflow.bars (instrument_id, timeframe, ts, open, high, low, close)"
            " SELECT id, %s, %s, 1, 1, 1, 1 FROM candleflow.instruments WHERE symbol = %s",
            (timeframe, ts, symbol),
        )


def _checks(db) -> dict:
    with db.cursor() as cur:
        cur.execute(
            "SELECT symbol, timeframe, is_stale, expected_ts FROM analytics.freshness_checks"
        )
        return {(s, tf): (stale, exp) for s, tf, stale, exp in cur.fetchall()}


def test_up_to_date_series_are_fresh_across_a_weekend(db_url, db, wl):
    ny = "America/New_York"
    _bar(db, "NASDAQ:AAPL", "1h", dt.datetime(2024, 7, 5, 19, 30, tzinfo=UTC), ny)  # 15:30 EDT
    _bar(db, "NASDAQ:AAPL", "1d", dt.datetime(2024, 7, 5, 13, 30, tzinfo=UTC), ny)
    _bar(db, "BINANCE:BTCUSDT", "1h", dt.datetime(2024, 7, 8, 10, tzinfo=UTC))
    _bar(db, "BINANCE:BTCUSDT", "1d", dt.datetime(2024, 7, 7, tzinfo=UTC))
    result = check_freshness(url=db_url, now=MONDAY_NOON, watchlist=wl, on_stale="fail")
    assert result == {"checked": 4, "stale": 0, "lag_seconds": {"1h": 0.0, "1d": 0.0}}
    checks = _checks(db)
    assert checks[("NASDAQ:AAPL", "1h")] == (False, dt.datetime(2024, 7, 5, 19, 30, tzinfo=UTC))
    assert checks[("NASDAQ:AAPL", "1d")] == (False, dt.datetime(2024, 7, 5, 13, 30, tzinfo=UTC))
    # 24x7 1h: the bar of 10:00-11:00 closes in the interval (10:00, 11:00], whose run is due
    # at 11:00:30; with the 15 min margin it must be in by 11:15:30, so at noon it is the
    # newest due (11:00-12:00 is due at 12:15:30).
    assert checks[("BINANCE:BTCUSDT", "1h")] == (False, dt.datetime(2024, 7, 8, 10, tzinfo=UTC))


def test_a_holiday_is_not_a_gap(db_url, db, wl):
    ny = "America/New_York"
    _bar(db, "NASDAQ:AAPL", "1h", dt.datetime(2024, 7, 3, 16, 30, tzinfo=UTC), ny)  # 12:30 EDT
    result = check_freshness(url=db_url, now=dt.datetime(2024, 7, 5, 12, tzinfo=UTC), watchlist=wl)
    assert result["stale"] == 0


def test_a_series_behind_its_calendar_is_stale_recorded_and_fails(db_url, db, wl):
    ny = "America/New_York"
    _bar(db, "NASDAQ:AAPL", "1h", dt.datetime(2024, 7, 5, 18, 30, tzinfo=UTC), ny)
    _bar(db, "BINANCE:BTCUSDT", "1h", dt.datetime(2024, 7, 8, 7, tzinfo=UTC))
    with pytest.raises(StaleData, match="2 stale series"):
        check_freshness(url=db_url, now=MONDAY_NOON, watchlist=wl, on_stale="fail")
    with db.cursor() as cur:  # the failed check is still recorded
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_stale) FROM candleflow.freshness_checks"
        )
        assert cur.fetchone() == (2, 2)


def test_warn_mode_records_without_failing(db_url, db, wl):
    _bar(db, "BINANCE:BTCUSDT", "1h", dt.datetime(2024, 7, 1, tzinfo=UTC))
    result = check_freshness(url=db_url, now=MONDAY_NOON, watchlist=wl, on_stale="warn")
    stale, expected = _checks(db)[("BINANCE:BTCUSDT", "1h")]
    assert stale is True
    lag = (expected - dt.datetime(2024, 7, 1, tzinfo=UTC)).total_seconds()  # behind by that much
    assert result == {"checked": 1, "stale": 1, "lag_seconds": {"1h": lag}}
