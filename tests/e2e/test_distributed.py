"""CeleryExecutor for real: api-server, scheduler, dag-processor and two Celery workers.

Every component runs as its own process on this machine, as the containers of
``docker-compose.yaml`` do: one metadata database (a fresh one on the test server), Redis as
the broker, one execution API URL and one JWT secret for all. The replay server is the
provider; the watchlist holds ten instruments, in chunks of two, so the mapped
``sync_tradingview`` chunk tasks spread over both workers. The test then SIGKILLs one worker
while it runs a task: the scheduler's heartbeat timeout fails that try, the DAG's retries
put it on the surviving worker, and the warehouse ends with exactly the oracle's bars, none
twice.

Each worker names itself through ``[core] hostname_callable`` (a two-line module written
into the test's folder), because on one machine both would otherwise record the same
``task_instance.hostname``; in Compose each container has a hostname of its own.

Redis is needed: without it the test skips, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from candleflow.db import connection
from candleflow.stack import env as stack_env
from candleflow.stack.env import free_port
from candleflow.testing import ReplayServer, synthetic
from tests.support.databases import create_database, drop_database

SYMBOLS = (
    "NASDAQ:AAPL",
    "NASDAQ:MSFT",
    "NASDAQ:NVDA",
    "NASDAQ:AMZN",
    "NASDAQ:GOOGL",
    "BINANCE:BTCUSDT",
    "BINANCE:ETHUSDT",
    "BINANCE:SOLUSDT",
    "BINANCE:BNBUSDT",
    "BINANCE:XRPUSDT",
)
SEED = 11
DAG_ID = "ohlcv_1h"
# Five chunks of two symbols: the mapped chunk tasks spread over both workers.
CHUNK_SIZE = 2
TASK_ID = "sync_tradingview"
# Run 1 loads [T0, T1); run 2 (the one that loses a worker) loads [T1, T2).
T0 = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
T2 = dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
WORKERS = ("cf-worker-a", "cf-worker-b")
OVERALL_TIMEOUT = 15 * 60
REDIS_URL = os.environ.get("CANDLEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")

pytestmark = pytest.mark.timeout(OVERALL_TIMEOUT)

# Short loops so that the test spends its time running tasks, not sleeping.
FAST_SETTINGS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    # A killed worker's task is failed (then retried) once it misses heartbeats this long.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
    # A message a dead worker had reserved but not started is re-queued after this.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
    # Only the runs this test triggers: unpausing must not add a scheduled run for "now".
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}

HOSTNAME_MODULE = '''"""Per-process hostname: workers sharing one machine (test_distributed)."""
import os
import socket


def hostname() -> str:
    return os.environ.get("CF_WORKER_HOSTNAME") or socket.getfqdn()
'''


def _redis_or_skip() -> None:
    """Flush the test's Redis DB; a missing Redis skips, or fails under CI=true."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).flushdb()
    except redis.RedisError as exc:
        message = f"Redis broker not reachable at {REDIS_URL} ({exc}); start Redis 6+"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@dataclasses.dataclass
class Stack:
    """The running processes, their logs, and the clients the test drives them with."""

    env: dict[str, str]
    base_url: str
    meta_url: str
    logs: Path
    airflow_bin: str
    procs: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)
    token: str = ""
    replay: ReplayServer | None = None

    def start(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.procs[name] = subprocess.Popen(
            [self.airflow_bin, *args],
            env={**self.env, **(extra or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so killpg reaches its children
        )
        out.close()

    def check_alive(self, *, except_: tuple[str, ...] = ()) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        dead = {n: rc for n, rc in dead.items() if n not in except_}
        assert not dead, f"exited: {dead}\n{self.tail()}"

    def tail(self, chars: int = 2500) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(self.logs.glob("*.log"))
        )

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return requests.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = connection.connect(self.meta_url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process group and any descendant that left it (a task's own session)."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    _kill_group(proc, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    proc.wait(30)


def _wait(what: str, stack: Stack, predicate, timeout: float, every: float = 1.0):
    """Poll ``predicate`` until it returns something truthy; fail with the logs otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        stack.check_alive(except_=tuple(n for n in stack.procs if n.startswith("dead-")))
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{stack.tail()}")


@pytest.fixture
def stack(server_url, db_url, tmp_path, airflow_bin) -> Iterator[Stack]:
    """The processes of a CeleryExecutor deployment, stopped (process groups) in a finally."""
    _redis_or_skip()
    meta_name = f"cf_test_dist_{uuid.uuid4().hex[:10]}"
    meta_url = create_database(server_url, meta_name)
    port = free_port()
    home = tmp_path / "airflow_home"
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "cf_worker_host.py").write_text(HOSTNAME_MODULE)
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(
        f'provider = "tradingview"\nchunk_size = {CHUNK_SIZE}\n'
        f"symbols = {json.dumps(list(SYMBOLS))}\n[timeframes.1h]\n"
    )
    queue = f"cf-dist-{uuid.uuid4().hex[:8]}"  # no other session's worker takes our tasks
    env = stack_env.airflow_env(port=port, executor="CeleryExecutor")
    env.update(FAST_SETTINGS)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack_env.sqlalchemy_url(meta_url),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            # As in docker-compose.yaml: results in the metadata database, not in Redis.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + stack_env.sqlalchemy_url(meta_url),
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cf_worker_host.hostname",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
            "CANDLEFLOW_WATCHLIST": str(watchlist),
            "CANDLEFLOW_DATABASE_URL": db_url,
            "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE": db_url,
        }
    )
    with ReplayServer(seed=SEED) as srv:
        env["CANDLEFLOW_TRADINGVIEW_URL"] = srv.url
        st = Stack(env, f"http://localhost:{port}", meta_url, logs, airflow_bin, replay=srv)
        try:
            migrate = subprocess.run(
                [airflow_bin, "db", "migrate"], env=env, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert migrate.returncode == 0, migrate.stderr[-3000:]
            st.start("api-server", ["api-server", "--port", str(port), "--workers", "1"])
            st.start("scheduler", ["scheduler"])
            st.start("dag-processor", ["dag-processor"])
            for name in WORKERS:
                st.start(
                    name,
                    ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency",
                     "2", "--queues", queue, "--skip-serve-logs", "--without-mingle"],
                    {"CF_WORKER_HOSTNAME": name},
                )  # fmt: skip
            yield st
        finally:
            for proc in st.procs.values():
                _kill_group(proc, signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in st.procs.values():
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill_tree(proc)
            drop_database(server_url, meta_name)


def _login(stack: Stack) -> None:
    def token() -> str | None:
        try:
            resp = requests.post(
                stack.base_url + "/auth/token",
                json={
                    "username": stack_env.ADMIN_USER,
                    "password": stack_env.load_secrets()["admin_password"],
                },
                timeout=10,
            )
        except requests.ConnectionError:
            return None
        return resp.json()["access_token"] if resp.status_code in (200, 201) else None

    stack.token = _wait("the api-server to issue a token", stack, token, 180)


def _trigger(stack: Stack, run_id: str, start: dt.datetime, end: dt.datetime) -> None:
    body = {
        "dag_run_id": run_id,
        "logical_date": end.isoformat(),
        "conf": {"start": start.isoformat(), "end": end.isoformat()},
    }
    resp = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json=body)
    assert resp.status_code in (200, 201), resp.text


def _run_state(stack: Stack, run_id: str) -> str | None:
    rows = stack.query(
        "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id)
    )
    state = rows[0][0] if rows else None
    if state == "failed":
        raise AssertionError(f"{run_id} failed:\n{_tis(stack, run_id)}\n{stack.tail()}")
    return state if state == "success" else None


def _tis(stack: Stack, run_id: str) -> list[tuple]:
    return stack.query(
        "SELECT task_id, map_index, state, try_number, hostname FROM task_instance"
        " WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
        (DAG_ID, run_id),
    )


def _assert_warehouse_holds_the_oracle(db_url: str) -> int:
    conn = connection.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), count(DISTINCT (instrument_id, timeframe, source, ts))"
                " FROM candleflow.bar_rows"
            )
            total, distinct = cur.fetchone()
            assert total == distinct, f"{total - distinct} duplicate bars"
            expected_total = 0
            for symbol in SYMBOLS:
                cur.execute(
                    "SELECT ts, open, high, low, close, volume FROM candleflow.bar_rows b JOIN"
                    " candleflow.instruments i ON i.id = b.instrument_id WHERE i.symbol = %s"
                    " AND timeframe = '1h' ORDER BY ts",
                    (symbol,),
                )
                cols = ["ts", "open", "high", "low", "close", "volume"]
                got = pd.DataFrame(cur.fetchall(), columns=cols)
                got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.as_unit("us")
                got = got.astype({c: "float64" for c in cols[1:]})
                expected = synthetic.bars(symbol, "1h", T0, T2, seed=SEED).reset_index(drop=True)
                assert len(expected) > 0
                pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=symbol)
                expected_total += len(expected)
            assert total == expected_total
            return total
    finally:
        conn.close()


def test_two_celery_workers_share_the_runs_and_survive_losing_one(stack: Stack, db_url: str):
    began = time.monotonic()
    timings: dict[str, float] = {}
    _login(stack)
    _wait(
        f"the dag-processor to serialize {DAG_ID}",
        stack,
        lambda: stack.api("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200,
        240,
    )
    resp = stack.api(
        "POST",
        "/api/v2/pools",
        json={"name": "tradingview", "slots": 4, "description": "test", "include_deferred": False},
    )
    assert resp.status_code in (200, 201), resp.text
    assert stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).ok
    timings["stack_ready"] = time.monotonic() - began

    # Run 1: every symbol loaded, the tasks spread over both workers.
    _trigger(stack, "dist_run_1", T0, T1)
    _wait("run 1 to succeed", stack, lambda: _run_state(stack, "dist_run_1"), 420)
    timings["run_1"] = time.monotonic() - began - timings["stack_ready"]
    tis = _tis(stack, "dist_run_1")
    synced = [t for t in tis if t[0] == TASK_ID]
    assert len(synced) == len(SYMBOLS) // CHUNK_SIZE, tis
    assert all(t[2] == "success" for t in tis), tis
    hosts = {t[4] for t in tis}
    assert hosts == set(WORKERS), f"both workers should run tasks; hostnames: {hosts}"

    # Run 2: slow replies, so a task is still running when its worker dies.
    srv = stack.replay
    assert srv is not None
    srv.state.options = dataclasses.replace(srv.state.options, scenario="slow", delay=0.5)
    mark = time.monotonic()
    _trigger(stack, "dist_run_2", T1, T2)

    def running_task() -> tuple | None:
        rows = stack.query(
            "SELECT task_id, map_index, hostname FROM task_instance WHERE dag_id = %s"
            " AND run_id = 'dist_run_2' AND task_id = %s AND state = 'running'"
            " AND hostname IS NOT NULL ORDER BY start_date LIMIT 1",
            (DAG_ID, TASK_ID),
        )
        return rows[0] if rows else None

    _, map_index, victim = _wait(f"a {TASK_ID} task to run in run 2", stack, running_task, 300, 0.3)
    _kill_tree(stack.procs[victim])
    stack.procs[f"dead-{victim}"] = stack.procs.pop(victim)
    survivor = next(w for w in WORKERS if w != victim)
    _wait(
        "run 2 to succeed without one worker", stack, lambda: _run_state(stack, "dist_run_2"), 480
    )
    timings["run_2_with_kill"] = time.monotonic() - mark

    tis = _tis(stack, "dist_run_2")
    killed = next(t for t in tis if t[0] == TASK_ID and t[1] == map_index)
    assert killed[2] == "success" and killed[3] >= 2, killed  # a second try, elsewhere
    assert killed[4] == survivor, killed
    bars = _assert_warehouse_holds_the_oracle(db_url)
    timings["total"] = time.monotonic() - began
    print(f"distributed test: {bars} bars; timings (s): " + json.dumps(
        {k: round(v, 1) for k, v in timings.items()}))  # fmt: skip
