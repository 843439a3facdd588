"""``candleflow.airflow.connections``: an Airflow connection becomes the libpq URL libpq reads
back field for field; the one policy is that connection, else ``CANDLEFLOW_DATABASE_URL``,
else the embedded server, for DAG tasks and for the CLI and the API alike.

The connection's resolution inside a task, through the metadata database, is exercised by
``test_connection_only.py``; the provider secret by ``test_no_retry.py`` (bad token).
"""

from __future__ import annotations

import pytest
from airflow.sdk import Connection
from psycopg2.extensions import parse_dsn

from candleflow.airflow import connections
from candleflow.airflow.postgres_url import postgres_url
from candleflow.errors import ConfigError


def test_a_socket_folder_host_and_a_password_with_url_characters_survive():
    conn = Connection(
        conn_id="candleflow_warehouse",
        conn_type="postgres",
        host="/tmp/cf sockets/run",
        login="loader",
        password="p@ss:w/rd?#",
        port=6543,
        schema="warehouse",
        extra='{"sslmode": "disable", "application_name": "cf", "cursor": "dictcursor"}',
    )
    assert parse_dsn(postgres_url(conn)) == {
        "host": "/tmp/cf sockets/run",
        "user": "loader",
        "password": "p@ss:w/rd?#",
        "port": "6543",
        "dbname": "warehouse",
        "sslmode": "disable",
        "application_name": "cf",  # libpq parameters pass; the hook-only `cursor` does not
    }


def test_a_connection_without_schema_names_the_warehouse_database():
    conn = Connection.from_uri("postgresql://db.example/", conn_id="candleflow_warehouse")
    assert parse_dsn(postgres_url(conn)) == {
        "host": "db.example",
        "dbname": "candleflow",
    }


def test_a_connection_of_another_type_is_refused_by_name():
    conn = Connection(conn_id="candleflow_warehouse", conn_type="mysql", host="db")
    with pytest.raises(ConfigError, match=r"'candleflow_warehouse' has type 'mysql'.*postgres"):
        postgres_url(conn)


@pytest.fixture
def outside_airflow(monkeypatch, tmp_path):
    """A shell with no Airflow context, no secrets backend and an empty AIRFLOW_HOME."""
    for name in ("_AIRFLOW_PROCESS_CONTEXT", "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", "postgresql://wh.example/candleflow")
    assert not connections.in_airflow()
    return tmp_path


def test_outside_airflow_the_connection_variable_wins_over_the_database_url(
    outside_airflow, monkeypatch
):
    # The CLI in a shell where the connection is defined, as Airflow's tasks see it.
    conn = "postgresql://loader@conn.example:6543/wh"
    monkeypatch.setenv("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", conn)
    url, source = connections.resolve_warehouse()
    assert parse_dsn(url) == {
        "host": "conn.example", "port": "6543", "user": "loader", "dbname": "wh",
    }  # fmt: skip
    assert source == "Airflow connection candleflow_warehouse"


def test_without_a_connection_the_database_url_decides(outside_airflow):
    assert not connections.connection_may_exist()  # so Airflow is not even imported
    assert connections.resolve_warehouse() == (
        "postgresql://wh.example/candleflow",
        "CANDLEFLOW_DATABASE_URL",
    )


def test_a_secrets_backend_in_airflow_cfg_makes_the_connection_worth_asking(outside_airflow):
    (outside_airflow / "airflow.cfg").write_text("[secrets]\nbackend =\n")
    assert not connections.connection_may_exist()
    (outside_airflow / "airflow.cfg").write_text(
        "[secrets]\nbackend = airflow.secrets.local_filesystem.LocalFilesystemBackend\n"
    )
    assert connections.connection_may_exist()


def test_provider_options_outside_airflow_are_the_options(monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRADINGVIEW_DEFAULT", '{"conn_type": "generic", "password": "secret"}'
    )
    assert connections.provider_options("tradingview", {"timeout": 5}) == {"timeout": 5}
    assert connections.provider_options("files", None) == {}
