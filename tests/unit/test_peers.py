"""Two third-party clients get exactly the bars candleflow's client gets, bar for bar.

tvkit (its public range mode: ``create_series`` then ``modify_series`` with
``"r,<from>:<to>"``) and tvdatafeed (count mode, its only mode) run against the same replay
server as ``TradingViewProvider``. The server's clock is frozen so the three clients see the
same forming bar; candleflow never returns a forming bar, so it is compared on the complete
ones. Both peers report 0.0 volume where a bar has none; candleflow reports NaN.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing import peers, synthetic
from candleflow.testing.replay_server import ReplayServer

pytestmark = pytest.mark.timeout(120)

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
NOW = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(minutes=20)
SYMBOLS = ["BINANCE:BTCUSDT", "NASDAQ:AAPL", "SP:SPX"]


@pytest.fixture(scope="module")
def server():
    with ReplayServer(port=0, seed=1, now=NOW.timestamp()) as srv:  # bar_cap 5000, as tvkit
        yield srv


def candleflow_bars(url: str, symbol: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    with TradingViewProvider(url=url, token="unauthorized_user_token", timeout=10.0) as tv:
        return tv.fetch_bars(symbol, "1h", start, end, now=NOW)


def as_peer_reports(bars: pd.DataFrame) -> pd.DataFrame:
    """candleflow's bars with no-volume NaN written as the peers write it (0.0)."""
    return bars.assign(volume=bars["volume"].fillna(0.0)).reset_index(drop=True)


def assert_bar_for_bar(peer: pd.DataFrame, ours: pd.DataFrame) -> None:
    assert len(ours) > 0
    pd.testing.assert_frame_equal(peer.reset_index(drop=True), as_peer_reports(ours))


@pytest.mark.parametrize(
    ("hours_back", "hours_long"),
    [
        (1200, 300),  # inside the newest 5,000 bars tvkit's create_series delivers first
        (9000, 400),  # older than them: only modify_series brings it
        (5200, 400),  # straddling: tvkit merges both replies
    ],
)
@pytest.mark.parametrize("symbol", ["BINANCE:BTCUSDT", "NASDAQ:AAPL"])
def test_tvkit_range_mode_gets_candleflows_bars(server, symbol, hours_back, hours_long):
    start = NOW.replace(minute=0) - hours_back * HOUR
    end = start + hours_long * HOUR
    theirs = peers.tvkit_range(server.url, symbol, "1h", start, end)
    ours = candleflow_bars(server.url, symbol, start, end)
    assert_bar_for_bar(theirs, ours)
    oracle = synthetic.bars(symbol, "1h", start, end, seed=1, now=NOW)
    pd.testing.assert_frame_equal(ours, oracle)  # and all three are the server's bars


def complete(bars: pd.DataFrame) -> pd.DataFrame:
    return bars[bars["ts"] + pd.Timedelta(hours=1) <= NOW].reset_index(drop=True)


def test_tvdatafeed_gets_candleflows_bars(server):
    for symbol in SYMBOLS:
        theirs = complete(peers.tvdatafeed_latest(server.url, symbol, "1h", 300))
        assert len(theirs) >= 299
        ours = candleflow_bars(server.url, symbol, theirs["ts"].iloc[0], NOW)
        assert_bar_for_bar(theirs, ours)


def test_latest_bars_of_many_symbols_on_one_connection_agree(server):
    before = len(server.stats.connections)
    by_tvkit = peers.tvkit_latest_many(server.url, SYMBOLS, "1h", 100)
    assert len(server.stats.connections) == before + 1  # every symbol on one socket
    by_tvdatafeed = peers.tvdatafeed_latest_many(server.url, SYMBOLS, "1h", 100)
    assert len(server.stats.connections) == before + 2
    for symbol in SYMBOLS:
        assert len(by_tvkit[symbol]) == 100
        pd.testing.assert_frame_equal(by_tvkit[symbol], by_tvdatafeed[symbol])
        theirs = complete(by_tvkit[symbol])
        assert_bar_for_bar(theirs, candleflow_bars(server.url, symbol, theirs["ts"].iloc[0], NOW))


def test_an_unknown_symbol_is_an_error_in_both_peers(server):
    with pytest.raises(ValueError, match="NASDAQ:BADSYM"):
        peers.tvkit_latest_many(server.url, ["NASDAQ:BADSYM"], "1h", 10)
    with pytest.raises(ValueError, match="NASDAQ:BADSYM"):
        peers.tvdatafeed_latest(server.url, "NASDAQ:BADSYM", "1h", 10)
