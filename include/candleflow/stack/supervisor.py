"""``make up``: prepare the databases and Airflow, then run its four processes.

Ctrl-C (or SIGTERM) stops every process this started, the embedded server included; the
data stays. Processes left behind by a ``make up`` that was killed with SIGKILL are found
through the pid file and stopped before anything starts again.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from candleflow import config
from candleflow.db import connection, embedded, migrate, roles
from candleflow.errors import ConfigError
from candleflow.stack import env as stack_env

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _pid_file() -> Path:
    return config.home() / "airflow-processes.json"


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def check_port_free(port: int) -> None:
    """A clear error naming the port and the variable that changes it, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - the api-server binds here too
        except OSError:
            raise ConfigError(
                f"port {port} is already in use; free it or set CANDLEFLOW_AIRFLOW_PORT "
                f"(e.g. `CANDLEFLOW_AIRFLOW_PORT=8081 make up`)"
            ) from None


def stop_leftovers(timeout: float = 30) -> None:
    """Stop Airflow processes recorded by an earlier run that did not shut down cleanly."""
    path = _pid_file()
    if not path.exists():
        return
    killed = []
    for pid in json.loads(path.read_text()).values():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone already
        if "airflow" in cmdline:
            log.warning("stopping leftover Airflow process %s from an earlier run", pid)
            _signal_group(pid, signal.SIGKILL)
            killed.append(pid)
    deadline = time.monotonic() + timeout
    while killed and time.monotonic() < deadline:  # their ports are free only once they exit
        killed = [
            pid for pid in killed if Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)
        ]
        time.sleep(0.2)
    path.unlink()


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"
    return next((line for line in status.splitlines() if line.startswith("State:")), "")


def prepare(port: int) -> dict[str, str]:
    """Databases, warehouse migrations, Airflow metadata and pools; returns the env."""
    warehouse = connection.warehouse_url()
    connection.ensure_database(warehouse)
    connection.ensure_database(connection.admin_url(warehouse, config.AIRFLOW_DB))
    conn = connection.connect(warehouse)
    try:
        applied = migrate.migrate(conn)
        roles.set_reader_password_from_env(conn)
    finally:
        conn.close()
    log.info("warehouse migrations applied: %s", applied or "none pending")
    env = stack_env.airflow_env(port=port)
    _airflow(["db", "migrate"], env)
    _airflow(["pools", "import", str(stack_env.pools_file())], env)
    return env


def _airflow(args: list[str], env: dict[str, str]) -> None:
    log.info("airflow %s", " ".join(args))
    result = subprocess.run([_airflow_bin(), *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"`airflow {' '.join(args)}` failed:\n{result.stderr[-3000:]}")


def up(port: int = stack_env.DEFAULT_PORT) -> int:
    """Run the stack in the foreground; returns the exit code."""
    stop_leftovers()
    check_port_free(port)
    started_db = False
    if config.configured_database_url() is None:
        started_db = not embedded.status().running
        embedded.start()
    env = prepare(port)
    logs = config.home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        for name in COMPONENTS:
            args = [_airflow_bin(), name] + (["--port", str(port)] if name == "api-server" else [])
            out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
            procs[name] = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _pid_file().write_text(json.dumps({n: p.pid for n, p in procs.items()}))
        _announce(port, procs)
        while not stopping:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                log.error("%s exited; see %s; stopping the stack", ", ".join(dead), logs)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        _shutdown(procs)
        if started_db:
            embedded.stop()
        print("stopped; data kept in", config.home(), flush=True)


def _announce(port: int, procs: dict[str, subprocess.Popen]) -> None:
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and procs["api-server"].poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                break
        except OSError:
            time.sleep(1)
    password = stack_env.load_secrets()["admin_password"]
    print(
        f"\nAirflow UI: {url}  (login: {stack_env.ADMIN_USER} / {password})\n"
        f"TradingView: {_tradingview()}\n"
        f"Logs: {config.home() / 'logs'}   Stop: Ctrl-C\n",
        flush=True,
    )


def _tradingview() -> str:
    """Which TradingView endpoint the DAGs' tasks use, and how to change it."""
    from candleflow import watchlist
    from candleflow.providers.tradingview.client import DEFAULT_URL, URL_ENV

    try:
        own = watchlist.load().provider_options.get("url")
    except ValueError:  # the DAGs report a broken watchlist themselves
        own = None
    url = os.environ.get(URL_ENV)
    if own:
        return f"{own} (the watchlist's provider_options.url)"
    if url:
        return f"{url} (from {URL_ENV})"
    return f"{DEFAULT_URL} (offline? start candleflow replay-server and set {URL_ENV})"


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _shutdown(procs: dict[str, subprocess.Popen], timeout: float = 20) -> None:
    for proc in procs.values():
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _pid_file().unlink(missing_ok=True)
