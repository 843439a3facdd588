"""Rolled-up bars of a session market: the provider's grid, the regular session only, and one
series with the provider's bars when both are read.

The real case: the Lean SPY trades of 2013-10-07 (pre-market from 04:00 New York time to
after-market at 20:00) imported as ``AMEX:SPY`` and rolled up beside the replay server's 1h
bars of that day, which sit at :30 (the XNYS session opens at 09:30). Expected values come
from the exchange calendar written out by hand and from pandas over the stored 1m bars.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from candleflow import query
from candleflow.db.instruments import ensure_instrument
from candleflow.db.ticks import insert_ticks
from candleflow.managers import BarManager
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer
from tests.support.shared_data import shared_data

pytestmark = pytest.mark.timeout(300)
CLI = str(Path(sys.executable).with_name("candleflow"))
UTC = dt.UTC
OPEN, CLOSE = pd.Timestamp("2013-10-07 13:30", tz="UTC"), pd.Timestamp("2013-10-07 20:00", tz="UTC")


def _rollup(db, symbol: str, timeframe: str) -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute(
            "SELECT b.ts, open, high, low, close, volume FROM candleflow.bars b"
            " JOIN candleflow.instruments i ON i.id = b.instrument_id"
            " WHERE i.symbol = %s AND timeframe = %s AND source = 'rollup' ORDER BY ts",
            (symbol, timeframe),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=["ts", "open", "high", "low", "close", "v"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.set_index("ts").astype("float64")


def test_lean_spy_beside_provider_bars_is_one_regular_session_series(db, db_url):
    ticks = shared_data("lean/tick/spy/20131007_trade.zip")
    with ReplayServer(seed=3) as srv:  # provider 1h bars that closed in (13:00, 17:00]
        options = {"url": srv.url, "timeout": 10}
        sync("AMEX:SPY", "1h", "2013-10-07T13:00Z", "2013-10-07T17:00Z", provider_options=options)
    imported = subprocess.run(
        [CLI, "ticks", "import", str(ticks), "--symbol", "AMEX:SPY", "--preset", "lean_tick_trade"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    result = BarManager().rollup(db, run_id="r")

    minutes, hours = _rollup(db, "AMEX:SPY", "1m"), _rollup(db, "AMEX:SPY", "1h")
    # the regular session only: 390 minutes, 13:30-19:59 UTC; the rest stays as ticks
    assert len(minutes) == 390 and minutes.index.min() == OPEN
    assert minutes.index.max() == CLOSE - pd.Timedelta(minutes=1)
    assert result.outside_session > 0
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM candleflow.ticks t JOIN candleflow.instruments i"
            " ON i.id = t.instrument_id WHERE i.symbol = 'AMEX:SPY' AND (t.ts < %s OR t.ts >= %s)",
            (OPEN, CLOSE),
        )
        assert cur.fetchone()[0] > 5_000  # the pre- and after-market trades, kept
    # 1h on the provider's grid: 13:30 ... 19:30 (the last one covers 19:30-20:00)
    assert [t.strftime("%H:%M") for t in hours.index] == [f"{h}:30" for h in range(13, 20)]
    oracle = minutes.resample("1h", origin=OPEN).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "v": "sum"}
    )
    pd.testing.assert_frame_equal(hours, oracle, check_freq=False)

    got = query.bars(["AMEX:SPY"], "1h", "2013-10-07", "2013-10-08")

    assert list(got["ts"]) == list(hours.index)  # 7 rows, one per interval, ordered
    assert list(got["source"]) == ["provider"] * 3 + ["rollup"] * 4
    assert list(got["close"].iloc[3:]) == list(hours["close"].iloc[3:])
    assert got["complete"].all()


def _ticks(times: list[str]) -> pd.DataFrame:
    ts = pd.to_datetime(times).tz_localize("America/New_York").tz_convert("UTC").as_unit("us")
    frame = pd.DataFrame({"ts": ts, "price": [100.0 + i for i in range(len(ts))]})
    frame["size"] = 1.0
    frame["day_volume"] = frame["bid"] = frame["ask"] = float("nan")
    frame["seq"] = 0
    return frame


def test_an_early_close_and_a_holiday_follow_the_exchange_calendar(db):
    """Thanksgiving 2013 (Thursday 28 November) is no session; Friday closes at 13:00."""
    times = [
        "2013-11-27 15:59:30",  # Wednesday, the last regular minute
        "2013-11-28 11:00:00",  # Thanksgiving: no session
        "2013-11-29 12:59:10",  # Friday, the last minute of the early close
        "2013-11-29 13:05:00",  # Friday after the early close: after-market
    ]
    with db:
        iid = ensure_instrument(db, "NYSE:IBM")
        insert_ticks(db, iid, _ticks(times), run_id="t", source="test")
    result = BarManager(["1m", "1h"]).rollup(db, run_id="r")

    minutes = _rollup(db, "NYSE:IBM", "1m")
    assert [str(t) for t in minutes.index] == [
        "2013-11-27 20:59:00+00:00",
        "2013-11-29 17:59:00+00:00",
    ]
    assert result.outside_session == 2
    # each minute's hour on the session grid: 15:30 and 12:30 New York time
    hours = _rollup(db, "NYSE:IBM", "1h")
    assert [str(t) for t in hours.index] == [
        "2013-11-27 20:30:00+00:00",
        "2013-11-29 17:30:00+00:00",
    ]


def test_fill_stays_inside_the_regular_sessions(db):
    """Flat bars fill empty minutes of a session, never the night between two sessions."""
    times = ["2013-10-07 15:57:00", "2013-10-07 15:59:00", "2013-10-08 09:31:00"]
    with db:
        iid = ensure_instrument(db, "NYSE:IBM")
        insert_ticks(db, iid, _ticks(times), run_id="t", source="test")
    BarManager(["1m"], fill=True).rollup(db, run_id="r")

    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, filled FROM candleflow.bars WHERE instrument_id = %s AND timeframe = '1m'"
            " ORDER BY ts",
            (iid,),
        )
        rows = [(ts.astimezone(UTC).strftime("%m-%d %H:%M"), filled) for ts, filled in cur]
    assert rows == [
        ("10-07 19:57", False),
        ("10-07 19:58", True),  # inside the session: filled
        ("10-07 19:59", False),
        ("10-08 13:30", True),  # the next session's open, before its first trade
        ("10-08 13:31", False),
    ]


def test_migration_0011_rebuilds_session_rollups_and_keys_old_rejects(empty_db_url, tmp_path):
    """A warehouse with rollup bars of the old UTC grid (an XNYS stock's 14:00 hour and its
    pre-market minute) and a reject recorded without provider and window, migrated."""
    import shutil

    from candleflow.db import connection, migrate

    before = tmp_path / "migrations"
    before.mkdir()
    for m in migrate.available():
        if m.version < 11:
            shutil.copy(m.path, before / m.path.name)
    conn = connection.connect(empty_db_url)
    try:
        original = migrate.MIGRATIONS_DIR
        migrate.MIGRATIONS_DIR = before
        try:
            migrate.migrate(conn)
        finally:
            migrate.MIGRATIONS_DIR = original
        with conn, conn.cursor() as cur:  # rows as the schema of 0010 holds them
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES"
                " ('NYSE:IBM', 'NYSE', 'IBM'), ('BINANCE:BTC', 'BINANCE', 'BTC') RETURNING id"
            )
            ibm, btc = (row[0] for row in cur.fetchall())
            insert_ticks(conn, ibm, _ticks(["2013-10-07 09:15", "2013-10-07 10:05"]), run_id="t")
        with conn, conn.cursor() as cur:  # what the old code had stored: the UTC grid
            cur.execute(
                "INSERT INTO candleflow.bars (instrument_id, timeframe, source, ts, open, high,"
                " low, close) VALUES (%(i)s, '1h', 'rollup', '2013-10-07 14:00Z', 1, 1, 1, 1),"
                " (%(i)s, '1m', 'rollup', '2013-10-07 13:15Z', 1, 1, 1, 1),"
                " (%(b)s, '1h', 'rollup', '2013-10-07 14:00Z', 1, 1, 1, 1)",
                {"i": ibm, "b": btc},
            )
            cur.execute(
                "INSERT INTO candleflow.load_audit (run_id, symbol, timeframe, provider,"
                " window_start, window_end, rows_rejected, outcome, started_at) VALUES"
                " ('run-r', 'NYSE:IBM', '1h', 'tradingview', '2013-10-07', '2013-10-08', 1,"
                " 'success', now())"
            )
            cur.execute(
                "INSERT INTO candleflow.rejected_bars (run_id, symbol, timeframe, ts, rules, raw)"
                " VALUES ('run-r', 'NYSE:IBM', '1h', '2013-10-07 14:30Z', ARRAY['high_ge_low'],"
                " '{\"high\": 1}')"
            )
        assert migrate.migrate(conn)[0] == 11  # and every later one
        with conn.cursor() as cur:
            cur.execute(
                "SELECT instrument_id, timeframe, ts FROM candleflow.bars WHERE source = 'rollup'"
            )
            assert cur.fetchall() == [(btc, "1h", dt.datetime(2013, 10, 7, 14, tzinfo=UTC))]
            cur.execute("SELECT provider, window_start, window_end FROM candleflow.rejected_bars")
            assert cur.fetchall() == [
                (
                    "tradingview",
                    dt.datetime(2013, 10, 7, tzinfo=UTC),
                    dt.datetime(2013, 10, 8, tzinfo=UTC),
                )
            ]
        BarManager(["1m", "1h"]).rollup(conn, run_id="rebuilt")
        with conn.cursor() as cur:
            cur.execute(
                "SELECT timeframe, ts FROM candleflow.bars WHERE instrument_id = %s ORDER BY 1, 2",
                (ibm,),
            )
            assert cur.fetchall() == [
                ("1h", dt.datetime(2013, 10, 7, 13, 30, tzinfo=UTC)),  # the 10:05 trade's hour
                ("1m", dt.datetime(2013, 10, 7, 14, 5, tzinfo=UTC)),  # 09:15 was pre-market
            ]
    finally:
        conn.close()
