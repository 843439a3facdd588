"""The embedded server: started, stopped and restarted with its data intact; recovers after
SIGKILL; never touches port 5432. Runs a server of its own in a temporary CANDLEFLOW_HOME."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CLI = [str(Path(sys.executable).with_name("candleflow"))]


@pytest.fixture
def home():
    # Not pytest's tmp_path: pytest keeps its folder 0700, and the server runs as another
    # user when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="cf-embedded-"))
    folder.chmod(0o755)
    env = dict(os.environ, CANDLEFLOW_HOME=str(folder / "home"))
    env.pop("CANDLEFLOW_DATABASE_URL", None)
    env.pop("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", None)
    yield env
    subprocess.run([*CLI, "db", "stop"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


def run(env, *args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def psql(env, sql: str) -> str:
    import psycopg2

    url = run(env, "db", "url").stdout.strip()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return str(cur.fetchall()) if cur.description else ""
    finally:
        conn.close()


@pytest.mark.timeout(300)
def test_start_stop_restart_keeps_data(home):
    run(home, "db", "start")
    run(home, "db", "start")  # idempotent
    run(home, "db", "migrate")
    psql(
        home,
        "INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES ('X:Y', 'X', 'Y')",
    )
    run(home, "db", "stop")
    status = run(home, "db", "status", check=False)
    assert status.returncode != 0 and "stopped" in status.stdout
    run(home, "db", "start")
    assert psql(home, "SELECT symbol FROM candleflow.instruments") == "[('X:Y',)]"


@pytest.mark.timeout(300)
def test_recovers_after_sigkill_without_losing_data(home):
    run(home, "db", "migrate")
    psql(
        home,
        "INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES ('X:Z', 'X', 'Z')",
    )
    pid = int((Path(home["CANDLEFLOW_HOME"]) / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    run(home, "db", "start")
    assert psql(home, "SELECT symbol FROM candleflow.instruments") == "[('X:Z',)]"


@pytest.mark.timeout(300)
def test_listens_on_a_unix_socket_only(home):
    run(home, "db", "start")
    assert psql(home, "SHOW listen_addresses") == "[('',)]"
    url = run(home, "db", "url").stdout.strip()
    assert "localhost" not in url and "127.0.0.1" not in url


def test_unreachable_database_url_is_one_clear_line_naming_the_host(tmp_path):
    env = dict(
        os.environ, CANDLEFLOW_DATABASE_URL="postgresql://bob:s3cret-pw@127.0.0.1:1/warehouse"
    )
    result = subprocess.run(
        [*CLI, "db", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/warehouse" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
