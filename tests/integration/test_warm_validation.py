"""Warm validation: the scheduler (or Celery worker) warms GX, its task processes inherit it.

The fork chain is reproduced with the primitives Airflow 3.3 uses on Linux: the
LocalExecutor forks its workers with multiprocessing (``fork`` start method) and the task
SDK's supervisor forks each task process with ``os.fork``. Each test runs in a fresh
interpreter, so nothing is warm unless the code under test made it so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from candleflow.validation import warm

ROOT = Path(__file__).resolve().parents[2]

CHAIN = r"""
import json, multiprocessing, os, sys
from candleflow.validation import warm

started = warm.install(["airflow", "scheduler"])  # what airflow_local_settings does

def task_process(out):
    # the task: GX already imported? then its first validation
    import pandas as pd
    had_gx = "great_expectations" in sys.modules
    from candleflow.domain import Instrument
    from candleflow.validation import validate_bars
    ts = pd.DatetimeIndex([pd.Timestamp("2024-03-01 10:00", tz="UTC")]).as_unit("us")
    bars = pd.DataFrame({"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                         "volume": 1.0})
    result = validate_bars(bars, instrument=Instrument("BINANCE:BTCUSDT"), timeframe="1h",
                           start=ts[0], end=ts[0] + pd.Timedelta(hours=1),
                           now="2024-03-02")
    os.write(out, json.dumps({"had_gx": had_gx, "pid": os.getpid(),
                              **result.summary["timing"]}).encode())

def worker(out):  # a LocalExecutor worker: the supervisor forks the task process
    pid = os.fork()
    if pid == 0:
        task_process(out)
        os._exit(0)
    os.waitpid(pid, 0)

read, write = os.pipe()
proc = multiprocessing.get_context("fork").Process(target=worker, args=(write,))
proc.start()
proc.join()
os.close(write)
child = json.loads(os.read(read, 65536))
print(json.dumps({"started": started, "status": warm.status(), "child": child,
                  "parent_pid": os.getpid()}))
"""


def _run_chain(setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != warm.ENV}
    if setting is not None:
        env[warm.ENV] = setting
    out = subprocess.run(
        [sys.executable, "-c", CHAIN], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_task_forked_from_a_warmed_scheduler_starts_with_gx_warm():
    got = _run_chain(None)
    assert got["started"] is True
    assert got["status"]["error"] is None and got["status"]["seconds"] > 0
    child = got["child"]
    assert child["pid"] != got["parent_pid"]
    assert child["had_gx"] is True  # imported before the fork, not by the task
    assert child["gx_warm"] is True  # the suite's runner came with the fork
    assert child["nth_in_process"] == 1  # and this was the task's first validation


def test_without_the_warm_up_the_task_pays_for_gx_itself():
    got = _run_chain("0")
    assert got["started"] is False and got["status"]["seconds"] is None
    assert got["child"]["had_gx"] is False
    assert got["child"]["gx_warm"] is False and got["child"]["nth_in_process"] == 1


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["airflow", "scheduler"], {}, True),
        (["/venv/bin/airflow", "celery", "worker", "-q", "default"], {}, True),
        (["airflow", "api-server", "--port", "8080"], {}, False),
        (["airflow", "dag-processor"], {}, False),
        (["airflow", "triggerer"], {}, False),
        (["airflow", "dags", "test", "ohlcv_1h"], {}, False),
        (["airflow", "scheduler"], {warm.ENV: "0"}, False),
        (["python", "-c", "..."], {warm.ENV: "1"}, True),
    ],
)
def test_only_the_processes_that_fork_tasks_warm_up(argv, env, expected):
    assert warm.wanted(argv, env) is expected


def _airflow_start(argv: list[str], tmp_path: Path) -> dict:
    """Import Airflow as the process ``argv`` would, with the project's plugins folder."""
    code = (
        f"import json, sys; sys.argv = {argv!r}; import airflow.settings;"
        "from candleflow.validation import warm; warm.wait(600);"
        "print(json.dumps({'status': warm.status(), 'gx': 'great_expectations' in sys.modules}))"
    )
    env = {k: v for k, v in os.environ.items() if k != warm.ENV}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_airflow_loads_the_hook_and_only_the_scheduler_warms(tmp_path):
    scheduler = _airflow_start(["airflow", "scheduler"], tmp_path)
    assert scheduler["status"]["started"] and scheduler["gx"]
    assert scheduler["status"]["error"] is None and scheduler["status"]["seconds"] > 0
    api = _airflow_start(["airflow", "api-server"], tmp_path)
    assert not api["status"]["started"] and not api["gx"]
