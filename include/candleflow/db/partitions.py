"""Partitions of ``candleflow.bars`` and ``candleflow.ticks``: created ahead, DEFAULTs watched.

Migration 0022 partitions both tables (bars by timeframe, then by UTC month for 1m/3m/5m and
by UTC year for 15m..4h; ticks by UTC month) and lists the range-partitioned parents with
their period in ``candleflow.partition_layout``. A row whose period has no partition lands
in its parent's DEFAULT partition: nothing is lost, but the DEFAULT grows unpruned, and
PostgreSQL refuses to create a partition over rows sitting there. So:

- ``maintain`` (the ``warehouse_healthcheck`` DAG, each hour; ``candleflow db partitions``)
  creates the partitions of the current period and ``CANDLEFLOW_PARTITIONS_AHEAD`` months
  (default 3) ahead, and adopts what reached a DEFAULT: the partition of each period found
  there is created and those rows moved into it (``candleflow.ensure_partition``).
- ``cover`` is what writers of history call before their load transaction (a bar load, a
  tick file import, a rollup): the partitions of the months their rows fall in, so a
  backfill of 2005 never passes through a DEFAULT.
- ``default_rows`` is what the health check watches: rows in a DEFAULT mean a writer that
  did not cover its rows, or a partition that could not be created.

Each partition is created in a transaction of its own under an advisory lock, with a lock
timeout: creating a partition locks its parent exclusively for a moment, and a maintenance
that waits behind a long load fails (and is retried) rather than stall every load queued
behind it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from psycopg2 import sql

from candleflow import config
from candleflow.db import locks

log = logging.getLogger(__name__)

AHEAD_ENV = "CANDLEFLOW_PARTITIONS_AHEAD"
DEFAULT_AHEAD = 3
PARENTS = ("candleflow.bars", "candleflow.ticks")

_LAYOUT = "SELECT parent, period FROM candleflow.partition_layout ORDER BY parent"
_DEFAULTS = """
SELECT c.oid::regclass::text, p.relname
FROM pg_partition_tree(%s::regclass) AS t
JOIN pg_class AS c ON c.oid = t.relid
JOIN pg_class AS p ON p.oid = t.parentrelid
WHERE t.isleaf AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
ORDER BY 1
"""


def ahead_months() -> int:
    return config.integer(AHEAD_ENV, DEFAULT_AHEAD)


def layout(conn) -> dict[str, str]:
    """Range-partitioned parent (table name in schema candleflow) -> 'month' or 'year'."""
    with conn.cursor() as cur:
        cur.execute(_LAYOUT)
        return dict(cur.fetchall())


def default_partitions(conn) -> dict[str, str]:
    """Every DEFAULT partition (qualified name) -> its parent's table name."""
    found: dict[str, str] = {}
    with conn.cursor() as cur:
        for parent in PARENTS:
            cur.execute(_DEFAULTS, (parent,))
            found.update(cur.fetchall())
    return found


def default_rows(conn) -> dict[str, int]:
    """Rows in each DEFAULT partition that holds any; empty when all is well."""
    counts = {}
    with conn.cursor() as cur:
        for name in default_partitions(conn):
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(_ident(name)))
            (rows,) = cur.fetchone()
            if rows:
                counts[name] = int(rows)
    return counts


def missing(conn, now: dt.datetime | None = None) -> list[str]:
    """The partitions of the current period that do not exist (the maintenance creates
    them ahead; a missing one means it has not run or failed)."""
    at = now or dt.datetime.now(dt.UTC)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT l.parent || '_' || to_char(date_trunc(l.period, %s, 'UTC') AT TIME ZONE"
            " 'UTC', CASE l.period WHEN 'month' THEN 'YYYY_MM' ELSE 'YYYY' END)"
            " FROM candleflow.partition_layout AS l ORDER BY 1",
            (at,),
        )
        names = [f"candleflow.{row[0]}" for row in cur.fetchall()]
        cur.execute("SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NULL", (names,))
        return [row[0] for row in cur.fetchall()]


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))


def _months(start: dt.datetime, count: int) -> list[dt.datetime]:
    """The first instant of ``start``'s UTC month and of the ``count`` months after it."""
    index = start.year * 12 + start.month - 1
    starts = []
    for n in range(count + 1):
        year, month0 = divmod(index + n, 12)
        starts.append(dt.datetime(year, month0 + 1, 1, tzinfo=dt.UTC))
    return starts


def ensure(conn, parent: str, at: dt.datetime) -> bool:
    """The partition of ``candleflow.<parent>`` that holds ``at``; True when created now.

    Its own transaction (committed here), under the partitions lock and a lock timeout."""
    with conn, conn.cursor() as cur:
        locks.lock_partitions(cur)
        cur.execute("SET LOCAL lock_timeout = '30s'")
        cur.execute("SELECT candleflow.ensure_partition(%s, %s)", (parent, at))
        (created,) = cur.fetchone()
    if created:
        log.info("created the partition of candleflow.%s holding %s", parent, at.isoformat())
    return bool(created)


_MISSING_PERIODS = """
SELECT DISTINCT date_trunc(l.period, m, 'UTC')
FROM candleflow.partition_layout AS l, unnest(%(months)s::timestamptz[]) AS m
WHERE l.parent = %(parent)s
  AND to_regclass(format('candleflow.%%I', l.parent || '_' || to_char(
      date_trunc(l.period, m, 'UTC') AT TIME ZONE 'UTC',
      CASE l.period WHEN 'month' THEN 'YYYY_MM' ELSE 'YYYY' END))) IS NULL
ORDER BY 1
"""


def months_of(ts: Any) -> list[dt.datetime]:
    """The UTC months (their first instants) that a series of timestamps falls in."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(ts), utc=True).dropna()
    index = (stamps.dt.year * 12 + stamps.dt.month - 1).unique()  # any unit, any year
    return [dt.datetime(int(i) // 12, int(i) % 12 + 1, 1, tzinfo=dt.UTC) for i in sorted(index)]


def cover(conn, parent: str, months: Iterable[dt.datetime]) -> int:
    """Make sure ``candleflow.<parent>`` has the partitions of the rows about to be written,
    given as the UTC months they fall in (``months_of``); returns how many were created. A
    writer calls it before its load transaction, so a backfill of old history lands in
    partitions of its own rather than in a DEFAULT. Only periods that hold rows are created,
    never the gaps between them (a file of year-1 and 2024 ticks is two partitions).

    One catalogue read when they exist (the rule; nothing is committed then, and a parent
    that is not range-partitioned, e.g. ``bars_1d``, has nothing to cover). Creating one
    commits (``ensure``): call it where no work of the caller's is pending."""
    months = list(months)
    if not months:
        return 0
    with conn.cursor() as cur:
        cur.execute(_MISSING_PERIODS, {"parent": parent, "months": months})
        missing = [row[0] for row in cur.fetchall()]
    return sum(ensure(conn, parent, at) for at in missing)


def stray_periods(conn) -> list[tuple[str, dt.datetime]]:
    """(parent, period start) of every period that has rows in a DEFAULT partition."""
    periods = layout(conn)
    found = []
    with conn.cursor() as cur:
        for name, parent in default_partitions(conn).items():
            cur.execute(
                sql.SQL("SELECT DISTINCT date_trunc(%s, ts, 'UTC') FROM {} ORDER BY 1").format(
                    _ident(name)
                ),
                (periods[parent],),
            )
            found += [(parent, row[0]) for row in cur.fetchall()]
    return found


def maintain(conn, *, ahead: int | None = None, now: dt.datetime | None = None) -> dict:
    """Create the current and the next ``ahead`` months' partitions (the current and
    following year's where the period is a year), and adopt the rows found in DEFAULTs.

    Returns the partitions created, the periods adopted from DEFAULTs and the rows left
    there (what the health check then sees)."""
    ahead = ahead_months() if ahead is None else ahead
    if ahead < 0:
        raise ValueError(f"{AHEAD_ENV} must be 0 or more, got {ahead}")
    months = _months(now or dt.datetime.now(dt.UTC), ahead)
    with conn:
        parents = list(layout(conn))
        strays = stray_periods(conn)
    created = sum(ensure(conn, parent, at) for parent in parents for at in months)
    adopted = sum(ensure(conn, parent, at) for parent, at in strays)
    with conn:
        left = default_rows(conn)
    log.info(
        "partitions: %d created ahead, %d adopted from DEFAULT, DEFAULT rows left: %s",
        created,
        adopted,
        left or "none",
    )
    return {"created": created, "adopted": adopted, "default_rows": left}


def maintain_url(url: str, *, ahead: int | None = None) -> dict:
    """``maintain`` on a connection of its own to ``url``, after checking that the schema is
    the one this code expects (a clear ``MigrationError`` rather than a missing table)."""
    from candleflow.db import connection, migrate

    conn = connection.connect(url)
    try:
        migrate.check_current(conn)
        return maintain(conn, ahead=ahead)
    finally:
        conn.close()
