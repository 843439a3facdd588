"""Sessions as part of the series: a symbol's regular and extended-hours series, side by side.

Over a real websocket to the replay server, which serves a US equity's pre- and post-market
bars (04:00-20:00 New York) when the resolve descriptor asks for ``"session": "extended"``.
Each series is its own instrument row; neither ever leaks into the other, in the tables, the
query module, the analytics views or the CLI.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from candleflow import calendars, query
from candleflow.domain import Timeframe
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer

AAPL = "NASDAQ:AAPL"
NEW_YORK = "America/New_York"
START, END = dt.datetime(2024, 3, 4, tzinfo=dt.UTC), dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
# 4 sessions (4-7 March) of 32 extended half hours, less the last two of 7 March: 19:00-20:00
# New York is 00:00-01:00 UTC on 8 March, after the window's end
EXTENDED = 4 * 32 - 2
CANDLEFLOW = str(Path(sys.executable).with_name("candleflow"))

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server():
    with ReplayServer(seed=3, now=END.timestamp()) as srv:
        yield srv


def _sync(server: ReplayServer, db_url: str, session: str, tf: str = "30m") -> dict:
    options = {"url": server.url, "timeout": 10, "session": session}
    return sync(AAPL, tf, START, END, provider="tradingview", provider_options=options, url=db_url)


def _stored(db, session: str, tf: str = "30m") -> pd.DatetimeIndex:
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT b.ts FROM candleflow.bars AS b"
            " JOIN candleflow.instruments AS i ON i.id = b.instrument_id"
            " WHERE i.symbol = %s AND i.series_session = %s AND b.timeframe = %s ORDER BY b.ts",
            (AAPL, session, tf),
        )
        return pd.DatetimeIndex([row[0] for row in cur.fetchall()]).tz_convert(NEW_YORK)


def _expected(session: str, tf: str = "30m") -> pd.DatetimeIndex:
    market = calendars.Market.of(AAPL, session=session)
    grid = calendars.expected(market, Timeframe.parse(tf), START, END, END)
    return pd.DatetimeIndex(grid["start"]).tz_convert(NEW_YORK)


def _minutes(index: pd.DatetimeIndex) -> pd.Index:
    return pd.Index(index.hour * 60 + index.minute)


def test_extended_and_regular_series_are_stored_side_by_side_and_never_mix(server, db_url, db):
    regular = _sync(server, db_url, "regular")
    extended = _sync(server, db_url, "extended")

    # two instrument rows of one symbol, the extended one with its own hours
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT series_session, session FROM candleflow.instruments WHERE symbol = %s"
            " ORDER BY series_session DESC",
            (AAPL,),
        )
        assert cur.fetchall() == [("regular", "0930-1600"), ("extended", "0400-2000")]

    # counts per series: 4 sessions of 13 regular half hours, EXTENDED; none rejected
    assert regular["rows_inserted"] == 4 * 13 and regular["rows_rejected"] == 0
    assert extended["rows_inserted"] == EXTENDED and extended["rows_rejected"] == 0
    reg, ext = _stored(db, "regular"), _stored(db, "extended")
    assert list(reg) == list(_expected("regular")) and len(reg) == 52
    assert list(ext) == list(_expected("extended")) and len(ext) == EXTENDED

    # the extended series has its pre-market (04:00-09:30) and post-market (16:00-20:00)
    # bars; the regular series has none of them
    pre = (_minutes(ext) >= 4 * 60) & (_minutes(ext) < 9 * 60 + 30)
    post = _minutes(ext) >= 16 * 60
    assert pre.sum() == 4 * 11 and post.sum() == 4 * 8 - 2
    assert ((_minutes(reg) >= 9 * 60 + 30) & (_minutes(reg) < 16 * 60)).all()
    assert set(reg) < set(ext)  # the regular half hours are a part of the extended series

    # the query module reads each series apart, on its own sessions
    both = {
        session: query.bars(AAPL, "30m", START, END, session=session, adjustment="raw")
        for session in ("regular", "extended")
    }
    assert len(both["regular"]) == 52 and len(both["extended"]) == EXTENDED
    daily = query.bars(AAPL, "1d", START, END, session="extended", adjustment="raw")
    # each day opens at 04:00 New York; 7 March misses its last hour (after the window): the
    # extended session says so, where the regular one would call the day complete
    opens = daily["ts"].dt.tz_convert(NEW_YORK).dt.strftime("%H:%M")
    assert opens.tolist() == ["04:00"] * 4
    assert daily["complete"].tolist() == [True, True, True, False]
    sums = both["extended"].groupby(both["extended"]["ts"].dt.tz_convert(NEW_YORK).dt.date)
    assert daily["volume"].tolist() == sums["volume"].sum().tolist()
    assert query.bars(AAPL, "1d", START, END, adjustment="raw")["volume"].sum() == (
        both["regular"]["volume"].sum()
    )
    coverage = query.coverage(AAPL, "30m", START, END, session="extended")
    assert (coverage.expected, coverage.missing) == (EXTENDED, 0)

    # BI: analytics.bars is the regular series, analytics.extended_bars the extended one
    with db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.bars WHERE symbol = %s", (AAPL,))
        assert cur.fetchone()[0] == 52
        cur.execute("SELECT count(*) FROM analytics.extended_bars WHERE symbol = %s", (AAPL,))
        assert cur.fetchone()[0] == EXTENDED
        cur.execute(
            "SELECT count(*), count(DISTINCT session_date) FROM analytics.daily_bars"
            " WHERE symbol = %s",
            (AAPL,),
        )
        assert cur.fetchone() == (4, 4)  # built from the regular 30m bars only


def test_a_rerun_of_the_extended_series_rewrites_nothing_of_either(server, db_url, db):
    _sync(server, db_url, "regular")
    _sync(server, db_url, "extended")
    again = _sync(server, db_url, "extended")
    assert (again["rows_inserted"], again["rows_updated"], again["rows_unchanged"]) == (
        0,
        0,
        EXTENDED,
    )
    assert len(_stored(db, "regular")) == 52


def test_the_extended_session_of_a_market_without_one_is_refused(server, db_url):
    from candleflow.errors import BadInputError

    options = {"url": server.url, "timeout": 10, "session": "extended"}
    with pytest.raises(BadInputError, match="no extended session"):
        sync("BINANCE:BTCUSDT", "1h", START, END, provider_options=options, url=db_url)


def test_extended_calendar_closes_four_hours_after_an_early_close():
    market = calendars.Market.of(AAPL, session="extended")
    day = pd.Timestamp("2024-11-29", tz="UTC")  # the day after Thanksgiving: 13:00 close
    sched = calendars.schedule(market, day, day + pd.Timedelta(days=1))
    local = sched.iloc[0].dt.tz_convert(NEW_YORK)
    assert (local["open"].strftime("%H:%M"), local["close"].strftime("%H:%M")) == (
        "04:00",
        "17:00",
    )


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CANDLEFLOW, *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **env},
    )


def test_cli_session_extended_round_trip(server, db_url):
    env = {"CANDLEFLOW_TRADINGVIEW_URL": server.url, "CANDLEFLOW_DATABASE_URL": db_url}
    window = ["-t", "30m", "--start", "2024-03-04", "--end", "2024-03-08"]
    fetched = _cli("fetch", AAPL, *window, "--session", "extended", env=env)
    assert fetched.returncode == 0, fetched.stderr
    synced = _cli("sync", AAPL, *window, "--session", "extended", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    (record,) = json.loads(synced.stdout)["symbols"]
    assert record["rows_inserted"] == EXTENDED

    read = _cli("bars", AAPL, *window, "--session", "extended", "--adjustment", "raw", env=env)
    assert read.returncode == 0, read.stderr
    provider = pd.read_csv(io.StringIO(fetched.stdout))
    stored = pd.read_csv(io.StringIO(read.stdout))
    assert len(provider) == len(stored) == EXTENDED
    assert stored.drop(columns="complete").equals(provider)

    # the regular series of the symbol was never loaded: bars without --session has none
    regular = _cli("bars", AAPL, *window, env=env)
    assert regular.stdout.strip() == "ts,open,high,low,close,volume,complete" or not (
        regular.stdout.strip()
    )
    bad = _cli("bars", AAPL, *window, "--session", "overnight", env=env)
    assert bad.returncode == 2 and "'overnight'" in bad.stderr and "extended" in bad.stderr
