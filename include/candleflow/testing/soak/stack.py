"""One ``candleflow up`` stack for the soak: own home, port, watchlist and replay server.

The e2e tests drive the stack the same way (``tests/e2e/test_stack.py``): a temporary
``CANDLEFLOW_HOME`` (own embedded server, own Airflow metadata), a free port, the
supervisor's output in a file, the REST API with the admin's token. This adds what faults
need: the pids of the components (the supervisor's pid file, rewritten on every restart)
and of task processes (Airflow titles a running task ``airflow worker -- <ti id>``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from candleflow import config

CLI = str(Path(sys.executable).with_name("candleflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """A running stack: ``api``/``post`` speak REST with the admin's token."""

    def __init__(self, env: dict[str, str], proc: subprocess.Popen, log: Path) -> None:
        self.env, self.proc, self.log = env, proc, log
        self.port = env["CANDLEFLOW_AIRFLOW_PORT"]
        self.home = Path(env["CANDLEFLOW_HOME"])
        self.token = ""
        self.sessions: set[int] = set()  # every component pid seen: their sessions

    def request(self, path: str, body: dict | None = None, method: str = "GET", timeout=30):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    def api(self, path: str):
        return self.request(path)

    def post(self, path: str, body: dict, method: str = "POST"):
        return self.request(path, body, method)

    def login(self) -> None:
        secrets = json.loads((self.home / "secrets.json").read_text())
        body = {"username": "admin", "password": secrets["admin_password"]}
        self.token = self.request("/auth/token", body, "POST")["access_token"]

    def patiently(self, call, *args, timeout: float = 300):
        """``call(*args)``, retried while the api-server is down (a fault may have hit it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return call(*args)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        listed: set[str] = set()
        while time.monotonic() < deadline:
            listed = {d["dag_id"] for d in self.api("/api/v2/dags?limit=200")["dags"]}
            if dag_ids <= listed:
                return
            time.sleep(3)
        raise RuntimeError(f"DAGs not listed within {timeout}s: {dag_ids - listed}")

    def unpause(self, dag_id: str, paused: bool = False) -> None:
        self.post(f"/api/v2/dags/{dag_id}", {"is_paused": paused}, method="PATCH")

    def components(self) -> dict[str, int]:
        """Each component's current pid (the supervisor rewrites the file on restarts)."""
        path = self.home / "airflow-processes.json"
        for _ in range(10):  # caught mid-rewrite: read again
            try:
                entries = json.loads(path.read_text())
                break
            except ValueError:
                time.sleep(0.1)
        else:
            entries = json.loads(path.read_text())
        pids = {name: int(e["pid"] if isinstance(e, dict) else e) for name, e in entries.items()}
        self.sessions |= set(pids.values())
        return pids

    def warehouse_url(self) -> str:
        return self.cli("db", "url").strip()

    def cli(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"candleflow {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout


def session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


# A task process's title: ``airflow worker -- <ti id>`` (``task_runner``). The LocalExecutor's
# workers, which are the task supervisors, are titled ``airflow worker -- LocalExecutor:
# <idle>`` or ``... LocalExecutor: <task>``: the same prefix, so a prefix match took a
# supervisor for a task (a kill:task killed the supervisor, leaving its task unreported).
TASK_TITLE = re.compile(rb"airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})(?:\0|$)")


def task_pids(sessions: set[int], ti_id: str | None = None) -> list[int]:
    """Pids of this stack's running task processes (of one task instance with ``ti_id``).

    This stack's: the process is in the session of one of its schedulers (each component
    starts a session of its own; a task keeps its scheduler's session even when it has a
    process group of its own, and Airflow's process titles overwrite the environment, so
    that cannot tell). Other stacks' tasks are not ours to kill."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        title = TASK_TITLE.match(cmdline)
        if not title or (ti_id and title.group(1).decode() != ti_id):
            continue
        if session(int(entry)) in sessions:
            found.append(int(entry))
    return found


@contextlib.contextmanager
def running(watchlist: str, tradingview_url: str, timeout: float = 900) -> Iterator[Stack]:
    """``candleflow up`` with this watchlist (TOML) and endpoint; stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="cf-soak-"))
    folder.chmod(0o755)  # the embedded server runs as another user under root
    (folder / "watchlist.toml").write_text(watchlist)
    env = dict(
        os.environ,
        CANDLEFLOW_HOME=str(folder / "home"),
        CANDLEFLOW_AIRFLOW_PORT=str(free_port()),
        CANDLEFLOW_WATCHLIST=str(folder / "watchlist.toml"),
        CANDLEFLOW_TRADINGVIEW_URL=tradingview_url,
    )
    for name in ("CANDLEFLOW_DATABASE_URL", "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", "AIRFLOW_HOME"):
        env.pop(name, None)
    log = folder / "up.log"
    with log.open("w") as out:  # a file, not a pipe: nobody reads it while the soak runs
        proc = subprocess.Popen(
            [CLI, "up"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while "Airflow UI:" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("candleflow up did not come up:\n" + log.read_text()[-3000:])
            time.sleep(1)
        stack = Stack(env, proc, log)
        stack.login()
        yield stack
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([CLI, "db", "stop"], env=env, capture_output=True, timeout=120)
        if not config.flag("SOAK_KEEP", False):
            shutil.rmtree(folder, ignore_errors=True)
