"""The one writer of ``candleflow.bars``, in the three modes its callers need.

- ``upsert_bars``: a frame of bars from a provider (the sync service) or any caller;
- ``upsert_rollup``: the bars a rollup level computed into its scratch table ``_rollup_bars``
  (the ``BarManager`` plans the level, ``managers.rollup_sql`` computes it, this writes it);
- ``fill_gaps``: flat ``filled`` bars for the empty intervals around what a rollup changed.

Every function runs on the caller's psycopg2 connection or cursor and never commits: the
sync service runs ``lock_series``, ``upsert_bars`` and the audit writes in one transaction per
instrument x window, the rollup runs all its levels in one.

Idempotence, the same in every mode: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE (old values)
IS DISTINCT FROM (new values)``. A bar whose values did not change is skipped by that WHERE, so
it keeps its ``loaded_at``, its ``run_id`` and its tuple (no dead tuple, no WAL), and
``RETURNING (xmax = 0)`` tells a fresh insert from an update: exact counts, unchanged =
staged - inserted - updated.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Literal, NamedTuple

from psycopg2 import sql

from candleflow import frames
from candleflow.db import bars_sql, bulk, compaction
from candleflow.db.locks import lock_instruments, lock_series
from candleflow.domain import BARS, SOURCES, Timeframe, pg_types

log = logging.getLogger(__name__)

__all__ = ["LoadCounts", "fill_gaps", "lock_series", "upsert_bars", "upsert_rollup"]

BAR_STAGE_COLUMNS = {**pg_types(BARS), "filled": "bool"}  # types from the one spec
_BARS = sql.Identifier("candleflow", "bars")


class LoadCounts(NamedTuple):
    """What one write did; the three always add up to the rows offered."""

    inserted: int
    updated: int
    unchanged: int


def _bar_frame(bars: Any) -> Any:
    """The frame to stage: a ``filled`` column (default False) and one row per ``ts``.

    ON CONFLICT DO UPDATE refuses to touch a row twice in one statement, so a duplicated
    ``ts`` keeps its last row (the provider's latest word), with a warning. Validated bars
    never have one (``unique_ts``), so the look is one pass over the canonical ``ts``
    (``frames.duplicated_ts``), not a hash of every timestamp.
    """
    bars = bulk.as_pandas(bars)
    if "filled" not in bars.columns:
        bars = bars.assign(filled=False)
    elif bars["filled"].hasnans:
        bars = bars.assign(filled=bars["filled"].fillna(False).astype(bool))
    if frames.duplicated_ts(frames.ts_micros(bars["ts"])).any():
        before = len(bars)
        bars = bars.drop_duplicates("ts", keep="last")
        log.warning("dropped %d duplicated ts before upsert", before - len(bars))
    return bars


def upsert_bars(
    conn,
    instrument_id: int,
    timeframe: str,
    bars: Any,
    *,
    run_id: str,
    source: Literal["provider", "rollup"] = "provider",
    reason: str | None = None,
) -> LoadCounts:
    """Insert new bars, update changed ones, leave equal ones untouched; exact counts.

    ``bars`` has ``BAR_COLUMNS`` (``ts`` as ``datetime64[us, UTC]``, NaN volume = NULL) and
    optionally ``filled``. Runs in the caller's transaction, which should hold
    ``lock_series``; a CHECK violation raises ``psycopg2.IntegrityError`` and the caller's
    rollback discards the whole window.

    Two paths, one result. When the series has no row in ``[first ts, last ts]`` (a backfill
    of new history, the common large load) the frame is COPYed straight into ``bars``:
    nothing can conflict, and COPY (batched heap writes, no staging, no speculative
    insertion) beat ``INSERT ... ON CONFLICT`` of the same rows here (17 s against 23 s for
    1M rows, when bars still had a per-row FK, since dropped by migration 0005). Otherwise
    the frame is staged and merged (``_merge``). The emptiness check is only race-free
    under ``lock_series`` in READ COMMITTED; without it a concurrent writer of the same bars
    makes this COPY fail with a unique violation (a retry, never a duplicate).

    Every bar the merge changes keeps its old values in ``bar_revisions`` (a trigger,
    migration 0017), with ``reason`` ('re-adjustment' for a re-adjusting re-sync; default:
    'provider correction').
    """
    tf = Timeframe.parse(timeframe).name
    if source not in SOURCES:
        raise ValueError(f"bad source {source!r}; expected one of {', '.join(SOURCES)}")
    frame = _bar_frame(bars)
    if frame.empty:
        return LoadCounts(0, 0, 0)
    # bars of compressed months are merged into their segments (counted in ``closed``)
    frame, closed = compaction.merge_closed(conn, instrument_id, tf, source, frame, run_id=run_id)
    if frame.empty:
        return LoadCounts(*closed)
    began = time.perf_counter()
    key = {"instrument_id": instrument_id, "timeframe": tf, "source": source}
    bounds = {"lo": frame["ts"].min().to_pydatetime(), "hi": frame["ts"].max().to_pydatetime()}
    lock_instruments(conn, [instrument_id])  # once per load, not a per-row FK
    with conn.cursor() as cur:
        cur.execute(bars_sql.SERIES_OVERLAPS, key | bounds)
        (overlaps,) = cur.fetchone()
    if overlaps:
        with conn.cursor() as cur:  # read by the revisions trigger, for this transaction
            cur.execute(bars_sql.REVISION_REASON, {"reason": reason or ""})
        inserted, updated = _merge(conn, frame, key | bounds | {"run_id": run_id})
        path = "merge"
    else:
        constants = key | {"run_id": run_id}
        inserted = bulk.copy_frame(conn, _BARS, frame, BAR_STAGE_COLUMNS, constants)
        updated, path = 0, "copy"
    counts = LoadCounts(
        inserted + closed[0], updated + closed[1], len(frame) - inserted - updated + closed[2]
    )
    log.debug(  # the sync's "loaded ..." line says the same per slice
        "upserted %s %s %s (%s): %d inserted, %d updated, %d unchanged in %.3fs",
        instrument_id,
        tf,
        source,
        path,
        *counts,
        time.perf_counter() - began,
    )
    return counts


def _merge(conn, frame: Any, params: dict[str, Any]) -> tuple[int, int]:
    """Stage ``frame`` and merge it into ``bars``; returns (inserted, updated)."""
    with (
        bulk.staged(conn, "cf_stage_bars", frame, BAR_STAGE_COLUMNS) as stage,
        conn.cursor() as cur,
    ):
        cur.execute(sql.SQL("ANALYZE {}").format(stage))  # a real row count for the join
        cur.execute(bars_sql.merge_frame(stage), params)
        return cur.fetchone()


class RollupCounts(NamedTuple):
    """One rollup level: bars computed, and how many of them were inserted or updated."""

    built: int
    inserted: int
    updated: int


def upsert_rollup(cur, timeframe: str, *, run_id: str) -> RollupCounts:
    """Write ``_rollup_bars`` as ``timeframe`` rollup bars; unchanged bars are not rewritten.

    The bars actually written (inserted or changed) are left in ``_rollup_written`` for the
    planner to mark the buckets built from them, and their per-instrument range is appended
    to ``_rollup_changed`` (what ``fill_gaps`` refills). ``_rollup_bars`` is dropped.
    """
    tf = Timeframe.parse(timeframe).name
    cur.execute(bars_sql.UPSERT_ROLLUP, {"tf": tf, "run_id": run_id})
    built, inserted, updated = cur.fetchone()
    cur.execute("DROP TABLE _rollup_bars")
    log.debug("rollup %s: %d built, %d inserted, %d updated", tf, built, inserted, updated)
    return RollupCounts(built, inserted, updated)


def fill_gaps(cur, tf: Timeframe, *, run_id: str, now: dt.datetime) -> int:
    """Insert or refresh the filled ``tf`` bars around this rollup's changes; returns rows.

    An empty intraday interval between two real rollup bars of an instrument gets open =
    high = low = close = the previous real close, volume 0, ``filled = true``; only the
    stretch around ``_rollup_changed`` is (re)filled, so the cost follows the new ticks.
    """
    if not tf.intraday:
        raise ValueError(f"filled bars are intraday only, got {tf}")
    step = dt.timedelta(minutes=tf.minutes)
    cur.execute(bars_sql.FILL_GAPS, {"tf": tf.name, "step": step, "run_id": run_id, "now": now})
    if cur.rowcount:
        log.info("rollup %s: %d filled %s bars written", run_id, cur.rowcount, tf)
    return cur.rowcount
