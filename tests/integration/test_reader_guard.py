"""The BI role cannot lift its own limits: what it can change, the reader guard undoes.

Each case is what a reader session can do to itself in plain PostgreSQL: ``SET
statement_timeout = 0``, ``ALTER ROLE`` its own defaults, sit in an open transaction, log in
to another database of the server. Real sessions of ``candleflow_reader`` on a real server.
"""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import quote, urlsplit

import psycopg2
import pytest
from psycopg2 import errors

from candleflow.db import connection, migrate, reader_guard, roles
from candleflow.errors import DatabaseUnavailable
from tests.support.databases import create_database, drop_database

PASSWORD = "guard-test-secret"
LIMIT = "1s"
GRACE = 1.0
pytestmark = pytest.mark.timeout(120)


def as_reader(url: str, database: str | None = None):
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{roles.READER_ROLE}:{quote(PASSWORD, safe='')}@{host}"
    path = f"/{database}" if database else parts.path
    return connection.connect(parts._replace(netloc=netloc, path=path).geturl(), autocommit=True)


@pytest.fixture
def warehouse(empty_db_url, monkeypatch):
    """A warehouse migrated from scratch with the reader's limits at 1 s (role settings are
    per database and not copied from a template), and the guard's admin connection."""
    monkeypatch.setenv(roles.TIMEOUT_ENV, LIMIT)
    admin = connection.connect(empty_db_url)
    migrate.migrate(admin)
    roles.configure_reader_from_env(admin)
    with admin:
        roles.set_reader_password(admin, PASSWORD)
    admin.autocommit = True
    database = urlsplit(empty_db_url).path.lstrip("/")
    yield empty_db_url, database, admin
    with admin.cursor() as cur:  # the role is cluster-wide: leave it as migrate leaves it
        cur.execute(f"ALTER ROLE {roles.READER_ROLE} RESET ALL")
    admin.close()


def _in_thread(conn, statement: str) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        began = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
            outcome.append(("finished", time.monotonic() - began))
        except psycopg2.Error as exc:
            outcome.append((type(exc).__name__, time.monotonic() - began))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _guard_until(admin, database: str, thread: threading.Thread, timeout: float = 20) -> list:
    stopped = []
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        stopped += reader_guard.enforce(admin, [database], timeout=LIMIT, grace=GRACE)
        time.sleep(0.2)
    thread.join(5)
    return stopped


def test_a_reader_that_lifts_its_own_timeout_is_stopped_and_its_defaults_restored(warehouse):
    url, database, admin = warehouse
    reader = as_reader(url)
    with reader.cursor() as cur:
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone() == ("1s",)
        # everything a role may do to its own limits in plain PostgreSQL
        cur.execute("SET statement_timeout = 0")
        cur.execute(f"ALTER ROLE {roles.READER_ROLE} SET statement_timeout = 0")
        cur.execute(
            f"ALTER ROLE {roles.READER_ROLE} IN DATABASE {database} SET statement_timeout = 0"
        )
    thread, outcome = _in_thread(reader, "SELECT pg_sleep(60)")
    stopped = _guard_until(admin, database, thread)
    assert [s.reason for s in stopped] == ["a statement running past the limit"]
    assert outcome and outcome[0][0] != "finished" and outcome[0][1] < 20
    assert reader_guard.reimpose(admin, database, timeout=LIMIT, limit=roles.DEFAULT_LIMIT)
    assert not reader_guard.reimpose(admin, database, timeout=LIMIT, limit=roles.DEFAULT_LIMIT)
    fresh = as_reader(url)
    try:
        with fresh.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone() == ("1s",)
            with pytest.raises(errors.QueryCanceled, match="statement timeout"):
                cur.execute("SELECT pg_sleep(5)")
    finally:
        fresh.close()


def test_a_reader_idle_in_a_transaction_past_the_limit_is_stopped(warehouse):
    url, database, admin = warehouse
    reader = as_reader(url)
    with reader.cursor() as cur:
        cur.execute("SET idle_in_transaction_session_timeout = 0")
        cur.execute("BEGIN")
        cur.execute("SELECT count(*) FROM analytics.timeframes")
    time.sleep(float(LIMIT[:-1]) + GRACE + 0.5)
    stopped = reader_guard.enforce(admin, [database], timeout=LIMIT, grace=GRACE)
    assert [s.reason for s in stopped] == ["idle in a transaction past the limit"]
    time.sleep(0.5)
    with pytest.raises(psycopg2.OperationalError), reader.cursor() as cur:
        cur.execute("SELECT 1")


def test_the_reader_is_kept_to_the_warehouse_database(warehouse, server_url):
    url, database, admin = warehouse
    names = [f"cf_test_other_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        create_database(server_url, name)
    try:
        # a database of ours (the embedded server's postgres, template1, airflow): no login
        reader_guard.confine(admin, [names[0]])
        with pytest.raises(DatabaseUnavailable, match="permission denied"):
            as_reader(url, names[0])
        # a database the guard does not own (a server of your own): a session is ended
        other = as_reader(url, names[1])
        thread, outcome = _in_thread(other, "SELECT pg_sleep(60)")
        stopped = _guard_until(admin, database, thread)
        assert [(s.database, s.reason) for s in stopped] == [
            (names[1], "connected to another database")
        ]
        assert outcome[0][0] != "finished"
        warehouse_session = as_reader(url)  # the warehouse itself stays open to it
        warehouse_session.close()
    finally:
        for name in names:
            drop_database(server_url, name)


def test_well_behaved_readers_are_left_alone(warehouse):
    url, database, admin = warehouse
    reader = as_reader(url)
    with reader.cursor() as cur, pytest.raises(errors.QueryCanceled):
        cur.execute("SELECT pg_sleep(3)")  # the server's own timeout: a plain cancel
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.timeframes")
        assert cur.fetchone()[0] > 0
    assert reader_guard.enforce(admin, [database], timeout=LIMIT, grace=GRACE) == []
    reader.close()
