"""The API's own capacity: its blocking work runs on its own few threads, never on the
thread pool the rest of Airflow's api-server shares.

Why: FastAPI runs a plain ``def`` route on AnyIO's default thread limiter (40 threads per
process), which Airflow's own sync endpoints use too. Twenty slow coverage requests would
take those threads and the UI would wait behind them. So every route is ``async`` and hands
its blocking work (the query module) to ``run``:

- at most ``CANDLEFLOW_API_CONCURRENCY`` calls run at once (default 4: more concurrent
  reads than that only queue inside PostgreSQL on a small machine);
- a call that cannot start within ``CANDLEFLOW_API_QUEUE_TIMEOUT`` seconds (default 10) is
  refused with ``Busy`` (503 with Retry-After), so a burst does not pile up requests that
  clients gave up on long ago.

The limiters are made per event loop (one in the api-server; tests start several).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from candleflow import config
from candleflow.api import heap, warehouse

T = TypeVar("T")
CONCURRENCY = config.integer("CANDLEFLOW_API_CONCURRENCY", 4)
QUEUE_TIMEOUT_S = config.number("CANDLEFLOW_API_QUEUE_TIMEOUT", 10.0)

_limiters: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]
] = weakref.WeakKeyDictionary()


class Busy(RuntimeError):
    """The API's threads stayed taken for the whole queue timeout. Handled by the app:
    503 with Retry-After; the client tries again shortly."""


def limiters() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
    """This event loop's gate (``CONCURRENCY`` calls at once) and the thread limiter its
    calls run on (as many threads, never contended: it only keeps them off the default)."""
    loop = asyncio.get_running_loop()
    found = _limiters.get(loop)
    if found is None or found[0].total_tokens != CONCURRENCY:
        found = _limiters[loop] = (
            anyio.CapacityLimiter(CONCURRENCY),
            anyio.CapacityLimiter(CONCURRENCY),
        )
    return found


def _on_the_warehouse(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    warehouse.install()  # the first read of the process resolves the warehouse's policy
    return work(*args, **kwargs)


async def run(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` on one of the API's threads; ``Busy`` when none frees up
    within the queue timeout."""
    gate, threads = limiters()
    with anyio.move_on_after(QUEUE_TIMEOUT_S) as waited:
        await gate.acquire()
    if waited.cancelled_caught:
        raise Busy(
            f"busy: the API's {CONCURRENCY} query threads stayed taken for "
            f"{QUEUE_TIMEOUT_S:g}s; retry shortly"
        )
    try:
        call = functools.partial(_on_the_warehouse, work, *args, **kwargs)
        result = await anyio.to_thread.run_sync(call, limiter=threads)
    finally:
        gate.release()
    heap.settle()  # once per process: the route's lazy imports are done by now
    return result
