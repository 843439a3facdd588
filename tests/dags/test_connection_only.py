"""Every DAG uses the ``candleflow_warehouse`` connection when it is defined only in Airflow's
metadata database (as with a secrets backend): no ``CANDLEFLOW_DATABASE_URL``, no
``AIRFLOW_CONN_*`` variable.

The connection is added with ``airflow connections add`` to the test metadata database and
names a warehouse of this module's own. ``CANDLEFLOW_HOME`` points at a plain file, so a task
that fell back to the embedded default server would fail to start it (its folders cannot be
created) instead of quietly writing elsewhere. Each DAG runs through ``airflow dags test`` and
must both read and write the connection's database: the rows it writes carry its run.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from candleflow.db import connection
from candleflow.testing import ReplayServer
from tests.support.dag_runs import airflow, dags_test, watchlist_file

SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT")
CONN_ID = "candleflow_warehouse"

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def warehouse(server_url: str, template_db: str):
    """A migrated warehouse database for this module, cloned from the session template."""
    from psycopg2 import sql

    name = f"cf_test_conn_only_{uuid.uuid4().hex[:8]}"
    admin = connection.connect(server_url, autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template_db)
                )
            )
        yield connection.admin_url(server_url, name)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        admin.close()


@pytest.fixture(scope="module")
def env(airflow_env, airflow_bin, warehouse, tmp_path_factory):
    """Airflow's environment with the warehouse only as a metadata-database connection."""
    folder = tmp_path_factory.mktemp("conn_only")
    no_home = folder / "not-a-folder"
    no_home.write_text("CANDLEFLOW_HOME points here so the embedded server cannot start\n")
    watchlist = watchlist_file(folder, SYMBOLS)
    with ReplayServer(seed=5) as srv:
        env = dict(
            airflow_env,
            CANDLEFLOW_HOME=str(no_home),
            CANDLEFLOW_WATCHLIST=str(watchlist),
            CANDLEFLOW_TRADINGVIEW_URL=srv.url,
        )
        for name in ("CANDLEFLOW_DATABASE_URL", "AIRFLOW_CONN_" + CONN_ID.upper()):
            env.pop(name, None)
        airflow(airflow_bin, env, "connections", "add", CONN_ID, "--conn-uri", warehouse)
        try:
            yield env
        finally:
            airflow(airflow_bin, env, "connections", "delete", CONN_ID)


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = connection.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_the_connection_is_only_in_the_metadata_database(env, airflow_bin, warehouse):
    listed = json.loads(airflow(airflow_bin, env, "connections", "get", CONN_ID, "-o", "json"))
    assert listed[0]["conn_type"] == "postgres"
    assert (
        not any(k.startswith("AIRFLOW_CONN_") for k in env) and "CANDLEFLOW_DATABASE_URL" not in env
    )


def test_warehouse_healthcheck(env, airflow_bin, warehouse):
    dags_test(airflow_bin, env, "warehouse_healthcheck")
    checks = rows(warehouse, "SELECT ok, run_id FROM candleflow.health_checks")
    assert len(checks) == 1 and checks[0][0] is True and checks[0][1]


def test_instruments_sync(env, airflow_bin, warehouse):
    dags_test(airflow_bin, env, "instruments_sync")
    stored = rows(warehouse, "SELECT symbol, timezone FROM candleflow.instruments ORDER BY 1")
    assert stored == [("BINANCE:BTCUSDT", "Etc/UTC"), ("NASDAQ:AAPL", "America/New_York")]


def test_ohlcv(env, airflow_bin, warehouse):
    conf = {"start": "2024-03-04T00:00:00+00:00", "end": "2024-03-05T00:00:00+00:00"}
    dags_test(airflow_bin, env, "ohlcv_1h", "2024-03-05T12:00:00+00:00", conf)
    loaded = rows(
        warehouse,
        "SELECT i.symbol, count(*) FROM candleflow.bars b JOIN candleflow.instruments i"
        " ON i.id = b.instrument_id WHERE b.timeframe = '1h' AND b.source = 'provider'"
        " GROUP BY 1 ORDER BY 1",
    )
    assert [symbol for symbol, _ in loaded] == sorted(SYMBOLS)
    assert all(count > 0 for _, count in loaded)
    audits = rows(warehouse, "SELECT DISTINCT outcome FROM candleflow.load_audit")
    assert audits == [("success",)]


def test_ticks_capture(env, airflow_bin, warehouse):
    dags_test(airflow_bin, env, "ticks_capture", conf={"seconds": 3})
    captured = rows(
        warehouse,
        "SELECT i.symbol, count(*) FROM candleflow.ticks t JOIN candleflow.instruments i"
        " ON i.id = t.instrument_id GROUP BY 1 ORDER BY 1",
    )
    assert [symbol for symbol, _ in captured] == sorted(SYMBOLS)


def test_bars_rollup(env, airflow_bin, warehouse, tmp_path):
    from candleflow.services.ticks.imports import import_ticks

    minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    ticks = tmp_path / "ticks.csv"
    ticks.write_text(
        "ts,price,size\n"
        + "".join(
            f"{(minute + dt.timedelta(seconds=s)).isoformat()},{100 + s / 10},1\n"
            for s in range(0, 60, 5)
        )
    )
    assert import_ticks(ticks, "BINANCE:ETHUSDT", run_id="seed", url=warehouse).inserted == 12
    dags_test(airflow_bin, env, "bars_rollup")
    built = rows(
        warehouse,
        "SELECT ts, open, high, low, close, volume FROM candleflow.bars b"
        " JOIN candleflow.instruments i ON i.id = b.instrument_id"
        " WHERE i.symbol = 'BINANCE:ETHUSDT' AND b.timeframe = '1m' AND b.source = 'rollup'",
    )
    assert [(r[0], float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in built] == [
        (minute, 100.0, 105.5, 100.0, 105.5)
    ]
    assert float(built[0][5]) == 12


def test_freshness_check(env, airflow_bin, warehouse):
    from candleflow.services.sync import sync

    end = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    for symbol in SYMBOLS:  # a series never loaded is skipped: give each one bars first
        sync(
            symbol,
            "1h",
            end - dt.timedelta(hours=6),
            end,
            provider_options={"url": env["CANDLEFLOW_TRADINGVIEW_URL"], "timeout": 10},
            url=warehouse,
        )
    dags_test(airflow_bin, env, "freshness_check", conf={"on_stale": "warn"})
    checks = rows(
        warehouse,
        "SELECT i.symbol, f.timeframe, f.is_stale FROM candleflow.freshness_checks f"
        " JOIN candleflow.instruments i ON i.id = f.instrument_id ORDER BY 1",
    )
    assert checks == [(symbol, "1h", True) for symbol in sorted(SYMBOLS)]
