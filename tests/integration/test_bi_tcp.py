"""BI tools over TCP: CANDLEFLOW_DB_LISTEN, scram-sha-256 for every TCP login, the reader's
generated password, and what Superset's SQLAlchemy inspector sees. A server of its own in a
temporary CANDLEFLOW_HOME, on a free port (never 5432)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from candleflow.stack.env import free_port

CLI = [str(Path(sys.executable).with_name("candleflow"))]


def run(env, *args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def server():
    folder = Path(tempfile.mkdtemp(prefix="cf-tcp-"))
    folder.chmod(0o755)  # the server runs as another user under root
    port = free_port()
    env = dict(os.environ, CANDLEFLOW_HOME=str(folder / "home"))
    env["CANDLEFLOW_DB_LISTEN"] = f"127.0.0.1:{port}"
    for name in ("CANDLEFLOW_DATABASE_URL", "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE"):
        env.pop(name, None)
    env.pop("CANDLEFLOW_READER_PASSWORD", None)
    started = run(env, "db", "start")
    run(env, "db", "migrate")
    secrets = json.loads((folder / "home" / "secrets.json").read_text())
    yield {"env": env, "port": port, "password": secrets["reader_password"], "start": started}
    run(env, "db", "stop", check=False)
    shutil.rmtree(folder, ignore_errors=True)


def tcp(server, user="candleflow_reader", password=None):
    return psycopg2.connect(
        host="127.0.0.1",
        port=server["port"],
        dbname="candleflow",
        user=user,
        password=server["password"] if password is None else password,
        connect_timeout=10,
    )


def test_the_reader_logs_in_over_tcp_with_its_password(server):
    conn = tcp(server)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, inet_server_port()")
            assert cur.fetchone() == ("candleflow_reader", server["port"])
            cur.execute("SELECT count(*) FROM analytics.timeframes")
            assert cur.fetchone() == (13,)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("user", "password"), [("candleflow_reader", "wrong"), ("postgres", ""), ("postgres", "x")]
)
def test_every_tcp_login_needs_the_right_password(server, user, password):
    with pytest.raises(psycopg2.OperationalError, match="password"):
        tcp(server, user, password)


def test_the_socket_stays_trusted_for_the_stack(server):
    url = run(server["env"], "db", "url").stdout.strip()
    assert f":{server['port']}/" in url and "127.0.0.1" not in url  # the socket, its port
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, inet_server_port()")
            assert cur.fetchone() == ("postgres", None)  # a Unix socket, no password
    finally:
        conn.close()


def test_the_reader_password_is_printed_and_never_logged(server):
    out = server["start"].stdout
    assert f"port {server['port']}" in out and "user candleflow_reader" in out
    assert f"password {server['password']}" in out
    home = Path(server["env"]["CANDLEFLOW_HOME"])
    logs = [p for p in home.rglob("*.log") if p.is_file()]
    assert logs  # the server's log at least
    for path in logs:
        assert server["password"] not in path.read_text(errors="replace"), path
    assert server["password"] not in server["start"].stderr


def test_superset_s_inspector_lists_the_analytics_views_as_the_reader(server):
    from sqlalchemy import create_engine, inspect

    engine = create_engine(
        f"postgresql+psycopg2://candleflow_reader:{server['password']}"
        f"@127.0.0.1:{server['port']}/candleflow"
    )
    try:
        inspector = inspect(engine)
        assert inspector.get_schema_names()  # Superset's first call
        views = set(inspector.get_view_names(schema="analytics"))
        assert {"bars", "load_outcomes", "rejected_bars", "rejected_ticks"} <= views
        columns = {c["name"] for c in inspector.get_columns("rejected_bars", schema="analytics")}
        assert {"symbol", "ts", "rules", "run_id", "timeframe"} <= columns
        outcome = {c["name"] for c in inspector.get_columns("load_outcomes", schema="analytics")}
        assert {"run_id", "symbol", "outcome", "validation_success", "rules_fired"} <= outcome
    finally:
        engine.dispose()


def test_a_port_in_use_is_refused_naming_the_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        folder = Path(tempfile.mkdtemp(prefix="cf-tcp-busy-"))
        folder.chmod(0o755)
        env = dict(os.environ, CANDLEFLOW_HOME=str(folder / "home"))
        env["CANDLEFLOW_DB_LISTEN"] = f"127.0.0.1:{port}"
        env.pop("CANDLEFLOW_DATABASE_URL", None)
        env.pop("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", None)
        try:
            result = run(env, "db", "start", check=False)
        finally:
            run(env, "db", "stop", check=False)
            shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode != 0
    assert f"CANDLEFLOW_DB_LISTEN=127.0.0.1:{port}: cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr
