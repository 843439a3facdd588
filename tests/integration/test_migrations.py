"""Migrations on an empty database, again (idempotent), and the constraints they create."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from candleflow.db import connection, migrate
from candleflow.errors import MigrationError

TABLES = {
    "instruments",
    "bars",
    "ticks",
    "rejected_bars",
    "rejected_ticks",
    "sync_state",
    "load_audit",
    "schema_migrations",
    "health_checks",
    "tick_streams",
}


def _tables(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'candleflow'"
        )
        return {row[0] for row in cur.fetchall()}


def test_migrate_empty_database_then_again_changes_nothing(empty_db_url):
    conn = connection.connect(empty_db_url)
    try:
        assert migrate.current_version(conn) is None
        applied = migrate.migrate(conn)
        assert applied == [m.version for m in migrate.available()]
        assert _tables(conn) >= TABLES
        assert migrate.current_version(conn) == migrate.latest_version()
        assert migrate.migrate(conn) == []
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM candleflow.schema_migrations")
            assert cur.fetchone()[0] == len(migrate.available())
    finally:
        conn.close()


def test_check_current_names_the_command_to_run(empty_db_url):
    conn = connection.connect(empty_db_url)
    try:
        with pytest.raises(MigrationError, match="candleflow db migrate"):
            migrate.check_current(conn)
        migrate.migrate(conn)
        assert migrate.check_current(conn) == migrate.latest_version()
    finally:
        conn.close()


def test_an_edited_applied_migration_is_refused(db, tmp_path, monkeypatch):
    copy = tmp_path / "migrations"
    copy.mkdir()
    for m in migrate.available():
        (copy / m.path.name).write_text(m.sql + "\n-- edited\n")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate.migrate(db)


def _instrument(conn) -> int:
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('NASDAQ:AAPL', 'NASDAQ', 'AAPL') RETURNING id"
        )
        return cur.fetchone()[0]


BAR = (
    "INSERT INTO candleflow.bars (instrument_id, timeframe, ts, open, high, low, close, volume)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
TS = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (("1h", TS, 10, 9, 11, 10, 5), psycopg2.errors.CheckViolation),  # high < low
        (("1h", TS, 10, 11, 9, 12, 5), psycopg2.errors.CheckViolation),  # close above high
        (("1h", TS, 10, 11, 9, 10, -1), psycopg2.errors.CheckViolation),  # negative volume
        (("7m", TS, 10, 11, 9, 10, 5), psycopg2.errors.CheckViolation),  # unknown timeframe
        (("1h", None, 10, 11, 9, 10, 5), psycopg2.errors.NotNullViolation),
    ],
)
def test_bars_constraints_reject_impossible_rows(db, row, error):
    instrument_id = _instrument(db)
    with pytest.raises(error), db, db.cursor() as cur:
        cur.execute(BAR, (instrument_id, *row))


def test_one_bar_per_instrument_timeframe_source_ts(db):
    instrument_id = _instrument(db)
    with db, db.cursor() as cur:
        cur.execute(BAR, (instrument_id, "1h", TS, 10, 11, 9, 10, None))
    with pytest.raises(psycopg2.errors.UniqueViolation), db, db.cursor() as cur:
        cur.execute(BAR, (instrument_id, "1h", TS, 10, 11, 9, 10, 1))
    with db, db.cursor() as cur:  # a rolled-up bar of the same ts lives beside it
        cur.execute(
            BAR.replace("volume)", "volume, source)").replace("%s)", "%s, 'rollup')"),
            (instrument_id, "1h", TS, 10, 11, 9, 10, 1),
        )
        cur.execute("SELECT count(*) FROM candleflow.bars")
        assert cur.fetchone()[0] == 2


def test_symbol_must_be_exchange_colon_ticker(db):
    with pytest.raises(psycopg2.errors.CheckViolation), db, db.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
            " VALUES ('AAPL', '', 'AAPL')"
        )


def test_an_instrument_with_bars_cannot_be_deleted(db):
    instrument_id = _instrument(db)
    with db, db.cursor() as cur:
        cur.execute(BAR, (instrument_id, "1h", TS, 10, 11, 9, 10, 1))
    with (
        pytest.raises(psycopg2.errors.ForeignKeyViolation, match="still has bars"),
        db,
        db.cursor() as cur,
    ):
        cur.execute("DELETE FROM candleflow.instruments WHERE id = %s", (instrument_id,))
    with db, db.cursor() as cur:  # without facts it can go
        cur.execute("DELETE FROM candleflow.bars")
        cur.execute("DELETE FROM candleflow.instruments WHERE id = %s", (instrument_id,))
        assert cur.rowcount == 1


def test_loads_refuse_an_unknown_instrument(db):
    import pandas as pd

    from candleflow.db.bars import upsert_bars
    from candleflow.db.ticks import insert_ticks

    bars = pd.DataFrame(
        {
            "ts": [pd.Timestamp(TS)],
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
        }
    )
    with pytest.raises(ValueError, match="unknown instrument_id"):
        upsert_bars(db, 999_999, "1h", bars, run_id="r")
    db.rollback()
    ticks = pd.DataFrame({"ts": [pd.Timestamp(TS)], "price": [1.0], "size": [1.0]})
    with pytest.raises(ValueError, match="unknown instrument_id"):
        insert_ticks(db, 999_999, ticks, run_id="r")


def test_rejected_rows_have_a_natural_key(db):
    row = (
        "INSERT INTO candleflow.rejected_bars (run_id, symbol, timeframe, ts, rules, raw)"
        " VALUES (%s, 'NASDAQ:AAPL', '1h', %s, ARRAY['high_ge_low'], '{\"high\": 1}')"
    )
    with db, db.cursor() as cur:
        cur.execute(row, ("r1", TS))
        cur.execute(row, ("r1", None))  # a missing ts is a key value of its own
    with pytest.raises(psycopg2.errors.UniqueViolation), db, db.cursor() as cur:
        cur.execute(row, ("r2", TS))  # another run, the same rejected values
    tick = (
        "INSERT INTO candleflow.rejected_ticks (run_id, symbol, ts, rules, raw)"
        " VALUES (%s, 'NASDAQ:AAPL', NULL, ARRAY['bad_ts'], '{\"ts\": \"1.7e12\"}')"
    )
    with db, db.cursor() as cur:
        cur.execute(tick, ("r1",))
    with pytest.raises(psycopg2.errors.UniqueViolation), db, db.cursor() as cur:
        cur.execute(tick, ("r2",))
