"""The one writer of ``candleflow.corporate_actions`` and ``corporate_action_checks``.

Like the bar writer it runs on the caller's connection and never commits, so a sync records
an instrument's actions in the transaction that loads its bars, and an import in one of its
own. Idempotent the same way: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE IS DISTINCT
FROM``, so writing the same actions again changes nothing, keeps their ``run_id`` and
``recorded_at``, and bumps no series version (a trigger bumps every series of the
instrument when an action really changes: an adjusted read changes with it).

Values are rounded to 12 significant digits before they are compared: a provider's factors
derived again from the same prices differ in the 16th digit, and that must not count as a
change.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NamedTuple

from psycopg2.extras import execute_values

from candleflow.adjustments import action_frame
from candleflow.db.locks import lock_actions

log = logging.getLogger(__name__)

_UPSERT = """
INSERT INTO candleflow.corporate_actions AS a
    (instrument_id, ex_date, kind, ratio, amount, reference_price, factor, source, run_id)
VALUES %s
ON CONFLICT (instrument_id, ex_date, kind) DO UPDATE SET
    ratio = EXCLUDED.ratio, amount = EXCLUDED.amount,
    reference_price = EXCLUDED.reference_price, factor = EXCLUDED.factor,
    source = EXCLUDED.source, run_id = EXCLUDED.run_id, recorded_at = now()
WHERE (a.ratio, a.amount, a.reference_price, a.factor, a.source)
      IS DISTINCT FROM (EXCLUDED.ratio, EXCLUDED.amount, EXCLUDED.reference_price,
                        EXCLUDED.factor, EXCLUDED.source)
RETURNING (xmax = 0)
"""
_DELETE_OTHERS = """
DELETE FROM candleflow.corporate_actions
WHERE instrument_id = %s AND ex_date BETWEEN %s AND %s
  AND (ex_date, kind) NOT IN (SELECT * FROM unnest(%s::date[], %s::text[]))
"""


class ActionCounts(NamedTuple):
    """What one write did to an instrument's actions."""

    inserted: int
    updated: int
    unchanged: int
    deleted: int

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


def _value(x: float) -> float | None:
    return None if x != x else float(f"{x:.12g}")  # NaN -> NULL


def upsert_actions(
    conn,
    instrument_id: int,
    actions: Any,
    *,
    source: str,
    run_id: str,
    replace: tuple[dt.date, dt.date] | None = None,
) -> ActionCounts:
    """Write ``actions`` (rows or a frame of ``ACTION_COLUMNS``) for one instrument.

    ``replace=(first, last)``: the actions are everything ``source`` knows for the ex-dates
    in ``[first, last]``, so stored ones in that span that are not among them are deleted
    (a provider that no longer reports an action). Serialised per instrument by an advisory
    lock, so two writers of one instrument's actions take turns.
    """
    frame = action_frame(actions)
    if not source:
        raise ValueError("source must name the provider or file the actions came from")
    lock_actions(conn, instrument_id)
    rows = [
        (
            instrument_id,
            r.ex_date,
            r.kind,
            _value(r.ratio),
            _value(r.amount),
            _value(r.reference_price),
            _value(r.factor),
            source,
            run_id,
        )
        for r in frame.itertuples(index=False)
    ]
    inserted = updated = deleted = 0
    with conn.cursor() as cur:
        if rows:
            flags = execute_values(cur, _UPSERT, rows, fetch=True)
            inserted = sum(1 for (fresh,) in flags if fresh)
            updated = len(flags) - inserted
        if replace is not None:
            cur.execute(
                _DELETE_OTHERS,
                (instrument_id, *replace, [r[1] for r in rows], [r[2] for r in rows]),
            )
            deleted = cur.rowcount
    counts = ActionCounts(inserted, updated, len(rows) - inserted - updated, deleted)
    log.info(
        "actions of instrument %s from %s: %d inserted, %d updated, %d unchanged, %d deleted",
        instrument_id,
        source,
        *counts,
    )
    return counts


def record_check(
    conn,
    instrument_id: int,
    *,
    provider: str,
    has_actions: bool,
    first: dt.date | None,
    last: dt.date | None,
    run_id: str,
    close: float | None = None,
    checked_at: dt.datetime | None = None,
) -> None:
    """Remember that ``provider``'s actions are known for the closed sessions
    ``[first, last]`` (``close``: the raw close of ``last``), as of ``checked_at`` (the
    run's clock; default: now).

    The span only grows (a check of recent sessions keeps an older start; the close goes
    with the newest end), and a provider that says an instrument has no actions clears it.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO candleflow.corporate_action_checks AS c
                (instrument_id, provider, has_actions, checked_from, checked_through,
                 checked_close, run_id, checked_at)
            VALUES (%(id)s, %(provider)s, %(has)s, %(first)s, %(last)s, %(close)s, %(run_id)s,
                    coalesce(%(checked_at)s, clock_timestamp()))
            ON CONFLICT (instrument_id) DO UPDATE SET
                provider = EXCLUDED.provider, has_actions = EXCLUDED.has_actions,
                checked_from = CASE WHEN c.provider = EXCLUDED.provider AND EXCLUDED.has_actions
                    THEN LEAST(c.checked_from, EXCLUDED.checked_from)
                    ELSE EXCLUDED.checked_from END,
                checked_through = CASE WHEN c.provider = EXCLUDED.provider
                                        AND EXCLUDED.has_actions
                    THEN GREATEST(c.checked_through, EXCLUDED.checked_through)
                    ELSE EXCLUDED.checked_through END,
                checked_close = CASE WHEN c.provider = EXCLUDED.provider
                                      AND EXCLUDED.has_actions
                                      AND c.checked_through > EXCLUDED.checked_through
                    THEN c.checked_close ELSE EXCLUDED.checked_close END,
                run_id = EXCLUDED.run_id, checked_at = EXCLUDED.checked_at
            """,
            {
                "id": instrument_id,
                "provider": provider,
                "has": has_actions,
                "first": first if has_actions else None,
                "last": last if has_actions else None,
                "close": close if has_actions else None,
                "run_id": run_id,
                "checked_at": checked_at,
            },
        )
