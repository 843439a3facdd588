"""The ``analytics`` views and the read-only role ``candleflow_reader`` (migrations 0003, 0009,
0019)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from psycopg2 import errors

from candleflow.db import connection, roles
from candleflow.errors import ConfigError, DatabaseUnavailable
from tests.support.query import NY, add_instrument, load, make_bars, session_minutes
from tests.support.reader import READER_PASSWORD, reader_url, rows

VIEWS = (
    "bars",
    "daily_bars",
    "latest_quotes",
    "coverage",
    "load_history",
    "freshness",
    "timeframes",
    "corporate_actions",
    "adjustment_factors",
    "adjusted_bars",
    "bar_revisions",
    "rejected_bars",
    "rejected_ticks",
    "load_outcomes",
)
HOUR_DELTA = dt.timedelta(hours=1)


def test_every_view_and_its_columns_are_documented(db):
    for view in VIEWS:
        (comment,) = rows(
            db, "SELECT obj_description(%s::regclass, 'pg_class')", (f"analytics.{view}",)
        )[0]
        assert comment, view
    undocumented = rows(
        db,
        """
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = 'analytics.freshness'::regclass AND a.attnum > 0
          AND a.attname IN ('age', 'max_age', 'is_stale', 'newest_end')
          AND col_description(a.attrelid, a.attnum) IS NULL""",
    )
    assert undocumented == []


def test_bars_view_has_symbols_and_exchange_session_dates(db_url, db):
    aapl = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    late = pd.DatetimeIndex([pd.Timestamp("2024-07-02 19:30", tz=NY).tz_convert("UTC")])
    load(db, aapl, "1h", make_bars(late))  # 23:30 UTC: still July 2 in New York
    load(db, aapl, "1d", make_bars(pd.DatetimeIndex(["2024-07-03"], tz="UTC")))  # UTC midnight

    got = rows(
        db,
        "SELECT symbol, exchange, timeframe, ts, session_date, source"
        " FROM analytics.bars ORDER BY timeframe, ts",
    )

    assert [(r[0], r[1], r[2], r[4], r[5]) for r in got] == [
        ("NASDAQ:AAPL", "NASDAQ", "1d", dt.date(2024, 7, 3), "provider"),
        ("NASDAQ:AAPL", "NASDAQ", "1h", dt.date(2024, 7, 2), "provider"),
    ]


def test_daily_bars_are_built_from_intraday_when_no_1d_is_stored(db_url, db):
    iid = add_instrument(db, "NASDAQ:MSFT", NY, "0930-1600")
    minutes = make_bars(session_minutes(["2024-07-02", "2024-07-03"]))
    load(db, iid, "1m", minutes)

    got = rows(
        db,
        "SELECT session_date, ts, open, high, low, close, volume, built_from"
        " FROM analytics.daily_bars ORDER BY session_date",
    )

    day = minutes[minutes["ts"].dt.tz_convert(NY).dt.day == 2]
    assert len(got) == 2
    assert got[0][0] == dt.date(2024, 7, 2) and got[0][1] == day["ts"].iloc[0]
    assert got[0][2:7] == (
        day["open"].iloc[0],
        day["high"].max(),
        day["low"].min(),
        day["close"].iloc[-1],
        day["volume"].sum(),
    )
    assert got[0][7] == "1m"


def test_freshness_flags_stale_series(db_url, db):
    btc, eth = add_instrument(db, "BINANCE:BTCUSDT"), add_instrument(db, "BINANCE:ETHUSDT")
    stock = add_instrument(db, "NASDAQ:AAPL", NY, "0930-1600")
    now = pd.Timestamp.now(tz="UTC").floor("min")
    load(db, btc, "1m", make_bars([now - pd.Timedelta(minutes=3)]))
    load(db, eth, "1m", make_bars([now - pd.Timedelta(hours=2)]))
    load(db, stock, "1m", make_bars([now - pd.Timedelta(days=2)]))  # a weekend is normal

    got = dict(rows(db, "SELECT symbol, is_stale FROM analytics.freshness WHERE timeframe = '1m'"))

    assert got == {"BINANCE:BTCUSDT": False, "BINANCE:ETHUSDT": True, "NASDAQ:AAPL": False}


def test_coverage_latest_quotes_and_load_history_views(db_url, db):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    ts = pd.date_range("2024-03-01", periods=4, freq="1min", tz="UTC")
    load(db, iid, "1m", make_bars(ts))
    load(
        db,
        iid,
        "1m",
        make_bars(ts.append(pd.DatetimeIndex([ts[-1] + pd.Timedelta("1min")]))),
        source="rollup",
    )
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.load_audit (run_id, instrument_id, symbol, timeframe, provider,"
            " window_start, window_end, rows_fetched, outcome, validation, started_at)"
            " VALUES ('r1', %s, 'BINANCE:BTCUSDT', '1m', 'files', %s, %s, 4, 'success',"
            " '{\"gx_success\": true}', %s)",
            (iid, ts[0], ts[-1], ts[0]),
        )

    coverage = rows(
        db,
        "SELECT first_ts, last_ts, bar_count, rollup_count, last_load_outcome,"
        " last_load_run_id FROM analytics.coverage",
    )
    quote_row = rows(db, "SELECT ts, origin, timeframe FROM analytics.latest_quotes")
    history = rows(
        db,
        "SELECT symbol, exchange, outcome, rows_fetched, validation_success"
        " FROM analytics.load_history",
    )

    assert coverage == [(ts[0], ts[-1] + pd.Timedelta("1min"), 5, 1, "success", "r1")]
    assert quote_row == [(ts[-1] + pd.Timedelta("2min"), "bar", "1m")]
    assert history == [("BINANCE:BTCUSDT", "BINANCE", "success", 4, True)]


def test_reader_password_is_stored_hashed(db, reader):
    (stored,) = rows(
        db, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (roles.READER_ROLE,)
    )[0]
    assert stored.startswith("SCRAM-SHA-256$") and READER_PASSWORD not in stored


def test_reader_reads_the_views_only(db_url, db, reader):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    load(db, iid, "1m", make_bars(pd.date_range("2024-03-01", periods=3, freq="1min", tz="UTC")))

    with reader.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == roles.READER_ROLE
        for view in VIEWS:
            cur.execute(f"SELECT count(*) FROM analytics.{view}")  # noqa: S608 - VIEWS is a constant
        cur.execute("SELECT count(*) FROM analytics.bars")
        assert cur.fetchone()[0] == 3


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM candleflow.bars",
        "SELECT * FROM candleflow.instruments",
        "INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES ('A:B', 'A', 'B')",
        "UPDATE candleflow.bars SET close = 0",
        "DELETE FROM candleflow.bars",
        "CREATE TABLE public.reader_table (a int)",
        "CREATE TABLE analytics.reader_table (a int)",
        "CREATE TABLE candleflow.reader_table (a int)",
        "CREATE VIEW analytics.reader_view AS SELECT 1",
        "CREATE SCHEMA reader_schema",
        "DROP VIEW analytics.bars",
    ],
)
def test_reader_cannot_write_or_reach_the_warehouse_tables(db, reader, statement):
    with reader.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
        cur.execute(statement)
    (count,) = rows(db, "SELECT count(*) FROM candleflow.instruments")[0]
    assert count == 0


def test_reader_password_from_env_is_optional(db, monkeypatch):
    monkeypatch.delenv(roles.PASSWORD_ENV, raising=False)
    assert roles.set_reader_password_from_env(db) is False
    monkeypatch.setenv(roles.PASSWORD_ENV, READER_PASSWORD)
    assert roles.set_reader_password_from_env(db) is True
    with pytest.raises(ValueError, match=roles.PASSWORD_ENV):
        roles.set_reader_password(db, "")


def test_the_query_module_cannot_write(db_url):
    import adbc_driver_manager

    from candleflow import query

    with query._cursor(db_url) as cur, pytest.raises(adbc_driver_manager.Error, match="read-only"):
        cur.execute("CREATE TABLE public.should_fail (a int)")


def test_a_daily_bar_missing_part_of_its_session_is_not_complete(db_url, db):
    iid = add_instrument(db, "NASDAQ:MSFT", NY, "0930-1600")
    minutes = make_bars(session_minutes(["2024-07-01", "2024-07-02"]))
    partial = minutes[~minutes["ts"].between("2024-07-02 19:00Z", "2024-07-02 19:29Z")]
    load(db, iid, "1m", partial.reset_index(drop=True))
    other = add_instrument(db, "NYSE:IBM", NY, "0930-1600")
    load(db, other, "1d", make_bars(pd.DatetimeIndex(["2024-07-01"], tz="UTC")))

    got = rows(db, "SELECT symbol, session_date, complete FROM analytics.daily_bars ORDER BY 1, 2")

    assert got == [
        ("NASDAQ:MSFT", dt.date(2024, 7, 1), True),  # 390 of 390 minutes
        ("NASDAQ:MSFT", dt.date(2024, 7, 2), False),  # 360 of 390
        ("NYSE:IBM", dt.date(2024, 7, 1), True),  # a stored daily bar
    ]


# --- the reader's limits (migration 0009 and db migrate) ------------------------------------


@pytest.fixture
def migrated(empty_db_url):
    """A database migrated from scratch, as ``db migrate`` does it (a per-test clone of the
    template would not carry database-level settings: role settings and the ACL are not
    copied by CREATE DATABASE ... TEMPLATE)."""
    from candleflow.db import migrate

    conn = connection.connect(empty_db_url)
    migrate.migrate(conn)
    with conn:
        roles.set_reader_password(conn, READER_PASSWORD)
    yield empty_db_url, conn
    conn.close()


def _reader(url: str):
    return connection.connect(reader_url(url), autocommit=True)


def _show(conn, setting: str) -> str:
    with conn.cursor() as cur:
        cur.execute(f"SHOW {setting}")
        return cur.fetchone()[0]


def test_the_reader_has_a_statement_timeout_and_long_statements_are_cancelled(
    migrated, monkeypatch
):
    url, admin = migrated
    reader = _reader(url)
    try:
        assert _show(reader, "statement_timeout") == "1min"  # 60 s, as PostgreSQL prints it
    finally:
        reader.close()
    monkeypatch.setenv(roles.TIMEOUT_ENV, "300ms")
    roles.configure_reader_from_env(admin)
    reader = _reader(url)
    try:
        assert _show(reader, "statement_timeout") == "300ms"
        with reader.cursor() as cur, pytest.raises(errors.QueryCanceled, match="timeout"):
            cur.execute("SELECT count(*) FROM analytics.timeframes, pg_sleep(2)")
    finally:
        reader.close()
    assert _show(admin, "statement_timeout") == "0"  # other roles are not limited


def test_the_reader_cannot_create_temporary_tables(migrated):
    url, admin = migrated
    reader = _reader(url)
    try:
        with reader.cursor() as cur, pytest.raises(errors.InsufficientPrivilege, match="temp"):
            cur.execute("CREATE TEMP TABLE scratch (a int)")
    finally:
        reader.close()
    with admin, admin.cursor() as cur:  # the migrating role keeps it: loads stage in TEMP
        cur.execute("CREATE TEMP TABLE staging (a int) ON COMMIT DROP")


def test_the_reader_has_a_connection_limit(migrated, monkeypatch):
    url, admin = migrated
    assert rows(
        admin, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (roles.READER_ROLE,)
    )[0] == (roles.DEFAULT_LIMIT,)
    monkeypatch.setenv(roles.LIMIT_ENV, "2")
    roles.configure_reader_from_env(admin)
    held = [_reader(url), _reader(url)]
    try:
        with pytest.raises(DatabaseUnavailable, match="too many connections for role"):
            _reader(url)
    finally:
        for conn in held:
            conn.close()
        monkeypatch.delenv(roles.LIMIT_ENV)
        roles.configure_reader_from_env(admin)
    assert rows(
        admin, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (roles.READER_ROLE,)
    )[0] == (roles.DEFAULT_LIMIT,)


@pytest.mark.parametrize(
    ("variable", "value"),
    [(roles.TIMEOUT_ENV, "a minute"), (roles.LIMIT_ENV, "lots"), (roles.LIMIT_ENV, "-5")],
)
def test_a_bad_reader_setting_names_the_variable(db, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}={value!r}; expected"):
        roles.configure_reader_from_env(db)


def test_rejected_rows_and_load_outcomes_are_readable_by_the_reader(db, reader):
    iid = add_instrument(db, "BINANCE:BTCUSDT")
    ts = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    summary = {"gx_success": False, "rules": {"high_low": 2, "ohlc_finite": 0, "gap": 1}}
    with db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.rejected_bars (run_id, instrument_id, symbol, timeframe, ts,"
            " rules, raw, provider) VALUES ('run-7', %s, 'BINANCE:BTCUSDT', '1h', %s,"
            " ARRAY['high_low', 'ohlc_order'], '{\"high\": 1.0, \"low\": 5.0}', 'ccxt')",
            (iid, ts),
        )
        cur.execute(
            "INSERT INTO candleflow.rejected_ticks (run_id, instrument_id, symbol, ts, rules,"
            " raw) VALUES ('tick-run', %s, 'BINANCE:BTCUSDT', %s, ARRAY['price_positive'],"
            " '{\"price\": -1}')",
            (iid, ts),
        )
        cur.execute(
            "INSERT INTO candleflow.load_audit (run_id, instrument_id, symbol, timeframe,"
            " provider, window_start, window_end, rows_fetched, rows_rejected, outcome, error,"
            " validation, started_at) VALUES ('run-7', %s, 'BINANCE:BTCUSDT', '1h', 'ccxt', %s,"
            " %s, 10, 2, 'rejected', '2 of 10 bars rejected', %s, %s)",
            (iid, ts, ts + HOUR_DELTA, json.dumps({"summary": summary, "gx_result": {}}), ts),
        )
    with reader.cursor() as cur:
        cur.execute(
            "SELECT symbol, exchange, timeframe, ts, rules, run_id FROM analytics.rejected_bars"
        )
        assert cur.fetchall() == [
            ("BINANCE:BTCUSDT", "BINANCE", "1h", ts, "high_low, ohlc_order", "run-7")
        ]
        cur.execute("SELECT symbol, ts, rules, run_id FROM analytics.rejected_ticks")
        assert cur.fetchall() == [("BINANCE:BTCUSDT", ts, "price_positive", "tick-run")]
        cur.execute(
            "SELECT run_id, symbol, outcome, validation_success, rows_rejected, rules_fired,"
            " error FROM analytics.load_outcomes"
        )
        assert cur.fetchall() == [
            ("run-7", "BINANCE:BTCUSDT", "rejected", False, 2, "gap 1, high_low 2",
             "2 of 10 bars rejected")
        ]  # fmt: skip
        # the loads' own validation JSON (under "summary") now reaches load_history too
        cur.execute("SELECT validation_success FROM analytics.load_history")
        assert cur.fetchall() == [(False,)]
