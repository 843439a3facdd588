"""DAG runs through Airflow's REST API, and the bars they stored, read back from PostgreSQL.

Everything a user would do goes through the api-server the way the UI does it: a token from
``/auth/token`` (the admin login airflow-init wrote), unpausing the DAG, triggering a run
with its window as conf, and polling the run and its task instances. The warehouse is then
read with plain SQL on the compose PostgreSQL and compared, value for value, with the
replay server's oracle (``candleflow.testing.synthetic.bars``), including a count of
duplicate keys, so a retried task that wrote twice or lost a window fails the check.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import psycopg2
import requests

log = logging.getLogger(__name__)

TERMINAL = {"success", "failed"}


class Airflow:
    """A logged-in REST client for the compose api-server."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url, self._password, self._token = base_url, password, ""

    def __repr__(self) -> str:  # the token and the password stay out of reprs and logs
        return f"Airflow({self.base_url!r})"

    def login(self, timeout: float) -> None:
        def token() -> str | None:
            try:
                resp = requests.post(
                    f"{self.base_url}/auth/token",
                    timeout=10,
                    json={"username": "admin", "password": self._password},
                )
            except requests.ConnectionError:
                return None
            return resp.json()["access_token"] if resp.status_code in (200, 201) else None

        self._token = wait_for("a token from the api-server", token, timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; a timeout or refused connection is retried (5 tries, 60 s each).

        The api-server also serves the workers' execution API; on a loaded 2-core machine a
        poll was seen to wait over 30 s for it.
        """
        headers = {"Authorization": f"Bearer {self._token}"}
        for attempt in range(5):
            try:
                return requests.request(
                    method, self.base_url + path, headers=headers, timeout=60, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                log.warning(
                    "%s %s: %s (try %d of 5)", method, path, type(exc).__name__, attempt + 1
                )
                time.sleep(2)
        raise TimeoutError(f"{method} {path}: no answer from the api-server in 5 tries")

    def ready(self, dag_id: str, timeout: float) -> None:
        """Wait until the dag-processor serialized the DAG, then unpause it."""
        wait_for(
            f"{dag_id} to be parsed",
            lambda: self.call("GET", f"/api/v2/dags/{dag_id}").status_code == 200,
            timeout,
        )
        resp = self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        resp.raise_for_status()

    def trigger(self, dag_id: str, run_id: str, start: dt.datetime, end: dt.datetime) -> None:
        body = {
            "dag_run_id": run_id,
            "logical_date": end.isoformat(),
            "conf": {"start": start.isoformat(), "end": end.isoformat()},
        }
        resp = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        if resp.status_code not in (200, 201, 409):  # 409: a retried POST that got through
            raise RuntimeError(f"triggering {dag_id} {run_id}: {resp.status_code} {resp.text}")
        log.info("triggered %s %s for [%s, %s)", dag_id, run_id, start, end)

    def state(self, dag_id: str, run_id: str) -> str:
        resp = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        resp.raise_for_status()
        return resp.json()["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        resp = self.call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        resp.raise_for_status()
        return resp.json()["task_instances"]

    def wait_done(self, dag_id: str, run_id: str, timeout: float) -> str:
        state = wait_for(
            f"{dag_id} {run_id} to finish",
            lambda: (s := self.state(dag_id, run_id)) in TERMINAL and s,
            timeout,
            every=3,
        )
        log.info("%s %s: %s", dag_id, run_id, state)
        return state


def wait_for(what: str, predicate: Callable[[], Any], timeout: float, every: float = 1.0):
    """Poll until ``predicate`` returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def check_bars(url: str, expected: dict[str, pd.DataFrame], timeframe: str) -> int:
    """Compare every stored bar with the oracle; returns the number of bars stored.

    Raises AssertionError naming the symbol and the first difference, or the number of
    duplicate keys, or bars stored that the oracle does not have.
    """
    cols = ["ts", "open", "high", "low", "close", "volume"]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT (instrument_id, timeframe, source, ts))"
            " FROM candleflow.bar_rows"
        )
        total, distinct = cur.fetchone()
        if total != distinct:
            raise AssertionError(f"{total - distinct} duplicate bars in candleflow.bar_rows")
        for symbol, want in expected.items():
            cur.execute(
                "SELECT b.ts, b.open, b.high, b.low, b.close, b.volume FROM candleflow.bar_rows b"
                " JOIN candleflow.instruments i ON i.id = b.instrument_id"
                " WHERE i.symbol = %s AND b.timeframe = %s ORDER BY b.ts",
                (symbol, timeframe),
            )
            got = pd.DataFrame(cur.fetchall(), columns=cols)
            got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.as_unit("us")
            got = got.astype({c: "float64" for c in cols[1:]})
            pd.testing.assert_frame_equal(
                got, want.reset_index(drop=True)[cols], check_exact=True, obj=symbol
            )
    want_total = sum(len(frame) for frame in expected.values())
    if total != want_total:
        raise AssertionError(f"{total} bars stored, the oracle has {want_total}")
    return total
