"""``candleflow up`` (what ``make up`` runs): the whole local stack, for real.

It reaches the UI with the DAGs listed and no import errors; a port already taken is one
clear line; a ``make up`` killed with SIGKILL is recovered by the next one; Ctrl-C stops
every process it started; a fresh stack's DAGs start paused or running as the README says,
its checks run by themselves and the README's stale query answers; the UI's Trigger form
(in Chromium) requires no param that may be left empty. Uses its own CANDLEFLOW_HOME,
embedded server and port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from candleflow.stack.env import free_port

CLI = str(Path(sys.executable).with_name("candleflow"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def stack_env():
    folder = Path(tempfile.mkdtemp(prefix="cf-stack-"))
    folder.chmod(0o755)  # the embedded server runs as another user under root
    env = dict(
        os.environ, CANDLEFLOW_HOME=str(folder / "home"), CANDLEFLOW_AIRFLOW_PORT=str(free_port())
    )
    for name in ("CANDLEFLOW_DATABASE_URL", "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", "AIRFLOW_HOME"):
        env.pop(name, None)
    yield env
    pids = Path(env["CANDLEFLOW_HOME"]) / "airflow-processes.json"
    if pids.exists():
        for pid in _pids(env):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    subprocess.run([CLI, "db", "stop"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


def _start(env) -> subprocess.Popen:
    return subprocess.Popen(
        [CLI, "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_ui(proc: subprocess.Popen, timeout: float = 400) -> str:
    """Read the supervisor's output until it prints the UI line; returns all it printed."""
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        out.append(line)
        if line.startswith("Airflow UI:"):
            return "".join(out)
    raise AssertionError("no UI line:\n" + "".join(out)[-3000:])


def _api(env, path: str, token: str | None = None):
    port = env["CANDLEFLOW_AIRFLOW_PORT"]
    request = urllib.request.Request(f"http://localhost:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _token(env) -> str:
    password = json.loads((Path(env["CANDLEFLOW_HOME"]) / "secrets.json").read_text())
    port = env["CANDLEFLOW_AIRFLOW_PORT"]
    body = json.dumps({"username": "admin", "password": password["admin_password"]}).encode()
    request = urllib.request.Request(
        f"http://localhost:{port}/auth/token",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def _dags_listed(env, token: str, timeout: float = 180) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dags = {d["dag_id"] for d in _api(env, "/api/v2/dags", token)["dags"]}
        if {"warehouse_healthcheck", "ohlcv_1h"} <= dags:
            return dags
        time.sleep(3)
    raise AssertionError(f"DAGs not listed: {dags}")


def _pids(env) -> list[int]:
    """The pids the supervisor recorded (entries are {"pid", "start"}; bare pids before)."""
    path = Path(env["CANDLEFLOW_HOME"]) / "airflow-processes.json"
    entries = json.loads(path.read_text()).values()
    return [e["pid"] if isinstance(e, dict) else e for e in entries]


def _alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def test_up_serves_the_ui_survives_sigkill_and_stops_cleanly(stack_env):
    first = _start(stack_env)
    printed = _wait_for_ui(first)
    assert f"http://localhost:{stack_env['CANDLEFLOW_AIRFLOW_PORT']}" in printed
    assert "login: admin / " in printed
    token = _token(stack_env)
    assert "ohlcv_1d" in _dags_listed(stack_env, token)
    assert _api(stack_env, "/api/v2/importErrors", token)["total_entries"] == 0
    old = _pids(stack_env)

    os.kill(first.pid, signal.SIGKILL)  # leaves its four Airflow processes behind
    first.wait(30)
    second = _start(stack_env)
    _wait_for_ui(second)
    assert _alive(old) == []  # the leftovers were stopped before starting again
    assert _api(stack_env, "/api/v2/monitor/health")["metadatabase"]["status"] == "healthy"
    new = _pids(stack_env)

    os.killpg(second.pid, signal.SIGINT)  # Ctrl-C
    assert second.wait(120) == 0
    assert "stopped; data kept" in second.stdout.read()
    time.sleep(1)
    assert _alive(new) == []


def test_a_taken_port_is_one_clear_line(stack_env):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", int(stack_env["CANDLEFLOW_AIRFLOW_PORT"])))  # noqa: S104
        sock.listen()
        result = subprocess.run(
            [CLI, "up"], env=stack_env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 2  # a configuration to change (the port), as bad input is
    port = stack_env["CANDLEFLOW_AIRFLOW_PORT"]
    assert f"error: port {port} is already in use" in result.stderr
    assert "CANDLEFLOW_AIRFLOW_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def _post(env, path: str, token: str, body: dict, method: str = "POST"):
    port = env["CANDLEFLOW_AIRFLOW_PORT"]
    request = urllib.request.Request(
        f"http://localhost:{port}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _backfill_done(env, token, backfill_id: int, timeout: float = 400) -> list[str]:
    """Wait for the backfill to complete; returns the states of the DAG's backfill runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _api(env, f"/api/v2/backfills/{backfill_id}", token)["completed_at"]:
            runs = _api(env, "/api/v2/dags/ohlcv_1h/dagRuns?limit=100", token)["dag_runs"]
            return sorted(r["state"] for r in runs if r["run_type"] == "backfill")
        time.sleep(3)
    raise AssertionError(f"backfill {backfill_id} did not complete in {timeout}s")


def test_a_backfill_loads_exactly_its_range_and_a_rerun_changes_nothing(stack_env, tmp_path):
    import psycopg2

    from candleflow.testing import ReplayServer, synthetic

    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('symbols = ["BINANCE:BTCUSDT", "NASDAQ:AAPL"]\n[timeframes.1h]\n')
    with ReplayServer(seed=9) as srv:
        env = dict(
            stack_env, CANDLEFLOW_WATCHLIST=str(watchlist), CANDLEFLOW_TRADINGVIEW_URL=srv.url
        )
        proc = _start(env)
        try:
            _wait_for_ui(proc)
            token = _token(env)
            _dags_listed(env, token)
            body = {
                "dag_id": "ohlcv_1h",
                "from_date": "2024-03-04T12:00:00Z",
                "to_date": "2024-03-04T16:00:00Z",
                "max_active_runs": 5,
            }
            first = _post(env, "/api/v2/backfills", token, body)
            _post(env, "/api/v2/dags/ohlcv_1h", token, {"is_paused": False}, method="PATCH")
            assert _backfill_done(env, token, first["id"]) == ["success"] * 5
            again = _post(
                env, "/api/v2/backfills", token, dict(body, reprocess_behavior="completed")
            )
            assert _backfill_done(env, token, again["id"]) == ["success"] * 5
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(120)
    url = subprocess.run(
        [CLI, "db", "url"], env=stack_env, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    start = dt.datetime(2024, 3, 4, 12, tzinfo=dt.UTC)
    end = dt.datetime(2024, 3, 4, 17, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            for symbol in ("BINANCE:BTCUSDT", "NASDAQ:AAPL"):
                cur.execute(
                    "SELECT ts, open, high, low, close, volume FROM candleflow.bar_rows b JOIN"
                    " candleflow.instruments i ON i.id = b.instrument_id WHERE i.symbol = %s"
                    " AND ts >= %s AND ts + interval '1 hour' <= %s ORDER BY ts",
                    (symbol, start, end),
                )
                got = cur.fetchall()
                # the backfill runs load the bars that closed in (start, end]; the unpaused
                # DAG's scheduled run then catches up from that watermark to now (the 16:30
                # bar and later), which the audit check below keeps apart (backfill rows only)
                want = synthetic.bars(symbol, "1h", start - hour, end, seed=9)
                want = want[(want["ts"] + hour > start) & (want["ts"] + hour <= end)]
                assert [r[0] for r in got] == list(want["ts"].dt.to_pydatetime())
                assert [r[4] for r in got] == list(want["close"])
            cur.execute(
                "SELECT run_id LIKE 'backfill%%', count(*), sum(rows_inserted), sum(rows_updated)"
                " FROM candleflow.load_audit WHERE window_start >= %s AND window_end <= %s"
                " GROUP BY 1",
                (start, end),
            )
            ((is_backfill, loads, inserted, updated),) = cur.fetchall()
            assert is_backfill and loads == 20  # 5 intervals x 2 symbols x 2 backfills
            # The scheduled run may catch up (from a series' watermark) over an interval the
            # backfill has not loaded yet: such a bar is inserted by it, and the backfill then
            # finds it stored and equal. Every bar of the range is inserted once, by one of
            # them, and none is ever rewritten.
            cur.execute(
                "SELECT count(*) FROM candleflow.bar_rows b JOIN candleflow.instruments i"
                " ON i.id = b.instrument_id WHERE b.timeframe = '1h' AND b.ts >= %s"
                " AND b.ts + interval '1 hour' <= %s AND b.run_id NOT LIKE 'backfill%%'",
                (start, end),
            )
            (caught_up,) = cur.fetchone()
            # 5 BTC + 2 AAPL bars (16:30 closes later)
            assert (inserted + caught_up, updated) == (7, 0), caught_up
            cur.execute(
                "SELECT count(*), count(DISTINCT (instrument_id, timeframe, source, ts))"
                " FROM candleflow.bar_rows"
            )
            total, distinct = cur.fetchone()
            assert total == distinct
        # partitioned warehouse (migration 0022): the backfill of 2024 got its own partition
        # before loading, the months ahead exist, and no row waits in a DEFAULT partition (the
        # health check's compaction may since have moved the closed year into its segments)
        from candleflow.db import partitions

        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('candleflow.bars_1h_2024') IS NOT NULL")
            assert cur.fetchone()[0]
        assert partitions.missing(conn) == []
        assert partitions.default_rows(conn) == {}
    finally:
        conn.close()


def _listeners(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process groups of ``pids`` listen on."""
    inodes: set[str] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) not in pids:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


def _health(env) -> dict:
    try:
        return _api(env, "/api/v2/monitor/health")
    except OSError:
        return {}


def _all_healthy(env, timeout: float, since: dt.datetime | None = None) -> None:
    """Wait until the metadatabase and every component report healthy, each component with
    a heartbeat after ``since`` (a heartbeat from before a fault proves nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = _health(env)
        beats = [
            dt.datetime.fromisoformat(value)
            for part in health.values()
            for key, value in part.items()
            if key.startswith("latest_") and value
        ]
        healthy = health and {part.get("status") for part in health.values()} == {"healthy"}
        if healthy and len(beats) == 3 and (since is None or min(beats) > since):
            return
        time.sleep(2)
    raise AssertionError(f"not healthy after {timeout}s: {_health(env)}")


def _run_succeeds(env, token, dag_id: str, timeout: float = 300) -> str:
    _post(env, f"/api/v2/dags/{dag_id}", token, {"is_paused": False}, method="PATCH")
    run = _post(env, f"/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None})
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _api(env, path, token)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    raise AssertionError(f"{dag_id} run not finished in {timeout}s")


def _as_reader(env, database: str):
    import psycopg2

    url = subprocess.run(
        [CLI, "db", "url", "--database", database], env=env, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    url = url.replace("postgresql://postgres@", f"postgresql://candleflow_reader:{READER}@", 1)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _guard_ends_a_runaway_reader(env) -> float:
    """Seconds until the stack's reader guard ends a reader that lifted its own timeout."""
    import psycopg2

    reader = _as_reader(env, "candleflow")
    try:
        with reader.cursor() as cur:
            cur.execute("SET statement_timeout = 0")
            began = time.monotonic()
            with pytest.raises(psycopg2.OperationalError):
                cur.execute("SELECT pg_sleep(120)")
    finally:
        reader.close()
    return time.monotonic() - began


READER = "stack-reader-secret"


def test_the_stack_listens_on_localhost_and_rides_through_a_warehouse_restart(stack_env):
    import psycopg2

    env = dict(
        stack_env,
        CANDLEFLOW_READER_PASSWORD=READER,
        CANDLEFLOW_READER_STATEMENT_TIMEOUT="2s",  # the guard acts 5 s later, within 5 s
    )
    proc = _start(env)
    try:
        _wait_for_ui(proc)
        token = _token(env)
        _dags_listed(env, token)
        _all_healthy(env, 180)
        listening = _listeners(_pids(env))
        port = int(env["CANDLEFLOW_AIRFLOW_PORT"])
        assert ("0100007F", port) in listening  # the UI and API on 127.0.0.1 only
        assert {address for address, _ in listening} == {"0100007F"}, listening
        assert not {8793, 8794, 8974} & {p for _, p in listening}
        for other in ("airflow", "postgres"):  # the BI role logs in to the warehouse only
            with pytest.raises(psycopg2.OperationalError, match="permission denied"):
                _as_reader(env, other)
        assert _guard_ends_a_runaway_reader(env) < 20

        stopped = time.monotonic()
        subprocess.run([CLI, "db", "stop"], env=env, check=True, timeout=120)
        time.sleep(5)  # the warehouse (and Airflow's metadata database) is down for 5 s
        subprocess.run([CLI, "db", "start"], env=env, check=True, timeout=120)
        _all_healthy(env, 300, since=dt.datetime.now(dt.UTC))
        recovered = time.monotonic() - stopped
        assert proc.poll() is None  # the supervisor kept the stack up
        assert len(_alive(_pids(env))) == 5
        assert _run_succeeds(env, token, "warehouse_healthcheck") == "success"
        assert _guard_ends_a_runaway_reader(env) < 20  # the guard rode through it too
        print(f"recovered from a 5 s warehouse restart in {recovered:.0f}s")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        print(out[-4000:])


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def _eventually(what: str, probe, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(3)
    raise AssertionError(f"{what}: not within {timeout:.0f}s")


def _trigger_form_required(env, token: str, dag_id: str, shot: Path) -> dict[str, bool]:
    """The Airflow UI's Trigger form of ``dag_id`` in Chromium: which run params it marks
    required (the field's ``data-required``, a ``*`` beside the label)."""
    from playwright.sync_api import sync_playwright

    base = f"http://localhost:{env['CANDLEFLOW_AIRFLOW_PORT']}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_cookies([{"name": "_token", "value": token, "url": base}])
            page = context.new_page()
            page.goto(f"{base}/dags/{dag_id}")
            page.get_by_role("button", name="Trigger").first.click()
            dialog = page.locator("[role=dialog][aria-modal=true]")
            dialog.get_by_text("Run Parameters").wait_for()
            fields = dialog.locator("[data-scope=field][data-part=root]:has(label)")
            fields.first.wait_for()
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot))
            required = {}
            for i in range(fields.count()):
                field = fields.nth(i)
                name = field.locator("label").first.inner_text().replace("*", "").strip()
                marked = field.get_attribute("data-required") is not None
                required[name] = marked or "*" in field.locator("label").first.inner_text()
            return required
        finally:
            browser.close()


def test_a_fresh_stack_runs_the_dags_the_readme_says_and_answers_its_stale_query(
    stack_env, tmp_path
):
    """The README's DAG table, the pause states of a fresh stack, and its "what is stale
    right now" query agree: the checks run without anyone turning them on."""
    from candleflow.testing import ReplayServer
    from tests.support.readme import dag_start_states, paused_per_readme, sql_block

    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('symbols = ["BINANCE:BTCUSDT", "NASDAQ:AAPL"]\n[timeframes.1h]\n')
    with ReplayServer(seed=9) as srv:
        env = dict(
            stack_env, CANDLEFLOW_WATCHLIST=str(watchlist), CANDLEFLOW_TRADINGVIEW_URL=srv.url
        )
        loaded = subprocess.run(  # a series last loaded long ago: stale
            [
                CLI,
                "sync",
                "BINANCE:BTCUSDT",
                "-t",
                "1h",
                "--start",
                "2024-03-04",
                "--end",
                "2024-03-05",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        url = subprocess.run(
            [CLI, "db", "url"], env=env, capture_output=True, text=True, timeout=60
        ).stdout.strip()
        proc = _start(env)
        try:
            _wait_for_ui(proc)
            token = _token(env)
            every = {"bars_rollup", "freshness_check", "instruments_sync", "ohlcv_1h"}
            every |= {"ohlcv_1h_history", "ticks_capture", "warehouse_healthcheck"}
            _eventually("every DAG listed", lambda: every <= _dags_listed(env, token))
            dags = {
                d["dag_id"]: d["is_paused"]
                for d in _api(env, "/api/v2/dags?limit=100", token)["dags"]
            }
            states = dag_start_states()
            assert dags == {dag_id: paused_per_readme(dag_id, states) for dag_id in dags}
            assert {"freshness_check", "instruments_sync", "ohlcv_1h"} <= set(dags)

            stale = sql_block("what is stale right now")
            rows = _eventually("a stale row", lambda: _query(url, stale))
            assert [(r[0], r[1]) for r in rows] == [("BINANCE:BTCUSDT", "1h")]  # AAPL: never loaded
            assert rows[0][2] == dt.datetime(2024, 3, 4, 23, tzinfo=dt.UTC)
            runs = _api(env, "/api/v2/dags/freshness_check/dagRuns", token)["dag_runs"]
            assert {r["run_type"] for r in runs} == {"scheduled"}  # nobody triggered it
            _eventually(  # instruments_sync's first run resolved the watchlist
                "NASDAQ:AAPL resolved",
                lambda: _query(
                    url,
                    "SELECT 1 FROM candleflow.instruments WHERE symbol = 'NASDAQ:AAPL'"
                    " AND description <> ''",
                ),
            )

            for dag_id in ("bars_rollup", "ohlcv_1h"):
                shot = ARTIFACTS / f"trigger_form_{dag_id}.png"
                required = _trigger_form_required(env, token, dag_id, shot)
                assert "symbols" in required, required
                assert not required["symbols"], required  # empty means all
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(120)
