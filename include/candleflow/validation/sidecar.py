"""Great Expectations in a helper process, for a process that would pay its import itself.

Why: ``import great_expectations`` is 6-9 s of CPU here, and in one Python process it holds
the GIL, so a ``candleflow sync`` of 500 symbols spent about a third of its run importing GX
while its fetching and loading waited. A process that starts cold (the CLI, a script; never
an Airflow task, which is forked with GX already warm: ``validation.warm``) therefore starts
one helper process (a fresh interpreter: no inherited threads or locks) that imports GX and
builds the runner on the other core, and sends it each batch of windows
(``validation.validate_windows``, pickled both ways: a batch of 64 one-bar windows is a few
kilobytes; a result whose bars are all valid comes back without them, the caller has them).
The chunk fetches meanwhile; the first batch waits for the helper to be ready.

The helper is started once per process, for a chunk of at least ``MIN_WINDOWS`` windows
(a smaller one validates here: GX's import is then paid once either way), and serves every
later chunk of the process; it is stopped at exit. If it cannot be started or dies, a batch
is validated in this process instead (the verdicts are the same; only the time differs).
A provider that fetches on this process's cores (``cpu_bound``: vendor files) gets no
helper: it would compete for those cores and add an interpreter's memory (a 1M-bar file
synced in 13 s and 366 MiB without one, 16 s and 485 MiB with one).
``CANDLEFLOW_VALIDATION_SIDECAR=0`` turns the helper off.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

from candleflow import config

log = logging.getLogger(__name__)

ENV = "CANDLEFLOW_VALIDATION_SIDECAR"
MIN_WINDOWS = 16
_LOCK = threading.Lock()
_HELPER: dict[int, Sidecar] = {}  # by pid: a forked child never uses its parent's helper


class Sidecar:
    """One helper process validating batches of windows, one batch at a time, in order.

    The helper is ``python -m candleflow.validation.sidecar``: a fresh interpreter that
    imports nothing of the caller's (``multiprocessing``'s spawn would re-import the
    caller's main script, and run it, when that script has no ``__main__`` guard). Requests
    and replies are pickles on its stdin and stdout; a thread here feeds it.
    """

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.requests: queue.Queue = queue.Queue()
        self.broken: BaseException | None = None
        self.thread = threading.Thread(target=self._feed, name="cf-validation-helper", daemon=True)
        self.thread.start()

    def submit(self, windows: list, jump_threshold: float | None) -> Future:
        """The batch's outcomes (``validate_windows``'s list), as a Future."""
        future: Future = Future()
        self.requests.put((future, windows, jump_threshold))
        return future

    def _feed(self) -> None:
        while (item := self.requests.get()) is not None:
            future, windows, threshold = item
            if self.broken is not None:
                future.set_exception(self.broken)
                continue
            try:
                pickle.dump((windows, threshold), self.proc.stdin, pickle.HIGHEST_PROTOCOL)
                self.proc.stdin.flush()
                # our own child on a private pipe, not untrusted data
                outcomes = pickle.load(self.proc.stdout)  # noqa: S301
                future.set_result([_restore(w, o) for w, o in zip(windows, outcomes, strict=True)])
            except Exception as exc:  # noqa: BLE001 - the helper is gone: callers validate here
                self.broken = RuntimeError(f"validation helper failed: {exc!r}")
                future.set_exception(self.broken)

    def close(self) -> None:
        """Stop the helper (it may still be importing GX: no need to wait for that)."""
        self.requests.put(None)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def helper(windows: int) -> Sidecar | None:
    """This process's helper, started for a chunk of ``windows`` windows when worth it.

    None when this process has GX already (an Airflow task, a second chunk after a small
    one), when the chunk is small, or when the helper is turned off.
    """
    pid = os.getpid()
    if pid in _HELPER:
        return _HELPER[pid]
    if "great_expectations" in sys.modules or windows < MIN_WINDOWS:
        return None
    if not config.flag(ENV, True):
        return None
    with _LOCK:
        if pid not in _HELPER:
            try:
                _HELPER[pid] = Sidecar()
            except OSError as exc:  # no processes here: validate here
                log.warning("validation helper process not started (%s); validating here", exc)
                return None
            atexit.register(_HELPER[pid].close)
    return _HELPER[pid]


def _warm() -> None:
    """The helper's start: GX imported and the default suite's runner built before the first
    batch (not ``warm.warm_up``: the calendars load as the windows need them)."""
    from candleflow.domain import DEFAULT_JUMP_THRESHOLD
    from candleflow.validation import runner

    runner.runner(DEFAULT_JUMP_THRESHOLD, False)


def main() -> None:
    """The helper: warm up, then answer each pickled batch until stdin closes."""
    from candleflow.validation import validate_windows

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr, not in the replies
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    _warm()
    while True:
        try:
            windows, threshold = pickle.load(requests)  # noqa: S301 - from the parent only
        except EOFError:
            return
        outcomes: list[Any] = validate_windows(windows, jump_threshold=threshold)
        for outcome in outcomes:  # the audit row says which process judged the window
            if not isinstance(outcome, Exception):
                outcome.summary["gx_batch"]["helper_pid"] = os.getpid()
        outcomes = [_strip(w, o) for w, o in zip(windows, outcomes, strict=True)]
        pickle.dump(outcomes, replies, pickle.HIGHEST_PROTOCOL)
        replies.flush()


def _strip(window: Any, outcome: Any) -> Any:
    """Send no ``valid`` frame back when it is the window's own bars, every one valid (the
    usual case): the parent holds them already, and a million-bar slice is 48 MB to pickle
    and unpickle again. Every row kept means none was collapsed or rejected, so ``valid`` is
    exactly the canonical frame of the window's bars (``frames.canonical``)."""
    if isinstance(outcome, Exception):
        return outcome
    if len(outcome.valid) == len(window.bars) and outcome.rejected.empty:
        return dataclasses.replace(outcome, valid=None)
    return outcome


def _restore(window: Any, outcome: Any) -> Any:
    """The outcome with its ``valid`` frame again (see ``_strip``)."""
    if isinstance(outcome, Exception) or outcome.valid is not None:
        return outcome
    from candleflow import frames

    return dataclasses.replace(outcome, valid=frames.canonical(window.bars))


if __name__ == "__main__":
    main()
