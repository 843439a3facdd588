"""The counts and latencies of one collector run, and its periodic log line."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("candleflow.services.ticks.collector")

_KEEP_LATENCIES = 200_000  # a long run keeps the recent latencies only


@dataclass
class CollectorStats:
    """Counts of one run; once it returns, read = inserted + duplicates + rejected + unstored
    (``unstored``: read but given up on, only when the run ends with an error)."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unstored: int = 0
    flushes: int = 0
    failed_flushes: int = 0
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

    def log(self, what: str, symbols: Sequence[str]) -> None:
        log.info(
            "collector %s %s: %d ticks read, %d inserted, %d duplicates, %d rejected, "
            "%d flushes (%d failed), %.0f ticks/s, commit latency p50 %.1f ms p99 %.1f ms",
            what,
            ",".join(symbols),
            self.read,
            self.inserted,
            self.duplicates,
            self.rejected,
            self.flushes,
            self.failed_flushes,
            self.read / self.elapsed if self.elapsed > 0 else 0.0,
            self.latency_ms(0.5),
            self.latency_ms(0.99),
        )
