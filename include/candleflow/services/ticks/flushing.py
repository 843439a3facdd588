"""The collector's database side: its instruments' locks and keys, and flushes that lose nothing.

``Flusher`` holds the collector's connection, the collector locks of its instruments
(``db.locks``) and their ``StreamIdentity``. ``prepare`` turns received rows into the next
batch (its keys are given once: a retried batch keeps them); ``flush`` stores it in one
transaction with the stream's ``last_seq``. A flush that fails on the connection (a database
restart, a failover: ``OperationalError``/``InterfaceError``) keeps the batch, drops the
connection and retries after a backoff (0.1 s doubling to 5 s), reconnecting and re-taking
the locks first; rows keep arriving behind it. It gives up, raising ``DatabaseUnavailable``
with the number of ticks read and not stored, when the backlog reaches ``max_backlog`` or a
stop has waited ``drain_timeout`` seconds. Any other error is raised at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg2

from candleflow.db import locks
from candleflow.db.connection import connect
from candleflow.db.instruments import ensure_instrument
from candleflow.db.ticks import advance_streams, stream_positions
from candleflow.errors import DatabaseUnavailable, TransientError
from candleflow.retry import Backoff
from candleflow.services.ticks.identity import StreamIdentity
from candleflow.services.ticks.stats import CollectorStats
from candleflow.services.ticks.store import store_tick_batch
from candleflow.validation.ticks import TickRules

log = logging.getLogger("candleflow.services.ticks.collector")

_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError, DatabaseUnavailable)
_BACKOFF = Backoff(base_delay=0.1, max_delay=5.0)  # its tries are bounded by the backlog


@dataclass
class Batch:
    frame: Any
    received: np.ndarray  # monotonic time each row was read off the stream
    last_seqs: dict[int, int]


class Flusher:
    """See the module docstring; one per collector run, used by its main thread only."""

    def __init__(
        self,
        url: str | None,
        symbols: Sequence[str],
        *,
        run_id: str,
        rules: TickRules,
        stats: CollectorStats,
        lock_wait: float | None,
        drain_timeout: float,
        max_backlog: int,
        source: str = "tradingview",
    ) -> None:
        self.url, self.symbols, self.run_id, self.rules = url, list(symbols), run_id, rules
        self.stats, self.lock_wait, self.drain_timeout = stats, lock_wait, drain_timeout
        self.max_backlog, self.source = max_backlog, source
        self.conn = None
        self.ids: dict[str, int] = {}
        self.pending: Batch | None = None
        self.failures = 0
        self._gave_up: tuple[str, Exception] = ("", Exception())  # why, the last error
        self._retry_at = 0.0
        self._drain_started: float | None = None
        self._backend_pid: int | None = None

    @property
    def failing(self) -> bool:
        return self.failures > 0

    @property
    def pending_ticks(self) -> int:
        return len(self.pending.frame) if self.pending is not None else 0

    def open(self, stop: threading.Event, deadline: float | None) -> None:
        """Connect, wait for (or refuse) the instruments' collector locks, seed the keys."""
        self.conn = self._connect()
        with self.conn:
            self.ids = {s: ensure_instrument(self.conn, s) for s in self.symbols}
        since = time.monotonic()
        while busy := locks.try_lock_collectors(self.conn, self.ids.values()):
            holders = locks.collector_holders(self.conn, busy)
            self.conn.commit()
            names = [s for s, i in self.ids.items() if i in busy]
            waited = time.monotonic() - since
            late = deadline is not None and time.monotonic() >= deadline
            if stop.is_set() or late or (self.lock_wait is not None and waited >= self.lock_wait):
                raise TransientError(
                    f"{', '.join(names)} already collected by another collector"
                    f" ({'; '.join(h[1] for h in holders.values()) or 'just finishing'});"
                    f" one collector per instrument, gave up after waiting {waited:.0f}s"
                )
            log.info("waiting for the other collector of %s to finish", ", ".join(names))
            stop.wait(min(1.0, self.lock_wait or 1.0))
        with self.conn:
            self.identity = StreamIdentity(stream_positions(self.conn, self.ids.values()))
        log.info("collector %s: locks taken, keys resumed", ",".join(self.symbols))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # ends the session: its collector locks go with it
            self.conn = None

    def prepare(self, rows: list[tuple], runs: list[tuple[int, float]]) -> None:
        """The next batch, keyed once (a retried batch keeps its keys)."""
        if not rows:
            return
        frame, keep, last = self.identity.frame(rows, self.ids)
        self.stats.duplicates += int((~keep).sum())
        received = np.repeat(np.array([t for _, t in runs]), [n for n, _ in runs])[keep]
        if len(frame):
            self.pending = Batch(frame, received, last)

    def flush(self, *, backlog: int, draining: bool = False) -> None:
        """Store the pending batch if its retry time has come (a drain waits for it)."""
        if self.pending is None:
            return
        if draining and self._drain_started is None:
            self._drain_started = time.monotonic()
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            if not draining:
                return
            time.sleep(wait)
        try:
            self._store(self.pending)
        except _LOST as exc:
            self._failed(exc, backlog, draining)
            return
        except TransientError as exc:  # the locks were lost to another collector
            self.stats.unstored = backlog
            raise TransientError(f"{exc}; {backlog} ticks read and not stored") from exc
        self.failures, self.pending = 0, None

    def _store(self, batch: Batch) -> None:
        if self.conn is None:
            self.conn = self._reconnect()
        names = {iid: s for s, iid in self.ids.items()}
        with self.conn:
            result = store_tick_batch(
                self.conn,
                batch.frame,
                names,
                run_id=self.run_id,
                source=self.source,
                rules=self.rules,
                now=dt.datetime.now(dt.UTC),
                live=True,
            )
            advance_streams(self.conn, batch.last_seqs, run_id=self.run_id)
        stats = self.stats
        stats.inserted += result.inserted
        stats.duplicates += result.duplicates
        stats.rejected += result.rejected
        stats.add_latencies(time.monotonic() - batch.received)
        stats.flushes += 1

    def _failed(self, exc: Exception, backlog: int, draining: bool) -> None:
        self.failures += 1
        self.stats.failed_flushes += 1
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        wait = _BACKOFF.delay(self.failures)
        self._retry_at = time.monotonic() + wait
        drained_out = draining and time.monotonic() - self._drain_started >= self.drain_timeout
        if backlog >= self.max_backlog or drained_out:
            self.stats.unstored = backlog
            why = (
                f"the backlog reached its limit of {self.max_backlog} ticks"
                if not drained_out
                else f"the database was still unavailable {self.drain_timeout:.0f}s after stop"
            )
            self._gave_up = (why, exc)
            raise self.unstored_error(backlog) from exc
        log.warning(
            "collector %s: flush failed (%s); %d ticks held, retry %d in %.1fs",
            ",".join(self.symbols),
            str(exc).strip(),
            backlog,
            self.failures,
            wait,
        )

    def unstored_error(self, unstored: int) -> DatabaseUnavailable:
        """The error a collector that gave up ends with, counting what it read and did not
        store (recounted by the collector once its reader has stopped: ticks keep arriving
        while the last flush fails)."""
        why, exc = self._gave_up
        return DatabaseUnavailable(
            f"tick collector {','.join(self.symbols)}: {unstored} ticks read and not stored"
            f" after {self.failures} failed flushes: {why} ({exc})"
        )

    def _connect(self):
        conn = connect(self.url, application_name=f"candleflow collector {self.run_id}"[:63])
        self._backend_pid = conn.get_backend_pid()
        return conn

    def _reconnect(self):
        """A new session, holding the locks again (the old session's died with it)."""
        previous = self._backend_pid
        conn = self._connect()
        busy = locks.try_lock_collectors(conn, self.ids.values())
        if busy:
            holders = locks.collector_holders(conn, busy)
            if any(pid == previous for pid, _ in holders.values()):
                with conn.cursor() as cur:  # our own session from before, not yet reaped
                    cur.execute("SELECT pg_terminate_backend(%s)", (previous,))
                time.sleep(0.5)
                busy = locks.try_lock_collectors(conn, self.ids.values())
        conn.commit()
        if busy:
            conn.close()
            raise TransientError(
                f"tick collector {','.join(self.symbols)}: another collector took over"
                f" instruments {busy} while the database was unavailable"
            )
        log.info("collector %s: reconnected, locks taken again", ",".join(self.symbols))
        return conn
