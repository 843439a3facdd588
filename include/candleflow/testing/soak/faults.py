"""The soak's faults: a seeded schedule of kinds and how each one is injected.

Kinds (``KINDS``): four of the replay server's scenarios held for ``REPLAY_HOLD_S`` (dropped
sockets mid-page, an error frame, slow replies, heartbeats only), SIGKILL of the scheduler,
of the api-server, of a running task process, of the tick collector (the running
``capture_ticks`` task), and a warehouse stop/start (down ``WAREHOUSE_DOWN_S``). The
schedule deals the kinds in shuffled rounds, so a run of ``len(KINDS)`` faults has every
kind once, and spaces them with seeded jitter: the same seed gives the same soak.

A kill that finds nothing to kill (no task running at that moment) waits up to
``TARGET_WAIT_S`` for one, else is recorded as skipped, not counted as injected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import signal
import time

from candleflow.testing.replay_server import ReplayServer
from candleflow.testing.soak.stack import Stack, task_pids

REPLAY = ("disconnect_mid_page", "malformed_frame", "slow", "heartbeats_only")
KINDS = (
    *(f"replay:{name}" for name in REPLAY),
    "kill:scheduler",
    "kill:api-server",
    "kill:task",
    "kill:collector",
    "warehouse:restart",
)
REPLAY_HOLD_S = 20.0
WAREHOUSE_DOWN_S = 5.0
TARGET_WAIT_S = 60.0
TICKS_DAG = "ticks_capture"


@dataclasses.dataclass(slots=True)
class Fault:
    """One injected fault: its kind, when it began and ended (UTC), what it hit."""

    kind: str
    began: dt.datetime
    ended: dt.datetime | None = None
    detail: str = ""
    skipped: bool = False


def schedule(seed: int, seconds: float, kinds: tuple[str, ...] = KINDS, every: float = 36.0):
    """``[(offset_s, kind)]``: about one fault per ``every`` seconds, kinds in shuffled rounds."""
    rng = random.Random(seed)
    count = max(len(kinds), int(seconds // every))
    order: list[str] = []
    while len(order) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        order += round_
    gap = seconds / count
    return [(i * gap + rng.uniform(0, gap * 0.5), kind) for i, kind in enumerate(order[:count])]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Injector:
    """Injects faults into one stack and one replay server; keeps the record of each."""

    def __init__(self, stack: Stack, server: ReplayServer) -> None:
        self.stack, self.server = stack, server
        self.faults: list[Fault] = []
        self._normal = server.state.options

    def inject(self, kind: str) -> Fault:
        fault = Fault(kind, _now())
        family, _, what = kind.partition(":")
        try:
            if family == "replay":
                self._replay(what, fault)
            elif kind == "warehouse:restart":
                self._warehouse(fault)
            elif what in ("scheduler", "api-server"):
                pid = self.stack.components()[what]
                os.kill(pid, signal.SIGKILL)
                fault.detail = f"pid {pid}"
            else:
                self._kill_task(what == "collector", fault)
        finally:
            fault.ended = _now()
            self.faults.append(fault)
        return fault

    def _replay(self, scenario: str, fault: Fault) -> None:
        """Every new connection gets ``scenario`` for a while; one-shot faults fire again."""
        state = self.server.state
        state._once.clear()
        state.options = dataclasses.replace(self._normal, scenario=scenario)
        try:
            time.sleep(REPLAY_HOLD_S)
        finally:
            state.options = self._normal
        fault.detail = f"{REPLAY_HOLD_S:.0f}s"

    def _warehouse(self, fault: Fault) -> None:
        self.stack.cli("db", "stop")
        time.sleep(WAREHOUSE_DOWN_S)
        self.stack.cli("db", "start")
        fault.detail = f"down {WAREHOUSE_DOWN_S:.0f}s"

    def _collector_ti(self) -> str | None:
        """The running capture's task instance id, "" when none runs; None: no answer."""
        path = f"/api/v2/dags/{TICKS_DAG}/dagRuns/~/taskInstances?state=running"
        try:
            running = self.stack.api(path)["task_instances"]
        except OSError:
            return None
        return running[0]["id"] if running else ""

    def _kill_task(self, collector: bool, fault: Fault) -> None:
        deadline = time.monotonic() + TARGET_WAIT_S
        while time.monotonic() < deadline:
            self.stack.components()  # a restarted scheduler's session is ours too
            ours = self.stack.sessions
            ti = self._collector_ti()
            if ti is None:  # the api-server is restarting: we cannot tell them apart
                pids = []
            elif collector:
                pids = task_pids(ours, ti) if ti else []
            else:
                theirs = set(task_pids(ours, ti)) if ti else set()
                pids = [p for p in task_pids(ours) if p not in theirs]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                fault.detail = f"pid {pids[0]}"
                return
            time.sleep(1)
        fault.skipped, fault.detail = True, "nothing running to kill"


def run_schedule(injector: Injector, plan, began: float, log=print) -> None:
    """Inject each planned fault at its offset from ``began`` (a ``time.monotonic``)."""
    for offset, kind in plan:
        delay = began + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        fault = injector.inject(kind)
        state = "skipped" if fault.skipped else "injected"
        log(f"{fault.began:%H:%M:%S} {state} {kind} {fault.detail}")
