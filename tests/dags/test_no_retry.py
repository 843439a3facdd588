"""What no retry can fix fails once; what may pass is retried (``airflow dags test`` runs).

A bad symbol, a rejected token (replay server scenario ``bad_token``, the token coming from the
``tradingview_default`` connection) and a window that fails validation (``bad_bars`` with a
zero reject threshold) must leave their task ``failed`` at try 1, with no earlier try in
``task_instance_history``: Airflow was told not to retry (``AirflowFailException``). An
unreachable provider is transient: the task goes ``up_for_retry`` after its first try (the
run is then stopped rather than waiting out the retry delay).

State is read from the test's Airflow metadata database, not from log text.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest

from candleflow.db import connection
from candleflow.stack.env import free_port
from candleflow.testing import ReplayServer
from tests.support.dag_runs import dag_env, dags_test_args, run_dag

pytestmark = pytest.mark.timeout(900)

WINDOW = {"start": "2024-03-04T00:00:00+00:00", "end": "2024-03-05T00:00:00+00:00"}
CONF = dict(WINDOW, reject_threshold=0.0)
BAD_TOKEN_CONN = json.dumps({"conn_type": "generic", "password": "an-expired-token"})


def metadata_url(airflow_env: dict) -> str:
    """The metadata database as a libpq URL (the SQLAlchemy URL minus its driver)."""
    return airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "postgresql+psycopg2://", "postgresql://", 1
    )


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = connection.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def latest_run(meta: str, dag_id: str) -> str | None:
    found = query(
        meta, "SELECT run_id FROM dag_run WHERE dag_id = %s ORDER BY id DESC LIMIT 1", (dag_id,)
    )
    return found[0][0] if found else None


def tries(meta: str, dag_id: str, run_id: str) -> tuple[list[tuple], list[tuple]]:
    """(task_id, state, try_number) of the run's task instances, and of its earlier tries."""
    current = query(
        meta,
        "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s"
        " ORDER BY task_id, map_index",
        (dag_id, run_id),
    )
    earlier = query(
        meta,
        "SELECT task_id, state, try_number FROM task_instance_history"
        " WHERE dag_id = %s AND run_id = %s ORDER BY task_id, try_number",
        (dag_id, run_id),
    )
    return current, earlier


@pytest.fixture
def make_env(airflow_env, db_url, tmp_path):
    def make(symbols: list[str], provider_url: str, **extra: str) -> dict:
        return dag_env(airflow_env, db_url, tmp_path, provider_url, symbols, **extra)

    return make


def case_run(dag_id: str, hour: int) -> tuple[str | None, dict | None]:
    """A run of its own (logical date, conf): a reused run would carry an earlier case's tries
    into ``task_instance_history``. OHLCV runs get a logical date unique per case (``hour``);
    ``instruments_sync`` (start date 2026) runs at now, which is unique already."""
    if not dag_id.startswith("ohlcv"):
        return None, None
    return f"2024-03-06T{hour:02d}:00:00+00:00", CONF


# case -> (DAG, watchlist symbols, replay server scenario, logical hour)
PERMANENT = {
    "instruments-unknown-symbol": ("instruments_sync", ["NASDAQ:AAPL", "NASDAQ:BADONE"], None),
    "instruments-bad-token": ("instruments_sync", ["NASDAQ:AAPL", "BINANCE:BTCUSDT"], "bad_token"),
    "ohlcv-unknown-symbol": ("ohlcv_1h", ["NASDAQ:BADONE"], None),
    "ohlcv-bad-token": ("ohlcv_1h", ["BINANCE:BTCUSDT"], "bad_token"),
    "ohlcv-validation-failed": ("ohlcv_1h", ["BINANCE:BTCUSDT"], "bad_bars"),
}
TRANSIENT = ("instruments_sync", "ohlcv_1h")


@pytest.mark.parametrize("case", list(PERMANENT), ids=list(PERMANENT))
def test_a_permanent_error_is_attempted_once(case, make_env, airflow_env, airflow_bin, db):
    dag_id, symbols, scenario = PERMANENT[case]
    meta = metadata_url(airflow_env)
    with ReplayServer(seed=5, scenario=scenario) as srv:
        token = scenario == "bad_token"
        extra = {"AIRFLOW_CONN_TRADINGVIEW_DEFAULT": BAD_TOKEN_CONN} if token else {}
        env = make_env(symbols, srv.url, **extra)
        result = run_dag(airflow_bin, env, dag_id, *case_run(dag_id, list(PERMANENT).index(case)))
        output = (result.stdout + result.stderr)[-4000:]
        run_id = latest_run(meta, dag_id)
        current, earlier = tries(meta, dag_id, run_id)
        failed = [t for t in current if t[1] == "failed"]
        assert failed, f"no task failed: {current}\n{output}"
        assert all(try_number == 1 for _, _, try_number in failed), (current, output)
        assert "up_for_retry" not in {state for _, state, _ in current}, (current, output)
        assert earlier == [], f"earlier tries recorded: {earlier}"
        if token:  # the token went to the server once, not per symbol/try
            assert srv.stats.methods["set_auth_token"] == 1, srv.stats.methods
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.bars")
        (bars,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM candleflow.rejected_bars")
        (rejects,) = cur.fetchone()
        cur.execute("SELECT symbol FROM candleflow.instruments ORDER BY 1")
        stored = [row[0] for row in cur.fetchall()]
    assert bars == 0
    if case == "ohlcv-validation-failed":
        assert rejects > 0
    if case == "instruments-unknown-symbol":  # the good symbol is stored before the failure
        assert stored == ["NASDAQ:AAPL"]


@pytest.mark.parametrize("dag_id", TRANSIENT)
def test_a_transient_error_is_retried(dag_id, make_env, airflow_env, airflow_bin):
    meta = metadata_url(airflow_env)
    before = latest_run(meta, dag_id)
    env = make_env(["BINANCE:BTCUSDT"], f"ws://127.0.0.1:{free_port()}/socket.io/websocket")
    proc = subprocess.Popen(
        dags_test_args(airflow_bin, dag_id, *case_run(dag_id, 12 + TRANSIENT.index(dag_id))),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    states: list[tuple] = []
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            run_id = latest_run(meta, dag_id)
            if run_id is not None and run_id != before:
                states, _ = tries(meta, dag_id, run_id)
                if any(state in ("up_for_retry", "failed") for _, state, _ in states):
                    break
            time.sleep(1)
    finally:  # stop the run instead of waiting out its retry delay
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            output = proc.communicate(timeout=60)[0][-4000:]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0][-4000:]
    retrying = [t for t in states if t[1] == "up_for_retry"]
    assert retrying, f"no task is up for retry: {states}\n{output}"
    assert all(try_number == 1 for _, _, try_number in retrying), states


def test_a_malformed_rollup_start_fails_once(airflow_env, airflow_bin, db_url):
    """The same text the CLI refuses with exit 2 (``candleflow rollup --start``) fails the
    ``bars_rollup`` run at try 1: a bad param is no reason to retry."""
    meta = metadata_url(airflow_env)
    env = dict(airflow_env, CANDLEFLOW_DATABASE_URL=db_url)
    result = run_dag(airflow_bin, env, "bars_rollup", conf={"start": "last tuesday"})
    output = (result.stdout + result.stderr)[-4000:]
    current, earlier = tries(meta, "bars_rollup", latest_run(meta, "bars_rollup"))
    assert current == [("roll_up_ticks", "failed", 1)], (current, output)
    assert earlier == [], f"earlier tries recorded: {earlier}"
    assert "bad start 'last tuesday'" in output
