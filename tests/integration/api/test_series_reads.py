"""Reads use what covers each part of the window; corrections are
kept and reads can ask for the series as it was known at a time.

Expected values are computed here from the loaded frames and ``exchange_calendars``, never
by the code under test.
"""

from __future__ import annotations

import datetime as dt

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from candleflow import query
from candleflow.cli.bars import bars_command
from candleflow.db import bars as bar_writer
from tests.support.query import NY, add_instrument, load, make_bars, ohlcv
from tests.support.reader import rows

SYMBOL = "NASDAQ:AAPL"
START, END = "2024-02-01", "2024-07-02"  # five months, and the morning of 1 July


def _sessions() -> pd.DataFrame:
    return xcals.get_calendar("XNYS").schedule.loc["2024-02-01":"2024-07-01"]


@pytest.fixture
def mixed(db):
    """1h for every session from 1 February to 27 June; 1m for the whole of 28 June, the first
    hour of 27 June (a day the 1h bars cover) and the first half hour of 1 July."""
    iid = add_instrument(db, SYMBOL, NY, "0930-1600")
    sched = _sessions()
    hours = [
        ts
        for day, (open_, close) in sched[["open", "close"]].iterrows()
        if day < pd.Timestamp("2024-06-28")
        for ts in pd.date_range(open_, close, freq="1h", inclusive="left")
    ]
    hourly = make_bars(pd.DatetimeIndex(hours), seed=3)
    load(db, iid, "1h", hourly)

    def minutes(day: str, count: int) -> pd.DatetimeIndex:
        return pd.date_range(sched.loc[day, "open"], periods=count, freq="1min")

    stamps = minutes("2024-06-27", 60).append(minutes("2024-06-28", 390))
    minute = make_bars(stamps.append(minutes("2024-07-01", 30)), seed=4, base=150.0)
    load(db, iid, "1m", minute)
    return {"sessions": sched, "hourly": hourly, "minute": minute}


def _by_day(frame: pd.DataFrame) -> pd.Series:
    return frame["ts"].dt.tz_convert(NY).dt.date


def _check_daily(daily: pd.DataFrame, mixed) -> None:
    """Every session once, in order; complete except the cut 1 July; the values of each day
    from the timeframe that covers it (1m on 28 June, 1h on 27 June)."""
    sessions = [d.date() for d in mixed["sessions"].index]
    assert list(_by_day(daily)) == sessions
    complete = dict(zip(_by_day(daily), daily["complete"], strict=True))
    assert [d for d, ok in complete.items() if not ok] == [dt.date(2024, 7, 1)]
    values = daily.set_index(_by_day(daily))[["open", "high", "low", "close"]]
    minute, hourly = mixed["minute"], mixed["hourly"]
    want = ohlcv(minute, _by_day(minute)).loc[dt.date(2024, 6, 28)]
    assert values.loc[dt.date(2024, 6, 28)].tolist() == pytest.approx(want.iloc[:4].tolist())
    want = ohlcv(hourly, _by_day(hourly)).loc[dt.date(2024, 6, 27)]
    assert values.loc[dt.date(2024, 6, 27)].tolist() == pytest.approx(want.iloc[:4].tolist())


def test_a_daily_read_over_1h_history_and_a_day_of_1m_returns_every_session(db_url, mixed):
    daily = query.bars(SYMBOL, "1d", START, END)

    _check_daily(daily, mixed)
    weekly = query.bars(SYMBOL, "1w", "2024-06-17", "2024-07-06")
    # the weeks of 17 and 24 June (1h, then 1h + the 1m Friday) whole; 1 July's only started
    assert list(weekly["complete"]) == [True, True, False]
    hourly = query.bars(SYMBOL, "1h", "2024-06-27", END)  # stored 1h, then built from 1m
    assert len(hourly) == 7 + 7 + 1 and not hourly["complete"].iloc[-1]
    assert hourly["complete"].iloc[:-1].all()


def test_the_cli_and_the_api_read_the_same_every_session(db_url, mixed, client):
    app_ = typer.Typer()
    app_.command("bars")(bars_command)
    app_.command("noop")(lambda: None)
    args = ["bars", SYMBOL, "--timeframe", "1d", "--start", START, "--end", END]

    result = CliRunner().invoke(app_, args)
    body = client.get(f"/api/v1/bars/{SYMBOL}?timeframe=1d&start={START}&end={END}").json()

    assert result.exit_code == 0, result.output
    printed = pd.read_csv(pd.io.common.StringIO(result.stdout), parse_dates=["ts"])
    _check_daily(printed, mixed)
    assert body["next"] is None
    served = pd.DataFrame(body["bars"]).assign(ts=lambda f: pd.to_datetime(f["ts"], utc=True))
    _check_daily(served, mixed)


def test_analytics_daily_bars_take_each_day_from_what_covers_it(db_url, db, mixed):
    got = rows(
        db,
        "SELECT session_date, built_from, complete FROM analytics.daily_bars"
        " WHERE symbol = %s ORDER BY session_date",
        (SYMBOL,),
    )

    assert [r[0] for r in got] == [d.date() for d in mixed["sessions"].index]
    built = {r[0]: (r[1], r[2]) for r in got}
    assert built[dt.date(2024, 6, 27)] == ("1h", True)  # 1m has only its first hour
    assert built[dt.date(2024, 6, 28)] == ("1m", True)
    assert built[dt.date(2024, 7, 1)] == ("1m", False)
    assert {b for d, b in built.items() if d < dt.date(2024, 6, 27)} == {("1h", True)}


# --- revisions and as_of (22.5) -----------------------------------------------------------


def _now(db) -> dt.datetime:
    (value,) = rows(db, "SELECT clock_timestamp()")[0]
    return value


def _revisions(db) -> list[tuple]:
    return rows(
        db,
        "SELECT ts, close, old_run_id, run_id, reason FROM candleflow.bar_revisions ORDER BY 1, 4",
    )


def test_a_corrected_bar_reads_as_it_was_known_before_and_after(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    days = pd.date_range("2024-03-01", periods=3, freq="1D", tz="UTC")
    first = make_bars(days)
    before_any = _now(db)
    with db:
        bar_writer.upsert_bars(db, iid, "1d", first, run_id="r1")
    known = _now(db)
    corrected = first.copy()
    corrected.loc[1, ["close", "high"]] = corrected.loc[1, "high"] + 5.0
    later = pd.concat([corrected, make_bars(days[-1:] + pd.Timedelta(days=1), seed=9)])
    with db:
        bar_writer.upsert_bars(db, iid, "1d", later.reset_index(drop=True), run_id="r2")
    after = _now(db)
    with db:  # the same values again: nothing changes, no revision
        bar_writer.upsert_bars(db, iid, "1d", later.reset_index(drop=True), run_id="r3")

    then = query.bars("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-10", as_of=known)
    now = query.bars("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-10", as_of=after)
    current = query.bars("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-10")
    nothing = query.bars("BINANCE:BTCUSDT", "1d", "2024-03-01", "2024-03-10", as_of=before_any)

    assert then["close"].tolist() == pytest.approx(first["close"].tolist())  # 3 bars, old close
    assert now["close"].tolist() == pytest.approx(later["close"].tolist())  # 4, corrected
    assert current["close"].tolist() == now["close"].tolist()
    assert nothing.empty
    assert _revisions(db) == [(days[1], first.loc[1, "close"], "r1", "r2", "provider correction")]


def test_a_re_adjusting_load_says_why_and_the_cli_prints_as_of(db_url, db):
    iid = add_instrument(db, "BINANCE:ETHUSDT")
    days = pd.date_range("2024-03-01", periods=3, freq="1D", tz="UTC")
    first = make_bars(days)
    with db:
        bar_writer.upsert_bars(db, iid, "1d", first, run_id="r1")
    known = _now(db)
    halved = first.assign(**{c: first[c] / 2 for c in ("open", "high", "low", "close")})
    with db:
        bar_writer.upsert_bars(db, iid, "1d", halved, run_id="r2", reason="re-adjustment")
    app_ = typer.Typer()
    app_.command("bars")(bars_command)
    app_.command("noop")(lambda: None)
    args = ["bars", "BINANCE:ETHUSDT", "-t", "1d", "--start", "2024-03-01", "--end", "2024-03-04"]

    then = CliRunner().invoke(app_, [*args, "--as-of", known.isoformat()])
    now = CliRunner().invoke(app_, args)

    assert {r[4] for r in _revisions(db)} == {"re-adjustment"} and len(_revisions(db)) == 3
    assert then.exit_code == 0 and now.exit_code == 0, then.output + now.output
    closes = [pd.read_csv(pd.io.common.StringIO(r.stdout))["close"] for r in (then, now)]
    assert closes[0].tolist() == pytest.approx(first["close"].tolist())
    assert np.allclose(closes[1], first["close"] / 2)
