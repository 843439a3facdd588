"""Ranged history requests and the lookback window, real client against the replay server.

The server's clock is frozen (``NOW``) and the same ``now`` is given to ``fetch_bars``, so the
forming bar is the same on both sides. Expected bars come from ``synthetic.bars`` (the
oracle the server promises to match); what a fetch cost is the server's own count of the
history bars it sent (``ConnectionRecord.bars_sent``) and the methods it received.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from candleflow.domain import BAR_COLUMNS
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing import synthetic
from candleflow.testing.replay_server import ReplayServer

pytestmark = pytest.mark.timeout(60)

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
NOW = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 90 * dt.timedelta(
    minutes=1
)  # hh:30, in the past: the 1h bar that started at hh:00 is forming
CAP = 1000
BTC, AAPL = "BINANCE:BTCUSDT", "NASDAQ:AAPL"


def provider(url: str, **options: object) -> TradingViewProvider:
    settings: dict[str, object] = {"token": "unauthorized_user_token", "timeout": 5.0}
    settings |= {"max_retries": 2, "backoff": 0.01, "max_backoff": 0.05}
    return TradingViewProvider(url=url, **(settings | options))  # type: ignore[arg-type]


def oracle(symbol: str, start: dt.datetime, end: dt.datetime, tf: str = "1h") -> pd.DataFrame:
    bars = synthetic.bars(symbol, tf, start, end, seed=1, now=NOW)
    complete = bars["ts"] + pd.Timedelta(hours=1) <= NOW if tf == "1h" else slice(None)
    return bars[complete].reset_index(drop=True)


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=True)


def fetch(server: ReplayServer, symbol: str, start, end, **options):
    """Bars, the connection's record (what the server saw) and the provider's timings."""
    before = len(server.stats.connections)
    with provider(server.url, **options) as tv:
        bars = tv.fetch_bars(symbol, "1h", start, end, now=NOW)
        timings = tv.timings
    (record,) = server.stats.connections[before:]
    return bars, record, timings


@pytest.fixture(scope="module")
def server():
    with ReplayServer(port=0, seed=1, bar_cap=CAP, now=NOW.timestamp()) as srv:
        yield srv


@pytest.fixture(scope="module")
def ignoring_server():
    with ReplayServer(
        port=0, seed=1, bar_cap=CAP, now=NOW.timestamp(), scenario="ignore_range"
    ) as srv:
        yield srv


# ----- ranged requests ---------------------------------------------------------------------


def test_an_old_window_costs_only_its_own_bars_where_count_paging_costs_everything_since(
    server,
):
    start = NOW.replace(minute=0) - 4000 * HOUR
    end = start + 300 * HOUR
    expected = oracle(BTC, start, end)
    ranged, ranged_record, _ = fetch(server, BTC, start, end)
    counted, count_record, _ = fetch(server, BTC, start, end, paging="count")
    assert_same(ranged, expected)
    assert_same(counted, expected)
    assert len(expected) == 300
    assert ranged_record.bars_sent == 300  # one reply, exactly the window
    assert ranged_record.methods().count("create_series") == 1
    assert "request_more_data" not in ranged_record.methods()
    assert count_record.bars_sent >= 4000  # every bar between the window and now
    assert count_record.bars_sent >= 10 * ranged_record.bars_sent


def test_a_window_longer_than_one_reply_is_paged_inside_the_range(server):
    start = NOW.replace(minute=0) - 6000 * HOUR
    end = start + 2500 * HOUR
    bars, record, timings = fetch(server, BTC, start, end)
    assert_same(bars, oracle(BTC, start, end))
    assert record.bars_sent == 2500  # nothing outside the window, nothing twice
    loads = [p for m, p in record.requests if m in ("create_series", "modify_series")]
    assert [m for m in record.methods() if m.endswith("_series")] == [
        "create_series",
        "modify_series",
        "modify_series",
    ]
    lo = int(start.timestamp())
    assert all(p[6].startswith(f"r,{lo}:") for p in loads)  # every page asks inside the window
    assert [p[2] for p in loads] == ["s1", "s2", "s3"]  # a new turnaround per load
    assert timings.pages == 3 and timings.range_fallbacks == 0


def test_an_xnys_window_with_gaps_and_an_off_grid_start_equals_the_oracle(server):
    start = dt.datetime.combine(NOW.date(), dt.time(0, 0), UTC) - dt.timedelta(days=300)
    end = start + dt.timedelta(days=45)  # weekends, maybe a holiday; 1h bars start at :30
    bars, record, _ = fetch(server, AAPL, start, end)
    expected = oracle(AAPL, start, end)
    assert len(expected) > 150
    assert_same(bars, expected)
    assert record.bars_sent == len(expected)


def test_a_server_that_ignores_the_range_gives_the_same_bars_by_count_paging(
    server, ignoring_server
):
    start = NOW.replace(minute=0) - 3000 * HOUR
    end = start + 200 * HOUR
    bars, record, timings = fetch(ignoring_server, BTC, start, end)
    assert_same(bars, oracle(BTC, start, end))
    assert timings.range_fallbacks == 1
    assert "request_more_data" in record.methods()  # paged back from the newest bars
    _, honoured, _ = fetch(server, BTC, start, end)
    assert record.bars_sent > 10 * honoured.bars_sent  # the fallback costs what count paging does


def test_an_empty_window_is_one_empty_reply(server):
    saturday = NOW - dt.timedelta(days=(NOW.weekday() - 5) % 7 + 70)
    start = dt.datetime.combine(saturday.date(), dt.time(0, 0), UTC)
    bars, record, _ = fetch(server, AAPL, start, start + 36 * HOUR)  # Saturday, no session
    assert bars.empty
    assert record.bars_sent == 0 and record.methods().count("create_series") == 1


# ----- the lookback window (max_bars) ------------------------------------------------------

MAX_BARS = 2000


@pytest.fixture(scope="module")
def limited_server():
    with ReplayServer(port=0, seed=1, bar_cap=CAP, now=NOW.timestamp(), max_bars=MAX_BARS) as srv:
        yield srv


def oldest_reachable(symbol: str) -> dt.datetime:
    """The oracle's answer: the start of the MAX_BARS-th newest bar, forming bar included."""
    every = synthetic.bars(symbol, "1h", NOW - 10 * MAX_BARS * HOUR, NOW + HOUR, now=NOW)
    return every["ts"].iloc[-MAX_BARS].to_pydatetime()


@pytest.mark.parametrize("symbol", [BTC, AAPL])
def test_a_window_wholly_older_than_the_lookback_is_empty_with_its_reachable_start(
    limited_server, symbol
):
    reach = oldest_reachable(symbol)
    start = reach - 500 * HOUR
    bars, record, _ = fetch(limited_server, symbol, start, reach - 100 * HOUR, max_bars=MAX_BARS)
    assert bars.empty and tuple(bars.columns) == BAR_COLUMNS  # empty, not an error
    assert bars.attrs["reachable_start"] == reach
    assert bars.attrs["reachable_start"].tzinfo is not None
    assert record.bars_sent == MAX_BARS  # the probe's bars; the window itself sent none


@pytest.mark.parametrize("symbol", [BTC, AAPL])
def test_a_straddling_window_returns_the_reachable_part(limited_server, symbol):
    reach = oldest_reachable(symbol)
    start, end = reach - 300 * HOUR, reach + 400 * HOUR
    bars, _, _ = fetch(limited_server, symbol, start, end, max_bars=MAX_BARS)
    expected = oracle(symbol, start, end)
    assert len(expected[expected["ts"] < reach]) > 0  # the window does straddle the limit
    assert_same(bars, expected[expected["ts"] >= reach].reset_index(drop=True))
    assert bars.attrs["reachable_start"] == reach


def test_a_recent_window_needs_no_probe_and_has_no_reachable_start(limited_server):
    start = NOW.replace(minute=0) - 48 * HOUR
    bars, record, _ = fetch(limited_server, BTC, start, NOW, max_bars=MAX_BARS)
    assert_same(bars, oracle(BTC, start, NOW))
    assert "reachable_start" not in bars.attrs
    assert record.methods().count("create_series") == 1  # the fetch only


def test_one_probe_per_series_serves_every_window_of_a_provider(limited_server):
    reach = oldest_reachable(BTC)
    windows = [(reach - k * 100 * HOUR, reach - (k - 1) * 100 * HOUR) for k in (5, 4, 3)]
    before = len(limited_server.stats.connections)
    with provider(limited_server.url, max_bars=MAX_BARS) as tv:
        frames = [tv.fetch_bars(BTC, "1h", s, e, now=NOW) for s, e in windows]
    (record,) = limited_server.stats.connections[before:]
    assert all(f.empty and f.attrs["reachable_start"] == reach for f in frames)
    probes = math.ceil(MAX_BARS / CAP)  # count paging back from the newest bar, once
    assert record.bars_sent == MAX_BARS
    assert record.methods().count("request_more_data") == probes - 1


def test_without_max_bars_a_window_the_free_plan_reaches_is_not_probed(limited_server):
    reach = oldest_reachable(BTC)
    bars, record, _ = fetch(limited_server, BTC, reach - 500 * HOUR, reach - 100 * HOUR)
    assert bars.empty and "reachable_start" not in bars.attrs  # within 5,000 bars of now
    assert record.bars_sent == 0
