"""The stream collector: live quote ticks -> ``candleflow.ticks`` in micro-batches.

A reader thread iterates the provider's stream (which reconnects by itself and drops the
snapshot replayed after a reconnect, so no tick is duplicated) and puts what each socket
frame brought on a deque, as one list of plain rows. The main thread flushes what it
received every ``flush_interval`` seconds or ``batch_size`` ticks, whichever comes first,
through ``ticks.store_tick_batch`` (validation, one binary COPY for all symbols,
``ON CONFLICT DO NOTHING`` on ``(instrument, ts, seq)``): one transaction per micro-batch, so
a batch becomes visible whole. When the flushes fall behind (a backlog of more than
``batch_size`` ticks) a flush takes up to ``BACKLOG_FACTOR`` times more, since a commit's
cost is mostly fixed: bigger batches catch up instead of letting the latency grow. If the
database still cannot keep up (a source faster than it), the reader stops reading while
``2 * BACKLOG_FACTOR * batch_size`` ticks wait, so memory and latency stay bounded and TCP
flow control slows the sender; nothing that was read is dropped.

Why rows and not ``Tick``s: at tens of thousands of ticks per second the reader and the
flush share one GIL, so the per-tick Python work decides the rate. The TradingView provider
hands over tuples (``stream_tick_rows``) and the flush builds the COPY columns with numpy;
other providers' ``stream_ticks`` still work, through a slower adapter.

Stopping (``stop`` set by SIGTERM/Ctrl-C, or the ``duration`` elapsed): the reader ends
the stream after handing over the frame it was decoding, and everything it handed over is
flushed before ``run`` returns, so every tick read off the socket is in the table.

The rate (ticks/s) and tick-to-commit latency (from the moment a frame is read off the
stream to the commit that stores its ticks) are logged every ``log_every`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from candleflow.db.connection import connect
from candleflow.services.instruments import ensure_instrument
from candleflow.services.ticks.store import store_tick_batch
from candleflow.validation.ticks import TickRules

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the main thread checks the batch size and the deadline
BACKLOG_FACTOR = 8  # a flush behind schedule takes up to this many times batch_size
_KEEP_LATENCIES = 200_000  # a long run keeps the recent latencies only

Row = tuple[Any, ...]  # a ``Tick``'s fields in order, ts as unix seconds (``TickRow``)


@dataclass
class CollectorStats:
    """Counts of one run; ``read`` = inserted + duplicates + rejected once it returns."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    flushes: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies: deque[np.ndarray] = field(default_factory=deque, repr=False)  # per flush, s

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def latency_ms(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        return float(np.quantile(np.concatenate(self.latencies), q) * 1000)

    def add_latencies(self, seconds: np.ndarray) -> None:
        self.latencies.append(seconds)
        total = sum(map(len, self.latencies))
        while total > _KEEP_LATENCIES and len(self.latencies) > 1:
            total -= len(self.latencies.popleft())


class Collector:
    """Collect ``symbols`` from ``provider`` into the warehouse until stopped."""

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
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        if not self.symbols:
            raise ValueError("the collector needs at least one symbol")
        if batch_size < 1 or flush_interval <= 0:
            raise ValueError(
                f"batch_size must be >= 1 and flush_interval > 0, got {batch_size}, "
                f"{flush_interval}"
            )
        self.provider, self.run_id, self.url = provider, run_id, url
        self.batch_size, self.flush_interval, self.log_every = batch_size, flush_interval, log_every
        self.rules = rules or TickRules()
        self.stats = CollectorStats()
        self._received: deque[tuple[list[Row], float]] = deque()  # (rows, monotonic time)
        self._appended = 0  # ticks put on the deque; only the reader writes it
        self._taken = 0  # ticks taken off it; only the main thread writes it
        self._max_backlog = 2 * BACKLOG_FACTOR * batch_size  # bounds memory and latency
        self._done = threading.Event()
        self._error: BaseException | None = None

    def run(self, stop: threading.Event, *, duration: float | None = None) -> CollectorStats:
        """Collect until ``stop`` is set or ``duration`` seconds passed; flush; return."""
        # Imported before the reader starts: an import's thousands of file reads each wait
        # for the GIL behind a busy reader, which made the first flush take seconds.
        import pandas  # noqa: F401

        conn = connect(self.url)
        try:
            with conn:
                ids = {s: ensure_instrument(conn, s) for s in self.symbols}
            reader = threading.Thread(target=self._read, args=(stop,), daemon=True)
            reader.start()
            deadline = time.monotonic() + duration if duration is not None else None
            try:
                self._loop(conn, ids, stop, deadline)
            finally:
                stop.set()  # a failed flush must not leave the reader streaming
            reader.join()
        finally:
            conn.close()
        if self._error is not None:
            raise self._error
        self._log("stopped")
        return self.stats

    def _batches(self, stop: threading.Event) -> Iterator[list[Row]]:
        rows = getattr(self.provider, "stream_tick_rows", None)
        if rows is not None:
            yield from rows(self.symbols, stop=stop)
            return
        for t in self.provider.stream_ticks(self.symbols, stop=stop):
            yield [(t.symbol, t.ts.timestamp(), t.price, t.size, t.day_volume, t.bid, t.ask, t.seq)]

    def _read(self, stop: threading.Event) -> None:
        received = self._received  # a deque: append and popleft are thread-safe and cheap
        try:
            for batch in self._batches(stop):
                received.append((batch, time.monotonic()))
                self._appended += len(batch)
                while self._appended - self._taken > self._max_backlog and not stop.is_set():
                    stop.wait(_POLL_S / 5)  # backpressure: the socket buffers the rest
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, re-raised
            self._error = exc
            stop.set()
        finally:
            self._done.set()

    def _loop(self, conn, ids: dict[str, int], stop: threading.Event, deadline) -> None:
        next_flush = time.monotonic() + self.flush_interval
        next_log = time.monotonic() + self.log_every
        while not self._done.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                stop.set()
            backlog = self._appended - self._taken
            if now >= next_flush or backlog >= self.batch_size:
                limit = min(max(backlog, self.batch_size), BACKLOG_FACTOR * self.batch_size)
                self._flush(conn, ids, *self._take(limit))
                next_flush = now + self.flush_interval
            if now >= next_log:
                self._log("collecting")
                next_log = now + self.log_every
            self._done.wait(min(_POLL_S, max(0.0, next_flush - now)))
        while self._received:  # the reader has ended: flush everything it handed over
            self._flush(conn, ids, *self._take(BACKLOG_FACTOR * self.batch_size))

    def _take(self, limit: int) -> tuple[list[Row], np.ndarray]:
        """Up to ``limit`` received ticks, oldest first, and the time each was received."""
        received, rows, counts, times = self._received, [], [], []
        while received and len(rows) < limit:
            batch, at = received.popleft()
            room = limit - len(rows)
            if len(batch) > room:  # split a frame; the rest stays first in line
                received.appendleft((batch[room:], at))
                batch = batch[:room]
            rows += batch
            counts.append(len(batch))
            times.append(at)
        self._taken += len(rows)
        self.stats.read += len(rows)
        return rows, np.repeat(np.array(times), counts)

    def _flush(self, conn, ids: dict[str, int], rows: list[Row], received: np.ndarray) -> None:
        """Store one micro-batch in one transaction."""
        import pandas as pd

        if not rows:
            return
        symbol, ts, price, size, day_volume, bid, ask, seq = zip(*rows, strict=True)
        micros = np.rint(np.array(ts, dtype="float64") * 1e6).astype("int64")
        frame = pd.DataFrame(
            {
                "instrument_id": np.fromiter(map(ids.__getitem__, symbol), "int64", len(rows)),
                "ts": pd.to_datetime(micros, unit="us", utc=True),
                "seq": np.array(seq, dtype="int64"),
                **{
                    name: np.array(column, dtype="float64")  # None -> NaN -> NULL
                    for name, column in zip(
                        ("price", "size", "day_volume", "bid", "ask"),
                        (price, size, day_volume, bid, ask),
                        strict=True,
                    )
                },
            }
        )
        names = {iid: s for s, iid in ids.items()}
        with conn:
            result = store_tick_batch(
                conn,
                frame,
                names,
                run_id=self.run_id,
                source="tradingview",
                rules=self.rules,
                now=dt.datetime.now(dt.UTC),
            )
        self.stats.inserted += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.rejected += result.rejected
        self.stats.add_latencies(time.monotonic() - received)
        self.stats.flushes += 1

    def _log(self, what: str) -> None:
        s = self.stats
        log.info(
            "collector %s %s: %d ticks read, %d inserted, %d duplicates, %d rejected, "
            "%d flushes, %.0f ticks/s, commit latency p50 %.1f ms p99 %.1f ms",
            what,
            ",".join(self.symbols),
            s.read,
            s.inserted,
            s.duplicates,
            s.rejected,
            s.flushes,
            s.read / s.elapsed if s.elapsed > 0 else 0.0,
            s.latency_ms(0.5),
            s.latency_ms(0.99),
        )
