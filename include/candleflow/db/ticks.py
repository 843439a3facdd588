"""The one writer of ``candleflow.ticks`` (and of its stream sequence, ``tick_streams``).

A tick is immutable once seen: a replayed one (same ``(instrument, ts, seq)``) is a
duplicate, never an update. Who assigns the key:

- a file import numbers the ticks sharing a ``ts`` 0, 1, 2... in file order
  (``validation.ticks.assign_seq``): the same on every import, so a re-import inserts nothing;
- the live stream continues the instrument's sequence (``stream_positions`` /
  ``advance_streams``), from ``STREAM_SEQ_BASE`` on, under the instrument's collector lock.

Every insert, whatever its path, marks the minutes it touches for the rollup (the trigger of
migration 0002), so the bars of any tick of any age are rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql
from psycopg2.errors import UniqueViolation
from psycopg2.extras import execute_values

from candleflow.db.bulk import TICK_COLUMNS, as_pandas, copy_frame, staged
from candleflow.db.locks import lock_instruments

log = logging.getLogger(__name__)

STREAM_SEQ_BASE = 1 << 32  # above every per-timestamp ordinal an import assigns
_TICKS = sql.Identifier("candleflow", "ticks")


def insert_ticks(
    conn, instrument_id: int | None, ticks: Any, *, run_id: str, source: str = "provider"
) -> tuple[int, int]:
    """Append ticks, ignoring ones already stored; returns (inserted, duplicates).

    ``ticks`` has ``TICK_COLUMNS`` (``seq`` defaults to 0); ``instrument_id=None`` takes it
    from the frame's ``instrument_id`` column, so a batch of many instruments (the
    collector's) is one COPY. In the caller's transaction.

    New ticks are the rule, so the batch is COPYed straight into ``ticks`` (no staging
    table: ~30% less server time per tick); a batch holding a stored key pays that failed
    COPY once, then goes through a staged ``INSERT ... ON CONFLICT DO NOTHING`` that counts
    the duplicates exactly.
    """
    frame = as_pandas(ticks)
    if frame.empty:
        return 0, 0
    if "seq" not in frame.columns:
        frame = frame.assign(seq=0)
    if instrument_id is not None:
        frame = frame.assign(instrument_id=int(instrument_id))
    lock_instruments(conn, frame["instrument_id"].unique())
    columns = {"instrument_id": "int4", **TICK_COLUMNS}
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT cf_ticks_copy")
    try:
        inserted = copy_frame(conn, _TICKS, frame, columns, {"source": source, "run_id": run_id})
    except UniqueViolation:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT cf_ticks_copy")
        inserted = _insert_new(conn, frame, columns, run_id=run_id, source=source)
    else:
        with conn.cursor() as cur:
            cur.execute("RELEASE SAVEPOINT cf_ticks_copy")
    duplicates = len(frame) - inserted
    log.info("ticks batch: %d inserted, %d duplicates", inserted, duplicates)
    return inserted, duplicates


def _insert_new(conn, frame: Any, columns: Mapping[str, str], *, run_id: str, source: str) -> int:
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    with staged(conn, "cf_stage_ticks", frame, columns) as stage:
        query = sql.SQL(
            "INSERT INTO candleflow.ticks ({names}, source, run_id)"
            " SELECT {names}, %s, %s FROM {stage}"
            " ON CONFLICT (instrument_id, ts, seq) DO NOTHING"
        ).format(names=names, stage=stage)
        with conn.cursor() as cur:
            cur.execute(query, (source, run_id))
            return cur.rowcount


@dataclass(frozen=True)
class StreamPosition:
    """Where an instrument's live stream resumes: its next ``seq``, and the identity
    ``(ts in microseconds, price, day_volume, bid, ask)`` of its newest stored ticks (a
    provider re-sends the last trade as the snapshot of each new subscription)."""

    next_seq: int
    recent: frozenset[tuple]
    newest_us: int | None


def stream_positions(
    conn, instrument_ids: Iterable[int], *, recent: int = 4096
) -> dict[int, StreamPosition]:
    """The ``StreamPosition`` of each instrument; read under its collector lock."""
    ids = sorted({int(i) for i in instrument_ids})
    with conn.cursor() as cur:
        cur.execute(
            "SELECT instrument_id, last_seq FROM candleflow.tick_streams"
            " WHERE instrument_id = ANY(%s)",
            (ids,),
        )
        last = dict(cur.fetchall())
        cur.execute(
            "SELECT i.id, (extract(epoch FROM k.ts) * 1000000)::bigint, k.price, k.day_volume,"
            " k.bid, k.ask FROM unnest(%s::int[]) AS i(id) CROSS JOIN LATERAL ("
            " SELECT t.ts, t.seq, t.price, t.day_volume, t.bid, t.ask FROM candleflow.ticks t"
            " WHERE t.instrument_id = i.id ORDER BY t.ts DESC, t.seq DESC LIMIT %s) k",
            (ids, recent),
        )
        keys: dict[int, set[tuple]] = {i: set() for i in ids}
        for iid, *key in cur.fetchall():
            keys[iid].add(tuple(key))
    return {
        iid: StreamPosition(
            next_seq=max(last.get(iid, 0), STREAM_SEQ_BASE - 1) + 1,
            recent=frozenset(keys[iid]),
            newest_us=max((k[0] for k in keys[iid]), default=None),
        )
        for iid in ids
    }


def advance_streams(conn, last_seqs: Mapping[int, int], *, run_id: str) -> None:
    """Record the last ``seq`` stored per instrument, in the batch's transaction."""
    if not last_seqs:
        return
    with conn.cursor() as cur:
        execute_values(
            cur,
            "INSERT INTO candleflow.tick_streams AS s (instrument_id, last_seq, run_id)"
            " VALUES %s ON CONFLICT (instrument_id) DO UPDATE"
            " SET last_seq = greatest(s.last_seq, EXCLUDED.last_seq),"
            " run_id = EXCLUDED.run_id, updated_at = now()",
            [(int(i), int(s), run_id) for i, s in last_seqs.items()],
        )
