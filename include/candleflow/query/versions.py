"""Data versions of instruments: the one read on every cached API request, kept cheap.

Why its own connections: the version is a one-row lookup, and ADBC's per-statement cost
(it describes the result, then streams it as COPY into Arrow) is what a million bars need
but about 2.5x the whole lookup here; psycopg2's plain protocol answers it in about a
millisecond. These are pooled like the ADBC ones: read-only sessions with the same
statement and connect timeouts (``pool.read_only_url``), at most ``pool.POOL_SIZE`` idle per
URL, a broken one replaced, none inherited across a fork.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from candleflow.query import pool

log = logging.getLogger(__name__)

# The query behind candleflow.query.bar_version: which database (a dropped and recreated
# one has a new oid), how the instrument trades (exchange, timezone) and the sum of its
# series versions, bumped by a trigger on every write to its bars (migration 0009).
VERSION_SQL = """
SELECT (SELECT oid FROM pg_database WHERE datname = current_database()) AS database,
       i.id, i.exchange, i.timezone, coalesce(sum(v.version), 0)::bigint AS version,
       count(v.version) AS series
FROM candleflow.instruments AS i
LEFT JOIN candleflow.series_versions AS v ON v.instrument_id = i.id
WHERE i.symbol = %s AND i.series_session = 'regular'
GROUP BY i.id, i.exchange, i.timezone
"""  # the regular series: what the API serves (an extended series is a row of its own)

_idle: dict[str, list[Any]] = {}
_lock = threading.Lock()
_pid = os.getpid()


def _checkout(url: str) -> Any:
    """An idle connection of ``url``, or a new one (few: one per concurrent caller)."""
    global _pid
    import psycopg2

    with _lock:
        if _pid != os.getpid():  # a forked child: the sockets are the parent's
            _idle.clear()
            _pid = os.getpid()
        idle = _idle.setdefault(url, [])
        if idle:
            return idle.pop()
    try:
        conn = psycopg2.connect(url)
    except psycopg2.OperationalError as exc:
        from candleflow.db.connection import unavailable

        raise unavailable(url, exc) from None
    conn.autocommit = True
    return conn


def _checkin(url: str, conn: Any, broken: bool) -> None:
    with _lock:
        idle = _idle.setdefault(url, [])
        if not broken and not conn.closed and len(idle) < pool.POOL_SIZE:
            idle.append(conn)
            return
    conn.close()


def _lookup(url: str, symbol: str) -> tuple | None:
    import psycopg2

    conn = _checkout(url)
    broken = False
    try:
        with conn.cursor() as cursor:
            cursor.execute(VERSION_SQL, (symbol,))
            row = cursor.fetchone()
        return tuple(row) if row else None
    except psycopg2.Error:
        broken = True
        raise
    finally:
        _checkin(url, conn, broken)


def _drop(url: str) -> None:
    with _lock:
        idle = _idle.pop(url, [])
    for conn in idle:
        conn.close()


def version(symbol: str, url: str | None = None) -> tuple | None:
    """``symbol``'s data version (see ``VERSION_SQL``); None for an unknown symbol. When a
    pooled connection is found broken (server restart, idle kill) the URL's idle ones are
    all dropped and the lookup runs once more, on a new one."""
    import psycopg2

    from candleflow.errors import DatabaseUnavailable

    resolved = pool.resolve(url)
    try:
        return _lookup(resolved, symbol)
    except psycopg2.OperationalError as exc:
        log.info("pooled version connection broken (%s); retrying on a new one", exc)
        _drop(resolved)
    try:
        return _lookup(resolved, symbol)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(f"version lookup failed: {str(exc).strip()}") from None
