"""Appending ticks: a tick is immutable once seen, so a replayed one is a duplicate.

The fact tables carry no per-row foreign key to ``instruments`` (migration 0005); every load
checks its instruments once, here, with ``lock_instruments``.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg2 import sql

from candleflow.db.bulk import TICK_COLUMNS, _as_pandas, staged

log = logging.getLogger(__name__)


def lock_instruments(conn, instrument_ids) -> None:
    """Check the instruments exist and keep them from being deleted until commit.

    The fact tables carry no per-row foreign key (migration 0005): this one statement per
    load is the check instead. An unknown id raises ``ValueError`` naming it.
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
        raise ValueError(f"unknown instrument_id {missing}: insert the instruments first")


def insert_ticks(
    conn, instrument_id: int | None, ticks: Any, *, run_id: str, source: str = "provider"
) -> tuple[int, int]:
    """Append ticks, ignoring ones already stored; returns (inserted, duplicates).

    A tick is immutable once seen, so a replayed tick (same ``ts`` and ``seq``) is a
    duplicate, not an update. ``seq`` defaults to 0 when the frame has none.
    ``instrument_id=None`` takes it from the frame's ``instrument_id`` column, so a batch of
    many instruments (the collector's) is one COPY and one INSERT.
    """
    frame = _as_pandas(ticks)
    if "seq" not in frame.columns:
        frame = frame.assign(seq=0)
    if frame.empty:
        return 0, 0
    value_columns = [c for c in TICK_COLUMNS if c not in ("ts", "seq")]
    per_row = instrument_id is None
    lock_instruments(conn, frame["instrument_id"].unique() if per_row else [instrument_id])
    columns = {"instrument_id": "int8", **TICK_COLUMNS} if per_row else TICK_COLUMNS
    with staged(conn, "cf_stage_ticks", frame, columns) as stage:
        query = sql.SQL(
            "INSERT INTO candleflow.ticks (instrument_id, ts, seq, {values}, source, run_id)"
            " SELECT {instrument}, ts, seq, {values}, %s, %s FROM {stage}"
            " ON CONFLICT (instrument_id, ts, seq) DO NOTHING"
        ).format(
            instrument=sql.Identifier("instrument_id") if per_row else sql.Placeholder(),
            values=sql.SQL(", ").join(map(sql.Identifier, value_columns)),
            stage=stage,
        )
        params = (source, run_id) if per_row else (instrument_id, source, run_id)
        with conn.cursor() as cur:
            cur.execute(query, params)
            inserted = cur.rowcount
    duplicates = len(frame) - inserted
    log.info(
        "ticks %s: %d inserted, %d duplicates",
        "batch" if per_row else instrument_id,
        inserted,
        duplicates,
    )
    return inserted, duplicates
