"""What the check does with the running stack, and what it requires of the results.

- ``ohlcv_1h``, triggered through the REST API for the two days ``(T0, T1]``: succeeds, every
  task instance succeeded, on the two workers.
- ``ohlcv_1h_history``, one month (February 2024) through the REST API's backfill endpoint
  (what the UI's Backfill form calls). The replay server answers slowly meanwhile, and as
  soon as a chunk task runs, the worker container running it is SIGKILLed. The run must
  still succeed: the scheduler fails the orphaned try after the heartbeat timeout, and the
  retry runs on the surviving worker.
- The warehouse holds exactly the oracle's bars of both windows, value for value, none twice.

The watchlist (docker/composecheck/watchlist.toml, one symbol per chunk) gives four mapped
tasks per run, so both workers get work and a kill always finds a running task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tomllib
from pathlib import Path

import pandas as pd

from composecheck.runs import Airflow, check_bars, wait_for
from composecheck.stack import WORKERS, Stack

log = logging.getLogger(__name__)

SEED = 7
WATCHLIST = Path(__file__).with_name("watchlist.toml")
T0 = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
MONTH = (dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
HOUR = pd.Timedelta(hours=1)


def closed(symbol: str, lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
    """The replay server's 1h bars of ``symbol`` that closed in ``(lo, hi]`` (the DAG rule)."""
    from candleflow.testing import synthetic

    bars = synthetic.bars(symbol, "1h", lo - dt.timedelta(hours=1), hi, seed=SEED)
    ends = bars["ts"] + HOUR
    return bars[(ends > lo) & (ends <= hi)].reset_index(drop=True)


def _failed(airflow: Airflow, dag_id: str, run_id: str, state: str) -> AssertionError:
    rows = [
        (t["task_id"], t["map_index"], t["state"], t["try_number"], t["hostname"])
        for t in airflow.task_instances(dag_id, run_id)
    ]
    return AssertionError(f"{dag_id} {run_id} ended {state}; task instances: {rows}")


def _backfill(airflow: Airflow, dag_id: str) -> str:
    body = {
        "dag_id": dag_id,
        "from_date": MONTH[0].isoformat(),
        "to_date": MONTH[0].isoformat(),
        "max_active_runs": 1,
        "reprocess_behavior": "none",
    }
    resp = airflow.call("POST", "/api/v2/backfills", json=body)
    if resp.status_code not in (200, 201, 409):  # 409: a retried POST that got through
        raise RuntimeError(f"backfill of {dag_id}: {resp.status_code} {resp.text}")

    def run_id() -> str | None:
        runs = airflow.call("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
        return next((r["dag_run_id"] for r in runs if r["run_type"] == "backfill"), None)

    found = wait_for(f"the backfill run of {dag_id}", run_id, 120)
    log.info("backfill %s: run %s for %s", dag_id, found, MONTH[0].date())
    return found


def _kill_a_busy_worker(airflow: Airflow, stack: Stack, dag_id: str, run_id: str) -> tuple:
    def running() -> tuple | None:
        for t in airflow.task_instances(dag_id, run_id):
            if t["state"] == "running" and t["hostname"] in WORKERS:
                return t["task_id"], t["map_index"], t["hostname"]
        return None

    task_id, map_index, victim = wait_for(f"a running task of {run_id}", running, 600, every=0.5)
    stack.kill_worker(victim)
    return task_id, map_index, victim


def play(stack: Stack, replay, timings) -> int:
    """Run the scenario on the stack; returns the number of bars stored."""
    with timings("stack start"):
        for attempt in (1, 2, 3):
            try:
                stack.up()
                break
            except RuntimeError as exc:  # docker-compose 1.29 gives up on a slow dependency
                if "is unhealthy" not in str(exc) or attempt == 3:
                    raise
                log.warning("up: a dependency was not healthy yet (try %d of 3); again", attempt)
        states = stack.wait_healthy(900)
    log.info("healthy: %s", ", ".join(sorted(states)))
    api = f"http://127.0.0.1:{stack.values['CANDLEFLOW_CHECK_API_PORT']}"
    airflow = Airflow(api, stack.values["CANDLEFLOW_ADMIN_PASSWORD"])
    airflow.login(180)
    for dag_id in ("ohlcv_1h", "ohlcv_1h_history"):
        airflow.ready(dag_id, 300)

    with timings("ohlcv_1h run"):
        airflow.trigger("ohlcv_1h", "check_ohlcv_1h", T0, T1)
        state = airflow.wait_done("ohlcv_1h", "check_ohlcv_1h", 900)
    if state != "success":
        raise _failed(airflow, "ohlcv_1h", "check_ohlcv_1h", state)
    hosts = {t["hostname"] for t in airflow.task_instances("ohlcv_1h", "check_ohlcv_1h")}
    log.info("ohlcv_1h ran on %s", ", ".join(sorted(hosts)))
    if hosts != set(WORKERS):
        raise AssertionError(f"both workers should run tasks of ohlcv_1h; they ran on {hosts}")

    with timings("history month, one worker killed"):
        replay.state.options = dataclasses.replace(replay.state.options, scenario="slow", delay=0.5)
        run_id = _backfill(airflow, "ohlcv_1h_history")
        task_id, map_index, victim = _kill_a_busy_worker(airflow, stack, "ohlcv_1h_history", run_id)
        state = airflow.wait_done("ohlcv_1h_history", run_id, 1200)
    if state != "success":
        raise _failed(airflow, "ohlcv_1h_history", run_id, state)
    survivor = next(h for h in WORKERS if h != victim)
    killed = next(
        t
        for t in airflow.task_instances("ohlcv_1h_history", run_id)
        if (t["task_id"], t["map_index"]) == (task_id, map_index)
    )
    log.info(
        "the killed task %s[%s]: try %s on %s",
        task_id,
        map_index,
        killed["try_number"],
        killed["hostname"],
    )
    if killed["try_number"] < 2 or killed["hostname"] != survivor:
        raise AssertionError(
            f"the task on the killed worker was not retried on {survivor}: {killed}"
        )

    with timings("bars check"):
        symbols = tomllib.loads(WATCHLIST.read_text())["symbols"]
        expected = {
            s: pd.concat([closed(s, *MONTH), closed(s, T0, T1)], ignore_index=True) for s in symbols
        }
        url = (
            f"postgresql://candleflow:{stack.values['CANDLEFLOW_DB_PASSWORD']}@127.0.0.1:"
            f"{stack.values['CANDLEFLOW_CHECK_POSTGRES_PORT']}/candleflow"
        )
        return check_bars(url, expected, "1h")
