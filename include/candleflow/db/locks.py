"""Every lock the warehouse code takes, and the one place their keys are defined.

Advisory locks name a piece of work rather than a row, so two processes that would race on
it agree to take turns. Their keys live here so that no two ideas share a key by accident:

- single-bigint keys (``MIGRATIONS``, ``ROLLUP``, ``PARTITIONS``): one per job that runs
  alone on a database;
- two-int keys ``(instrument id, kind)``: one per instrument and kind of work, ``kind`` a
  stable crc32 of a name (``bars:<timeframe>``, ``ticks:collector``, ``actions``).
  PostgreSQL keeps the two-int space apart from the bigint one, so the families never
  collide; crc32 is the same in every process and version, unlike ``hash()``.

``lock_instruments`` is the other kind: a row lock (``FOR KEY SHARE``) that stands in for
the per-row foreign keys the fact tables dropped in migration 0005.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable

log = logging.getLogger(__name__)

MIGRATIONS = 7_214_001  # the migration runner: two `make up` at once migrate one at a time
ROLLUP = 7_214_002  # the BarManager: two rollups would split dirty minutes and race on buckets
PARTITIONS = 7_214_003  # partition maintenance: two would race to create the same partition


def _kind(name: str) -> int:
    """A stable signed int4 for ``name`` (the second half of a two-int key)."""
    value = zlib.crc32(f"candleflow.{name}".encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def series_key(instrument_id: int, timeframe: str) -> tuple[int, int]:
    """The key of one bar series (instrument x timeframe), see ``lock_series``."""
    return int(instrument_id), _kind(f"bars:{timeframe}")


def collector_key(instrument_id: int) -> tuple[int, int]:
    """The key of an instrument's live tick stream, see ``try_lock_collector``."""
    return int(instrument_id), _kind("ticks:collector")


def actions_key(instrument_id: int) -> tuple[int, int]:
    """The key of an instrument's corporate actions, see ``lock_actions``."""
    return int(instrument_id), _kind("actions")


def lock_actions(conn, instrument_id: int) -> None:
    """Until the transaction ends: a sync deriving an instrument's actions and an import of
    them would otherwise each delete what the other just wrote in a span they both replace."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", actions_key(instrument_id))


def lock_migrations(cur) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATIONS,))


def lock_partitions(cur) -> None:
    """Until the transaction ends: one creator of bar and tick partitions at a time."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITIONS,))


def lock_rollup(cur) -> None:
    """Until the transaction ends. Two rollups at once would each take half of the dirty
    minutes and then race on the shared higher-timeframe buckets; the second one waits."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP,))


def lock_series(conn, instrument_id: int, timeframe: str) -> None:
    """Hold the series' advisory lock until the caller's transaction ends.

    Prevents this race: a backfill and a scheduled run (or two overlapping backfills) load
    overlapping windows of the same instrument x timeframe at once. Without the lock both
    would stage and upsert the overlap concurrently, row locks would make one wait mid
    statement (or deadlock when their key orders differ), both audit rows would claim the
    same inserts, and the watermark could be set from a window whose bars the other run was
    still rewriting. With it, the second load waits and then sees the first one's rows as
    unchanged.
    """
    from candleflow.domain import Timeframe

    key = series_key(instrument_id, Timeframe.parse(timeframe).name)
    began = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", key)
    log.debug(
        "locked series %s %s (waited %.3fs)", instrument_id, timeframe, time.perf_counter() - began
    )


def try_lock_collectors(conn, instrument_ids: Iterable[int]) -> list[int]:
    """Take the collector lock of every instrument, or of none; returns the ids held elsewhere.

    A session lock (not a transaction one): it is held for the collector's whole run across
    its many flush transactions, and the server drops it when the session ends, so a killed
    collector never leaves an instrument locked. All or nothing, so two collectors of
    overlapping symbol lists cannot each hold half and wait for the other forever.
    """
    ids = sorted({int(i) for i in instrument_ids})
    held: list[int] = []
    busy: list[int] = []
    with conn.cursor() as cur:
        for iid in ids:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", collector_key(iid))
            (held if cur.fetchone()[0] else busy).append(iid)
        if busy:
            for iid in held:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", collector_key(iid))
    return busy


def unlock_collectors(conn, instrument_ids: Iterable[int]) -> None:
    with conn.cursor() as cur:
        for iid in sorted({int(i) for i in instrument_ids}):
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", collector_key(iid))


def collector_holders(conn, instrument_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Who holds each busy collector lock: (backend pid, ``backend pid N (name, since)``)."""
    keys = [collector_key(i) for i in sorted({int(i) for i in instrument_ids})]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT l.classid::int, a.pid, a.application_name, a.backend_start"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND (l.classid::int, l.objid::int) IN (SELECT * FROM unnest(%s::int[], %s::int[]))",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        return {
            iid: (
                pid,
                f"backend pid {pid} ({app or 'no application_name'}, since {since:%H:%M:%S})",
            )
            for iid, pid, app, since in cur.fetchall()
        }


def lock_instruments(conn, instrument_ids: Iterable[int]) -> None:
    """Check the instruments exist and keep them from being deleted until commit.

    The fact tables carry no per-row foreign key (migration 0005): this one statement per
    load is the check instead (``FOR KEY SHARE``: it blocks a delete or an id change, not
    an update of the instrument's metadata). An unknown id raises ``ValueError`` naming it.
    """
    wanted = sorted({int(i) for i in instrument_ids})
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM candleflow.instruments WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
            (wanted,),
        )
        found = {row[0] for row in cur.fetchall()}
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = missing[0] if len(missing) == 1 else missing
        raise ValueError(f"unknown instrument_id {shown}: insert the instrument first")
