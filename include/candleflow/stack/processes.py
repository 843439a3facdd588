"""The processes of one ``make up`` stack: the pid file, leftovers, signals and shutdown.

Each component runs in its own process group (``start_new_session``), recorded in
``.candleflow/airflow-processes.json`` with its **start time** (``/proc/<pid>/stat``, field
22, clock ticks since boot). Why the start time: a ``make up`` killed with SIGKILL leaves its
pid file behind, and by the next start a recorded pid may belong to anything, including
another stack's scheduler (its command line says "airflow" too). A pid is this stack's
process only while its start time is the one recorded; anything else is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from candleflow import config

log = logging.getLogger(__name__)


def pid_file() -> Path:
    return config.home() / "airflow-processes.json"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces or parentheses: split after its last ")"
    return int(stat.rpartition(")")[2].split()[19])


def record(procs: dict[str, subprocess.Popen]) -> None:
    """Write the pid file: each component's pid and start time."""
    entries = {name: {"pid": p.pid, "start": start_time(p.pid)} for name, p in procs.items()}
    pid_file().write_text(json.dumps(entries))


def _ours(entry: int | dict) -> int | None:
    """The recorded pid if that process is still the one this stack started, else None."""
    if isinstance(entry, dict):
        pid, started = int(entry["pid"]), entry.get("start")
        return pid if started is not None and start_time(pid) == started else None
    # a pid file of an earlier version holds bare pids: ours if it runs in our home
    try:
        environ = Path(f"/proc/{int(entry)}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return int(entry) if f"{config.HOME_ENV}={config.home()}".encode() in environ else None


def stop_leftovers(timeout: float = 30) -> None:
    """Stop the processes recorded by an earlier run that did not shut down cleanly."""
    path = pid_file()
    if not path.exists():
        return
    try:
        entries = json.loads(path.read_text())
    except ValueError:
        entries = {}
    killed = []
    for name, entry in entries.items():
        pid = _ours(entry)
        if pid is None:
            log.info("recorded %s process is gone or no longer ours; left alone", name)
            continue
        log.warning("stopping leftover %s process %s from an earlier run", name, pid)
        signal_group(pid, signal.SIGKILL)
        killed.append(pid)
    deadline = time.monotonic() + timeout
    while killed and time.monotonic() < deadline:  # their ports are free only once they exit
        killed = [pid for pid in killed if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.2)
    path.unlink()


def _zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "zombie" in state


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_session(sid: int, sig: int) -> int:
    """Signal every process of session ``sid`` (a component started with its own session has
    ``sid == pid``); returns how many were signalled.

    Why the session and not only the group: Airflow's task processes move into a process
    group of their own, so after a SIGKILLed scheduler its running tasks would outlive a
    group kill as orphans; they stay in the component's session.
    """
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state ppid pgrp session
        if len(fields) > 3 and int(fields[3]) == sid:
            try:
                os.kill(int(entry.name), sig)
                count += 1
            except (ProcessLookupError, PermissionError):
                pass
    return count


def shutdown(procs: dict[str, subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM every component's group and session, SIGKILL what has not exited after
    ``timeout`` (and any task process left in its session); forget the pids."""
    for proc in procs.values():
        signal_group(proc.pid, signal.SIGTERM)
        signal_session(proc.pid, signal.SIGTERM)  # task processes in groups of their own
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        signal_session(proc.pid, signal.SIGKILL)  # task processes in groups of their own
    pid_file().unlink(missing_ok=True)
