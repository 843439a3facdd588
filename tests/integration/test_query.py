"""The read side (``candleflow.query``) against a real PostgreSQL, on hand-made bars.

Expected values are computed independently in each test (plain pandas over the frames that
were loaded), never by the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from candleflow import query
from candleflow.db import audit
from candleflow.db import bars as bar_writer
from candleflow.domain import BAR_COLUMNS

NY = "America/New_York"


def add_instrument(db, symbol: str, timezone: str = "Etc/UTC", session: str = "24x7") -> int:
    exchange, ticker = symbol.split(":")
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone, session)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (symbol, exchange, ticker, timezone, session),
        )
        return cur.fetchone()[0]


def load(db, instrument_id: int, timeframe: str, frame: pd.DataFrame, source="provider"):
    with db:
        bar_writer.upsert_bars(db, instrument_id, timeframe, frame, run_id="test", source=source)


def make_bars(ts, seed: int = 1, base: float = 100.0) -> pd.DataFrame:
    """Valid OHLCV bars at ``ts`` (a random walk), volume as float."""
    ts = pd.DatetimeIndex(ts).astype("datetime64[us, UTC]")
    rng = np.random.default_rng(seed)
    close = base + np.cumsum(rng.normal(0, 0.5, len(ts)))
    open_ = np.concatenate([[base], close[:-1]])
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) + rng.random(len(ts)),
            "low": np.minimum(open_, close) - rng.random(len(ts)),
            "close": close,
            "volume": rng.integers(1, 1000, len(ts)).astype("float64"),
        }
    )


def session_minutes(days: list[str]) -> pd.DatetimeIndex:
    """Every regular-session minute (09:30-16:00 New York) of the given days, in UTC."""
    pieces = [pd.date_range(f"{d} 09:30", f"{d} 15:59", freq="1min", tz=NY) for d in days]
    return pd.DatetimeIndex(np.concatenate(pieces)).tz_convert("UTC")


def ohlcv(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """The reference aggregation, written out plainly."""
    g = frame.groupby(keys)
    return pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(min_count=1),
        }
    )


def test_bars_of_several_symbols_equal_what_was_loaded_sorted(db_url, db):
    btc, aapl = add_instrument(db, "BINANCE:BTCUSDT"), add_instrument(db, "NASDAQ:AAPL", NY)
    b = make_bars(pd.date_range("2024-03-01", periods=50, freq="1min", tz="UTC"), seed=2)
    a = make_bars(session_minutes(["2024-03-01"])[:40], seed=3)
    a.loc[5, "volume"] = np.nan
    load(db, btc, "1m", b)
    load(db, aapl, "1m", a)

    got = query.bars(["NASDAQ:AAPL", "BINANCE:BTCUSDT"], "1m", "2024-03-01", "2024-03-02")

    assert list(got.columns) == ["symbol", *BAR_COLUMNS, "source", "complete"]
    assert str(got["ts"].dtype) == "datetime64[us, UTC]"
    assert list(got["symbol"].unique()) == ["BINANCE:BTCUSDT", "NASDAQ:AAPL"]
    assert got.groupby("symbol")["ts"].apply(lambda s: s.is_monotonic_increasing).all()
    expected = pd.concat([b.assign(symbol="BINANCE:BTCUSDT"), a.assign(symbol="NASDAQ:AAPL")])
    pd.testing.assert_frame_equal(
        got[["symbol", *BAR_COLUMNS]].reset_index(drop=True),
        expected[["symbol", *BAR_COLUMNS]].reset_index(drop=True),
        check_dtype=False,
    )
    assert np.isnan(got.loc[got["symbol"] == "NASDAQ:AAPL", "volume"].iloc[5])
    assert set(got["source"]) == {"provider"}


def test_window_is_half_open_and_output_formats_agree(db_url, db):
    iid = add_instrument(db, "BINANCE:ETHUSDT")
    bars = make_bars(pd.date_range("2024-03-01", periods=10, freq="1h", tz="UTC"))
    bars.loc[3, "volume"] = np.nan
    load(db, iid, "1h", bars)
    window = ("2024-03-01 02:00", "2024-03-01 06:00")

    frame = query.bars("BINANCE:ETHUSDT", "1h", *window)
    table = query.bars("BINANCE:ETHUSDT", "1h", *window, output="arrow")
    polars = query.bars("BINANCE:ETHUSDT", "1h", *window, output="polars")

    assert list(frame["ts"]) == list(bars["ts"].iloc[2:6])
    assert isinstance(table, pa.Table) and table.schema.field("ts").type == pa.timestamp(
        "us", "UTC"
    )
    assert table.column("volume").null_count == 1
    assert polars["volume"].null_count() == 1
    pd.testing.assert_frame_equal(table.to_pandas(), frame)
    pd.testing.assert_frame_equal(polars.to_pandas(), frame, check_dtype=False)


def test_provider_bars_win_and_rollup_fills_in(db_url, db):
    iid = add_instrument(db, "BINANCE:SOLUSDT")
    ts = pd.date_range("2024-03-01", periods=3, freq="1min", tz="UTC")
    provider = make_bars(ts[:2], seed=4)
    rollup = make_bars(ts[1:], seed=5, base=50.0)
    load(db, iid, "1m", provider)
    load(db, iid, "1m", rollup, source="rollup")

    got = query.bars("BINANCE:SOLUSDT", "1m", "2024-03-01", "2024-03-02")
    only_rollup = query.bars("BINANCE:SOLUSDT", "1m", "2024-03-01", "2024-03-02", source="rollup")

    assert list(got["source"]) == ["provider", "provider", "rollup"]
    assert list(got["close"]) == [*provider["close"], rollup["close"].iloc[1]]
    assert list(only_rollup["close"]) == list(rollup["close"])


def test_a_rollup_bar_overlapping_a_provider_bar_is_never_returned_beside_it(db_url, db):
    """Provider 1h bars of an XNYS stock at :30, rollup bars stored on the UTC hour: one
    series, provider bars where they cover the interval, rollup bars only where none does."""
    iid = add_instrument(db, "NYSE:IBM", NY, "0930-1600")
    provider = make_bars(pd.to_datetime(["2024-03-04 14:30", "2024-03-04 15:30"], utc=True))
    rollup = make_bars(
        pd.to_datetime(["2024-03-04 14:00", "2024-03-04 16:00", "2024-03-04 17:00"], utc=True),
        seed=2,
        base=50.0,
    )
    load(db, iid, "1h", provider)
    load(db, iid, "1h", rollup, source="rollup")

    got = query.bars("NYSE:IBM", "1h", "2024-03-04", "2024-03-05")

    # 14:00 and 16:00 each share half an hour with a provider bar; 17:00 shares nothing
    assert [t.strftime("%H:%M") for t in got["ts"]] == ["14:30", "15:30", "17:00"]
    assert list(got["source"]) == ["provider", "provider", "rollup"]
    assert list(got["close"]) == [*provider["close"], rollup["close"].iloc[2]]
    assert got["complete"].all()


def test_a_daily_rollup_bar_gives_way_to_the_provider_bar_of_its_session_date(db_url, db):
    """The provider stamps days at UTC midnight, the rollup at the session open (14:30 UTC in
    March before daylight saving): the same session date is one bar, the provider's."""
    iid = add_instrument(db, "NYSE:IBM", NY, "0930-1600")
    provider = make_bars(pd.to_datetime(["2024-03-05", "2024-03-06"], utc=True))
    days = ["2024-03-04 14:30", "2024-03-05 14:30", "2024-03-07 14:30"]
    rollup = make_bars(pd.to_datetime(days, utc=True), seed=3, base=50.0)
    load(db, iid, "1d", provider)
    load(db, iid, "1d", rollup, source="rollup")

    got = query.bars("NYSE:IBM", "1d", "2024-03-01", "2024-03-10")

    # 03-04 has no provider bar (the provider's 03-05 00:00 is the next session date)
    assert list(got["ts"]) == [
        pd.Timestamp("2024-03-04 14:30", tz="UTC"),
        pd.Timestamp("2024-03-05", tz="UTC"),
        pd.Timestamp("2024-03-06", tz="UTC"),
        pd.Timestamp("2024-03-07 14:30", tz="UTC"),
    ]
    assert list(got["source"]) == ["rollup", "provider", "provider", "rollup"]


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


def test_an_injection_attempt_is_just_an_unknown_symbol(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))

    got = query.bars(
        ["X'; DROP TABLE bars;--", "BINANCE:BTCUSDT); DROP TABLE candleflow.bars;--"],
        "1m",
        "2024-03-01",
        "2024-03-02",
    )

    assert got.empty and list(got.columns) == ["symbol", *BAR_COLUMNS, "source", "complete"]
    assert str(got["ts"].dtype) == "datetime64[us, UTC]"
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.bars")
        assert cur.fetchone()[0] == 5


def test_bad_arguments_name_the_input():
    with pytest.raises(ValueError, match="timeframe"):
        query.bars("A:B", "7m", "2024-01-01", "2024-01-02")
    with pytest.raises(ValueError, match="fill"):
        query.bars("A:B", "1m", "2024-01-01", "2024-01-02", fill="zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output"):
        query.bars("A:B", "1m", "2024-01-01", "2024-01-02", output="csv")  # type: ignore[arg-type]


def test_coverage_lists_gaps_and_ignores_holidays(db_url, db):
    iid = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    grid = pd.DatetimeIndex(
        [
            pd.Timestamp(f"2024-07-{d} {h}:30", tz=NY).tz_convert("UTC")
            for d, hours in [
                ("03", "9 10 11 12"),
                ("05", "9 10 11 12 13 14 15"),
                ("08", "9 10 11 12 13 14 15"),
            ]
            for h in hours.split()
        ]
    )
    hole = [pd.Timestamp(f"2024-07-05 {h}:30", tz=NY) for h in ("11", "12")]
    kept = grid[~grid.isin(pd.DatetimeIndex(hole).tz_convert("UTC"))]
    load(db, iid, "1h", make_bars(kept))

    cov = query.coverage("NASDAQ:AAPL", "1h", "2024-07-03", "2024-07-09")

    assert cov.expected == 18 and cov.present == 16 and cov.missing == 2  # 07-04: no session
    assert cov.gaps == [
        (
            hole[0].tz_convert("UTC").to_pydatetime(),
            (hole[1] + pd.Timedelta(hours=1)).tz_convert("UTC").to_pydatetime(),
        )
    ]
    assert cov.first == kept[0] and cov.last == kept[-1] and cov.bars == 16


def test_coverage_of_a_24x7_daily_series(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    days = pd.date_range("2024-03-01", "2024-03-10", freq="D", tz="UTC")
    load(db, iid, "1d", make_bars(days.delete([4])))

    cov = query.coverage("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-11")

    assert (cov.expected, cov.present) == (10, 9)
    assert cov.gaps == [(days[4].to_pydatetime(), days[5].to_pydatetime())]


def _audit(db, iid, symbol, outcome, finished, **extra):
    start = pd.Timestamp("2024-03-01", tz="UTC").to_pydatetime()
    record = audit.AuditRecord(
        run_id=extra.pop("run_id", f"run-{finished}"),
        instrument_id=iid,
        symbol=symbol,
        timeframe="1m",
        provider="files",
        window_start=start,
        window_end=start + pd.Timedelta(hours=1),
        outcome=outcome,
        started_at=start,
        **extra,
    )
    with db, db.cursor() as cur:
        audit_id = audit.write_audit(db, record)
        cur.execute(
            "UPDATE candleflow.load_audit SET finished_at = %s WHERE id = %s",
            (pd.Timestamp(finished, tz="UTC").to_pydatetime(), audit_id),
        )


def test_sync_status_shows_the_last_load_and_validation_result_the_stored_json(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    _audit(db, iid, "BINANCE:BTCUSDT", "success", "2024-03-01 01:00", rows_inserted=60)
    validation = {"gx_success": False, "rules": {"high_ge_low": 2}, "expectations": [1, 2]}
    _audit(
        db,
        iid,
        "BINANCE:BTCUSDT",
        "rejected",
        "2024-03-01 02:00",
        run_id="r2",
        rows_fetched=10,
        rows_rejected=7,
        validation=validation,
    )

    status = query.sync_status()
    result = query.validation_result("r2", "BINANCE:BTCUSDT")

    assert len(status) == 1
    row = status.iloc[0]
    assert (row["outcome"], row["run_id"], row["rows_fetched"], row["rows_rejected"]) == (
        "rejected",
        "r2",
        10,
        7,
    )
    assert result == validation
    assert query.validation_result("no-such-run") is None


def test_latest_quotes_fall_back_to_the_last_bar_close(db_url, db):
    btc, eth = add_instrument(db, "BINANCE:BTCUSDT"), add_instrument(db, "BINANCE:ETHUSDT")
    with db, db.cursor() as cur:
        cur.executemany(
            "INSERT INTO candleflow.ticks (instrument_id, ts, price, size, day_volume, bid, ask)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (btc, "2024-03-01 00:00:01+00", 10.0, 1.0, 5.0, 10.9, 11.1),
                (btc, "2024-03-01 00:00:02+00", 11.0, 2.0, 7.0, 10.95, 11.05),
            ],
        )
    bars = make_bars(pd.date_range("2024-03-01", periods=3, freq="1min", tz="UTC"))
    load(db, eth, "1m", bars)

    quotes = query.latest_quotes(["BINANCE:ETHUSDT", "BINANCE:BTCUSDT", "NOPE:X"])

    assert list(quotes["symbol"]) == ["BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
    btc_q, eth_q = quotes.iloc[0], quotes.iloc[1]
    assert (btc_q["price"], btc_q["bid"], btc_q["ask"], btc_q["day_volume"], btc_q["origin"]) == (
        11.0,
        10.95,
        11.05,
        7.0,
        "tick",
    )
    assert eth_q["price"] == bars["close"].iloc[-1] and eth_q["origin"] == "bar"
    assert eth_q["ts"] == bars["ts"].iloc[-1] + pd.Timedelta(minutes=1)


def test_instruments_search_and_filters(db_url, db):
    for symbol in ("NASDAQ:AAPL", "NASDAQ:MSFT", "BINANCE:BTCUSDT"):
        add_instrument(db, symbol)

    assert list(query.instruments("aap")["symbol"]) == ["NASDAQ:AAPL"]
    assert list(query.instruments(exchange="NASDAQ")["symbol"]) == ["NASDAQ:AAPL", "NASDAQ:MSFT"]
    assert query.instruments("'; DROP TABLE x;--").empty
    assert len(query.instruments()) == 3


def test_bars_command_prints_the_fetch_layout(db_url, db):
    import typer
    from typer.testing import CliRunner

    from candleflow.cli.bars import bars_command

    iid = add_instrument(db, "BINANCE:BTCUSDT")
    bars = make_bars(pd.date_range("2024-03-01", periods=3, freq="1min", tz="UTC"))
    bars.loc[1, "volume"] = np.nan
    load(db, iid, "1m", bars)
    app = typer.Typer()
    app.command("bars")(bars_command)
    app.command("noop")(lambda: None)

    result = CliRunner().invoke(
        app,
        [
            "bars",
            "BINANCE:BTCUSDT",
            "--timeframe",
            "1m",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-02",
        ],
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == ",".join([*BAR_COLUMNS, "complete"])
    assert lines[1].startswith("2024-03-01T00:00:00Z,") and lines[2].endswith(",,true")
    assert len(lines) == 4


def _query_backends(db) -> list[int]:
    """Backend pids of the query module's sessions on this test's database (a transaction of
    its own: pg_stat_activity is a snapshot per transaction)."""
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'candleflow-query'"
            " AND datname = current_database() ORDER BY pid"
        )
        return [row[0] for row in cur.fetchall()]


def test_calls_reuse_one_read_only_connection(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))

    for _ in range(3):
        assert len(query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")) == 5
    first = _query_backends(db)
    query.instruments()

    assert len(first) == 1 and _query_backends(db) == first
    with db, db.cursor() as cur:  # idle in autocommit: no open transaction holding locks
        cur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (first[0],))
        assert cur.fetchone()[0] == "idle"


def test_a_terminated_pooled_connection_is_replaced_on_the_next_call(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    loaded = make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC"))
    load(db, iid, "1m", loaded)
    query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")
    (killed,) = _query_backends(db)
    with db, db.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s, 5000)", (killed,))
        assert cur.fetchone()[0] is True

    got = query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02")

    assert got["close"].tolist() == loaded["close"].tolist()
    assert _query_backends(db) not in ([], [killed])
    # the replacement is pooled (and still read-only) like the one it replaced
    import adbc_driver_manager

    with query._cursor(None) as cur, pytest.raises(adbc_driver_manager.Error, match="read-only"):
        cur.execute("CREATE TABLE public.should_fail (a int)")


# --- time bounds of the read-only pool ------------------------------------------------------


def _setting(name: str, url: str | None = None) -> str:
    from candleflow.query import tables

    return tables._frame(f"SELECT current_setting('{name}') AS v", url=url)["v"].iloc[0]


def test_pooled_sessions_have_a_statement_timeout_and_a_long_read_is_cancelled(db_url, monkeypatch):
    from candleflow.query import pool, tables

    assert _setting("statement_timeout") == pool.STATEMENT_TIMEOUT == "30s"
    monkeypatch.setattr(pool, "STATEMENT_TIMEOUT", "300ms")
    pool.read_only_url.cache_clear()
    pool._resolved.clear()
    try:
        assert _setting("statement_timeout") == "300ms"
        with pytest.raises(pool.QueryTimeout, match=r"statement timeout \(300ms\)"):
            tables._frame("SELECT pg_sleep(5)")
        assert _setting("application_name") == "candleflow-query"  # the pool still works
    finally:
        pool.read_only_url.cache_clear()
        pool._resolved.clear()


def test_a_keyword_dsn_reads_like_a_url(db_url, db):
    from psycopg2.extensions import make_dsn, parse_dsn

    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))
    keywords = make_dsn(**parse_dsn(db_url))
    assert "://" not in keywords

    got = query.bars("BINANCE:BTCUSDT", "1m", "2024-03-01", "2024-03-02", url=keywords)

    assert len(got) == 5 and _setting("default_transaction_read_only", keywords) == "on"


def test_a_server_that_never_answers_fails_the_connect_after_the_timeout(monkeypatch):
    """A listener that accepts and then stays silent: without a connect timeout libpq waits
    until the peer closes (here after 30 s), and the error would say so instead."""
    import socket
    import threading

    from candleflow.errors import DatabaseUnavailable
    from candleflow.query import pool

    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    done = threading.Event()

    def silent() -> None:
        listener.settimeout(30)
        try:
            accepted.append(listener.accept()[0])
            done.wait(30)
        except OSError:
            pass
        finally:
            for peer in accepted:
                peer.close()

    threading.Thread(target=silent, daemon=True).start()
    monkeypatch.setattr(pool, "CONNECT_TIMEOUT_S", 1)
    pool.read_only_url.cache_clear()
    url = f"postgresql://reader:hunter2@127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            query.instruments(url=url)
    finally:
        done.set()
        listener.close()
        pool.read_only_url.cache_clear()
    assert "timeout expired" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "reader" not in str(caught.value)


def test_a_terminated_version_connection_is_replaced(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=5, freq="1min", tz="UTC")))
    before = query.bar_version("BINANCE:BTCUSDT")
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = 'candleflow-query' AND datname = current_database()"
        )
    assert query.bar_version("BINANCE:BTCUSDT") == before
    load(
        db,
        iid,
        "1m",
        make_bars(pd.date_range("2024-03-01 00:05", periods=1, freq="1min", tz="UTC")),
    )
    assert query.bar_version("BINANCE:BTCUSDT") != before
    assert query.bar_version("NASDAQ:NOPE") is None
