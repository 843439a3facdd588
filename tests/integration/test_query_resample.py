"""``candleflow.query`` resamples on read along exchange sessions: anchors, days, weeks and
months, fills, and which buckets are complete."""

from __future__ import annotations

import numpy as np
import pandas as pd

from candleflow import query
from tests.support.query import NY, add_instrument, load, make_bars, ohlcv, session_minutes


def test_5m_resampled_from_1m_equals_a_plain_groupby(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    bars = make_bars(pd.date_range("2024-03-01 00:00", periods=60, freq="1min", tz="UTC"))
    bars = bars.drop(index=[7, 8, 31]).reset_index(drop=True)  # a few missing minutes
    bars.loc[bars["ts"].dt.minute.between(10, 14), "volume"] = np.nan  # a bucket of NULLs
    load(db, iid, "1m", bars)

    got = query.bars("BINANCE:BTCUSDT", "5m", "2024-03-01", "2024-03-02")

    expected = ohlcv(bars, bars["ts"].dt.floor("5min"))
    assert list(got["ts"]) == list(expected.index)
    np.testing.assert_allclose(got[["open", "high", "low", "close"]], expected.iloc[:, :4])
    np.testing.assert_array_equal(got["volume"], expected["volume"])
    assert np.isnan(got["volume"].iloc[2])  # 00:10-00:15: all NULL -> NULL, not 0


def test_xnys_1h_is_anchored_at_the_session_open(db_url, db):
    iid = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    bars = make_bars(session_minutes(["2024-07-02", "2024-07-03", "2024-07-05"]), seed=6)
    load(db, iid, "1m", bars)

    got = query.bars("NASDAQ:AAPL", "1h", "2024-07-01", "2024-07-08")

    local = bars["ts"].dt.tz_convert(NY)
    opens = local.dt.normalize() + pd.Timedelta(hours=9, minutes=30)
    keys = opens + (local - opens) // pd.Timedelta(hours=1) * pd.Timedelta(hours=1)
    expected = ohlcv(bars, keys.dt.tz_convert("UTC"))
    starts = got["ts"].dt.tz_convert(NY).dt.strftime("%m-%d %H:%M")
    assert list(starts[:8]) == [
        "07-02 09:30",
        "07-02 10:30",
        "07-02 11:30",
        "07-02 12:30",
        "07-02 13:30",
        "07-02 14:30",
        "07-02 15:30",
        "07-03 09:30",
    ]
    assert list(got["ts"]) == list(expected.index)
    np.testing.assert_allclose(got[["open", "high", "low", "close", "volume"]], expected)


def test_daily_weekly_monthly_follow_sessions(db_url, db):
    iid = add_instrument(db, "NASDAQ:MSFT", NY, "0930-1600")
    days = ["2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
    minutes = make_bars(session_minutes(days), seed=7)
    load(db, iid, "1m", minutes)
    daily_id = add_instrument(db, "NYSE:IBM", NY, "0930-1600")
    daily = make_bars(pd.date_range("2024-06-24", "2024-08-02", freq="B", tz="UTC"), seed=8)
    daily = daily[daily["ts"].dt.strftime("%m-%d") != "07-04"].reset_index(drop=True)
    load(db, daily_id, "1d", daily)

    by_session = query.bars("NASDAQ:MSFT", "1d", "2024-07-01", "2024-07-09")
    weekly = query.bars("NYSE:IBM", "1w", "2024-06-24", "2024-08-05")
    monthly = query.bars("NYSE:IBM", "1mo", "2024-06-24", "2024-08-05")

    assert list(by_session["ts"].dt.tz_convert(NY).dt.strftime("%m-%d %H:%M")) == [
        "07-02 09:30",
        "07-03 09:30",
        "07-05 09:30",
        "07-08 09:30",
    ]
    expected = ohlcv(minutes, minutes["ts"].dt.tz_convert(NY).dt.date)
    np.testing.assert_allclose(by_session[["open", "high", "low", "close", "volume"]], expected)
    week_keys = daily["ts"].dt.tz_localize(None).dt.to_period("W-SUN")
    assert list(weekly["ts"]) == list(daily.groupby(week_keys)["ts"].first())
    np.testing.assert_allclose(
        weekly[["open", "high", "low", "close", "volume"]], ohlcv(daily, week_keys)
    )
    assert list(monthly["ts"].dt.strftime("%Y-%m-%d")) == ["2024-06-24", "2024-07-01", "2024-08-01"]
    np.testing.assert_allclose(
        monthly["volume"], daily.groupby(daily["ts"].dt.month)["volume"].sum()
    )


def test_fill_flat_and_ffill_semantics(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    bars = make_bars(pd.date_range("2024-03-01", periods=6, freq="5min", tz="UTC"))
    bars = bars.drop(index=[2, 3]).reset_index(drop=True)  # 00:10 and 00:15 missing
    load(db, iid, "5m", bars)
    window = ("2024-03-01", "2024-03-02")

    plain = query.bars("BINANCE:BTCUSDT", "5m", *window)
    flat = query.bars("BINANCE:BTCUSDT", "5m", *window, fill="flat")
    ffill = query.bars("BINANCE:BTCUSDT", "5m", *window, fill="ffill")

    assert len(plain) == 4 and len(flat) == len(ffill) == 6  # nothing after the last bar
    prev = bars.iloc[1]
    for row in flat.iloc[2:4].itertuples():
        assert (row.open, row.high, row.low, row.close, row.volume, row.source) == (
            prev["close"],
            prev["close"],
            prev["close"],
            prev["close"],
            0.0,
            "fill",
        )
    for row in ffill.iloc[2:4].itertuples():
        assert (row.open, row.high, row.low, row.close) == tuple(
            prev[["open", "high", "low", "close"]]
        )
        assert np.isnan(row.volume) and row.source == "fill"
    pd.testing.assert_frame_equal(flat.iloc[[0, 1, 4, 5]].reset_index(drop=True), plain)


def test_fill_on_a_session_market_skips_nights_and_holidays(db_url, db):
    iid = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    hours = pd.DatetimeIndex(
        [
            pd.Timestamp(f"2024-07-{d} {h}", tz=NY).tz_convert("UTC")
            for d, h in [("03", "09:30"), ("03", "10:30"), ("05", "09:30"), ("05", "11:30")]
        ]
    )
    load(db, iid, "1h", make_bars(hours))

    flat = query.bars("NASDAQ:AAPL", "1h", "2024-07-01", "2024-07-09", fill="flat")

    local = flat["ts"].dt.tz_convert(NY).dt.strftime("%m-%d %H:%M")
    # 07-03 closes at 13:00, 07-04 is a holiday: only 11:30, 12:30 and 07-05 10:30 are added
    assert list(local) == [
        "07-03 09:30",
        "07-03 10:30",
        "07-03 11:30",
        "07-03 12:30",
        "07-05 09:30",
        "07-05 10:30",
        "07-05 11:30",
    ]
    assert list(flat["source"]) == ["provider"] * 2 + ["fill"] * 2 + [
        "provider",
        "fill",
        "provider",
    ]


def test_a_daily_bar_built_from_part_of_a_session_is_not_complete(db_url, db):
    iid = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    starts = [f"{h:02d}:30" for h in range(9, 16)]  # the seven 1h bars of a regular session
    hours = [("07-01", h) for h in starts]  # all seven
    hours += [("07-02", h) for h in starts[:6]]  # six of seven: 15:30 missing
    hours += [("07-03", h) for h in starts[:4]]  # early close at 13:00: four is all of it
    hours += [("07-05", h) for h in starts[1:]]  # 09:30 missing
    stamps = [pd.Timestamp(f"2024-{d} {h}", tz=NY).tz_convert("UTC") for d, h in hours]
    load(db, iid, "1h", make_bars(pd.DatetimeIndex(stamps)))

    daily = query.bars("NASDAQ:AAPL", "1d", "2024-07-01", "2024-07-06")
    weekly = query.bars("NASDAQ:AAPL", "1w", "2024-07-01", "2024-07-08")

    days = daily["ts"].dt.tz_convert(NY).dt.strftime("%m-%d")
    by_day = dict(zip(days, daily["complete"], strict=True))
    assert by_day == {"07-01": True, "07-02": False, "07-03": True, "07-05": False}
    assert list(weekly["complete"]) == [False]  # two of its four sessions are partial
    assert daily["complete"].dtype == bool
    stored = query.bars("NASDAQ:AAPL", "1h", "2024-07-01", "2024-07-06")
    assert stored["complete"].all() and len(stored) == 7 + 6 + 4 + 6


def test_complete_intraday_buckets_weeks_and_fills(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    hours = pd.date_range("2024-03-04", "2024-03-18", freq="1h", tz="UTC", inclusive="left")
    bars = make_bars(hours[hours != pd.Timestamp("2024-03-05 06:00", tz="UTC")])
    load(db, iid, "1h", bars)
    daily_id = add_instrument(db, "NYSE:IBM", NY, "0930-1600")
    # 2024-07-01..05 is one week of four sessions (07-04 is a holiday); 07-08..12 lacks 07-10
    days = ["07-01", "07-02", "07-03", "07-05", "07-08", "07-09", "07-11", "07-12"]
    load(db, daily_id, "1d", make_bars(pd.DatetimeIndex([f"2024-{d}" for d in days], tz="UTC")))

    four = query.bars("BINANCE:BTCUSDT", "4h", "2024-03-04", "2024-03-05 10:00")
    weeks = query.bars("BINANCE:BTCUSDT", "1w", "2024-03-04", "2024-03-18")
    ibm = query.bars("NYSE:IBM", "1w", "2024-06-24", "2024-07-15")
    filled = query.bars("BINANCE:BTCUSDT", "1h", "2024-03-05", "2024-03-06", fill="flat")

    incomplete = four.loc[~four["complete"], "ts"].dt.strftime("%d %H:%M").tolist()
    assert incomplete == ["05 04:00", "05 08:00"]  # the missing 06:00; cut by the window at 10:00
    assert len(four) == 9 and four["complete"].sum() == 7
    assert list(weeks["complete"]) == [False, True]
    assert list(ibm["complete"]) == [True, False]
    assert filled.loc[filled["source"] == "fill", "complete"].tolist() == [False]
    assert filled.loc[filled["source"] != "fill", "complete"].all()
