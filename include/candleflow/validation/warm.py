"""Warm Great Expectations in the process that forks Airflow's task processes.

Why: importing GX and building its context, suite and runner costs seconds (9 s measured
on a loaded 2-core machine), and an Airflow task process used to pay it on its first
validation. On Linux no task process is started fresh; each is forked, so state built
before the fork is inherited for free (copy-on-write pages):

- LocalExecutor (``make up``): the scheduler calls ``LocalExecutor.start()``, which forks
  ``parallelism`` worker processes (multiprocessing, ``fork`` start method, under
  ``gc.freeze()``); each worker runs ``supervise_task`` for a workload, and the task SDK's
  ``ActivitySubprocess.start`` forks the task process from that worker (``os.fork``; only
  macOS forks and execs, which inherits nothing).
- CeleryExecutor (``docker-compose.yaml``): ``airflow celery worker`` forks its prefork pool
  processes, and each runs ``supervise_task`` and forks the task process the same way.

So the scheduler and the Celery worker warm up before they fork: ``install`` (called from
``plugins/airflow_local_settings.py``, which Airflow imports at start-up in every process)
starts ``warm_up`` in a background thread only when the process is ``airflow scheduler``
or ``airflow celery worker``, and registers an at-fork hook that waits for it, so the
process's own start-up goes on meanwhile and no child is forked with GX half imported or
its lock held. ``CANDLEFLOW_WARM_VALIDATION=0`` turns this off; ``=1`` warms any process.
Other processes (api-server, dag-processor, triggerer, CLI commands) never import GX.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence

from candleflow import config

log = logging.getLogger(__name__)

ENV = "CANDLEFLOW_WARM_VALIDATION"
# argv after ``airflow`` of the processes whose children run tasks
FORKING_COMMANDS: tuple[tuple[str, ...], ...] = (("scheduler",), ("celery", "worker"))

_STATE: dict[str, object] = {"thread": None, "seconds": None, "error": None}


def warm_up() -> float:
    """Import GX, build the default suite's runner, validate one bar, load the calendars.

    The one-bar validation imports what GX loads lazily on first use (metric providers,
    pandas paths); the calendars are those of every exchange in ``candleflow.calendars``.
    Returns the seconds it took.
    """
    import pandas as pd

    from candleflow import calendars
    from candleflow.domain import Instrument
    from candleflow.validation import validate_bars

    began = time.perf_counter()
    for name in sorted({exchange.calendar for exchange in calendars.EXCHANGES.values()}):
        calendars.session_bounds(name)
    ts = pd.DatetimeIndex([pd.Timestamp("2024-01-02 14:30", tz="UTC")]).as_unit("us")
    bars = pd.DataFrame(
        {"ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    )
    validate_bars(
        bars,
        instrument=Instrument("NYSE:IBM", timezone="America/New_York", session="0930-1600"),
        timeframe="1h",
        start=ts[0],
        end=ts[0] + pd.Timedelta(hours=1),
        now=ts[0] + pd.Timedelta(days=1),
    )
    return time.perf_counter() - began


def wanted(argv: Sequence[str], env: dict[str, str] | None = None) -> bool:
    """Whether this process should warm up: a forking Airflow command, or the env says so."""
    setting = config.flag(ENV, None, env=env)
    if setting is not None:
        return setting
    args = tuple(a for a in argv[1:] if not a.startswith("-"))
    return any(args[: len(cmd)] == cmd for cmd in FORKING_COMMANDS)


def install(argv: Sequence[str]) -> bool:
    """Start the warm-up in the background if ``wanted``; once per process. True if started."""
    if _STATE["thread"] is not None or not wanted(argv):
        return False
    thread = threading.Thread(target=_run, name="candleflow-warm-validation", daemon=True)
    _STATE["thread"] = thread
    os.register_at_fork(before=wait)
    thread.start()
    return True


def wait(timeout: float | None = None) -> None:
    """Block until a running warm-up is done (the at-fork hook; harmless when none runs)."""
    thread = _STATE["thread"]
    if (
        isinstance(thread, threading.Thread)
        and thread.is_alive()
        and thread is not (threading.current_thread())
    ):
        thread.join(timeout)


def status() -> dict[str, object]:
    """Whether a warm-up ``started`` here, the ``seconds`` it took (None while running or
    never run) and any ``error``."""
    started = _STATE["thread"] is not None
    return {"started": started, "seconds": _STATE["seconds"], "error": _STATE["error"]}


def _run() -> None:
    try:
        _STATE["seconds"] = warm_up()
        log.info("validation warm-up done in %.1f s (pid %d)", _STATE["seconds"], os.getpid())
    except Exception as exc:  # noqa: BLE001 - a failed warm-up must never stop the scheduler
        _STATE["error"] = f"{type(exc).__name__}: {exc}"
        log.warning("validation warm-up failed, tasks will warm up on first use: %s", exc)
