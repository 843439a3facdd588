"""Shared fixtures: a real PostgreSQL per test, and an Airflow environment for DAG runs.

The server is the embedded one of this checkout unless ``CANDLEFLOW_TEST_DATABASE_URL``
(or ``CANDLEFLOW_DATABASE_URL``) names another. Each test that asks for ``db_url`` gets a
database of its own, cloned from a migrated template, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from candleflow.db import connection, embedded, migrate
from tests.support.api import airflow_auth  # noqa: F401 - the fixture, for every test
from tests.support.databases import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "dags", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the folder it lives in, so ``-m`` selects tiers."""
    for item in items:
        tier = Path(item.fspath).resolve().relative_to(ROOT / "tests").parts[0]
        if tier in TIERS:
            item.add_marker(tier)


# Per pytest process: several sessions may share one server (CI, or developers in parallel).
TEMPLATE = f"cf_test_template_{os.getpid()}"


@pytest.fixture(scope="session")
def server_url():
    """A URL to the test server's maintenance database ``postgres``.

    An embedded server this session had to start is stopped at its end: a server left
    behind in a checkout that is later deleted would, on its own shutdown, remove the
    socket of whatever server runs at that path next.
    """
    url = os.environ.get("CANDLEFLOW_TEST_DATABASE_URL") or os.environ.get(
        "CANDLEFLOW_DATABASE_URL"
    )
    started = False
    if not url:
        started = not embedded.status().running
        embedded.start()
        url = embedded.url("postgres")
    yield connection.admin_url(url, "postgres")
    if started:
        embedded.stop()


@pytest.fixture(scope="session")
def template_db(server_url: str) -> str:
    """A freshly migrated database that per-test databases are cloned from."""
    url = create_database(server_url, TEMPLATE)
    conn = connection.connect(url)
    try:
        migrate.migrate(conn)
    finally:
        conn.close()
    yield TEMPLATE
    drop_database(server_url, TEMPLATE)


@pytest.fixture
def connection_db_url(server_url: str, template_db: str):
    """A second migrated warehouse: what a ``candleflow_warehouse`` connection names, beside
    the ``db_url`` of ``CANDLEFLOW_DATABASE_URL``."""
    name = f"cf_test_conn_{uuid.uuid4().hex[:12]}"
    yield create_database(server_url, name, template=template_db)
    drop_database(server_url, name)


@pytest.fixture
def empty_db_url(server_url: str):
    """A new, empty (never migrated) database."""
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    yield create_database(server_url, name)
    drop_database(server_url, name)


@pytest.fixture
def db_url(server_url: str, template_db: str, monkeypatch: pytest.MonkeyPatch):
    """A migrated database of this test's own; services see it as the warehouse."""
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name, template=template_db)
    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", url)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def db(db_url: str):
    """An open psycopg2 connection to this test's database."""
    conn = connection.connect(db_url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def airflow_env(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ``airflow`` subprocesses: a migrated metadata DB of the test session."""
    from candleflow.stack import env as stack_env

    home = tmp_path_factory.mktemp("airflow_home")
    meta = create_database(server_url, f"cf_test_airflow_{os.getpid()}")
    env = stack_env.airflow_env()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack_env.sqlalchemy_url(meta),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        }
    )
    env.pop("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", None)
    result = subprocess.run(
        [_airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    yield env
    drop_database(server_url, f"cf_test_airflow_{os.getpid()}")


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="session")
def airflow_bin() -> str:
    return _airflow_bin()
