"""``make up``: prepare the databases and Airflow, then run and keep up its processes.

Ctrl-C (or SIGTERM) stops every process this started, the embedded server included; the
data stays. Processes left behind by a ``make up`` that was killed with SIGKILL are found
through the pid file and stopped before anything starts again (``stack.processes``).

**Riding through faults.** A component that exits (Airflow's dag-processor and triggerer
exit when the metadata database goes away, as in a warehouse restart) is restarted after a
backoff of 1 s doubling to 30 s; its leftover children go with it. A run that lasted
``STABLE_S`` resets its count. The stack stops (exit 1) only when one component has exited
``MAX_FAILURES`` times in a row without a stable run: about a minute of a database that
does not come back. Tasks that failed meanwhile are retried by Airflow (every DAG has
retries; the warehouse being down is a transient error).

**A stalled scheduler** is killed and restarted like one that exited. When its loop fails
(the warehouse went away) Airflow's scheduler does not exit: it waits for every running task
to finish first ("Shutting down LocalExecutor; waiting for running tasks to finish"),
scheduling nothing meanwhile, for as long as the longest task runs (a tick capture: up to
4.5 minutes). Its health endpoint answers 503 once its heartbeat is 30 s old; after
``STALL_S`` more of that, having answered 200 since it started, it is stalled.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from candleflow import config
from candleflow.db import connection, embedded, migrate, reader_guard, roles
from candleflow.errors import ConfigError
from candleflow.retry import Backoff
from candleflow.stack import env as stack_env
from candleflow.stack import processes

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "reader-guard")
MAX_FAILURES = 5
STABLE_S = 60.0
RESTART = Backoff(base_delay=1.0, max_delay=30.0)
STALL_S = 30.0
HEALTH_EVERY_S = 5.0

# Kept importable from here (the CLI and tests use them by these names).
stop_leftovers = processes.stop_leftovers


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def commands(port: int, host: str) -> dict[str, list[str]]:
    """Each component's command line. The scheduler and triggerer serve no logs: on one
    machine the api-server reads the task log files directly, and a log server would
    listen on every interface at a fixed port (8793, 8794). The reader guard enforces the BI
    role's limits (``candleflow.db.reader_guard``)."""
    airflow = _airflow_bin()
    return {
        "api-server": [airflow, "api-server", "--port", str(port), "--host", host],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "reader-guard": [str(Path(sys.executable).with_name("candleflow")), "db", "guard"],
    }


def check_port_free(port: int, host: str = stack_env.DEFAULT_HOST) -> None:
    """A clear error naming the port and the variable that changes it, not a traceback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(
                f"port {port} is already in use; free it or set CANDLEFLOW_AIRFLOW_PORT "
                f"(e.g. `CANDLEFLOW_AIRFLOW_PORT=8081 make up`)"
            ) from None


def prepare(port: int) -> dict[str, str]:
    """Databases, warehouse migrations, Airflow metadata and pools; returns the env."""
    warehouse = connection.warehouse_url()
    connection.ensure_database(warehouse)
    connection.ensure_database(connection.admin_url(warehouse, config.AIRFLOW_DB))
    conn = connection.connect(warehouse)
    try:
        applied = migrate.migrate(conn)
        embedded = config.configured_database_url() is None
        own = stack_env.reader_password() if embedded else None
        roles.configure_reader_from_env(conn, default_password=own)
        if embedded:  # the embedded server's databases are ours
            with conn:
                reader_guard.confine(conn, ["postgres", "template1", config.AIRFLOW_DB])
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


@dataclass
class Component:
    """One long-running process of the stack and its restart state."""

    name: str
    args: list[str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # consecutive runs shorter than STABLE_S
    restart_at: float = 0.0
    health_url: str | None = None  # the scheduler's health endpoint, when it serves one
    healthy_at: float | None = None  # last 200 from it since this start
    checked_at: float = float("-inf")  # the first call checks

    def stalled(self, now: float) -> bool:
        """True when the health endpoint, which answered 200 since the start, has not for
        ``STALL_S`` (checked every ``HEALTH_EVERY_S``; see the module docstring)."""
        if self.health_url is None or self.proc is None or now - self.checked_at < HEALTH_EVERY_S:
            return False
        self.checked_at = now
        if _healthy(self.health_url):
            self.healthy_at = now
            return False
        return self.healthy_at is not None and now - self.healthy_at > STALL_S

    def start(self, env: dict[str, str], logs: Path) -> None:
        out = open(logs / f"{self.name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.started = time.monotonic()
        self.healthy_at = None

    def exited(self, now: float) -> bool:
        """Note an exit (its group is killed); False when it keeps failing: stop the stack."""
        lived = now - self.started
        code = self.proc.returncode
        processes.signal_group(self.proc.pid, signal.SIGKILL)  # children it left behind
        self.proc.wait()
        self.failures = 1 if lived >= STABLE_S else self.failures + 1
        if self.failures > MAX_FAILURES:
            log.error(
                "%s exited %d times in a row (last: code %s after %.0fs); stopping the stack",
                self.name, self.failures, code, lived,
            )  # fmt: skip
            return False
        delay = RESTART.delay(self.failures)
        log.warning(
            "%s exited (code %s) after %.0fs; restarting in %.0fs (attempt %d of %d)",
            self.name, code, lived, delay, self.failures, MAX_FAILURES,
        )  # fmt: skip
        self.proc, self.restart_at = None, now + delay
        return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, timed out, or an HTTP error status (503: unhealthy)
        return False


def health_url(env: dict[str, str]) -> str | None:
    """The scheduler's health endpoint in this env, None when it serves none."""
    if env.get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "").lower() != "true":
        return None
    host = env.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", "127.0.0.1")
    return f"http://{host}:{env['AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT']}/health"


def up(port: int = stack_env.DEFAULT_PORT) -> int:
    """Run the stack in the foreground; returns the exit code."""
    host = stack_env.api_host()
    processes.stop_leftovers()
    check_port_free(port, host)
    started_db = False
    if config.configured_database_url() is None:
        started_db = not embedded.status().running
        embedded.start()
    env = prepare(port)
    logs = config.home() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    components = [Component(n, a) for n, a in commands(port, host).items()]
    for component in components:
        if component.name == "scheduler":
            component.health_url = health_url(env)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        for component in components:
            component.start(env, logs)
        processes.record(_running(components))
        _announce(port, components[0])
        return 0 if _keep_up(components, env, logs, lambda: stopping) else 1
    finally:
        processes.shutdown(_running(components))
        if started_db:
            embedded.stop()
        print("stopped; data kept in", config.home(), flush=True)


def _keep_up(components: list[Component], env, logs: Path, stopping) -> bool:
    """Restart what exits until asked to stop (True) or a component keeps failing (False)."""
    while not stopping():
        now = time.monotonic()
        changed = False
        for c in components:
            if c.proc is not None and c.proc.poll() is not None:
                if not c.exited(now):
                    log.error("see %s", logs / f"{c.name}.log")
                    return False
            elif c.proc is None and now >= c.restart_at:
                c.start(env, logs)
                changed = True
                log.info("%s restarted (pid %d)", c.name, c.proc.pid)
            elif c.proc is not None and c.stalled(now):
                log.warning(
                    "%s stalled: unhealthy for %.0fs after being healthy; killing it",
                    c.name, now - c.healthy_at,
                )  # fmt: skip
                processes.signal_group(c.proc.pid, signal.SIGKILL)  # exits: restarted next
        if changed:
            processes.record(_running(components))
        time.sleep(0.5)
    return True


def _running(components: list[Component]) -> dict[str, subprocess.Popen]:
    return {c.name: c.proc for c in components if c.proc is not None}


def _announce(port: int, api: Component) -> None:
    url = stack_env.client_url(port)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and api.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                break
        except OSError:
            time.sleep(1)
    password = stack_env.load_secrets()["admin_password"]
    print(
        f"\nAirflow UI: {url}  (login: {stack_env.ADMIN_USER} / {password})\n"
        f"{stack_env.reader_login()}\n"
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
    url = config.setting(URL_ENV)
    if own:
        return f"{own} (the watchlist's provider_options.url)"
    if url:
        return f"{url} (from {URL_ENV})"
    return f"{DEFAULT_URL} (offline? start candleflow replay-server and set {URL_ENV})"
