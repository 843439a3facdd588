"""Adjustment on read against real data: LEAN's raw AAPL daily bars and its factor file.

Oracles, none of them computed by the code under test:
- Yahoo's AAPL file in ``mplfinance/`` is split-adjusted as of 2018, so a split-adjusted read
  equals it up to one constant, the 4:1 split of 2020 that Yahoo could not know (the
  vendors' prices differ by up to ~1.5 % on a few days; a missed or doubled split would be
  a factor of 2, 4 or 7);
- LEAN's own factors, applied the way its documentation says (the first factor-file row on
  or after the date): raw x split_factor, and raw x split_factor x price_factor;
- Quandl's ``adj_close`` of 2014, up to one constant (the actions after 2014).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from candleflow import query
from candleflow.db import connection, roles
from candleflow.db.actions import upsert_actions
from candleflow.providers.files import FileProvider, FileSource, read_bars
from candleflow.services.actions import import_actions
from candleflow.services.sync import sync
from tests.support.reader import READER_PASSWORD, reader_url, rows
from tests.support.shared_data import shared_data

SYMBOL = "NASDAQ:AAPL"


def _lean_aapl(db_url: str) -> pd.DataFrame:
    """Sync LEAN's raw AAPL daily bars through the files provider, import its factor file;
    the raw bars as the file holds them."""
    path = shared_data("lean/daily/aapl.zip")
    provider = FileProvider({SYMBOL: FileSource(path, "lean_daily", timeframe="1d")})
    result = sync(SYMBOL, "1d", "1997-12-31", "2021-04-01", provider=provider, url=db_url)
    assert result["rows_inserted"] == 5849
    counts = import_actions(shared_data("lean/factor_files/aapl.csv"), SYMBOL, url=db_url)
    assert (counts["splits"], counts["dividends"], counts["inserted"]) == (4, 35, 39)
    return read_bars(path, "lean_daily", "1d")


def _lean_factors(days: pd.Series) -> pd.DataFrame:
    """LEAN's (price_factor, split_factor) of each date: the first row on or after it."""
    rows = pd.read_csv(
        shared_data("lean/factor_files/aapl.csv"), header=None, names=["d", "p", "s", "r"]
    )
    row_dates = pd.to_datetime(rows["d"].astype(str), format="%Y%m%d").to_numpy()
    index = np.searchsorted(row_dates, pd.to_datetime(days).to_numpy(), side="left")
    return pd.DataFrame(
        {"price": rows["p"].to_numpy()[index], "split": rows["s"].to_numpy()[index]}
    )


def test_raw_read_is_lean_exactly_and_split_adjusted_is_yahoo_up_to_the_2020_split(db_url):
    lean = _lean_aapl(db_url)
    raw = query.bars(SYMBOL, "1d", "1998-01-01", "2021-04-01", adjustment="raw")
    pd.testing.assert_frame_equal(
        raw[["ts", "open", "high", "low", "close", "volume"]], lean, check_exact=True
    )

    split = query.bars(SYMBOL, "1d", "2004-08-01", "2018-02-01")  # the default: splits
    yahoo = pd.read_csv(shared_data("mplfinance/yahoofinance-AAPL-20040819-20180120.csv"))
    yahoo["date"] = pd.to_datetime(yahoo["Date"]).dt.date
    both = split.assign(date=split["ts"].dt.date).merge(yahoo, on="date")
    assert len(both) == len(yahoo) == 3379
    ratio = both["close"] / both["Close"]
    assert ratio.median() == pytest.approx(0.25, rel=1e-9)
    assert ((ratio / 0.25 - 1).abs() < 0.015).all()  # every common day: no split missed
    assert ((ratio / 0.25 - 1).abs() < 1e-3).mean() > 0.95


def test_splits_and_total_return_are_leans_factors_on_every_day(db_url):
    lean = _lean_aapl(db_url)
    days = lean["ts"].dt.tz_convert(None)
    factors = _lean_factors(days)
    split = query.bars(SYMBOL, "1d", "1998-01-01", "2021-04-01", adjustment="splits")
    total = query.bars(SYMBOL, "1d", "1998-01-01", "2021-04-01", adjustment="total_return")
    # LEAN writes its factors to 7 decimals (0.0178571 for 1/56: 2.4e-6 off); the splits
    # read uses the exact ratios, so the two agree to the file's own precision
    for column in ("open", "high", "low", "close"):
        np.testing.assert_allclose(split[column], lean[column] * factors["split"], rtol=1e-5)
        np.testing.assert_allclose(
            total[column], lean[column] * factors["split"] * factors["price"], rtol=1e-5
        )
    np.testing.assert_allclose(split["volume"], lean["volume"] / factors["split"], rtol=1e-5)
    np.testing.assert_allclose(total["volume"], split["volume"], rtol=1e-12)


def test_total_return_is_quandls_adj_close_up_to_a_constant_in_2014(db_url):
    _lean_aapl(db_url)
    total = query.bars(SYMBOL, "1d", "2014-01-01", "2015-01-01", adjustment="total_return")
    with zipfile.ZipFile(shared_data("zipline/QUANDL_ARCHIVE.zip")) as archive:
        quandl = pd.read_csv(io.BytesIO(archive.read("QUANDL_SAMPLE_TABLE.csv")))
    quandl = quandl[quandl["ticker"] == "AAPL"].assign(date=lambda f: pd.to_datetime(f["date"]))
    both = total.assign(date=total["ts"].dt.tz_convert(None)).merge(
        quandl, on="date", suffixes=("", "_quandl")
    )
    assert len(both) == 252
    ratio = both["close"] / both["adj_close"]
    assert ((ratio / ratio.median() - 1).abs() < 1e-3).all()  # the vendors' raw differ <0.09%
    # without the dividends the 2014 ratio drifts by their sum (~1.5 %) instead
    split = query.bars(SYMBOL, "1d", "2014-01-01", "2015-01-01", adjustment="splits")
    drift = split["close"].to_numpy() / both["adj_close"].to_numpy()
    assert drift.max() / drift.min() - 1 > 0.01


def test_a_week_holding_a_split_is_built_from_adjusted_days(db_url):
    _lean_aapl(db_url)  # AAPL split 2:1 on Wednesday 2000-06-21
    days = query.bars(SYMBOL, "1d", "2000-06-19", "2000-06-24")
    week = query.bars(SYMBOL, "1w", "2000-06-19", "2000-06-24")
    assert len(days) == 5 and len(week) == 1
    expected = {
        "open": days["open"].iloc[0],
        "high": days["high"].max(),
        "low": days["low"].min(),
        "close": days["close"].iloc[-1],
        "volume": days["volume"].sum(),
    }
    assert week.iloc[0][list(expected)].to_dict() == pytest.approx(expected, rel=1e-12)
    raw_days = query.bars(SYMBOL, "1d", "2000-06-19", "2000-06-24", adjustment="raw")
    assert raw_days["close"].iloc[1] / raw_days["close"].iloc[2] > 1.8  # the 2:1 step, raw
    assert 0.8 < days["close"].iloc[1] / days["close"].iloc[2] < 1.2  # and gone, adjusted


def test_zipline_and_quandl_files_give_leans_actions_in_raw_prices(db_url):
    lean = import_actions(shared_data("lean/factor_files/aapl.csv"), SYMBOL, url=db_url)
    assert lean["preset"] == "lean_factor"
    stored = query.actions(SYMBOL, url=db_url)
    for path, preset in [
        ("zipline/csvdir_daily/AAPL.csv.gz", "zipline"),
        ("zipline/QUANDL_ARCHIVE.zip", "quandl"),
    ]:
        counts = import_actions(shared_data(path), SYMBOL, url=db_url)
        assert counts["preset"] == preset  # detected from the file
        assert counts["inserted"] == 0  # the same ex-dates and kinds as LEAN's
        again = query.actions(SYMBOL, url=db_url)
        assert list(again["ex_date"]) == list(stored["ex_date"])
        mine = again[again["source"] == preset].merge(stored, on=["ex_date", "kind"])
        assert len(mine) == counts["updated"] > 0
        # zipline's split-adjusted dividends (0.37857) are stored raw (2.65), as LEAN's
        np.testing.assert_allclose(mine["amount_x"], mine["amount_y"], rtol=2e-4)
        np.testing.assert_allclose(mine["factor_x"], mine["factor_y"], rtol=2e-5)


def test_bi_views_give_the_reads_adjustments_to_the_reader_role(db_url, db):
    _lean_aapl(db_url)
    with db:
        roles.set_reader_password(db, READER_PASSWORD)
    reader = connection.connect(reader_url(db_url), autocommit=True)
    try:
        with reader.cursor() as cur:
            cur.execute(
                "SELECT session_date, open, close, volume, tr_close FROM analytics.adjusted_bars"
                " WHERE symbol = %s AND timeframe = '1d' ORDER BY ts",
                (SYMBOL,),
            )
            view = pd.DataFrame(cur.fetchall(), columns=["date", "open", "close", "vol", "tr"])
            cur.execute(
                "SELECT ex_date, kind, ratio FROM analytics.corporate_actions"
                " WHERE symbol = %s AND kind = 'split' ORDER BY ex_date",
                (SYMBOL,),
            )
            splits = cur.fetchall()
    finally:
        reader.close()
    assert [(str(d), r) for d, _, r in splits] == [
        ("2000-06-21", 2.0), ("2005-02-28", 2.0), ("2014-06-09", 7.0), ("2020-08-31", 4.0)
    ]  # fmt: skip
    split = query.bars(SYMBOL, "1d", "1998-01-01", "2021-04-01")
    total = query.bars(SYMBOL, "1d", "1998-01-01", "2021-04-01", adjustment="total_return")
    assert len(view) == len(split) == 5849
    np.testing.assert_allclose(view["open"], split["open"], rtol=1e-12)
    np.testing.assert_allclose(view["close"], split["close"], rtol=1e-12)
    np.testing.assert_allclose(view["vol"], split["volume"], rtol=1e-12)
    np.testing.assert_allclose(view["tr"], total["close"], rtol=1e-12)
    undocumented = rows(
        db,
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relname IN ('corporate_actions', 'adjustment_factors', 'adjusted_bars')"
        " AND c.relnamespace = 'analytics'::regnamespace AND a.attnum > 0"
        " AND col_description(a.attrelid, a.attnum) IS NULL",
    )
    assert undocumented == []


def test_an_action_bumps_the_version_and_writing_it_again_changes_nothing(db_url, db):
    _lean_aapl(db_url)
    version = query.bar_version(SYMBOL, url=db_url)
    again = import_actions(shared_data("lean/factor_files/aapl.csv"), SYMBOL, url=db_url)
    assert (again["unchanged"], again["inserted"], again["updated"]) == (39, 0, 0)
    assert query.bar_version(SYMBOL, url=db_url) == version  # nothing changed: no bump
    iid = rows(db, "SELECT id FROM candleflow.instruments WHERE symbol = %s", (SYMBOL,))[0][0]
    with db:
        counts = upsert_actions(
            db, iid, [{"ex_date": "2021-03-01", "kind": "split", "ratio": 2.0}],
            source="test", run_id="r2",
        )  # fmt: skip
    assert counts.inserted == 1
    assert query.bar_version(SYMBOL, url=db_url) != version
    late = query.bars(SYMBOL, "1d", "2021-02-25", "2021-03-03", adjustment="raw")
    adjusted = query.bars(SYMBOL, "1d", "2021-02-25", "2021-03-03")
    before = late["ts"] < pd.Timestamp("2021-03-01", tz="UTC")
    np.testing.assert_allclose(adjusted["close"], late["close"].where(~before, late["close"] / 2))


def test_intraday_bars_split_at_the_exchanges_midnight_and_days_are_built_adjusted(db_url, db):
    from tests.support.query import NY, add_instrument, load, make_bars, session_minutes

    iid = add_instrument(db, "NYSE:XYZ", NY, "0930-1600")
    minutes = make_bars(session_minutes(["2024-07-01", "2024-07-02", "2024-07-03"]), base=400)
    late = make_bars(pd.DatetimeIndex([pd.Timestamp("2024-07-02 19:59", tz=NY)]), seed=5)
    load(db, iid, "1m", pd.concat([minutes, late]).sort_values("ts").drop_duplicates("ts"))
    with db:
        upsert_actions(
            db, iid,
            [{"ex_date": "2024-07-03", "kind": "split", "ratio": 4.0},
             {"ex_date": "2024-07-02", "kind": "dividend", "amount": 2.0,
              "reference_price": 400.0}],
            source="test", run_id="t",
        )  # fmt: skip
    raw = query.bars("NYSE:XYZ", "1m", "2024-07-01", "2024-07-04", adjustment="raw")
    total = query.bars("NYSE:XYZ", "1m", "2024-07-01", "2024-07-04", adjustment="total_return")
    day = raw["ts"].dt.tz_convert(NY).dt.date.astype(str)
    expected = np.select(
        [day == "2024-07-01", day == "2024-07-02"], [0.25 * (1 - 2 / 400), 0.25], 1.0
    )
    np.testing.assert_allclose(total["close"], raw["close"] * expected, rtol=1e-12)
    np.testing.assert_allclose(
        total["volume"], raw["volume"] / np.where(day < "2024-07-03", 0.25, 1)
    )
    daily = query.bars("NYSE:XYZ", "1d", "2024-07-01", "2024-07-04", adjustment="total_return")
    by_day = total.groupby(day.to_numpy())
    assert list(daily["close"]) == pytest.approx(list(by_day["close"].last()))
    assert list(daily["high"]) == pytest.approx(list(by_day["high"].max()))
    assert list(daily["volume"]) == pytest.approx(list(by_day["volume"].sum()))


def test_the_actions_and_bars_commands_as_typed(db_url, capfd):
    from candleflow import cli

    _lean_aapl(db_url)
    capfd.readouterr()
    factor_file = str(shared_data("lean/factor_files/aapl.csv"))
    assert cli.run(["actions", "import", factor_file, "--symbol", SYMBOL, "--preset", "x"]) == 2
    assert "--preset" in capfd.readouterr().err
    assert cli.run(["actions", "import", factor_file, "--symbol", SYMBOL]) == 0
    counts = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert (counts["preset"], counts["splits"], counts["dividends"]) == ("lean_factor", 4, 35)
    assert counts["unchanged"] == 39  # imported already: nothing written again
    assert cli.run(["actions", SYMBOL]) == 0
    lines = capfd.readouterr().out.strip().splitlines()
    assert lines[0] == "ex_date,kind,ratio,amount,reference_price,factor,source"
    assert lines[-1].startswith("2021-02-05,dividend,,0.205,137.39,0.99850") and len(lines) == 40
    assert "2020-08-31,split,4.0,,,0.25,lean_factor" in lines

    week = ["-t", "1d", "--start", "2020-08-27", "--end", "2020-09-01"]
    assert cli.run(["bars", SYMBOL, *week, "--adjustment", "raw"]) == 0
    raw = capfd.readouterr().out.strip().splitlines()
    assert cli.run(["bars", SYMBOL, *week]) == 0
    split = capfd.readouterr().out.strip().splitlines()
    assert raw[1].split(",")[4] == "500.04" and split[1].split(",")[4] == "125.01"  # 27 Aug
    assert raw[-1] == split[-1]  # 31 August: the ex-date, the same either way
