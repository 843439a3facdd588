"""Catch-up: a scheduled run loads from each series' watermark, not only its own interval.

Why: a scheduled run of ``ohlcv_<tf>`` used to load exactly its data interval, and the
history DAG loads a month once it has ended. After a backfill through November and
``ohlcv_1h`` unpaused on 8 December, 1-7 December stayed empty until January; a paused
DAG, a new deployment or an outage left the same hole. Airflow's own ``catchup`` would
create one run per missed interval (hundreds of 1m runs); instead the first scheduled run
loads the gap itself, in the same bounded slices as any long window.

The rule: a **scheduled** run (not a backfill, not a manual run with a ``start``) of the
interval ``(start, end]`` loads, for each series with a watermark (``sync_state.last_bar_ts``,
the newest bar ever loaded) older than ``start``, the window ``(watermark, start]`` too,
bounded by the provider's reach (``sync_state.reachable_start``: nothing older than that can
be served; what is still too old is audited ``out_of_window``). The bar at the watermark is
fetched again and counted unchanged, so the window needs no bar arithmetic. A series without
a watermark has no history to join: filling it is the history DAG's work (a backfill).

The catch-up slices are audited like any other with ``load_audit.catch_up`` true; the chunk's
result says per symbol where catching up started and how many bars it fetched.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from candleflow.db.audit import series_state

if TYPE_CHECKING:
    from candleflow.domain import Timeframe
    from candleflow.services.instruments import StoredInstrument

log = logging.getLogger(__name__)


def starts(
    conn, found: dict[str, StoredInstrument], tf: Timeframe, start: dt.datetime
) -> dict[str, dt.datetime]:
    """Where each series' catch-up starts, for the symbols whose watermark is before ``start``."""
    state = series_state(conn, [s.id for s in found.values()], tf.name)
    out: dict[str, dt.datetime] = {}
    for symbol, stored in found.items():
        last, reachable = state.get(stored.id, (None, None))
        if last is None:
            continue
        begin = max(last, reachable) if reachable is not None else last
        if begin < start:
            out[symbol] = begin
            log.info("catching up %s %s from its watermark %s to %s", symbol, tf, begin, start)
    return out
