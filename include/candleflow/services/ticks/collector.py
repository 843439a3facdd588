"""The stream collector: live quote ticks -> ``candleflow.ticks`` in micro-batches.

A reader thread iterates the provider's ``stream_tick_batches`` (which reconnects by
itself) and puts what each socket frame brought on a deque. The main thread takes what was
received every ``flush_interval`` seconds or ``batch_size`` ticks, gives it its stored keys
(``identity``: one collector per instrument, a sequence that survives processes), and stores
it through ``store.store_tick_batch`` in one transaction per micro-batch, with the stream's
new ``last_seq``: a batch becomes visible whole. A flush behind schedule takes up to
``BACKLOG_FACTOR`` times more (a commit's cost is mostly fixed); while the database keeps up
but slowly, the reader stops reading beyond ``2 * BACKLOG_FACTOR * batch_size`` waiting
ticks, so memory and latency stay bounded and TCP flow control slows the sender.

Nothing read is lost (``flushing``): a failed flush keeps its batch, reconnects with
backoff and retries it, while the reader keeps reading into the backlog up to
``max_backlog`` ticks. Only when that limit is reached with the database still failing, or
the database is still down ``drain_timeout`` seconds after a stop, does the collector give
up: its error counts the ticks it read and could not store.

Stopping (``stop`` set by SIGTERM/Ctrl-C, or the ``duration`` elapsed): the reader ends the
stream after handing over the frame it was decoding, and everything it handed over is
flushed before ``run`` returns. The rate (ticks/s) and tick-to-commit latency (from the
moment a frame is read off the stream to the commit that stores its ticks) are logged every
``log_every`` seconds; ``on_progress`` (a command's progress line) gets the counts twice a
second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from candleflow.errors import DatabaseUnavailable
from candleflow.services.ticks.flushing import Flusher
from candleflow.services.ticks.stats import CollectorStats
from candleflow.validation.ticks import TickRules

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the main thread checks the batch size and the deadline
_PROGRESS_S = 0.5  # how often on_progress is called
BACKLOG_FACTOR = 8  # a flush behind schedule takes up to this many times batch_size

__all__ = ["BACKLOG_FACTOR", "Collector", "CollectorStats"]


class Collector:
    """Collect ``symbols`` from ``provider`` into the warehouse until stopped.

    ``lock_wait``: how long to wait for another collector of one of the symbols to finish
    (0: fail at once, None: until stopped); ``max_backlog``: the most ticks held while the
    database is unavailable; ``drain_timeout``: how long a stop keeps retrying the database.
    """

    def __init__(
        self,
        provider: Any,
        symbols: Iterable[str],
        *,
        run_id: str,
        url: str | None = None,
        batch_size: int = 5000,
        flush_interval: float = 0.5,
        log_every: float = 10.0,
        rules: TickRules | None = None,
        lock_wait: float | None = 0.0,
        max_backlog: int = 1_000_000,
        drain_timeout: float = 30.0,
        on_progress: Callable[[CollectorStats], None] | None = None,
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        if not self.symbols:
            raise ValueError("the collector needs at least one symbol")
        if batch_size < 1 or flush_interval <= 0:
            raise ValueError(
                f"batch_size must be >= 1 and flush_interval > 0, got {batch_size}, "
                f"{flush_interval}"
            )
        flow = 2 * BACKLOG_FACTOR * batch_size
        if max_backlog < flow:
            raise ValueError(
                f"max_backlog must be >= {flow} (2 * 8 * batch_size), got {max_backlog}"
            )
        self.provider, self.run_id = provider, run_id
        self.batch_size, self.flush_interval, self.log_every = batch_size, flush_interval, log_every
        self.stats = CollectorStats()
        self.on_progress = on_progress
        self._flusher = Flusher(
            url,
            self.symbols,
            run_id=run_id,
            rules=rules or TickRules(),
            stats=self.stats,
            lock_wait=lock_wait,
            drain_timeout=drain_timeout,
            max_backlog=max_backlog,
            source=getattr(provider, "name", "provider"),
        )
        self._received: deque[tuple[list[tuple], float]] = deque()  # (rows, monotonic time)
        self._appended = 0  # ticks put on the deque; only the reader writes it
        self._taken = 0  # ticks taken off it; only the main thread writes it
        self._flow_limit = flow  # the reader's bound while the database keeps up
        self._done = threading.Event()
        self._error: BaseException | None = None

    def run(self, stop: threading.Event, *, duration: float | None = None) -> CollectorStats:
        """Collect until ``stop`` is set or ``duration`` seconds passed; flush; return."""
        # Imported before the reader starts: an import's thousands of file reads each wait
        # for the GIL behind a busy reader, which made the first flush take seconds.
        import pandas  # noqa: F401

        deadline = time.monotonic() + duration if duration is not None else None
        try:
            self._flusher.open(stop, deadline)
            reader = threading.Thread(target=self._read, args=(stop,), daemon=True)
            reader.start()
            try:
                self._loop(stop, deadline)
            except DatabaseUnavailable as exc:  # given up: count what was read meanwhile too
                stop.set()
                reader.join()
                unstored = self._backlog()
                if unstored == self.stats.unstored:
                    raise
                self.stats.unstored = unstored
                raise self._flusher.unstored_error(unstored) from exc.__cause__
            finally:
                stop.set()  # a failed flush must not leave the reader streaming
            reader.join()
            self._drain()
        finally:
            self._flusher.close()
            self.stats.read = self._appended  # everything read off the stream, stored or not
        if self._error is not None:
            raise self._error
        self.stats.log("stopped", self.symbols)
        return self.stats

    def _read(self, stop: threading.Event) -> None:
        received = self._received  # a deque: append and popleft are thread-safe and cheap
        try:
            for batch in self.provider.stream_tick_batches(self.symbols, stop=stop):
                received.append((batch, time.monotonic()))
                self._appended += len(batch)
                while self._appended - self._taken > self._limit() and not stop.is_set():
                    stop.wait(_POLL_S / 5)  # backpressure: the socket buffers the rest
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, re-raised
            self._error = exc
            stop.set()
        finally:
            self._done.set()

    def _limit(self) -> int:
        return self._flusher.max_backlog if self._flusher.failing else self._flow_limit

    def _backlog(self) -> int:
        return self._appended - self._taken + self._flusher.pending_ticks

    def _loop(self, stop: threading.Event, deadline: float | None) -> None:
        next_flush = time.monotonic() + self.flush_interval
        next_log = time.monotonic() + self.log_every
        next_progress = time.monotonic()
        while not self._done.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                stop.set()
            waiting = self._appended - self._taken
            if not self._flusher.pending and (now >= next_flush or waiting >= self.batch_size):
                limit = min(max(waiting, self.batch_size), BACKLOG_FACTOR * self.batch_size)
                self._flusher.prepare(*self._take(limit))
                next_flush = now + self.flush_interval
            self._flusher.flush(backlog=self._backlog())
            if now >= next_log:
                self.stats.log("collecting", self.symbols)
                next_log = now + self.log_every
            if self.on_progress is not None and now >= next_progress:
                self.on_progress(self.stats)
                next_progress = now + _PROGRESS_S
            self._done.wait(min(_POLL_S, max(0.0, next_flush - now)))

    def _drain(self) -> None:
        """The reader has ended: store everything it handed over (retrying a while)."""
        while self._received or self._flusher.pending:
            if not self._flusher.pending:
                self._flusher.prepare(*self._take(BACKLOG_FACTOR * self.batch_size))
            self._flusher.flush(backlog=self._backlog(), draining=True)

    def _take(self, limit: int) -> tuple[list[tuple], list[tuple[int, float]]]:
        """Up to ``limit`` received ticks, oldest first, and (count, time received) runs."""
        received, rows, times = self._received, [], []
        while received and len(rows) < limit:
            batch, at = received.popleft()
            room = limit - len(rows)
            if len(batch) > room:  # split a frame; the rest stays first in line
                received.appendleft((batch[room:], at))
                batch = batch[:room]
            rows += batch
            times.append((len(batch), at))
        self._taken += len(rows)
        self.stats.read += len(rows)
        return rows, times
