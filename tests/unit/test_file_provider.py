"""The files provider against the real vendor files in ``shared/data`` and against bad files.

Expected counts and first/last timestamps come from the notes that ship with the data (its
``SOURCES.md``), converted to UTC by hand from the documented time zones; spot values were
read by eye from the raw files.
Tests that need ``shared/data`` skip when it is absent, unless ``CI=true`` (then they fail).
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candleflow.domain import BAR_COLUMNS, TICK_COLUMNS
from candleflow.errors import BadInputError, SymbolNotFound, UnsupportedOperation
from candleflow.providers import get_provider
from candleflow.providers.files import (
    PRESETS,
    FileMapping,
    FileProvider,
    FileSource,
    detect_mapping,
    preset,
    read_bars,
    read_ticks,
)
from tests.support.shared_data import shared_data as _shared


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


CET_END = {"timezone": "Europe/Berlin", "label": "end"}

# relpath, mapping, timeframe, rows, first ts (UTC), last ts (UTC)
BAR_FILES = [
    ("backtrader/orcl-1995-2014.txt", "backtrader", "1d", 5036, "1995-01-03", "2014-12-31"),
    ("backtrader/yhoo-1996-2015.txt", "backtrader", "1d", 4965, "1996-04-12", "2015-12-31"),
    ("backtrader/nvda-1999-2014.txt", "backtrader", "1d", 4012, "1999-01-22", "2014-12-31"),
    ("backtrader/2005-2006-day-001.txt", "backtrader", "1d", 512, "2005-01-03", "2006-12-29"),
    # CET (UTC+1 in January/February), bar end: 09:05 end -> 09:00 CET -> 08:00 UTC
    ("backtrader/2006-min-005.txt", preset("backtrader", **CET_END), "5m", 2142,
     "2006-01-02 08:00", "2006-01-30 16:25"),
    ("backtrader/2006-01-02-volume-min-001.txt", preset("backtrader", **CET_END), "1m", 30889,
     "2006-01-02 08:00", "2006-02-27 20:59"),
    ("mplfinance/yahoofinance-AAPL-20040819-20180120.csv", "yahoo", "1d", 3379,
     "2004-08-19", "2018-01-19"),
    ("mplfinance/yahoofinance-GOOG-20040819-20180120.csv", "yahoo", "1d", 3379,
     "2004-08-19", "2018-01-19"),
    ("mplfinance/yahoofinance-INTC-19950101-20040412.csv", "yahoo", "1d", 2335,
     "1995-01-03", "2004-04-08"),
    ("mplfinance/yahoofinance-SPY-20080101-20180101.csv", "yahoo", "1d", 2519,
     "2007-12-31", "2017-12-29"),
    ("mplfinance/jpyusd_barchartdotcom.csv", "barchart", "1d", 519, "2018-03-12", "2020-03-11"),
    # US/Eastern, EST (UTC-5) after 2019-11-03
    ("mplfinance/SP500_NOV2019_IDay.csv", "mplfinance_intraday", "1m", 1563,
     "2019-11-05 14:30", "2019-11-08 20:59"),
    ("zipline/csvdir_daily/AAPL.csv.gz", "zipline_csv", "1d", 754, "2012-01-03", "2014-12-31"),
    ("zipline/csvdir_daily/IBM.csv.gz", "zipline_csv", "1d", 754, "2012-01-03", "2014-12-31"),
    ("zipline/csvdir_daily/KO.csv.gz", "zipline_csv", "1d", 754, "2012-01-03", "2014-12-31"),
    ("zipline/csvdir_daily/MSFT.csv.gz", "zipline_csv", "1d", 754, "2012-01-03", "2014-12-31"),
    ("lean/daily/aapl.zip", "lean_daily", "1d", 5849, "1998-01-02", "2021-03-31"),
    ("lean/daily/spy.zip", "lean_daily", "1d", 5849, "1998-01-02", "2021-03-31"),
    # New York, EDT (UTC-4) in October
    ("lean/minute/spy/20131007_trade.zip", "lean_minute", "1m", 828,
     "2013-10-07 08:00", "2013-10-07 23:59"),
    ("freqtrade/ETH_BTC-5m.feather", "freqtrade_feather", "5m", 5760,
     "2018-01-10 04:55", "2018-01-30 04:50"),
    ("freqtrade/XRP_ETH-1m.feather", "freqtrade_feather", "1m", 2469,
     "2019-10-11 00:00", "2019-10-13 11:19"),
    ("freqtrade/XRP_USDT_USDT-5m-futures.feather", "freqtrade_feather", "5m", 1999,
     "2021-11-15 00:00", "2021-11-21 22:30"),
    ("freqtrade/UNITTEST_BTC-1m.json", "freqtrade_json_ohlcv", "1m", 13681,
     "2017-11-04 23:02", "2017-11-14 22:59"),
    ("nautilus/btc-perp-20211231-20220201_1m.csv", "nautilus_csv", "1m", 45031,
     "2021-12-31 23:01", "2022-02-01 05:31"),
    ("nautilus/gbpusd-m1-bid-2012.csv", "nautilus_csv", "1m", 30117,
     "2012-02-01 00:00", "2012-03-01 00:00"),
    ("nautilus/gbpusd-m1-ask-2012.csv", "nautilus_csv", "1m", 30117,
     "2012-02-01 00:00", "2012-03-01 00:00"),
    ("nautilus/6EH4.XCME_1min_bars_20240101_20240131.csv.gz", "nautilus_csv", "1m", 29996,
     "2024-01-01 23:01", "2024-01-31 23:59"),
]  # fmt: skip

TICK_FILES = [
    ("lean/tick/spy/20131007_trade.zip", "lean_tick_trade", 250601,
     "2013-10-07 08:00:00.464", "2013-10-07 23:59:59.536"),
    ("lean/tick/ibm/20131007_trade.zip", "lean_tick_trade", 24293,
     "2013-10-07 08:00:30.270", "2013-10-07 23:26:07.550"),
    ("lean/tick/ibm/20131007_quote.zip", "lean_tick_quote", 109067,
     "2013-10-07 08:00:00.054", "2013-10-08 00:00:00.122"),
    ("freqtrade/XRP_ETH-trades.json.gz", "freqtrade_trades_json", 12477,
     "2019-10-11 00:00:11.620", "2019-10-13 11:19:28.844"),
    ("freqtrade/public_trades_list.csv", "freqtrade_trades_csv", 1000,
     "2023-02-02 09:20:00.138", "2023-02-02 09:23:27.493"),
    ("freqtrade/BCHEUR.csv", "kraken_csv", 148, "2023-01-01 00:03:56", "2023-01-01 23:19:47"),
    ("nautilus/usdjpy-ticks.csv", "truefx", 1000,
     "2013-01-01 22:00:00.295", "2013-01-01 22:35:13.494"),
    # HistData: EST without daylight saving, a fixed UTC-5
    ("nautilus/quote_tick_data.csv", "histdata", 9500,
     "2020-01-01 22:00:00.065", "2020-01-02 04:00:52.125"),
    ("nautilus/btcusdt-trades.parquet", "nautilus_parquet_trades", 2001,
     "2021-01-08 00:00:00.278", "2021-01-08 00:00:46.355"),
    ("nautilus/btcusdt-quotes.parquet", "nautilus_parquet_quotes", 451,
     "2021-01-08 00:00:01.076", "2021-01-08 00:00:46.674"),
]  # fmt: skip


def _ids(params: list[tuple]) -> list[str]:
    return [p[0].rsplit("/", 1)[-1] for p in params]


@pytest.mark.parametrize(
    ("relpath", "mapping", "tf", "rows", "first", "last"), BAR_FILES, ids=_ids(BAR_FILES)
)
def test_real_bar_file_reads_with_documented_rows_and_utc_range(
    relpath: str, mapping: FileMapping | str, tf: str, rows: int, first: str, last: str
) -> None:
    bars = read_bars(_shared(relpath), mapping, tf)
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert str(bars["ts"].dtype) == "datetime64[us, UTC]"
    assert len(bars) == rows
    assert bars["ts"].iloc[0] == _utc(first)
    assert bars["ts"].iloc[-1] == _utc(last)
    assert bars["ts"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("relpath", "mapping", "rows", "first", "last"), TICK_FILES, ids=_ids(TICK_FILES)
)
def test_real_tick_file_reads_with_documented_rows_and_utc_range(
    relpath: str, mapping: str, rows: int, first: str, last: str
) -> None:
    ticks = read_ticks(_shared(relpath), mapping)
    assert list(ticks.columns[: len(TICK_COLUMNS)]) == list(TICK_COLUMNS)
    assert str(ticks["ts"].dtype) == "datetime64[us, UTC]"
    assert len(ticks) == rows
    assert ticks["ts"].iloc[0] == _utc(first)
    assert ticks["ts"].iloc[-1] == _utc(last)
    assert ticks["ts"].is_monotonic_increasing
    assert ticks["day_volume"].isna().all()


# backtrader's own daily files are Yahoo downloads (they have Adj Close): detected as such
DETECTED = {p[0]: p[1] for p in BAR_FILES + TICK_FILES if isinstance(p[1], str)} | {
    "backtrader/orcl-1995-2014.txt": "yahoo",
    "backtrader/yhoo-1996-2015.txt": "yahoo",
    "backtrader/nvda-1999-2014.txt": "yahoo",
    "backtrader/2006-min-005.txt": "backtrader",
    "backtrader/2006-01-02-volume-min-001.txt": "backtrader",
    "backtrader/ticksample.csv": "backtrader",
}


@pytest.mark.parametrize(("relpath", "expected"), sorted(DETECTED.items()))
def test_detect_mapping_picks_the_vendor_preset(relpath: str, expected: str) -> None:
    assert detect_mapping(_shared(relpath)) == PRESETS[expected]


def _row(bars: pd.DataFrame, day: str) -> pd.Series:
    match = bars[bars["ts"] == _utc(day)]
    assert len(match) == 1, f"expected one bar on {day}, got {len(match)}"
    return match.iloc[0]


def test_spy_low_above_open_rows_pass_through_unfixed() -> None:
    bars = read_bars(_shared("mplfinance/yahoofinance-SPY-20080101-20180101.csv"), "yahoo", "1d")
    mar05, mar30 = _row(bars, "2015-03-05"), _row(bars, "2015-03-30")
    assert (mar05.open, mar05.low, mar05.high) == (209.419998, 209.850006, 210.800003)
    assert (mar30.open, mar30.low, mar30.close) == (205.740005, 206.960007, 208.25)
    assert mar05.low > mar05.open and mar30.low > mar30.open


def test_barchart_newest_first_comes_back_ascending_with_last_as_close() -> None:
    bars = read_bars(_shared("mplfinance/jpyusd_barchartdotcom.csv"), "barchart", "1d")
    assert bars["ts"].is_monotonic_increasing and bars["ts"].is_unique
    oldest, newest = bars.iloc[0], bars.iloc[-1]
    assert (oldest.open, oldest.high, oldest.low, oldest.close, oldest.volume) == (
        0.009374999,
        0.009403,
        0.00935,
        0.009397,
        5031.0,
    )
    assert (newest.open, newest.close, newest.volume) == (0.009469, 0.009582, 1769.0)


def test_sp500_columns_in_o_c_h_l_order_map_by_name() -> None:
    path = _shared("mplfinance/SP500_NOV2019_IDay.csv")
    bars = read_bars(path, preset("mplfinance_intraday", volume_absent=True), "1m")
    first = bars.iloc[0]  # raw: 11/5/2019 9:30,3080.8,3080.49,3081.47,3080.3,0
    assert (first.open, first.high, first.low, first.close) == (3080.8, 3081.47, 3080.3, 3080.49)
    assert bars["volume"].isna().all()
    # raw: 11/6/2019 9:30,3075.1,3074.12,3075.91,3073.9,0 (EST: 14:30 UTC)
    assert _row(bars, "2019-11-06 14:30").close == 3074.12


def test_backtrader_header_missing_time_reads_date_and_time() -> None:
    path = _shared("backtrader/2006-01-02-volume-min-001.txt")
    bars = read_bars(path, preset("backtrader", **CET_END), "1m")
    first = bars.iloc[0]  # raw: 2006-01-02,09:01:00,3602.00,3603.00,3597.00,3599.00,5699,0
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        3602.0,
        3603.0,
        3597.0,
        3599.0,
        5699.0,
    )
    assert bars["ts"].dt.second.eq(0).all()


def test_lean_daily_and_minute_prices_are_deci_cents() -> None:
    daily = read_bars(_shared("lean/daily/aapl.zip"), "lean_daily", "1d")
    # raw: 19980102 00:00,136300,162500,135000,162500,6315000
    assert tuple(daily.iloc[0, 1:]) == (13.63, 16.25, 13.5, 16.25, 6315000.0)
    # raw: 20210331 00:00,1216500,1235400,1211500,1221500,109019052
    assert tuple(daily.iloc[-1, 1:]) == (121.65, 123.54, 121.15, 122.15, 109019052.0)
    minute = read_bars(_shared("lean/minute/spy/20131007_trade.zip"), "lean_minute", "1m")
    # raw first: 14400000,1674100,1674100,1672500,1672700,3197 (ms since midnight, New York)
    assert tuple(minute.iloc[0, 1:]) == (167.41, 167.41, 167.25, 167.27, 3197.0)
    # raw last: 71940000,1672600,1673000,1672600,1673000,800
    assert tuple(minute.iloc[-1, 1:]) == (167.26, 167.3, 167.26, 167.3, 800.0)


def test_lean_quote_ticks_one_side_per_row_zero_is_missing() -> None:
    ticks = read_ticks(_shared("lean/tick/ibm/20131007_quote.zip"), "lean_tick_quote")
    assert ticks["bid"].notna().sum() == 54533 and ticks["ask"].notna().sum() == 54534
    assert ticks["price"].isna().all()
    # raw: 14400054,0,0,1836300,100,Q,1,0 then 14400241,1800100,300,0,0,P,1,0
    assert math.isnan(ticks["bid"].iloc[0]) and ticks["ask"].iloc[0] == 183.63
    assert ticks["bid"].iloc[1] == 180.01 and math.isnan(ticks["ask"].iloc[1])


def test_trade_ids_are_kept_as_text_and_duplicates_of_ts_kept() -> None:
    trades = read_ticks(_shared("freqtrade/XRP_ETH-trades.json.gz"), "freqtrade_trades_json")
    assert trades["trade_id"].iloc[0] == "13519807"
    last = trades.iloc[-1]  # raw: [1570965568844,"13532283",null,"sell",0.00152787,130.0,...]
    assert (last["trade_id"], last["price"], last["size"]) == ("13532283", 0.00152787, 130.0)
    assert trades["trade_id"].is_unique
    quotes = read_ticks(_shared("nautilus/usdjpy-ticks.csv"), "truefx")
    assert quotes["ts"].duplicated().sum() == 7
    assert (quotes["bid"].iloc[0], quotes["ask"].iloc[0]) == (86.655, 86.728)
    parquet = read_ticks(_shared("nautilus/btcusdt-trades.parquet"), "nautilus_parquet_trades")
    assert (parquet["trade_id"].iloc[0], parquet["price"].iloc[0]) == ("553287559", 39432.48)


def test_backtrader_ticksample_with_a_declared_tick_mapping() -> None:
    mapping = FileMapping(
        {"ts": "Datetime", "price": "Close", "size": "Volume"},
        kind="ticks",
        timezone="Europe/Berlin",
    )
    ticks = read_ticks(_shared("backtrader/ticksample.csv"), mapping)
    assert len(ticks) == 135 and ticks["size"].sum() == 2599
    # raw: 2015-09-23T20:57:42.146,3067.00,...,180,0 (CEST, UTC+2)
    assert ticks["ts"].iloc[0] == _utc("2015-09-23 18:57:42.146")
    assert (ticks["price"].iloc[0], ticks["size"].iloc[0]) == (3067.0, 180.0)


def test_gbpusd_without_volume_column_has_nan_volume() -> None:
    bars = read_bars(_shared("nautilus/gbpusd-m1-bid-2012.csv"), "nautilus_csv", "1m")
    assert bars["volume"].isna().all()
    assert tuple(bars.iloc[0, 1:5]) == (1.57597, 1.57606, 1.57576, 1.57576)


# ----- the provider --------------------------------------------------------------------------


def test_provider_fetches_a_window_keeping_bad_ohlc_rows() -> None:
    path = _shared("mplfinance/yahoofinance-SPY-20080101-20180101.csv")
    provider = FileProvider(files={"NYSEARCA:SPY": FileSource(path, "yahoo", timeframe="1d")})
    bars = provider.fetch_bars("NYSEARCA:SPY", "1d", "2015-03-01", "2015-04-01")
    assert len(bars) == 22  # trading days in March 2015 (grep -c '^2015-03-' in the raw file)
    assert (bars["low"] > bars["open"]).sum() == 2


def test_provider_glob_with_path_template_and_resolve() -> None:
    root = _shared("lean/daily/aapl.zip").parent
    provider = FileProvider(
        files={"NASDAQ:*": {"path": "{ticker_lower}.zip", "mapping": "lean_daily"}}, root=root
    )
    bars = provider.fetch_bars("NASDAQ:AAPL", "1d", "2021-03-01", "2021-04-01")
    assert bars["ts"].iloc[-1] == _utc("2021-03-31") and bars["close"].iloc[-1] == 122.15
    instrument = provider.resolve("NASDAQ:SPY")
    assert instrument.timezone == "America/New_York" and instrument.provider == "files"
    with pytest.raises(SymbolNotFound, match="NYSE:IBM"):
        provider.fetch_bars("NYSE:IBM", "1d", "2021-03-01", "2021-04-01")
    with pytest.raises(SymbolNotFound, match="does not exist"):
        provider.resolve("NASDAQ:NOPE")


def test_provider_refuses_a_timeframe_the_file_does_not_hold(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\n")
    provider = get_provider("files", files={"X:Y": FileSource(path, "yahoo", timeframe="1d")})
    assert isinstance(provider, FileProvider)
    with pytest.raises(UnsupportedOperation, match="1d bars"):
        provider.fetch_bars("X:Y", "1h", "2020-01-01", "2020-02-01")


# ----- declared conventions on small files ---------------------------------------------------


def test_bar_end_label_moves_to_start_and_session_open_stamps_daily(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("Date,Open,High,Low,Close\n2024-03-08 10:00,1,2,0.5,1.5\n")
    hourly = read_bars(
        path,
        FileMapping(
            {"ts": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close"},
            timezone="America/New_York",
            label="end",
        ),
        "1h",
    )
    assert hourly["ts"].iloc[0] == _utc("2024-03-08 14:00")  # 09:00 EST
    daily = read_bars(path, preset("yahoo", session_open=pd.Timestamp("09:30").time()), "1d")
    assert daily["ts"].iloc[0] == _utc("2024-03-08 14:30")
    assert read_bars(path, "yahoo", "1d")["ts"].iloc[0] == _utc("2024-03-08")


def test_mapping_from_dict_with_preset_and_overrides() -> None:
    mapping = FileSource("x.csv", {"preset": "backtrader", "label": "end"}).mapping
    assert mapping == preset("backtrader", label="end")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("label", "middle"),
        ("order", "sideways"),
        ("kind", "candles"),
        ("format", "xlsx"),
        ("ts_unit", "minutes"),
        ("timezone", "Mars/Olympus"),
    ],
)
def test_bad_mapping_option_raises_value_error_listing_valid(option: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"bad {option}"):
        preset("yahoo", **{option: value})


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="lean_daily"):
        preset("metastock")


# ----- bad files -----------------------------------------------------------------------------

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD = "2020-01-02,1.0,2.0,0.5,1.5,1.5,100\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wrong_field_count_names_file_line_and_expected_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "orcl.csv", HEADER + GOOD * 2 + "\n2020-01-03,1.0,2.0\n" + GOOD)
    with pytest.raises(
        BadInputError,
        match=r"orcl\.csv line 5: expected 7 fields \(Date,Open,"
        r"High,Low,Close,Adj Close,Volume\) got 3",
    ):
        read_bars(path, "yahoo", "1d")


def test_too_many_fields_is_rejected_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "wide.csv", HEADER + GOOD + "2020-01-03,1,2,0.5,1.5,1.5,100,9\n")
    with pytest.raises(BadInputError, match=r"wide\.csv line 3: expected 7 fields .* got 8"):
        read_bars(path, "yahoo", "1d")


def test_non_numeric_value_keeps_its_row_for_validation_and_names_line_and_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "bad.csv", HEADER + GOOD * 3 + "2020-01-06,1.0,abc,0.5,1.5,1.5,9\n")
    bars = read_bars(path, "yahoo", "1d")  # the file loads; the row is validation's to reject
    assert len(bars) == 4 and bars["high"].isna().sum() == 1 and bars["open"].notna().all()
    assert "bad.csv line 5: 'abc' is not a number in column High" in caplog.text


def test_bad_timestamp_keeps_its_row_for_validation_and_names_line_and_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path, "ts.csv", HEADER + GOOD + "2020-13-45,1.0,2.0,0.5,1.5,1.5,9\n,1,2,0.5,1,1,9\n"
    )
    bars = read_bars(path, "yahoo", "1d")
    assert len(bars) == 3 and bars["ts"].isna().sum() == 2  # a bad date and an empty one
    assert "ts.csv line 3: '2020-13-45' is not a timestamp in column Date" in caplog.text


def test_header_mismatch_file_still_rejects_a_broken_row(tmp_path: Path) -> None:
    head = "Date,Open,High,Low,Close,Volume,OpenInterest\n"
    rows = "2006-01-02,09:01:00,3602,3603,3597,3599,5699,0\n" * 2 + "2006-01-02,09:03:00,3600\n"
    path = _write(tmp_path, "fesx.txt", head + rows)
    with pytest.raises(BadInputError, match=r"fesx\.txt line 4: expected 8 fields .*Time.* got 3"):
        read_bars(path, "backtrader", "1m")


def test_empty_file_is_bad_input(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.csv", "")
    with pytest.raises(BadInputError, match=r"empty\.csv: empty file"):
        read_bars(path, "yahoo", "1d")
    with pytest.raises(BadInputError, match=r"empty\.csv: empty file"):
        detect_mapping(path)


def test_header_only_file_reads_as_no_bars(tmp_path: Path) -> None:
    assert read_bars(_write(tmp_path, "h.csv", HEADER), "yahoo", "1d").empty


def test_unknown_format_and_undetectable_layout_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"prices\.xlsx: unknown file format"):
        read_bars(_write(tmp_path, "prices.xlsx", "PK..."), "yahoo", "1d")
    odd = _write(tmp_path, "odd.csv", "when,px\n2020-01-02,1.0\n")
    with pytest.raises(BadInputError, match=r"odd\.csv: cannot detect .*backtrader"):
        detect_mapping(odd)


def test_missing_column_names_what_was_expected(tmp_path: Path) -> None:
    path = _write(tmp_path, "nohigh.csv", "Date,Open,Low,Close\n2020-01-02,1,0.5,1.5\n")
    with pytest.raises(BadInputError, match=r"nohigh\.csv: expected a column High for 'high'"):
        read_bars(path, "yahoo", "1d")


def test_bad_json_row_is_named_by_row(tmp_path: Path) -> None:
    path = tmp_path / "pair-1m.json"
    path.write_text(json.dumps([[1509836520000, 1, 2, 0.5, 1.5, 10], [1509836580000, 1, 2]]))
    with pytest.raises(BadInputError, match=r"pair-1m\.json row 2: expected an array of 6 fields"):
        read_bars(path, "freqtrade_json_ohlcv", "1m")


def test_corrupt_gzip_and_two_member_zip_are_bad_input(tmp_path: Path) -> None:
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress((HEADER + GOOD).encode())[:-12])
    with pytest.raises(BadInputError, match=r"a\.csv\.gz"):
        read_bars(gz, "yahoo", "1d")
    zpath = tmp_path / "two.zip"
    with zipfile.ZipFile(zpath, "w") as archive:
        archive.writestr("a.csv", HEADER + GOOD)
        archive.writestr("b.csv", HEADER + GOOD)
    with pytest.raises(BadInputError, match=r"two\.zip: expected one file in the zip"):
        read_bars(zpath, "yahoo", "1d")


def test_lean_ms_of_day_needs_a_date_in_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "spy_trade.csv", "14400000,1674100,1674100,1672500,1672700,3197\n")
    with pytest.raises(BadInputError, match=r"spy_trade\.csv: expected a YYYYMMDD date"):
        read_bars(path, "lean_minute", "1m")


def test_crlf_bom_and_semicolons_keep_line_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes(
        b"\xef\xbb\xbfDate;Open;High;Low;Close;Volume\r\n2020-01-02;1;2;0.5;1.5;10\r\n\r\n"
        b"2020-01-03;1;x;0.5;1.5;10\r\n"
    )
    bars = read_bars(path, preset("yahoo", delimiter=";"), "1d")
    assert list(bars["high"].isna()) == [False, True]
    assert "semi.csv line 4: 'x' is not a number in column High" in caplog.text


def test_quoted_csv_reads_and_a_quoted_broken_row_names_its_text(tmp_path: Path) -> None:
    good = '"Date","Open","High","Low","Close","Volume"\n"2020-01-02",1,2,0.5,1.5,10\n'
    bars = read_bars(_write(tmp_path, "q.csv", good), "yahoo", "1d")
    assert tuple(bars.iloc[0, 1:]) == (1.0, 2.0, 0.5, 1.5, 10.0)
    path = _write(tmp_path, "q2.csv", good + '"2020-01-03",1,2\n')
    with pytest.raises(BadInputError, match=r'q2\.csv: cannot parse.*"2020-01-03",1,2'):
        read_bars(path, "yahoo", "1d")


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(range(6)))
def test_any_row_order_comes_back_ascending_with_rows_intact(order: list[int]) -> None:
    rows = [f"2020-01-{d:02d},{d},{d + 1},{d - 0.5},{d + 0.5},{d * 10}" for d in range(2, 8)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shuffled.csv"
        path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows[i] for i in order))
        bars = read_bars(path, "yahoo", "1d")
    assert list(bars["ts"].dt.day) == list(range(2, 8))
    assert list(bars["open"]) == [float(d) for d in range(2, 8)]
    assert list(bars["volume"]) == [d * 10.0 for d in range(2, 8)]


def test_dst_fold_is_inferred_from_order_and_a_dst_gap_is_bad_input(tmp_path: Path) -> None:
    head = "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n"
    fold = "".join(
        f"2023-10-29,{t},1,2,0.5,1.5,1,0\n" for t in ("02:30:00", "02:30:00", "03:00:00")
    )
    bars = read_bars(
        _write(tmp_path, "fold.txt", head + fold),
        preset("backtrader", timezone="Europe/Berlin"),
        "30m",
    )
    # 02:30 CEST (UTC+2), 02:30 CET (UTC+1), 03:00 CET
    assert list(bars["ts"]) == [
        _utc("2023-10-29 00:30"),
        _utc("2023-10-29 01:30"),
        _utc("2023-10-29 02:00"),
    ]
    gap = _write(tmp_path, "gap.txt", head + "2024-03-31,02:30:00,1,2,0.5,1.5,1,0\n")
    with pytest.raises(BadInputError, match=r"gap\.txt: a local time does not exist"):
        read_bars(gap, preset("backtrader", timezone="Europe/Berlin"), "30m")
