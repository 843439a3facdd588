"""Load bookkeeping: the ``sync_state`` watermark and reach, and the ``load_audit`` row.

Both run in the caller's transaction, beside the bars they describe, so a load and its
record become visible together or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from psycopg2 import sql
from psycopg2.extras import Json

from candleflow.domain import Timeframe

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of ``candleflow.load_audit``: what a load of one window saw and did."""

    run_id: str
    instrument_id: int | None
    symbol: str
    timeframe: str
    provider: str
    window_start: dt.datetime
    window_end: dt.datetime
    outcome: Literal["success", "failed", "rejected", "out_of_window"]
    started_at: dt.datetime
    clear_number: int | None = None  # the Airflow run's clear count (a retry keeps it)
    rows_fetched: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_out_of_reach: int = 0  # bars of the window older than the provider can serve
    catch_up: bool = False  # a scheduled run's slice between the watermark and its interval
    actions_recorded: int = 0  # corporate actions inserted, changed or removed by this load
    duration_s: float = 0.0
    error: str | None = None
    validation: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def advance_watermark(
    conn, instrument_id: int, timeframe: str, last_bar_ts: dt.datetime, *, run_id: str
) -> dt.datetime:
    """Move ``sync_state`` to ``last_bar_ts`` unless it is already later; returns the watermark.

    Never moves backwards (a backfill of old history must not rewind a live series), and a
    call that does not advance it does not rewrite the row.
    """
    if last_bar_ts.tzinfo is None:
        raise ValueError(f"last_bar_ts must be timezone-aware (UTC), got {last_bar_ts!r}")
    tf = Timeframe.parse(timeframe).name
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO candleflow.sync_state AS s (instrument_id, timeframe, last_bar_ts,
                                                    last_run_id, updated_at)
            VALUES (%s, %s, %s, %s, clock_timestamp())
            ON CONFLICT (instrument_id, timeframe) DO UPDATE
            SET last_bar_ts = GREATEST(s.last_bar_ts, excluded.last_bar_ts),
                last_run_id = excluded.last_run_id,
                updated_at = excluded.updated_at
            WHERE s.last_bar_ts IS NULL OR excluded.last_bar_ts > s.last_bar_ts
            RETURNING last_bar_ts
            """,
            (instrument_id, tf, last_bar_ts, run_id),
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "SELECT last_bar_ts FROM candleflow.sync_state"
                " WHERE instrument_id = %s AND timeframe = %s",
                (instrument_id, tf),
            )
            row = cur.fetchone()
    log.debug(  # the load's own "loaded ..." line says what matters; this is bookkeeping
        "watermark %s %s: %s (%s)",
        instrument_id,
        tf,
        row[0].isoformat(),
        "advanced" if row[0] == last_bar_ts else "kept",
    )
    return row[0]


def series_state(
    conn, instrument_ids: list[int], timeframe: str
) -> dict[int, tuple[dt.datetime | None, dt.datetime | None]]:
    """``(last_bar_ts, reachable_start)`` of each series that has a ``sync_state`` row."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT instrument_id, last_bar_ts, reachable_start FROM candleflow.sync_state"
            " WHERE timeframe = %s AND instrument_id = ANY(%s)",
            (Timeframe.parse(timeframe).name, list(instrument_ids)),
        )
        return {row[0]: (row[1], row[2]) for row in cur.fetchall()}


def record_reach(conn, instrument_id: int, timeframe: str, reachable_start: dt.datetime) -> None:
    """Keep the oldest bar the provider can serve for a series in ``sync_state``.

    A series that only ever had windows out of reach gets a row without a watermark
    (``last_bar_ts`` NULL). Unchanged values are not rewritten.
    """
    if reachable_start.tzinfo is None:
        raise ValueError(f"reachable_start must be timezone-aware (UTC), got {reachable_start!r}")
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO candleflow.sync_state AS s (instrument_id, timeframe, reachable_start,
                                                    updated_at)
            VALUES (%s, %s, %s, clock_timestamp())
            ON CONFLICT (instrument_id, timeframe) DO UPDATE
            SET reachable_start = excluded.reachable_start, updated_at = excluded.updated_at
            WHERE s.reachable_start IS DISTINCT FROM excluded.reachable_start
            """,
            (instrument_id, Timeframe.parse(timeframe).name, reachable_start),
        )


def write_audit(conn, record: AuditRecord) -> int:
    """Insert the ``load_audit`` row of one load; returns its id.

    ``finished_at`` is the wall clock at the call (``clock_timestamp()``), not the start of
    the transaction that ``now()`` would give.
    """
    values = record.as_dict()
    if values["validation"] is not None:
        values["validation"] = Json(values["validation"])
    names = list(values)
    query = sql.SQL(
        "INSERT INTO candleflow.load_audit ({}, finished_at) VALUES ({}, clock_timestamp())"
        " RETURNING id"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder(n) for n in names),
    )
    with conn.cursor() as cur:
        cur.execute(query, values)
        (audit_id,) = cur.fetchone()
    log.debug(  # INFO would repeat the load's own line once per symbol of a chunk
        "audit %d: %s %s %s %s (%d inserted, %d updated, %d unchanged)",
        audit_id,
        record.run_id,
        record.symbol,
        record.timeframe,
        record.outcome,
        record.rows_inserted,
        record.rows_updated,
        record.rows_unchanged,
    )
    return audit_id


def loaded_windows(
    conn,
    run_id: str,
    clear_number: int | None,
    timeframe: str,
    symbols,
    outcomes,
    session: str = "regular",
) -> set[tuple[str, dt.datetime, dt.datetime]]:
    """``(symbol, window_start, window_end)`` that this run (and clear number) already audited
    with one of ``outcomes`` for the ``session`` series of ``symbols``: what a retried chunk
    skips (a run may load a symbol's regular and extended series, kept apart here)."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT symbol, window_start, window_end FROM candleflow.load_audit AS a"
            " WHERE run_id = %s AND clear_number IS NOT DISTINCT FROM %s AND timeframe = %s"
            " AND symbol = ANY(%s) AND outcome = ANY(%s) AND coalesce((SELECT x.series_session"
            " FROM candleflow.instruments AS x WHERE x.id = a.instrument_id), 'regular') = %s",
            (run_id, clear_number, timeframe, list(symbols), list(outcomes), session),
        )
        return set(cur.fetchall())
