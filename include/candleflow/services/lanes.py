"""Writer lanes of a chunk: slices stored in parallel, each symbol's slices in order.

Why lanes: storing a slice is mostly waiting on PostgreSQL (six or seven round trips per
transaction: the series lock, the instrument check, the COPY or merge, the watermark, the
audit row, the commit), and one connection waits for each in turn; on the 2-core benchmark
machine that alone was 45-65 ms a symbol. ``lanes`` connections store different symbols at
the same time, so those waits overlap with each other and with validation. Every symbol is
pinned to one lane (a single thread with its own connection), so its slices are stored in
order and a failed slice stops the ones after it. The slices arrive validated
(``services.batches``: one Great Expectations run for many slices, before the lanes).

Memory stays bounded: the dispatcher blocks once ``room`` slices (``2 * lanes`` unless the
chunk says more: as many small slices as its fetch-ahead budget holds bars) are waiting to be
stored, besides the fetches running ahead.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from candleflow.db import connection
from candleflow.errors import ValidationFailed
from candleflow.services import batches, load

log = logging.getLogger(__name__)

DEFAULT_LANES = 4


class Lanes:
    """``count`` single-thread writers, each with its own warehouse connection."""

    def __init__(self, count: int, ctx: Any, room: int | None = None) -> None:
        if count < 1:
            raise ValueError(f"lanes must be >= 1, got {count}")
        self.ctx = ctx  # tf, settings, provider name, found, results, on_slice
        self.conns = [connection.connect(ctx.settings.url) for _ in range(count)]
        self.threads = [
            ThreadPoolExecutor(1, thread_name_prefix=f"cf-store{i}") for i in range(count)
        ]
        self.lane_of: dict[str, int] = {}
        self.room = threading.BoundedSemaphore(max(2 * count, room or 0))
        self.report = threading.Lock()
        self.futures: list[Future] = []

    def submit(self, symbol: str, lo, hi, fetched: Future, validated: Any = None) -> None:
        """Queue a slice on its symbol's lane (blocks while too many slices wait);
        ``validated``: its result (or error) from ``services.batches``; None when it has no bars."""
        lane = self.lane_of.setdefault(symbol, len(self.lane_of) % len(self.threads))
        self.room.acquire()
        self.futures.append(
            self.threads[lane].submit(
                self._store, self.conns[lane], symbol, lo, hi, fetched, validated
            )
        )

    def close(self) -> None:
        """Wait for every queued slice, then close the lanes' connections."""
        try:
            for future in self.futures:
                future.result()
        finally:
            for thread in self.threads:
                thread.shutdown(wait=True)
            for conn in self.conns:
                conn.close()

    def _store(self, conn, symbol: str, lo, hi, fetched: Future, validated: Any) -> None:
        try:
            audit = self._slice(conn, symbol, lo, hi, fetched, validated)
        finally:
            self.room.release()
        if self.ctx.on_slice is not None:
            with self.report:
                self.ctx.on_slice(symbol, lo, hi, audit)

    def _slice(self, conn, symbol: str, lo, hi, fetched: Future, validated) -> dict | None:
        """Store one fetched slice; its audit row, or None when it (or an earlier one) failed."""
        ctx = self.ctx
        result, stored = ctx.results[symbol], ctx.found[symbol]
        if result.error is not None:  # an earlier slice of this symbol failed: stop there
            fetched.cancel()
            return None
        clock = time.perf_counter()
        try:
            piece, fetch_s = fetched.result()
        except Exception as exc:  # noqa: BLE001 - kept with the symbol, audited; the chunk goes on
            result.fail(exc)
            audit_failure(conn, symbol, lo, hi, exc, clock, stored.id, ctx)
            return None
        result.quality.fetched(piece.bars, fetch_s)
        try:
            validated = batches.resolve(validated)
            if isinstance(validated, Exception):  # its batch could not judge it
                raise validated
            audit = load.store_slice(
                conn, piece, stored.instrument, stored.id, ctx.tf, ctx.settings,
                provider=ctx.provider, clock=clock, validated=validated,
            )  # fmt: skip
        except ValidationFailed as exc:  # rejects and audit row already stored
            result.fail(exc)
            result.quality.observe(getattr(exc, "audit", None) or {})
            log.error("%s %s (%s, %s] rejected: %s", symbol, ctx.tf, lo, hi, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - rolled back, kept with the symbol, audited
            result.fail(exc)
            rollback(conn)
            audit_failure(conn, symbol, lo, hi, exc, clock, stored.id, ctx)
            return None
        result.add(audit)
        return audit


def audit_failure(conn, symbol, lo, hi, exc, clock, instrument_id, ctx) -> None:
    """Audit a slice (or a whole window) that failed before it could be stored."""
    log.error("%s %s (%s, %s] failed: %s: %s", symbol, ctx.tf, lo, hi, type(exc).__name__, exc)
    try:
        load.audit_failure(
            conn, symbol, ctx.tf, ctx.provider, lo, hi, ctx.settings, exc, clock, instrument_id
        )
    except Exception as audit_exc:  # noqa: BLE001 - the symbol already failed; keep going
        log.error("could not audit the failure of %s: %s", symbol, audit_exc)
        rollback(conn)


def rollback(conn) -> None:
    """Roll back whatever a failed statement left open, so the next slice starts clean."""
    if not conn.closed:
        conn.rollback()
