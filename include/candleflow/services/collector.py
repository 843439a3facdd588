"""The stream collector: live quote ticks -> ``candleflow.ticks`` in micro-batches.

A reader thread iterates the provider's ``stream_ticks`` (which reconnects by itself and
drops the snapshot replayed after a reconnect, so no tick is duplicated) and puts every
tick on a deque. The main thread flushes what it received every ``flush_interval`` seconds or
``batch_size`` ticks, whichever comes first, through ``ticks.store_ticks`` (validation,
binary COPY, ``ON CONFLICT DO NOTHING`` on ``(instrument, ts, seq)``): one transaction per
micro-batch, so a batch becomes visible whole.

Stopping (``stop`` set by SIGTERM/Ctrl-C, or the ``duration`` elapsed): the reader ends
the stream, and everything it received is flushed before ``run`` returns, so every tick
counted as read is in the table. (The provider drops what is left of the frame it was
decoding when the stop arrives; those ticks were never handed to us.)

The rate (ticks/s) and tick-to-commit latency (from the moment a tick is read off the
stream to the commit that stores it) are logged every ``log_every`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from candleflow.db.connection import connect
from candleflow.domain import Tick
from candleflow.services.instruments import ensure_instrument
from candleflow.services.ticks import TickRules, store_ticks

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the main thread checks the batch size and the deadline


@dataclass
class CollectorStats:
    """Counts of one run; ``read`` = inserted + duplicates + rejected once it returns."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    flushes: int = 0
    started: float = field(default_factory=time.monotonic)
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def latency_ms(self, q: float) -> float:
        import numpy as np

        return float(np.quantile(self.latencies, q) * 1000) if self.latencies else 0.0


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
        self._received: deque[tuple[Tick, float]] = deque()
        self._done = threading.Event()
        self._error: BaseException | None = None

    def run(self, stop: threading.Event, *, duration: float | None = None) -> CollectorStats:
        """Collect until ``stop`` is set or ``duration`` seconds passed; flush; return."""
        conn = connect(self.url)
        try:
            with conn:
                ids = {s: ensure_instrument(conn, s) for s in self.symbols}
            reader = threading.Thread(target=self._read, args=(stop,), daemon=True)
            reader.start()
            deadline = time.monotonic() + duration if duration is not None else None
            self._loop(conn, ids, stop, deadline)
            reader.join()
        finally:
            conn.close()
        if self._error is not None:
            raise self._error
        self._log("stopped")
        return self.stats

    def _read(self, stop: threading.Event) -> None:
        received = self._received  # a deque: append and popleft are thread-safe and cheap
        try:
            for tick in self.provider.stream_ticks(self.symbols, stop=stop):
                received.append((tick, time.monotonic()))
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
            if now >= next_flush or len(self._received) >= self.batch_size:
                self._flush(conn, ids, self._take())
                next_flush = now + self.flush_interval
            if now >= next_log:
                self._log("collecting")
                next_log = now + self.log_every
            self._done.wait(min(_POLL_S, max(0.0, next_flush - now)))
        while self._received:  # the reader has ended: flush everything it handed over
            self._flush(conn, ids, self._take())

    def _take(self) -> list[tuple[Tick, float]]:
        """Up to ``batch_size`` received ticks, oldest first."""
        received, batch = self._received, []
        for _ in range(min(len(received), self.batch_size)):
            batch.append(received.popleft())
        self.stats.read += len(batch)
        return batch

    def _flush(self, conn, ids: dict[str, int], batch: list[tuple[Tick, float]]) -> None:
        """Store one micro-batch in one transaction."""
        import numpy as np
        import pandas as pd

        if not batch:
            return

        by_symbol: dict[str, list[Tick]] = {}
        for tick, _ in batch:
            by_symbol.setdefault(tick.symbol, []).append(tick)
        with conn:
            for symbol, ticks in by_symbol.items():
                ts, seq, price, size, day_volume, bid, ask = zip(
                    *((t.ts, t.seq, t.price, t.size, t.day_volume, t.bid, t.ask) for t in ticks),
                    strict=True,
                )
                values = {"price": price, "size": size, "day_volume": day_volume}
                frame = pd.DataFrame(
                    {
                        "ts": pd.to_datetime(list(ts), utc=True).as_unit("us"),
                        "seq": seq,
                        **{k: np.array(v, dtype="float64") for k, v in values.items()},
                        "bid": np.array(bid, dtype="float64"),
                        "ask": np.array(ask, dtype="float64"),
                    }
                )
                result = store_ticks(
                    conn,
                    ids[symbol],
                    symbol,
                    frame,
                    run_id=self.run_id,
                    source="tradingview",
                    rules=self.rules,
                    now=dt.datetime.now(dt.UTC),
                )
                self.stats.inserted += result.inserted
                self.stats.duplicates += result.duplicates
                self.stats.rejected += result.rejected
        committed = time.monotonic()
        self.stats.latencies.extend(committed - received for _, received in batch)
        if len(self.stats.latencies) > 200_000:  # a long run keeps recent latencies only
            del self.stats.latencies[:100_000]
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
