"""OpenLineage events of real DAG runs, written by Airflow's own file transport.

``airflow dags test`` runs the DAGs with ``[openlineage] transport = {"type": "file"}``; the
tests parse the JSON lines the provider's listener wrote. The oracles are independent of the
facet code: the replay server's bars (``synthetic``), the rows the run left in the warehouse
(``load_audit``, ``rejected_bars``, ``bars``) and the tables as ``information_schema`` sees them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from psycopg2.extensions import parse_dsn

from candleflow.airflow.assets import bars_asset
from candleflow.db import connection
from candleflow.testing import ReplayServer
from candleflow.validation import FLAG_RULES, REJECT_RULES
from tests.support.bars import closed_bars
from tests.support.dag_runs import (
    dag_env,
    dags_test,
    openlineage_file,
    seed_ticks,
    task_events,
)

SYMBOLS = ("NASDAQ:AAPL", "SP:SPX", "BINANCE:BTCUSDT")
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
WINDOW = {"start": START.isoformat(), "end": END.isoformat()}
LOGICAL = "2024-03-05T12:00:00+00:00"
TIMEFRAMES = ("1m", "5m", "15m", "1h", "1d")  # bars_rollup's outlets
SYNC_JOB = "ohlcv_1h.sync_tradingview"

pytestmark = pytest.mark.timeout(900)


def expected_table(db_url: str, table: str) -> tuple[str, str]:
    """(namespace, name) of a warehouse table by OpenLineage's PostgreSQL naming, from the DSN."""
    dsn = parse_dsn(db_url)
    host = dsn.get("host", "localhost")
    host = "localhost" if host.startswith("/") else host  # the embedded server's socket
    return f"postgres://{host}:{dsn.get('port', '5432')}", f"{dsn['dbname']}.candleflow.{table}"


def columns(db, table: str) -> list[dict]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT column_name, udt_name FROM information_schema.columns"
            " WHERE table_schema = 'candleflow' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [{"name": n, "type": t} for n, t in cur.fetchall()]


def fields(dataset: dict) -> list[dict]:
    return [{"name": f["name"], "type": f["type"]} for f in dataset["facets"]["schema"]["fields"]]


def asset_events(env: dict, dag_id: str, run_id: str) -> set[str]:
    """The asset URIs a DAG run updated, from Airflow's metadata database."""
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2:", "postgresql:")
    conn = connection.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id"
                " WHERE e.source_dag_id = %s AND e.source_run_id = %s",
                (dag_id, run_id),
            )
            return {uri for (uri,) in cur.fetchall()}
    finally:
        conn.close()


def one(rows):
    assert len(rows) == 1, rows
    return rows[0]


def test_the_sync_tasks_complete_event_has_series_tables_schema_statistics_and_assertions(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    path = tmp_path / "events.jsonl"
    with ReplayServer(seed=5) as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, SYMBOLS, **openlineage_file(path))
        dags_test(airflow_bin, env, "ohlcv_1h", LOGICAL, conf=WINDOW)
    event = one(task_events(path, SYNC_JOB, "COMPLETE"))

    inputs = {d["name"]: d for d in event["inputs"]}
    assert sorted(inputs) == sorted(f"{s}/1h" for s in SYMBOLS)
    for symbol in SYMBOLS:
        served = closed_bars(symbol, START, END, seed=5)
        dataset = inputs[f"{symbol}/1h"]
        assert dataset["namespace"] == "tradingview://"
        metrics = dataset["inputFacets"]["dataQualityMetrics"]
        assert metrics["rowCount"] == len(served) > 0
        nulls = {c: m["nullCount"] for c, m in metrics["columnMetrics"].items()}
        assert nulls == {c: int(served[c].isna().sum()) for c in served.columns}
        assertions = dataset["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert sorted(a["assertion"] for a in assertions) == sorted(REJECT_RULES + FLAG_RULES)
        assert all(a["success"] and a["actual"] == "0" for a in assertions), assertions
        severity = {a["assertion"]: a["severity"] for a in assertions}
        assert {r for r, s in severity.items() if s == "warn"} == set(FLAG_RULES)

    namespace, name = expected_table(db_url, "bars")
    bars = one(event["outputs"])  # nothing rejected: no rejected_bars output
    assert (bars["namespace"], bars["name"]) == (namespace, name)
    assert fields(bars) == columns(db, "bars")
    with db.cursor() as cur:
        cur.execute("SELECT sum(rows_inserted + rows_updated) FROM candleflow.load_audit")
        written = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM candleflow.bars")
        stored = cur.fetchone()[0]
    assert bars["outputFacets"]["outputStatistics"]["rowCount"] == written == stored > 0
    assert one(task_events(path, SYNC_JOB, "START"))["run"]["runId"] == event["run"]["runId"]


def test_a_rejected_window_fails_with_its_broken_rules_and_the_rejects_table(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    path = tmp_path / "events.jsonl"
    symbols = ("NASDAQ:AAPL", "BINANCE:BTCUSDT")
    with ReplayServer(seed=5, scenario="bad_bars") as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, symbols, **openlineage_file(path))
        dags_test(airflow_bin, env, "ohlcv_1h", LOGICAL, conf=WINDOW, state="failed")
    assert not task_events(path, SYNC_JOB, "COMPLETE")
    event = one(task_events(path, SYNC_JOB, "FAIL"))  # one try: a rejected window is permanent
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT outcome FROM candleflow.load_audit")
        assert cur.fetchall() == [("rejected",)]
        cur.execute(
            "SELECT symbol, rule, count(*) FROM candleflow.rejected_bars, unnest(rules) rule"
            " GROUP BY 1, 2"
        )
        broken = {(s, r): n for s, r, n in cur.fetchall()}
        cur.execute("SELECT count(*) FROM candleflow.rejected_bars")
        rejected = cur.fetchone()[0]
    assert rejected > 0
    for dataset in event["inputs"]:
        symbol = dataset["name"].removesuffix("/1h")
        assertions = dataset["inputFacets"]["dataQualityAssertions"]["assertions"]
        got = {
            a["assertion"]: int(a["actual"]) for a in assertions if a["assertion"] in REJECT_RULES
        }
        assert got == {r: broken.get((symbol, r), 0) for r in REJECT_RULES}
        failed = {a["assertion"] for a in assertions if not a["success"]}
        assert failed >= {r for (s, r) in broken if s == symbol} and failed
    assert sorted(d["name"].removesuffix("/1h") for d in event["inputs"]) == sorted(symbols)
    outputs = {d["name"]: d for d in event["outputs"]}
    _, bars = expected_table(db_url, "bars")
    _, rejects = expected_table(db_url, "rejected_bars")
    assert outputs[bars]["outputFacets"]["outputStatistics"]["rowCount"] == 0
    assert outputs[rejects]["outputFacets"]["outputStatistics"]["rowCount"] == rejected
    assert fields(outputs[rejects]) == columns(db, "rejected_bars")
    error = event["run"]["facets"]["errorMessage"]["message"]
    assert "rejected" in error


def test_with_openlineage_off_nothing_is_written_and_the_runs_still_load(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    path = tmp_path / "events.jsonl"
    off = openlineage_file(path, AIRFLOW__OPENLINEAGE__DISABLED="True")
    with ReplayServer(seed=5) as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, SYMBOLS[:1], **off)
        dags_test(airflow_bin, env, "ohlcv_1h", LOGICAL, conf=WINDOW)
        seed_ticks(db_url, tmp_path)
        dags_test(airflow_bin, env, "bars_rollup")
    assert not path.exists()
    with db.cursor() as cur:
        cur.execute("SELECT source, count(*) FROM candleflow.bars GROUP BY 1 ORDER BY 1")
        loaded = dict(cur.fetchall())
    assert loaded["provider"] == len(closed_bars(SYMBOLS[0], START, END, seed=5))
    assert loaded["rollup"] > 0


def test_rollup_and_instruments_tasks_name_what_they_read_and_wrote(
    airflow_env, airflow_bin, db_url, db, tmp_path
):
    path = tmp_path / "events.jsonl"
    assert seed_ticks(db_url, tmp_path) == 12
    with ReplayServer(seed=5) as srv:
        env = dag_env(airflow_env, db_url, tmp_path, srv.url, SYMBOLS, **openlineage_file(path))
        dags_test(airflow_bin, env, "bars_rollup")
        dags_test(airflow_bin, env, "instruments_sync")

    rollup = one(task_events(path, "bars_rollup.roll_up_ticks", "COMPLETE"))
    ticks = one(rollup["inputs"])
    assert (ticks["namespace"], ticks["name"]) == expected_table(db_url, "ticks")
    assert fields(ticks) == columns(db, "ticks")
    bars = one(rollup["outputs"])
    assert (bars["namespace"], bars["name"]) == expected_table(db_url, "bars")
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.bars WHERE source = 'rollup'")
        built = cur.fetchone()[0]
    assert bars["outputFacets"]["outputStatistics"]["rowCount"] == built > 0
    # OpenLineage datasets among the outlets leave the task's asset events as they were
    run_id = rollup["run"]["facets"]["airflow"]["dagRun"]["run_id"]
    assert asset_events(env, "bars_rollup", run_id) == {bars_asset(tf).uri for tf in TIMEFRAMES}

    resolved = one(task_events(path, "instruments_sync.resolve_instruments", "COMPLETE"))
    assert sorted((d["namespace"], d["name"]) for d in resolved["inputs"]) == sorted(
        ("tradingview://", s) for s in SYMBOLS
    )
    table = one(resolved["outputs"])
    assert (table["namespace"], table["name"]) == expected_table(db_url, "instruments")
    assert fields(table) == columns(db, "instruments")
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == len(SYMBOLS)
