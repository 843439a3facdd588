"""``make up``'s leftovers: only processes this stack started are stopped.

A pid file survives a ``make up`` killed with SIGKILL; by the next start its pids may belong
to anything, another stack's scheduler included (its command line says "airflow" too).
Real processes here: a sleeper whose command line contains "airflow" stands in for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from candleflow.stack import env as stack_env
from candleflow.stack import processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CANDLEFLOW_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def sleeper():
    """A process group whose command line says airflow, killed at the end whatever happens."""
    code = "import time; time.sleep(120)"
    env = dict(os.environ, CANDLEFLOW_HOME="/another/stack")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "airflow", "scheduler"], env=env, start_new_session=True
    )
    yield proc
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _alive(proc: subprocess.Popen) -> bool:
    time.sleep(0.2)
    return proc.poll() is None


def test_a_recorded_pid_that_is_another_process_now_is_left_alone(home, sleeper):
    # the pid was recorded with another start time: the process behind it is not ours
    entry = {"pid": sleeper.pid, "start": processes.start_time(sleeper.pid) - 1}
    processes.pid_file().write_text(json.dumps({"scheduler": entry}))
    processes.stop_leftovers(timeout=2)
    assert _alive(sleeper)
    assert not processes.pid_file().exists()


def test_a_bare_pid_of_another_stack_is_left_alone(home, sleeper):
    # the format of earlier versions: only pids; this one runs for another CANDLEFLOW_HOME
    processes.pid_file().write_text(json.dumps({"scheduler": sleeper.pid}))
    processes.stop_leftovers(timeout=2)
    assert _alive(sleeper)


def test_a_recorded_process_of_this_stack_is_stopped(home, sleeper):
    processes.record({"scheduler": sleeper})
    processes.stop_leftovers(timeout=10)
    assert sleeper.wait(10) == -signal.SIGKILL


def test_the_stack_listens_on_localhost_and_picks_its_own_side_ports(home, monkeypatch):
    monkeypatch.delenv(stack_env.HOST_ENV, raising=False)
    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", "postgresql://u@127.0.0.1:1/candleflow")
    first, second = stack_env.airflow_env(port=18080), stack_env.airflow_env(port=18081)
    assert first["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert first["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == "127.0.0.1"
    side = (
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    )
    ports = [int(env[name]) for env in (first, second) for name in side]
    assert len(set(ports)) == len(ports) and not {8793, 8794, 8974} & set(ports)
    monkeypatch.setenv(stack_env.HOST_ENV, "0.0.0.0")  # noqa: S104 - configured on purpose
    assert stack_env.airflow_env(port=18080)["AIRFLOW__API__HOST"] == "0.0.0.0"  # noqa: S104


def test_every_airflow_setting_of_the_stack_is_one_airflow_knows(home, monkeypatch):
    """A misspelt ``AIRFLOW__SECTION__KEY`` is ignored by Airflow without a word: the
    stack's riding-through settings (orphan checks, failed heartbeats) would silently be
    the defaults of minutes."""
    from airflow.configuration import conf

    monkeypatch.setenv("CANDLEFLOW_DATABASE_URL", "postgresql://u@127.0.0.1:1/candleflow")
    env = stack_env.airflow_env(port=18080)
    known = conf.configuration_description
    names = [n for n in env if n.startswith("AIRFLOW__") and n.count("__") == 2]
    unknown = []
    for name in names:
        section, key = name.removeprefix("AIRFLOW__").lower().split("__")
        # [core] mp_start_method is documented there, "overridden per component" by name
        per_component = key == "mp_start_method" and key in known["core"]["options"]
        if key not in known.get(section, {}).get("options", {}) and not per_component:
            unknown.append(name)
    assert unknown == []
    assert env["AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"] == "10"
    tolerated = int(env["AIRFLOW__WORKERS__MAX_FAILED_HEARTBEATS"]) * 5  # one per 5 s
    assert 60 <= tolerated < int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"])


def _running(pid: int) -> bool:
    try:
        state = next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if "State:" in line
        )
    except (OSError, StopIteration):
        return False
    return "zombie" not in state


def test_a_killed_component_takes_its_tasks_in_groups_of_their_own_with_it(tmp_path):
    """A task process moves into a group of its own (as Airflow's do): a group kill of the
    component misses it, the session kill does not."""
    pid_file = tmp_path / "task.pid"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " preexec_fn=lambda: os.setpgid(0, 0))\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    component = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the component never started its task"
            time.sleep(0.05)
        task = int(pid_file.read_text())
        processes.signal_group(component.pid, signal.SIGKILL)
        component.wait()
        assert _running(task)  # what the supervisor left behind before
        assert processes.signal_session(component.pid, signal.SIGKILL) == 1
        deadline = time.monotonic() + 10
        while _running(task) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(task)
    finally:
        processes.signal_session(component.pid, signal.SIGKILL)
        if component.poll() is None:
            component.kill()
