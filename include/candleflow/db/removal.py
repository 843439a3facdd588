"""Removing an instrument with everything stored about it, in one transaction.

Why: a mistyped symbol (``NASDAQ:APPL``) that a provider once accepted became a permanent
instrument that the freshness check then flagged forever. Removing it must leave no orphan
behind (a bar, a tick, a reject, an audit row, a watermark) and must be all or nothing.

Which rows: every table of schema ``candleflow`` that keys its rows by the instrument,
through an ``instrument_id`` column or, for the rows written before an instrument existed
(``load_audit``, ``rejected_bars``, ``rejected_ticks`` of a symbol the provider refused),
a ``symbol`` column. The tables are read from the catalogue, so a table added by a later
migration is covered without a change here; a partition is reached through its parent.
Bars and ticks go first: a trigger on bars records the change in ``series_versions``, which
is then removed with the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg2 import sql

log = logging.getLogger(__name__)

SCHEMA = "candleflow"
FACTS = ("bars", "ticks")

_KEYED_TABLES = """
SELECT c.relname, a.attname
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND NOT a.attisdropped
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname <> 'instruments' AND a.attname IN ('instrument_id', 'symbol')
ORDER BY c.relname, a.attname
"""


def remove_instrument(conn: Any, symbol: str) -> dict[str, int] | None:
    """Delete ``symbol``'s instrument and every row keyed by it; the rows deleted per table
    (``instruments`` included), or None when the warehouse has neither the instrument nor
    any row of that symbol. Runs in the caller's transaction: commit or roll back there.

    The instrument's row is locked first (``FOR UPDATE``), so a load of it that starts
    meanwhile waits for this transaction (loads take ``FOR KEY SHARE`` on it) instead of
    writing bars that the delete would miss.
    """
    with conn.cursor() as cur:
        # every series of the symbol: its regular row and, if any, its extended-hours row
        cur.execute(
            "SELECT id FROM candleflow.instruments WHERE symbol = %s ORDER BY id FOR UPDATE",
            (symbol,),
        )
        ids = [row[0] for row in cur.fetchall()]
        instrument_id = ids or None
        cur.execute(_KEYED_TABLES, (SCHEMA,))
        keyed: dict[str, list[str]] = {}
        for table, column in cur.fetchall():
            keyed.setdefault(table, []).append(column)
        counts: dict[str, int] = {}
        # The facts first: deleting bars bumps series_versions (a trigger), which goes next.
        for table, columns in sorted(keyed.items(), key=lambda kv: (kv[0] not in FACTS, kv[0])):
            where, values = _match(columns, instrument_id, symbol)
            if where is None:
                continue
            statement = sql.SQL("DELETE FROM {}.{} WHERE ").format(
                sql.Identifier(SCHEMA), sql.Identifier(table)
            )
            cur.execute(statement + where, values)
            if cur.rowcount:
                counts[table] = cur.rowcount
        if instrument_id is not None:
            cur.execute("DELETE FROM candleflow.instruments WHERE id = ANY(%s)", (ids,))
            counts["instruments"] = cur.rowcount
    if instrument_id is None and not counts:
        return None
    log.info("removed %s: %s", symbol, ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
    return counts


def _match(
    columns: list[str], instrument_ids: list[int] | None, symbol: str
) -> tuple[sql.Composable | None, tuple]:
    """The WHERE clause that selects the instrument's rows of a table with ``columns``."""
    parts, values = [], []
    if "instrument_id" in columns and instrument_ids is not None:
        parts.append(sql.SQL("instrument_id = ANY(%s)"))
        values.append(instrument_ids)
    if "symbol" in columns:
        parts.append(sql.SQL("symbol = %s"))
        values.append(symbol)
    if not parts:
        return None, ()
    return sql.SQL(" OR ").join(parts), tuple(values)
