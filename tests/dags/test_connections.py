"""``candleflow.airflow.connections``: an Airflow connection becomes the libpq URL libpq reads
back field for field; outside Airflow the policy is the environment, then the embedded server.

The connection's resolution inside a task, through the metadata database, is exercised by
``test_connection_only.py``; the provider secret by ``test_no_retry.py`` (bad token).
"""

from __future__ import annotations

import pytest
from airflow.sdk import Connection
from psycopg2.extensions import parse_dsn

from candleflow.airflow import connections
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
    assert parse_dsn(connections.postgres_url(conn)) == {
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
    assert parse_dsn(connections.postgres_url(conn)) == {
        "host": "db.example",
        "dbname": "candleflow",
    }


def test_a_connection_of_another_type_is_refused_by_name():
    conn = Connection(conn_id="candleflow_warehouse", conn_type="mysql", host="db")
    with pytest.raises(ConfigError, match=r"'candleflow_warehouse' has type 'mysql'.*postgres"):
        connections.postgres_url(conn)


def test_outside_airflow_the_environment_decides(monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", "postgresql://elsewhere/nope")
    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", "postgresql://wh.example/candleflow")
    assert not connections.in_airflow()
    assert connections.warehouse_url() == "postgresql://wh.example/candleflow"


def test_provider_options_outside_airflow_are_the_options(monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PROCESS_CONTEXT", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRADINGVIEW_DEFAULT", '{"conn_type": "generic", "password": "secret"}'
    )
    assert connections.provider_options("tradingview", {"timeout": 5}) == {"timeout": 5}
    assert connections.provider_options("files", None) == {}
