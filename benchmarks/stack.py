"""Drive a real ``candleflow up`` stack through its REST API (for ``bench_stack``).

What ``tests/e2e/test_stack.py`` does by hand, as a context manager: its own
``CANDLEFLOW_HOME`` (own embedded server and Airflow metadata), a free port, the watchlist
and the replay server given through the environment; ``Stack.api``/``post`` speak to the
api-server with a token; leaving the block stops everything it started (Ctrl-C, then the
embedded server) and removes the folder. Not a benchmark itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import harness


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = env["CANDLEFLOW_AIRFLOW_PORT"]
        self.token = ""

    def _request(self, path: str, body: dict | None = None, method: str = "GET"):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"http://localhost:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def api(self, path: str):
        return self._request(path)

    def post(self, path: str, body: dict, method: str = "POST"):
        return self._request(path, body, method)

    def login(self) -> None:
        secrets = json.loads((Path(self.env["CANDLEFLOW_HOME"]) / "secrets.json").read_text())
        body = {"username": "admin", "password": secrets["admin_password"]}
        self.token = self._request("/auth/token", body, "POST")["access_token"]

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = {d["dag_id"] for d in self.api("/api/v2/dags?limit=100")["dags"]}
            if dag_ids <= listed:
                return
            time.sleep(2)
        raise SystemExit(f"DAGs not listed within {timeout}s: {dag_ids - listed}")

    def unpause(self, dag_id: str) -> None:
        self.post(f"/api/v2/dags/{dag_id}", {"is_paused": False}, method="PATCH")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 1800) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(0.5)
        raise SystemExit(f"{dag_id} {run_id} not done within {timeout}s")

    def warehouse_url(self) -> str:
        out = subprocess.run(
            [str(harness.BIN / "candleflow"), "db", "url"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.strip()


@contextlib.contextmanager
def running(watchlist: str, tradingview_url: str, timeout: float = 900) -> Iterator[Stack]:
    """A ``candleflow up`` stack with this watchlist (TOML text) and TradingView endpoint."""
    folder = Path(tempfile.mkdtemp(prefix="cf-bench-stack-"))
    folder.chmod(0o755)  # the embedded server runs as another user under root
    (folder / "watchlist.toml").write_text(watchlist)
    env = dict(
        os.environ,
        CANDLEFLOW_HOME=str(folder / "home"),
        CANDLEFLOW_AIRFLOW_PORT=str(_free_port()),
        CANDLEFLOW_WATCHLIST=str(folder / "watchlist.toml"),
        CANDLEFLOW_TRADINGVIEW_URL=tradingview_url,
    )
    for name in ("CANDLEFLOW_DATABASE_URL", "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", "AIRFLOW_HOME"):
        env.pop(name, None)
    cli = str(harness.BIN / "candleflow")
    log = folder / "up.log"
    with log.open("w") as out:  # a file, not a pipe: nobody reads the supervisor's output
        proc = subprocess.Popen(
            [cli, "up"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while "Airflow UI:" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("candleflow up did not come up:\n" + log.read_text()[-3000:])
            time.sleep(1)
        stack = Stack(env)
        stack.login()
        yield stack
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([cli, "db", "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
