"""The reader guard: limits of ``candleflow_reader`` that the role itself cannot lift.

What plain PostgreSQL (14 to 18) lets a role change about itself decides the design. Every
per-session limit is a user setting: the reader can ``SET statement_timeout = 0``, and even
``ALTER ROLE candleflow_reader [IN DATABASE ...] SET ...``, since any role may change its own
defaults. ``GRANT SET ON PARAMETER`` (15+) only governs superuser settings. And CONNECT on a
database is granted to PUBLIC, so a role cannot be kept out of one database alone.

So the role's defaults (``statement_timeout`` and ``idle_in_transaction_session_timeout``,
set by ``db migrate``) are the polite limit that well-behaved clients meet as a plain
"canceling statement due to statement timeout". The guard enforces them from outside the
role, every few seconds, as a role that may signal other backends (a superuser or a member
of ``pg_signal_backend``, and ``CREATEROLE`` on the reader):

- a reader statement running past the limit plus a grace, or a reader transaction idle past
  it, means the session lifted its own limit: it is terminated (``pg_terminate_backend``);
- a reader session in any database but the warehouse is terminated;
- the role's stored defaults are compared with the configured ones and re-imposed (the
  reader's own ``ALTER ROLE`` undone), with a warning.

The embedded server's other databases (``postgres``, ``template1``, ``airflow``) are ours, so
there CONNECT is revoked from PUBLIC as well (``confine``): the reader cannot even log in.
On a server of your own that is your call (or a ``pg_hba.conf`` line); the guard covers it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql

from candleflow.db import roles
from candleflow.db.connection import connect
from candleflow.errors import ConfigError, DatabaseUnavailable

log = logging.getLogger(__name__)

GRACE_S = 5.0  # past the limit: the server's own timeout normally cancels first
INTERVAL_S = 5.0
_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "": 0.001}  # bare: milliseconds

_OFFENDERS = """
SELECT pid, datname,
       CASE WHEN datname <> ALL(%(databases)s) THEN 'connected to another database'
            WHEN state LIKE 'idle in transaction%%' THEN 'idle in a transaction past the limit'
            ELSE 'a statement running past the limit' END AS reason
FROM pg_stat_activity
WHERE usesysid = %(role)s::regrole AND pid <> pg_backend_pid() AND (
    datname <> ALL(%(databases)s)
    OR (state NOT LIKE 'idle%%' AND query_start < now() - make_interval(secs => %(limit)s))
    OR (state LIKE 'idle in transaction%%'
        AND state_change < now() - make_interval(secs => %(limit)s)))
"""
_SETTINGS = """
SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting AS s
LEFT JOIN pg_database AS d ON d.oid = s.setdatabase
WHERE s.setrole = %s::regrole
"""


@dataclass(frozen=True)
class Stopped:
    """A reader session the guard terminated, and why."""

    pid: int
    database: str | None
    reason: str


def seconds(duration: str) -> float:
    """A PostgreSQL duration as ``roles.reader_limits`` accepts it (``60s``, ``300ms``) in s."""
    match = re.fullmatch(r"(\d+)\s*(ms|s|min|h)?", duration.strip())
    if match is None:
        raise ConfigError(f"{roles.TIMEOUT_ENV}={duration!r}; expected a duration like 60s")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def enforce(
    conn, databases: Sequence[str], *, timeout: str, grace: float = GRACE_S
) -> list[Stopped]:
    """Terminate the reader sessions that broke a limit (see the module docstring)."""
    params = {
        "role": roles.READER_ROLE,
        "databases": list(databases),
        "limit": seconds(timeout) + grace,
    }
    with conn.cursor() as cur:
        cur.execute(_OFFENDERS, params)
        offenders = [Stopped(*row) for row in cur.fetchall()]
        for found in offenders:
            cur.execute("SELECT pg_terminate_backend(%s)", (found.pid,))
            log.warning(
                "reader session %d in %s terminated: %s", found.pid, found.database, found.reason
            )
    return offenders


def expected_settings(timeout: str) -> list[str]:
    """The reader's defaults in the warehouse database, as ``pg_db_role_setting`` holds them."""
    return [f"statement_timeout={timeout}", f"idle_in_transaction_session_timeout={timeout}"]


def reimpose(conn, database: str, *, timeout: str, limit: int) -> bool:
    """Restore the reader's stored defaults if anyone (the reader) changed them; True then."""
    with conn.cursor() as cur:
        cur.execute(_SETTINGS, (roles.READER_ROLE,))
        stored = {name: sorted(config or []) for name, config in cur.fetchall()}
    if stored == {database: sorted(expected_settings(timeout))}:
        return False
    log.warning("reader defaults changed (%s); re-imposing them", stored)
    with conn.cursor() as cur:
        role = sql.Identifier(roles.READER_ROLE)
        cur.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(role))
        for name in stored.keys() - {"", database}:
            cur.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(role, sql.Identifier(name))
            )
    roles.set_reader_limits(conn, timeout, limit)
    return True


def confine(conn, databases: Sequence[str]) -> None:
    """Revoke CONNECT on ``databases`` from PUBLIC (only for a server that is ours)."""
    with conn.cursor() as cur:
        for name in databases:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                cur.execute(
                    sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                        sql.Identifier(name)
                    )
                )
    log.info("CONNECT revoked from PUBLIC on %s", ", ".join(databases))


def run(url: str, *, interval: float = INTERVAL_S, stop: threading.Event | None = None) -> None:
    """Guard the warehouse of ``url`` until ``stop`` is set, riding through restarts."""
    stop = stop or threading.Event()
    timeout, limit = roles.reader_limits()
    conn = None
    while not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = connect(url, autocommit=True, application_name="candleflow-reader-guard")
                with conn.cursor() as cur:
                    cur.execute("SELECT current_database()")
                    database = cur.fetchone()[0]
                log.info("guarding %s: limit %s (+%.0fs grace)", database, timeout, GRACE_S)
            reimpose(conn, database, timeout=timeout, limit=limit)
            enforce(conn, [database], timeout=timeout)
        except (DatabaseUnavailable, psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            log.warning("reader guard: warehouse unavailable (%s); retrying", exc)
            conn = _closed(conn)
        except psycopg2.errors.InsufficientPrivilege as exc:
            log.error(
                "reader guard cannot enforce (%s); run it as a superuser or grant "
                "pg_signal_backend and CREATEROLE to its role",
                str(exc).strip().splitlines()[0],
            )
        stop.wait(interval)
    _closed(conn)


def _closed(conn) -> None:
    if conn is not None and not conn.closed:
        conn.close()
