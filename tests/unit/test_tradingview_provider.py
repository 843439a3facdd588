"""The real TradingView client against the replay server, compared with the synthetic oracle.

Every network test carries a ``pytest.mark.timeout``: a hang is a failure, never a stall.
Expected values come from ``candleflow.testing.synthetic.bars`` (the exact bars the server
serves), from ``exchange_calendars`` or from the scenario descriptions, never from the code
under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pytest

from candleflow.domain import Tick
from candleflow.errors import (
    AuthenticationError,
    ProviderDisconnected,
    ProviderError,
    ProviderTimeout,
    SymbolNotFound,
    TransientError,
)
from candleflow.providers.tradingview import TradingViewProvider
from candleflow.testing import synthetic
from candleflow.testing.replay_server import ReplayServer

pytestmark = pytest.mark.timeout(60)

UTC = dt.UTC
ANONYMOUS = "unauthorized_user_token"
CAP = 1000  # the module server's per-request cap: small, so windows need several pages
HOUR = dt.timedelta(hours=1)


def this_hour() -> dt.datetime:
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def url_with(url: str, **query: object) -> str:
    return f"{url}?{urlencode(query)}"


def make_provider(url: str, **options: object) -> TradingViewProvider:
    settings: dict[str, object] = {
        "token": ANONYMOUS,
        "timeout": 5.0,
        "max_retries": 3,
        "backoff": 0.01,
        "max_backoff": 0.05,
    }
    settings.update(options)
    return TradingViewProvider(url=url, **settings)  # type: ignore[arg-type]


def watch_client_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture the client's logs (ours and websocket-client's) at DEBUG, not the server's."""
    for name in ("candleflow.providers", "websocket", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)


def oracle(symbol: str, tf: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    return synthetic.bars(symbol, tf, start, end, seed=1)


def assert_same_bars(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got["ts"].is_unique, "duplicate bars"
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
    )


@pytest.fixture(scope="module")
def server():
    with ReplayServer(port=0, seed=1, bar_cap=CAP) as srv:
        yield srv


@pytest.fixture
def fresh_server():
    """A server of its own, for faults that happen once per server."""
    with ReplayServer(port=0, seed=1, bar_cap=CAP) as srv:
        yield srv


def btc_window(hours_back: int = 3500, hours_long: int = 3200) -> tuple[dt.datetime, dt.datetime]:
    start = this_hour() - hours_back * HOUR
    return start, start + hours_long * HOUR


# ----- history -----------------------------------------------------------------------------


def test_multi_page_fetch_equals_oracle_without_gap_or_duplicate(server):
    start, end = btc_window()
    with make_provider(server.url) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
    expected = oracle("BINANCE:BTCUSDT", "1h", start, end)
    assert len(expected) == 3200 > CAP  # the window alone needs more than one page
    assert_same_bars(got, expected)
    assert (got["ts"].diff().dropna() == pd.Timedelta(hours=1)).all()  # no gap


def test_spx_has_null_volume_and_exact_prices(server):
    start = this_hour() - 900 * HOUR
    end = start + 600 * HOUR
    with make_provider(server.url) as tv:
        got = tv.fetch_bars("SP:SPX", "1h", start, end)
    assert len(got) > 0
    assert got["volume"].isna().all()
    assert_same_bars(got, oracle("SP:SPX", "1h", start, end))


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # inside exchange_calendars
def test_daily_xnys_bars_are_stamped_at_session_open(server):
    import exchange_calendars as xcals

    start, end = dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 11, 1, tzinfo=UTC)
    with make_provider(server.url) as tv:
        got = tv.fetch_bars("NASDAQ:AAPL", "1d", start, end)
    opens = xcals.get_calendar("XNYS").schedule.loc["2025-01-01":"2025-10-31", "open"]
    assert list(got["ts"]) == [pd.Timestamp(t).tz_convert("UTC") for t in opens]
    assert {(t.hour, t.minute) for t in got["ts"]} == {(14, 30), (13, 30)}  # winter, summer
    assert_same_bars(got, oracle("NASDAQ:AAPL", "1d", start, end))


def test_one_connection_serves_many_symbols(server):
    start, end = btc_window(200, 100)
    with make_provider(server.url) as tv:
        for symbol in ("BINANCE:BTCUSDT", "BINANCE:ETHUSDT", "NASDAQ:MSFT"):
            assert_same_bars(
                tv.fetch_bars(symbol, "1h", start, end), oracle(symbol, "1h", start, end)
            )
        assert tv.timings.connections == 1
    headers = {k.lower(): v for k, v in server.stats.connections[-1].headers.items()}
    assert headers["origin"] == "https://www.tradingview.com"


def test_unknown_symbol_fails_at_once(server):
    start, end = btc_window(100, 50)
    with make_provider(server.url, timeout=30.0) as tv:
        began = time.monotonic()
        with pytest.raises(SymbolNotFound) as info:
            tv.fetch_bars("NASDAQ:BADSYM", "1h", start, end)
        assert time.monotonic() - began < 3.0  # did not wait for the 30 s timeout
        assert info.value.reason == "invalid symbol"
        # the socket is still good for the next symbol
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
        assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))
        assert tv.timings.connections == 1


def test_resolve_maps_symbol_resolved(server):
    with make_provider(server.url) as tv:
        inst = tv.resolve("NASDAQ:AAPL")
        with pytest.raises(SymbolNotFound):
            tv.resolve("NASDAQ:BAD")
    assert (inst.symbol, inst.exchange, inst.ticker) == ("NASDAQ:AAPL", "NASDAQ", "AAPL")
    assert (inst.description, inst.type, inst.currency) == ("Apple Inc.", "stock", "USD")
    assert (inst.timezone, inst.session, inst.price_scale) == ("America/New_York", "0930-1600", 100)
    assert inst.provider == "tradingview"


def test_non_ascii_astral_description_survives_framing(server):
    with make_provider(server.url) as tv:
        assert tv.resolve("NYSE:SCGLY").description == "Société Générale 😀"


def test_bad_token_raises_authentication_error(server, caplog):
    secret = "tv-secret-token-123"
    watch_client_logs(caplog)
    with make_provider(url_with(server.url, scenario="bad_token"), token=secret) as tv:
        assert secret not in repr(tv) and "token=***" in repr(tv)
        with pytest.raises(AuthenticationError) as info:
            tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))
    assert info.value.reason == "bad auth token"
    assert secret not in str(info.value)
    assert secret not in caplog.text


def test_token_never_logged_on_success(server, caplog):
    secret = "tv-secret-token-456"
    watch_client_logs(caplog)
    with make_provider(server.url, token=secret) as tv:
        tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))
    assert "token configured" in caplog.text
    assert secret not in caplog.text


def test_invalid_resolution_is_a_provider_error(server):
    from candleflow.domain import Timeframe

    with make_provider(server.url) as tv, pytest.raises(ProviderError) as info:
        tv._fetch_bars(  # a code the server rejects: what a typo in a table would send
            "BINANCE:BTCUSDT", Timeframe("1h", "1h", 60), *btc_window(100, 50)
        )
    assert info.value.reason == "invalid parameters"
    assert not isinstance(info.value, TransientError)


# ----- fault scenarios ---------------------------------------------------------------------


def test_disconnect_mid_page_reconnects_and_loses_nothing(fresh_server):
    start, end = btc_window()
    url = url_with(fresh_server.url, scenario="disconnect_mid_page")
    with make_provider(url) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
        assert tv.timings.connections == 2
    assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))


def test_heartbeats_only_ends_in_provider_timeout(server):
    url = url_with(server.url, scenario="heartbeats_only", heartbeat=0.1)
    began = time.monotonic()
    with make_provider(url, timeout=0.8, max_retries=1) as tv, pytest.raises(ProviderTimeout):
        tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))
    assert time.monotonic() - began < 5.0  # heartbeats did not extend the deadline


def test_heartbeats_are_echoed_so_the_server_keeps_the_socket(fresh_server):
    # the server closes a socket whose echo is over 1 s late; this slow five-page fetch
    # outlives that many times over and must still use one connection
    url = url_with(
        fresh_server.url, scenario="slow", delay=0.3, heartbeat=0.05, heartbeat_timeout=1.0
    )
    start, end = btc_window(4500, 2400)
    with make_provider(url) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
        assert tv.timings.connections == 1
    assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))
    (record,) = fresh_server.stats.connections
    assert record.heartbeats_sent >= 3
    assert record.heartbeats_echoed >= record.heartbeats_sent - 1  # the last may be in flight


def test_http_429_once_is_retried(fresh_server):
    start, end = btc_window(100, 50)
    # The server asks for 1 s (Retry-After); a max_backoff below that would give up at once.
    with make_provider(url_with(fresh_server.url, scenario="http_429"), max_backoff=1.0) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
    assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))


def test_http_429_forever_ends_in_provider_disconnected(fresh_server):
    url = url_with(fresh_server.url, scenario="http_429", reject=100)
    with make_provider(url, max_retries=2) as tv, pytest.raises(ProviderDisconnected) as info:
        tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))
    assert "429" in str(info.value)
    assert isinstance(info.value, TransientError)


def test_malformed_frame_reconnects_and_completes(fresh_server):
    start, end = btc_window(2500, 2400)
    with make_provider(url_with(fresh_server.url, scenario="malformed_frame")) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
        assert tv.timings.connections == 2
    assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))


def test_slow_server_completes_within_timeout(server):
    start, end = btc_window(1500, 1400)
    with make_provider(url_with(server.url, scenario="slow", delay=0.2), timeout=2.0) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
    assert_same_bars(got, oracle("BINANCE:BTCUSDT", "1h", start, end))


def test_server_slower_than_timeout_ends_in_provider_timeout(server):
    url = url_with(server.url, scenario="slow", delay=2.0)
    with make_provider(url, timeout=0.3, max_retries=1) as tv, pytest.raises(ProviderTimeout):
        tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))


def test_refused_connection_is_transient():
    url = "ws://127.0.0.1:9/socket.io/websocket"  # the discard port: nothing listens
    with make_provider(url, max_retries=1) as tv, pytest.raises(ProviderDisconnected):
        tv.fetch_bars("BINANCE:BTCUSDT", "1h", *btc_window(100, 50))


def test_bad_bars_pass_through_for_validation(server):
    """Corrupt bars are the validator's to reject: returned as sent, conflicts kept."""
    start, end = btc_window(2500, 2400)
    with make_provider(url_with(server.url, scenario="bad_bars")) as tv:
        got = tv.fetch_bars("BINANCE:BTCUSDT", "1h", start, end)
    expected = oracle("BINANCE:BTCUSDT", "1h", start, end).set_index("ts")
    cols = ["open", "high", "low", "close", "volume"]
    kinds: dict[str, int] = {}
    for ts, rows in got.groupby("ts"):
        if ts not in expected.index:  # off the grid: a bar moved by +7 s, values intact
            original = expected.loc[ts - pd.Timedelta(seconds=7), cols].to_numpy()
            assert np.array_equal(rows[cols].to_numpy()[0], original)
            kinds["shifted"] = kinds.get("shifted", 0) + 1
            continue
        want = expected.loc[ts, cols].to_numpy(dtype="float64")
        for row in rows[cols].to_numpy(dtype="float64"):
            kind = _corruption(row, want, len(rows))
            kinds[kind] = kinds.get(kind, 0) + 1
    assert {"swapped", "negative_volume", "twin", "null_close", "shifted"} <= set(kinds)
    assert kinds.get("twin", 0) >= 2  # more than one page was corrupted and all were kept


def _corruption(row: np.ndarray, want: np.ndarray, copies: int) -> str:
    o, h, lo, c, v = row
    if np.array_equal(row, want, equal_nan=True):
        return "twin_original" if copies > 1 else "clean"
    if h < lo and o == want[0] and c == want[3]:
        return "swapped"
    if v == -(want[4] + 1):
        return "negative_volume"
    if np.isnan(c) and np.array_equal(row[:3], want[:3]):
        return "null_close"
    if copies > 1 and np.allclose(row[:4], np.round(want[:4] * 1.01, 6), rtol=0, atol=1e-9):
        return "twin"
    raise AssertionError(f"unexpected bar {row} (oracle {want})")


# ----- quotes ------------------------------------------------------------------------------


def collect_ticks(tv: TradingViewProvider, symbols: list[str], n: int) -> list:
    stop = threading.Event()
    ticks = []
    for tick in tv.stream_ticks(symbols, stop=stop):
        ticks.append(tick)
        if len(ticks) >= n:
            stop.set()
    return ticks


def assert_tick_stream_sound(ticks: list) -> None:
    by_symbol: dict[str, list] = {}
    for t in ticks:
        by_symbol.setdefault(t.symbol, []).append(t)
    for symbol, rows in by_symbol.items():
        assert [t.seq for t in rows] == list(range(1, len(rows) + 1)), symbol
        keys = [(t.ts, t.price, t.day_volume, t.bid, t.ask) for t in rows]
        assert len(set(keys)) == len(keys), f"duplicate ticks for {symbol}"
        assert all(t.ts.tzinfo is not None and t.ts.utcoffset() == dt.timedelta(0) for t in rows)
        assert all(t.size is None for t in rows)
        assert all(t.bid < t.price < t.ask for t in rows)  # the server quotes lp -/+ 1 tick


def test_stream_ticks_snapshot_then_deltas(server):
    url = url_with(server.url, tick_interval=0.01)
    with make_provider(url) as tv:
        ticks = collect_ticks(tv, ["BINANCE:BTCUSDT", "SP:SPX"], 60)
    assert_tick_stream_sound(ticks)
    btc = [t for t in ticks if t.symbol == "BINANCE:BTCUSDT"]
    spx = [t for t in ticks if t.symbol == "SP:SPX"]
    assert btc and spx
    assert all(t.day_volume is None for t in spx)  # 1e+100 sentinel: no volume
    volumes = [t.day_volume for t in btc]
    drops = sum(b < a for a, b in itertools.pairwise(volumes))
    assert drops <= 1  # cumulative session volume only falls when a new session starts


def test_stream_survives_disconnect_without_duplicates(fresh_server):
    url = url_with(
        fresh_server.url, scenario="disconnect_mid_stream", tick_interval=0.01, drop_after=20
    )
    with make_provider(url) as tv:
        ticks = collect_ticks(tv, ["BINANCE:BTCUSDT"], 60)
        assert tv.timings.connections == 2
    assert len(ticks) == 60
    assert_tick_stream_sound(ticks)


def test_stream_stops_promptly_when_stop_is_set(server):
    stop = threading.Event()
    with make_provider(url_with(server.url, tick_interval=5.0)) as tv:
        stream = tv.stream_ticks(["BINANCE:BTCUSDT"], stop=stop)
        first = next(stream)  # the snapshot
        threading.Timer(0.3, stop.set).start()
        began = time.monotonic()
        rest = list(stream)
    assert first.seq == 1 and rest == []
    assert time.monotonic() - began < 2.0


def test_stream_unknown_symbol_raises(server):
    with make_provider(server.url) as tv, pytest.raises(SymbolNotFound):
        collect_ticks(tv, ["NASDAQ:BADSYM"], 1)


def test_tick_batches_are_the_ticks_of_stream_ticks_as_rows(server):
    """The collector's path (``stream_tick_batches``, the base class's template method) carries
    the same ticks as ``stream_ticks``."""
    url = url_with(server.url, tick_interval=0.01)
    stop = threading.Event()
    rows: list[tuple] = []
    with make_provider(url) as tv:
        for batch in tv.stream_tick_batches(["BINANCE:BTCUSDT", "SP:SPX"], stop=stop):
            rows += batch
            if len(rows) >= 40:
                stop.set()
    ticks = [Tick(r[0], dt.datetime.fromtimestamp(r[1], tz=UTC), *r[2:]) for r in rows]
    assert {t.symbol for t in ticks} == {"BINANCE:BTCUSDT", "SP:SPX"}
    assert_tick_stream_sound(ticks)
