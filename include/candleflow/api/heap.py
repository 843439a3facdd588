"""Freeze the api-server's start-up heap once the API's lazy imports are done.

Why: a full (generation 2) collection walks every tracked object of the process. With
Airflow's api-server and the API's lazy imports (Airflow's auth manager, pyarrow, the query
module) that is ~320,000 objects, 150-200 ms on a 2-core machine, during which no request
progresses (the collector holds the GIL). Every request that was in flight then waits it
out: measured, one such pause during a benchmark run of 20 clients put p99 at 205-224 ms
where the other runs had 35-50 ms. Those objects live as long as the process, so scanning
them finds nothing. ``gc.freeze()`` moves them to the permanent generation, which
collections skip: later full collections walk only what was created since (the pattern
Airflow's LocalExecutor uses before it forks, and CPython documents for servers).

``settle`` runs once per process, after the first call through ``capacity.run`` returned
(by then the route's imports are done): one ``gc.collect()`` first, so no garbage is
frozen, then the freeze. That first request pays the collection once (~0.2 s; it already
pays seconds of imports). ``CANDLEFLOW_API_GC_FREEZE=0`` turns it off.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from candleflow import config

log = logging.getLogger(__name__)

ENV = "CANDLEFLOW_API_GC_FREEZE"
_lock = threading.Lock()
_done = False


def settle() -> None:
    """Collect, then freeze the heap, the first time it is called in this process."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        _done = True
        if not config.flag(ENV, True):
            return
        began = time.perf_counter()
        gc.collect()
        gc.freeze()
        log.info(
            "froze %d objects of the start-up heap in %.0f ms (%s=0 turns this off)",
            gc.get_freeze_count(),
            (time.perf_counter() - began) * 1000,
            ENV,
        )
