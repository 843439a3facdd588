"""``candleflow.query`` reads bars: several symbols, half-open windows, provider bars over
rollups, hostile input, and the ``candleflow bars`` command's layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from candleflow import query
from candleflow.domain import BAR_COLUMNS
from tests.support.query import NY, add_instrument, load, make_bars, session_minutes


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
