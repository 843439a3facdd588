"""A daily bar closes when its session closes: ``fetch`` and ``sync`` of one
window hold the same sessions, early closes included, and a month's run holds its sessions.

The real TradingView client against the replay server (daily bars stamped at the session
open, as TradingView stamps them) into the real embedded PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow import calendars
from candleflow.providers import get_provider
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer
from tests.support.bars import stored_bars

pytestmark = pytest.mark.timeout(180)

UTC = dt.UTC
LATER = dt.datetime(2026, 12, 7, 19, tzinfo=UTC)  # a week after the windows below


def tv(srv) -> dict:
    return {"url": srv.url, "timeout": 10, "backoff": 0.05}


def stored_ts(db, symbol: str, timeframe: str = "1d") -> list[pd.Timestamp]:
    return stored_bars(db, symbol, timeframe)["ts"].tolist()


def fetched_ts(srv, symbol, start, end, now, timeframe: str = "1d") -> list[pd.Timestamp]:
    with get_provider("tradingview", **tv(srv)) as prov:
        bars = prov.fetch_bars(symbol, timeframe, start, end, now=now)
    return list(bars["ts"])


def test_sync_of_one_session_day_stores_that_session_as_fetch_prints_it(db_url, db):
    start, end = dt.datetime(2026, 11, 30, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)
    before_close = dt.datetime(2026, 11, 30, 20, 59, tzinfo=UTC)  # still open: not a bar yet
    with ReplayServer(seed=3, now=before_close.timestamp()) as srv:
        assert fetched_ts(srv, "NASDAQ:AAPL", start, end, before_close) == []
        sync(
            "NASDAQ:AAPL", "1d", start, end, provider_options=tv(srv), url=db_url, now=before_close
        )
    assert stored_ts(db, "NASDAQ:AAPL") == []
    with ReplayServer(seed=3, now=LATER.timestamp()) as srv:
        fetched = fetched_ts(srv, "NASDAQ:AAPL", start, end, LATER)
        record = sync("NASDAQ:AAPL", "1d", start, end, provider_options=tv(srv), url=db_url)
    session = pd.Timestamp("2026-11-30 14:30", tz="UTC")  # 09:30 New York
    assert fetched == [session]
    assert (record["outcome"], record["rows_fetched"], record["rows_inserted"]) == ("success", 1, 1)
    assert stored_ts(db, "NASDAQ:AAPL") == [session]


def test_an_early_close_session_is_loaded_once_it_has_closed(db_url, db):
    """2026-11-27, the day after Thanksgiving: XNYS closes at 13:00 New York (18:00 UTC)."""
    start, end = dt.datetime(2026, 11, 27, tzinfo=UTC), dt.datetime(2026, 11, 28, tzinfo=UTC)
    after_close = dt.datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
    with ReplayServer(seed=3, now=after_close.timestamp()) as srv:
        fetched = fetched_ts(srv, "NASDAQ:AAPL", start, end, after_close)
        sync("NASDAQ:AAPL", "1d", start, end, provider_options=tv(srv), url=db_url, now=after_close)
    session = pd.Timestamp("2026-11-27 14:30", tz="UTC")
    assert fetched == [session]
    assert stored_ts(db, "NASDAQ:AAPL") == [session]


def test_fetch_and_sync_of_one_window_hold_the_same_sessions(db_url, db):
    """A US equity (sessions, Thanksgiving, an early close) and a 24x7 pair (UTC days)."""
    start, end = dt.datetime(2026, 10, 20, tzinfo=UTC), dt.datetime(2026, 12, 2, tzinfo=UTC)
    with ReplayServer(seed=3, now=LATER.timestamp()) as srv:
        for symbol, days in (("NASDAQ:AAPL", 30), ("BINANCE:BTCUSDT", 43)):
            fetched = fetched_ts(srv, symbol, start, end, LATER)
            sync(symbol, "1d", start, end, provider_options=tv(srv), url=db_url, now=LATER)
            assert len(fetched) == days
            assert stored_ts(db, symbol) == fetched


def test_a_months_run_holds_that_months_sessions(db_url, db):
    """What one run of ``ohlcv_1d_history`` loads: ``(1 Nov 00:00, 1 Dec 00:00]`` UTC."""
    start, end = dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)
    with ReplayServer(seed=3, now=LATER.timestamp()) as srv:
        sync("NASDAQ:AAPL", "1d", start, end, provider_options=tv(srv), url=db_url, now=LATER)
    market = calendars.Market.of("NASDAQ:AAPL")
    sessions = calendars.schedule(market, pd.Timestamp(start), pd.Timestamp(end))
    assert len(sessions) == 20  # November 2026: 21 weekdays, Thanksgiving closed
    assert stored_ts(db, "NASDAQ:AAPL") == list(sessions["open"])


def test_weekly_and_monthly_bars_close_with_their_last_session(db_url, db):
    """The week of Thanksgiving closes at Friday's early close; November at its last close."""
    week_closed = dt.datetime(2026, 11, 27, 18, 1, tzinfo=UTC)
    month_closed = dt.datetime(2026, 11, 30, 21, 1, tzinfo=UTC)
    start, end = dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)
    with ReplayServer(seed=3, now=month_closed.timestamp()) as srv:
        sync("NASDAQ:AAPL", "1w", start, end, provider_options=tv(srv), url=db_url, now=week_closed)
        sync(
            "NASDAQ:AAPL", "1mo", start, end, provider_options=tv(srv), url=db_url, now=month_closed
        )
    weeks = stored_ts(db, "NASDAQ:AAPL", "1w")
    assert weeks[-1] == pd.Timestamp("2026-11-23 14:30", tz="UTC")  # Monday of that week
    assert stored_ts(db, "NASDAQ:AAPL", "1mo") == [pd.Timestamp("2026-11-02 14:30", tz="UTC")]
