"""The lookback limit by default: a window older than the provider can
reach is audited ``out_of_window`` with no option set, never ``success, 0 fetched``.

The replay server keeps only the newest 5,000 bars of each series, as a free TradingView plan
does; the provider is given nothing but the server's URL (its default plan is the free one).
"""

from __future__ import annotations

import datetime as dt

import pytest

from candleflow.services.sync import sync
from candleflow.testing import ReplayServer

pytestmark = pytest.mark.timeout(180)

NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def server():
    with ReplayServer(seed=3, now=NOW.timestamp(), max_bars=5000) as srv:
        yield srv


def state(db, symbol: str, timeframe: str):
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.outcome, a.rows_fetched, a.rows_out_of_reach, s.reachable_start"
            " FROM candleflow.load_audit a JOIN candleflow.sync_state s"
            " ON s.instrument_id = a.instrument_id AND s.timeframe = a.timeframe"
            " WHERE a.symbol = %s AND a.timeframe = %s",
            (symbol, timeframe),
        )
        return cur.fetchone()


@pytest.mark.parametrize(
    ("symbol", "timeframe", "ago", "bars"),
    [
        ("BINANCE:BTCUSDT", "1h", dt.timedelta(days=400), 24),  # 5,000 hours: 208 days
        ("NASDAQ:AAPL", "1d", dt.timedelta(days=25 * 365), 1),  # 5,000 sessions: ~20 years
    ],
)
def test_an_unreachable_window_is_out_of_window_with_no_option_set(
    server, db_url, db, symbol, timeframe, ago, bars
):
    start = (NOW - ago).replace(hour=0)
    start += dt.timedelta(days=(7 - start.weekday()) % 7)  # a Monday: AAPL has a session
    end = start + dt.timedelta(days=1)
    record = sync(symbol, timeframe, start, end, provider_options={"url": server.url}, url=db_url)

    assert (record["outcome"], record["rows_fetched"]) == ("out_of_window", 0)
    outcome, fetched, missing, reachable = state(db, symbol, timeframe)
    assert (outcome, fetched, missing) == ("out_of_window", 0, bars)
    assert reachable > end  # what the server can serve starts later than the window
