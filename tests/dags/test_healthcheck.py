"""The warehouse health check: records results, fails loudly on an old or absent schema."""

from __future__ import annotations

import pytest

from candleflow.db import connection, migrate
from candleflow.errors import DatabaseUnavailable, MigrationError
from candleflow.services.health import check_warehouse


def test_healthy_warehouse_is_recorded(db_url, db):
    result = check_warehouse(db_url, run_id="manual__1")
    assert result["ok"] is True
    assert result["schema_version"] == migrate.latest_version()
    with db.cursor() as cur:
        cur.execute("SELECT ok, schema_version, run_id FROM candleflow.health_checks")
        assert cur.fetchall() == [(True, migrate.latest_version(), "manual__1")]


def test_unmigrated_warehouse_fails_with_the_fix(empty_db_url):
    with pytest.raises(MigrationError, match=r"never migrated; run `candleflow db migrate`"):
        check_warehouse(empty_db_url)


def test_schema_behind_the_code_fails_and_is_recorded(db_url, db):
    with db, db.cursor() as cur:
        cur.execute(
            "DELETE FROM candleflow.schema_migrations WHERE version = %s",
            (migrate.latest_version(),),
        )
        cur.execute("INSERT INTO candleflow.schema_migrations VALUES (0, 'older', 'x')")
    older = [m.version for m in migrate.available() if m.version < migrate.latest_version()]
    expected_version = max(older, default=0)  # the applied one before the latest (numbers may skip)
    with pytest.raises(MigrationError, match="code expects"):
        check_warehouse(db_url)
    with db.cursor() as cur:
        cur.execute("SELECT ok, schema_version FROM candleflow.health_checks")
        assert cur.fetchall() == [(False, expected_version)]


def test_unreachable_warehouse_is_transient():
    with pytest.raises(DatabaseUnavailable, match=r"127\.0\.0\.1:1"):
        check_warehouse("postgresql://x:pw@127.0.0.1:1/nope")


def test_describe_never_shows_the_password():
    url = "postgresql://user:hunter2@db.example:6543/wh"
    assert connection.describe(url) == "db.example:6543/wh"
    assert "hunter2" not in connection.redact(url)
