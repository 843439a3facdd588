"""Pooled, read-only ADBC connections for ``candleflow.query``.

Why a pool: opening an ADBC PostgreSQL connection costs ~100 ms here (the driver reads the
server's type catalogue on connect) while a year of 1h bars reads in a few ms, so a
connection per call made the API ~20x slower than its query. ADBC connections are not
thread-safe, so this is a checkout/return pool: each call holds one connection alone.

- **Keyed by URL**, at most ``POOL_SIZE`` connections per URL in use at once (a caller
  beyond that waits: more concurrent readers than that only queue inside PostgreSQL on a
  small machine), the least recently used URLs beyond ``MAX_URLS`` closed (tests make a
  database per test).
- **Bounded**: every session has a ``statement_timeout`` (``CANDLEFLOW_QUERY_STATEMENT_TIMEOUT``,
  default 30s: a statement past it is cancelled by the server and raises ``QueryTimeout``)
  and every connect a ``connect_timeout`` (``CANDLEFLOW_QUERY_CONNECT_TIMEOUT``, default
  10 s), so a read can neither run nor wait for a server forever (the API runs inside
  Airflow's api-server). Any libpq DSN works: URL or ``key=value`` keywords.
- **Read-only and autocommit**: every session has ``default_transaction_read_only=on``;
  autocommit so an idle pooled connection never sits "idle in transaction" holding locks
  that would block a migration. (Each statement already saw its own snapshot before, under
  READ COMMITTED, so results are unchanged.)
- **Broken connections are replaced**: a connection that raised a database error is closed,
  not returned. ``run`` retries the whole (read-only, so idempotent) work once on a fresh
  connection when a *reused* one fails with an I/O error (server restart, idle timeout,
  ``pg_terminate_backend``), and drops the URL's other idle connections, likely dead too.
- **Closed at interpreter exit**; a forked child starts with an empty pool and never
  touches its parent's sockets.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

from candleflow import config
from candleflow.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
POOL_SIZE = config.integer("CANDLEFLOW_QUERY_POOL_SIZE", 8)
MAX_URLS = 8
CHECKOUT_TIMEOUT_S = 30.0


STATEMENT_TIMEOUT = config.setting("CANDLEFLOW_QUERY_STATEMENT_TIMEOUT", "30s")
CONNECT_TIMEOUT_S = config.integer("CANDLEFLOW_QUERY_CONNECT_TIMEOUT", 10)
QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled by statement_timeout


class QueryTimeout(DatabaseUnavailable):
    """A read ran past the statement timeout and the server cancelled it. Transient for a
    retry loop; the API answers 503 and names the timeout, never the statement."""


@lru_cache(maxsize=64)
def read_only_url(url: str) -> str:
    """The DSN (URL or keywords, parsed by libpq) with a read-only, time-bounded session,
    a connect timeout and an application name for pg_stat_activity, as libpq keywords."""
    from psycopg2.extensions import make_dsn, parse_dsn

    parts = parse_dsn(url)
    options = (
        f"{parts.get('options', '')} -c default_transaction_read_only=on"
        f" -c statement_timeout={STATEMENT_TIMEOUT}"
    ).strip()
    parts.update(
        options=options,
        application_name="candleflow-query",
        connect_timeout=parts.get("connect_timeout") or str(CONNECT_TIMEOUT_S),
    )
    return make_dsn(**parts)


_resolved: dict[tuple[Any, ...], str] = {}
_resolver: list[Callable[[], str]] = []  # set by use_resolver; empty: db.connection's


def use_resolver(resolver: Callable[[], str]) -> None:
    """Resolve the warehouse (``url=None``) with ``resolver`` from now on.

    Why a seam: the query layer never imports Airflow, but the HTTP API, served by Airflow's
    api-server, must honour the ``candleflow_warehouse`` connection like every other front
    door; it installs ``candleflow.airflow.connections.warehouse_url`` here before its first
    read. Without it, ``candleflow.db.connection.warehouse_url`` decides (the environment,
    else the embedded server): a notebook's case.
    """
    _resolver[:] = [resolver]
    _resolved.clear()


def resolve(url: str | None) -> str:
    """The read-only URL for ``url`` (None: the warehouse), resolved once per setting.

    Resolving may ask Airflow or check (and start) the embedded server: too slow per call.
    The answer is cached against the environment variables that decide it, so a changed
    setting (tests do) is seen at once; a failed connect drops it (``_connect``).
    """
    if url:
        return read_only_url(url)
    key = (
        config.setting(config.DATABASE_URL_ENV),
        config.setting("AIRFLOW_CONN_" + config.WAREHOUSE_CONN_ID.upper()),
        *_resolver,
    )
    found = _resolved.get(key)
    if found is None:
        if _resolver:
            found = read_only_url(_resolver[0]())
        else:
            from candleflow.db.connection import warehouse_url

            found = read_only_url(warehouse_url())
        _resolved[key] = found
    return found


class _Slot:
    """The connections of one URL: a bound on those in use, and the idle ones."""

    def __init__(self, size: int) -> None:
        self.gate = threading.BoundedSemaphore(size)
        self.idle: list[Any] = []


class Pool:
    """Checkout/return pool of ADBC connections, keyed by (read-only) URL."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._pid = os.getpid()

    def _slot(self, url: str) -> _Slot:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the sockets are the parent's
                self._slots, self._pid = OrderedDict(), os.getpid()
            slot = self._slots.get(url)
            if slot is None:
                slot = self._slots[url] = _Slot(self._size)
            self._slots.move_to_end(url)
            extra = len(self._slots) - MAX_URLS
            evicted = [self._slots.popitem(last=False)[1] for _ in range(extra)]
        for old in evicted:
            _close_all(old.idle)
        return slot

    @contextlib.contextmanager
    def connection(self, url: str) -> Iterator[tuple[Any, bool]]:
        """``(connection, reused)`` held alone until the block ends; closed on a DB error."""
        import adbc_driver_manager

        slot = self._slot(url)
        if not slot.gate.acquire(timeout=CHECKOUT_TIMEOUT_S):
            raise DatabaseUnavailable(f"no free warehouse connection in {CHECKOUT_TIMEOUT_S}s")
        try:
            with self._lock:
                conn = slot.idle.pop() if slot.idle else None
            reused = conn is not None
            conn = conn or _connect(url)
            healthy = False
            try:
                yield conn, reused
                healthy = True
            except BaseException as exc:
                # A database error may have left it broken; any other error is the caller's.
                healthy = not isinstance(exc, adbc_driver_manager.Error)
                raise
            finally:
                if healthy:
                    with self._lock:
                        slot.idle.append(conn)
                else:
                    _close_all([conn])
        finally:
            slot.gate.release()

    def run(self, url: str, work: Callable[[Any], T]) -> T:
        """``work(cursor)``, retried once on a fresh connection if a reused one is broken;
        a statement cancelled by the timeout raises ``QueryTimeout`` (never retried)."""
        import adbc_driver_manager

        try:
            return self._run(url, work)
        except adbc_driver_manager.OperationalError as exc:
            if getattr(exc, "sqlstate", None) != QUERY_CANCELED:
                raise
        raise QueryTimeout(
            f"the query ran past the statement timeout ({STATEMENT_TIMEOUT}) and was "
            "cancelled; ask for less (a shorter window, a coarser timeframe)"
        )

    def _run(self, url: str, work: Callable[[Any], T]) -> T:
        import adbc_driver_manager

        reused = False
        try:
            with self.connection(url) as (conn, reused), conn.cursor() as cursor:
                return work(cursor)
        except adbc_driver_manager.OperationalError as exc:
            if not reused or getattr(exc, "sqlstate", None) == QUERY_CANCELED:
                raise
            log.info("pooled warehouse connection broken (%s); retrying on a new one", exc)
            self.discard(url)
        with self.connection(url) as (conn, _), conn.cursor() as cursor:
            return work(cursor)

    def discard(self, url: str) -> None:
        """Close the idle connections of ``url`` (after one of them turned out dead)."""
        with self._lock:
            slot = self._slots.get(url)
            idle, slot.idle[:] = (list(slot.idle), []) if slot else ([], [])
        _close_all(idle)

    def close(self) -> None:
        """Close every idle connection (at interpreter exit, and for tests)."""
        with self._lock:
            slots, self._slots = list(self._slots.values()), OrderedDict()
            mine = self._pid == os.getpid()
        for slot in slots if mine else []:
            _close_all(slot.idle)


def _connect(url: str) -> Any:
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    from candleflow.db.connection import describe

    try:
        return adbc.connect(url, autocommit=True)
    except adbc_driver_manager.OperationalError as exc:
        _resolved.clear()  # re-resolve next time: the embedded server may need a start
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = describe(url)
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {where}: {reason}") from None


def _close_all(connections: list[Any]) -> None:
    import adbc_driver_manager

    for conn in connections:
        try:
            conn.close()
        except adbc_driver_manager.Error as exc:  # already dead: nothing left to release
            log.debug("closing a pooled connection: %s", exc)


POOL = Pool()
atexit.register(POOL.close)
