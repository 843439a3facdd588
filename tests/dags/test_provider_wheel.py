"""The wheel in someone else's Airflow: the issue's "Done when", as a user would do it.

Builds the wheel, installs it into a new virtual environment with Airflow and the rest from
the lock (``uv export --frozen``; from uv's cache, offline when the cache has it all) and
nothing from this repository's folders, and points ``AIRFLOW_HOME`` at a new folder whose
DAGs folder holds only the two-line factory file and a watchlist, and whose plugins folder is
empty. Then, with the ``airflow`` command of that environment: ``providers list`` and
``providers hooks`` show Candleflow with its hooks and connection types, ``plugins`` shows its
timetables and API, a ``tradingview`` connection made with ``connections add`` (a token and
the replay server as endpoint; no ``CANDLEFLOW_TRADINGVIEW_URL``) is what the sync task uses,
and ``dags test ohlcv_1h`` loads the bars into the warehouse given as a Postgres connection
(``candleflow_warehouse``; no ``CANDLEFLOW_DATABASE_URL``). Its own metadata database, so no
connection it adds is seen by another test. About a minute, most of it Airflow starting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from psycopg2.extensions import parse_dsn

from candleflow.db import connection
from candleflow.stack import env as stack_env
from candleflow.testing import ReplayServer
from tests.support.bars import closed_bars, stored_bars

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ("NASDAQ:AAPL", "BINANCE:BTCUSDT")
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)  # the window test_ohlcv_dag loads too
END = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
DAG_FILE = (
    "from candleflow.airflow import watchlist_dags\n\n"
    'globals().update(watchlist_dags("watchlist.toml"))\n'
)
TOKEN = "user-token-from-the-connection"

pytestmark = pytest.mark.timeout(900)


def _uv() -> str:
    local = ROOT / ".candleflow" / "bootstrap" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.fail("uv not found: run make install")
    return found


def _uv_run(args: list[str], cwd: Path) -> None:
    """``uv`` offline first (the cache of ``make install`` has everything), online if not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_PROJECT", "VIRTUAL"))}
    env["UV_COMPILE_BYTECODE"] = "1"  # seconds here; else every airflow command compiles
    for offline in ("1", "0"):
        result = subprocess.run(
            [_uv(), *args], cwd=cwd, env=dict(env, UV_OFFLINE=offline), capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        if result.returncode == 0:
            return
    raise AssertionError(f"uv {' '.join(args)}: {result.stderr[-3000:]}")


def _json_line(out: str):
    """The JSON a command printed (``-o json``), among its log lines."""
    return json.loads(next(line for line in out.splitlines() if line.startswith("[")))


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory) -> Path:
    """A new venv: the lock's packages and the built wheel, nothing editable."""
    work = tmp_path_factory.mktemp("wheel")
    _uv_run(["build", "--wheel", "--out-dir", str(work / "dist"), str(ROOT)], ROOT)
    (wheel,) = (work / "dist").glob("candleflow-*.whl")
    requirements = work / "requirements.txt"
    _uv_run(
        ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes",
         "--format", "requirements-txt", "-o", str(requirements)],
        ROOT,
    )  # fmt: skip
    venv = work / "venv"
    _uv_run(["venv", "--quiet", "--python", sys.executable, str(venv)], work)
    _uv_run(["pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
             "-r", str(requirements), str(wheel)], work)  # fmt: skip
    return venv


@pytest.fixture
def metadata_db(server_url):
    name = f"cf_test_wheel_meta_{uuid.uuid4().hex[:8]}"
    admin = connection.connect(server_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield connection.admin_url(server_url, name)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def user_airflow(user_venv, metadata_db, tmp_path):
    """``run(*args)``: the new venv's ``airflow`` with a fresh home and the factory DAG file."""
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "plugins").mkdir()
    (home / "dags" / "candleflow_dags.py").write_text(DAG_FILE)
    (home / "dags" / "watchlist.toml").write_text(
        f'provider = "tradingview"\nsymbols = {json.dumps(list(SYMBOLS))}\n[timeframes.1h]\n'
    )
    keep = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        PATH=f"{user_venv / 'bin'}:/usr/bin:/bin",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(home / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=stack_env.sqlalchemy_url(metadata_db),
        CANDLEFLOW_HOME=str(tmp_path / "candleflow-home"),  # no embedded server used
        CANDLEFLOW_WARM_VALIDATION="0",
    )

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(user_venv / "bin" / "airflow"), *args], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(*args: str) -> str:
        """One command; several at once (a list of argument tuples) run side by side."""
        procs = [start(*a) for a in args] if isinstance(args[0], tuple) else [start(*args)]
        outs = []
        for proc in procs:
            out, err = proc.communicate(timeout=800)
            assert proc.returncode == 0, (out + err)[-6000:]
            outs.append(out + err)
        return outs if isinstance(args[0], tuple) else outs[0]

    run("db", "migrate")
    return run


def test_the_wheel_is_a_provider_whose_connections_feed_a_dag_run(
    user_airflow, user_venv, db_url, db
):
    run = user_airflow
    # nothing of this checkout is importable in the new venv: candleflow is the wheel's
    where = subprocess.run(
        [str(user_venv / "bin" / "python"), "-c", "import candleflow; print(candleflow.__file__)"],
        capture_output=True, text=True, cwd="/", check=True,
    ).stdout  # fmt: skip
    assert str(user_venv) in where and str(ROOT) not in where

    listed = run(
        ("providers", "list", "-o", "json"), ("providers", "hooks", "-o", "json"),
        ("plugins", "-o", "json"),
    )  # fmt: skip
    providers, hooks, plugins = (_json_line(out) for out in listed)
    assert any(p["package_name"] == "candleflow" for p in providers)
    by_type = {h["connection_type"]: h for h in hooks if h["package_name"] == "candleflow"}
    assert by_type["tradingview"]["class"] == "candleflow.airflow.hooks.TradingViewHook"
    assert by_type["ccxt"]["class"] == "candleflow.airflow.hooks.CcxtHook"
    (plugin,) = [p for p in plugins if p["name"] == "candleflow"]
    assert "candleflow.airflow.timetables.MonthlyTimetable" in plugin["timetables"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/candleflow"]
    assert "entry" in plugin["source"].lower() or "candleflow==" in plugin["source"]

    dsn = parse_dsn(db_url)
    warehouse = {
        "conn_type": "postgres",
        "host": dsn.get("host"),
        "port": int(dsn["port"]) if dsn.get("port") else None,
        "login": dsn.get("user"),
        "password": dsn.get("password"),
        "schema": dsn["dbname"],
    }
    with ReplayServer(seed=5) as srv:
        run(
            ("connections", "add", "candleflow_warehouse", "--conn-json", json.dumps(warehouse)),
            ("connections", "add", "tradingview_default", "--conn-type", "tradingview",
             "--conn-host", srv.url, "--conn-password", TOKEN),
        )  # fmt: skip
        conf = json.dumps({"start": START.isoformat(), "end": END.isoformat()})
        out = run("dags", "test", "ohlcv_1h", "2024-03-05T12:00:00+00:00", "--conf", conf)
        assert "state=success" in out, out[-6000:]
        requests = [r for c in srv.stats.connections for r in c.requests]
    assert ("set_auth_token", ["<token>"]) in requests  # the connection's token, not anonymous
    assert TOKEN not in out  # and never in the task's log

    for symbol in SYMBOLS:
        expected = closed_bars(symbol, START, END, seed=5)
        assert len(expected) > 10
        pd.testing.assert_frame_equal(stored_bars(db, symbol), expected, check_exact=True)
