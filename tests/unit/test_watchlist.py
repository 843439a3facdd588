"""The watchlist: providers per symbol and per section, chunks, history and grid settings,
and errors that name the file and the bad entry."""

from __future__ import annotations

import datetime as dt

import pytest

from candleflow import watchlist


def load(tmp_path, text: str) -> watchlist.Watchlist:
    path = tmp_path / "watchlist.toml"
    path.write_text(text)
    return watchlist.load(path)


MIXED = """
provider = "tradingview"
chunk_size = 2
symbols = ["NASDAQ:AAPL", "NASDAQ:MSFT", { symbol = "BINANCE:SOLUSDT", provider = "ccxt" },
           "NYSE:IBM"]
[provider_options]
max_bars = 5000
[[sources]]
provider = "ccxt"
symbols = ["BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
[timeframes.1h]
[timeframes.1d]
calendar = "XNYS"
history = "3mo"
"""


def test_chunks_never_mix_providers_and_keep_the_watchlist_order(tmp_path):
    wl = load(tmp_path, MIXED)
    (hourly,) = [s for s in watchlist.dag_specs(wl) if s.dag_id == "ohlcv_1h"]
    chunks = [(c.provider, c.symbols, c.options) for c in hourly.chunks]
    assert chunks == [
        ("tradingview", ("NASDAQ:AAPL", "NASDAQ:MSFT"), {"max_bars": 5000}),
        ("tradingview", ("NYSE:IBM",), {"max_bars": 5000}),
        # same provider, same options: one group, whether listed per symbol or in a section
        ("ccxt", ("BINANCE:SOLUSDT", "BINANCE:BTCUSDT"), {}),
        ("ccxt", ("BINANCE:ETHUSDT",), {}),
    ]
    assert set(wl.symbols) == {s for c in hourly.chunks for s in c.symbols}
    assert wl.source_of("BINANCE:ETHUSDT").provider == "ccxt"


def test_a_calendar_splits_daily_bars_and_history_dags_take_every_symbol(tmp_path):
    wl = load(tmp_path, MIXED)
    specs = {s.dag_id: s for s in watchlist.dag_specs(wl)}
    assert specs["ohlcv_1d"].calendar == "XNYS"
    assert set(specs["ohlcv_1d"].symbols) == {"NASDAQ:AAPL", "NASDAQ:MSFT", "NYSE:IBM"}
    assert specs["ohlcv_1d_24x7"].calendar is None
    history = {s.dag_id: s for s in watchlist.history_specs(wl)}
    assert set(history) == {"ohlcv_1h_history", "ohlcv_1d_history"}
    assert history["ohlcv_1d_history"].history_months == 3
    assert history["ohlcv_1h_history"].history_months == 1
    assert set(history["ohlcv_1h_history"].symbols) == set(wl.symbols)


def test_an_intraday_calendar_dag_ends_its_intervals_when_its_bars_close(tmp_path):
    wl = load(
        tmp_path,
        'symbols = ["NASDAQ:AAPL", "BINANCE:BTCUSDT"]\n[timeframes.1h]\ncalendar = "XNYS"\n',
    )
    specs = {s.dag_id: s for s in watchlist.dag_specs(wl)}
    # XNYS opens at 09:30 New York: its hourly bars close at :30 UTC, winter and summer.
    assert specs["ohlcv_1h"].offset == dt.timedelta(minutes=30)
    assert specs["ohlcv_1h"].calendar is None  # intraday: clock intervals, not sessions
    assert specs["ohlcv_1h_24x7"].offset == dt.timedelta(0)
    assert specs["ohlcv_1h_24x7"].symbols == ("BINANCE:BTCUSDT",)


def test_history_can_be_turned_off_and_the_offset_set_by_hand(tmp_path):
    wl = load(
        tmp_path,
        'symbols = ["BINANCE:BTCUSDT"]\n[timeframes.1h]\nhistory = false\noffset = "15m"\n',
    )
    assert watchlist.history_specs(wl) == []
    (spec,) = watchlist.dag_specs(wl)
    assert spec.offset == dt.timedelta(minutes=15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('symbols = ["AAPL"]', "EXCHANGE:TICKER"),
        ('symbols = ["NASDAQ:AAPL", "NASDAQ:AAPL"]', "listed twice"),
        ('symbols = ["NASDAQ:AAPL"]\nchunk_size = 0', "whole number >= 1"),
        ('symbols = ["NASDAQ:AAPL"]\n[timeframes.1h]\nhistory = "5mo"', "bad history '5mo'"),
        ('symbols = ["NASDAQ:AAPL"]\n[[sources]]\nsymbols = ["NYSE:IBM"]', "needs a provider"),
        ('symbols = ["NASDAQ:AAPL"]\nreject_threshold = 2', "reject_threshold"),
    ],
)
def test_bad_entries_are_refused_naming_the_file_and_the_entry(tmp_path, text, message):
    with pytest.raises(ValueError, match=message) as raised:
        load(tmp_path, text)
    assert "watchlist.toml" in str(raised.value) or "EXCHANGE:TICKER" in str(raised.value)


def test_the_default_watchlist_loads(tmp_path):
    wl = watchlist.load(watchlist.DEFAULT)
    assert wl.chunk_size == watchlist.DEFAULT_CHUNK_SIZE
    assert {s.dag_id for s in watchlist.dag_specs(wl)} >= {"ohlcv_1h", "ohlcv_1d"}
