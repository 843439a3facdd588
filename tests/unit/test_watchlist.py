"""The watchlist: providers per symbol and per section, chunks, history and grid settings,
and errors that name the file and the bad entry."""

from __future__ import annotations

import datetime as dt

import pytest

from candleflow import dag_specs, watchlist


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
    (hourly,) = [s for s in dag_specs.dag_specs(wl) if s.dag_id == "ohlcv_1h"]
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
    specs = {s.dag_id: s for s in dag_specs.dag_specs(wl)}
    assert specs["ohlcv_1d"].calendar == "XNYS"
    assert set(specs["ohlcv_1d"].symbols) == {"NASDAQ:AAPL", "NASDAQ:MSFT", "NYSE:IBM"}
    assert specs["ohlcv_1d_24x7"].calendar is None
    history = {s.dag_id: s for s in dag_specs.history_specs(wl)}
    assert set(history) == {"ohlcv_1h_history", "ohlcv_1d_history"}
    assert history["ohlcv_1d_history"].history_months == 3
    assert history["ohlcv_1h_history"].history_months == 1
    assert set(history["ohlcv_1h_history"].symbols) == set(wl.symbols)


def test_an_intraday_calendar_dag_ends_its_intervals_when_its_bars_close(tmp_path):
    wl = load(
        tmp_path,
        'symbols = ["NASDAQ:AAPL", "BINANCE:BTCUSDT"]\n[timeframes.1h]\ncalendar = "XNYS"\n',
    )
    specs = {s.dag_id: s for s in dag_specs.dag_specs(wl)}
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
    assert dag_specs.history_specs(wl) == []
    (spec,) = dag_specs.dag_specs(wl)
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
        ('symbols = [{ symbol = "NASDAQ:AAPL", session = "overnight" }]', "bad session"),
        ('symbols = [{ symbol = "BINANCE:BTCUSDT", session = "extended" }]', "no extended"),
        (
            'symbols = [{ symbol = "NASDAQ:AAPL", session = "extended" },'
            ' { symbol = "NASDAQ:AAPL", session = "extended" }]',
            "listed twice",
        ),
    ],
)
def test_bad_entries_are_refused_naming_the_file_and_the_entry(tmp_path, text, message):
    with pytest.raises(ValueError, match=message) as raised:
        load(tmp_path, text)
    assert "watchlist.toml" in str(raised.value) or "EXCHANGE:TICKER" in str(raised.value)


def test_the_default_watchlist_loads(tmp_path):
    wl = watchlist.load(watchlist.DEFAULT)
    assert wl.chunk_size == watchlist.DEFAULT_CHUNK_SIZE
    assert {s.dag_id for s in dag_specs.dag_specs(wl)} >= {"ohlcv_1h", "ohlcv_1d"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('symbols = "NASDAQ:AAPL"', "symbols = 'NASDAQ:AAPL' is a string; expected an array"),
        ("symbols = [5]", "symbols[0]: bad symbol 5: a int"),
        ('symbols = ["NASDAQ:AAPL", "NASDAQ:AA PL"]', "symbols[1]: bad symbol 'NASDAQ:AA PL'"),
        ('symbols = ["A:B:C"]', "symbols[0]: bad symbol 'A:B:C': more than one ':'"),
        ('symbols = ["NASDAQ:AAPL"]\nprovider_options = 5', "provider_options = 5 is a whole"),
        ('symbols = ["NASDAQ:AAPL"]\nprovider = 1', "provider = 1 is a whole number"),
        ('symbols = ["NASDAQ:AAPL"]\nreject_threshold = "abc"', "reject_threshold = 'abc'"),
        ('symbols = ["NASDAQ:AAPL"]\nchunk_size = "10"', "chunk_size = '10'; expected a whole"),
        ('symbols = ["NASDAQ:AAPL"]\ntimeframes = 3', "timeframes = 3 is a whole number"),
        ('symbols = ["NASDAQ:AAPL"]\n[timeframes.1h]\nevery = 15', "every = 15 is a whole number"),
        ('symbols = ["NASDAQ:AAPL"]\n[timeframes.7m]', "[timeframes.7m]: unknown timeframe"),
        (
            'symbols = [{ symbol = "BINANCE:BTCUSDT", options = "x" }]',
            "symbols[0]: options = 'x' is a string; expected a table",
        ),
        (
            'symbols = ["NASDAQ:AAPL"]\n[[sources]]\nprovider = "ccxt"\nsymbols = ["BINANCE:X Y"]',
            "[[sources]] #1 symbols[0]: bad symbol 'BINANCE:X Y'",
        ),
        (
            'symbols = ["NASDAQ:AAPL"]\n[timeframes.1d]\ncalendar = "XNYZ"',
            "[timeframes.1d]: unknown calendar 'XNYZ'; expected one of XETR, XLON, XNYS, XTSE",
        ),
    ],
)
def test_type_errors_and_unknown_calendars_name_the_file_and_the_key(tmp_path, text, message):
    from candleflow.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(tmp_path / "watchlist.toml") in str(raised.value)
    assert message in str(raised.value)


def test_a_symbol_is_listed_once_per_session_and_its_extended_series_is_a_chunk_of_its_own(
    tmp_path,
):
    wl = load(
        tmp_path,
        'symbols = ["NASDAQ:AAPL", "NYSE:IBM", { symbol = "NASDAQ:AAPL", session = "extended" }]'
        "\n[provider_options]\nmax_bars = 5000\n[timeframes.30m]\n",
    )
    assert wl.symbols == ("NASDAQ:AAPL", "NYSE:IBM")
    (spec,) = dag_specs.dag_specs(wl)
    chunks = [(c.symbols, c.options) for c in spec.chunks]
    assert chunks == [
        (("NASDAQ:AAPL", "NYSE:IBM"), {"max_bars": 5000}),
        (("NASDAQ:AAPL",), {"max_bars": 5000, "session": "extended"}),
    ]
