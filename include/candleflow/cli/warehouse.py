"""The warehouse a command writes to or reads from, its schema current before any work starts.

Which warehouse: the one policy of every front door (``candleflow.airflow.connections``):
the ``candleflow_warehouse`` Airflow connection when something could define it for this
shell (``AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE`` or a secrets backend), else
``CANDLEFLOW_DATABASE_URL``, else the embedded server.

Why before the work: sync used to fetch and validate, then die in the load with a traceback
(relation "candleflow.instruments" does not exist) on a fresh checkout. Now the schema is
checked first:

- On the embedded server (nothing configured: the default of a checkout) the command
  creates the database and applies pending migrations itself, as make up does, so a fresh
  clone works with no extra step.
- A configured server (CANDLEFLOW_DATABASE_URL or the candleflow_warehouse connection) is
  someone's database: changing its schema is an explicit step. The command stops before
  fetching anything and says which command to run.
"""

from __future__ import annotations

import logging

from candleflow.errors import MigrationError

log = logging.getLogger(__name__)


def is_embedded(url: str) -> bool:
    """Whether ``url`` is this checkout's embedded warehouse (the resolver fell through)."""
    from candleflow import config
    from candleflow.db import embedded

    return url == embedded.url(config.WAREHOUSE_DB)


def migrate_embedded(url: str) -> list[int]:
    """Create the embedded warehouse database if needed and apply pending migrations."""
    from candleflow.db import connection, migrate, roles

    connection.ensure_database(url)
    conn = connection.connect(url)
    try:
        applied = migrate.migrate(conn)
        if applied:
            roles.configure_reader_from_env(conn, default_password=embedded_reader_password())
    finally:
        conn.close()
    if applied:
        log.info("migrated the embedded warehouse: applied %s", applied)
    return applied


def embedded_reader_password() -> str:
    """The BI login's password on the embedded server (``stack.env.reader_password``)."""
    from candleflow.stack import env

    return env.reader_password()


def resolve(*, start_embedded: bool = True) -> str:
    """The warehouse under the one policy (the module docstring), schema unchecked."""
    from candleflow.airflow.connections import warehouse_url

    return warehouse_url(start_embedded=start_embedded)


def ready() -> str:
    """The warehouse URL, its schema at this code's version (see the module docstring)."""
    from candleflow.db import connection, migrate

    url = resolve()
    if is_embedded(url):
        migrate_embedded(url)
        return url
    conn = connection.connect(url)
    try:
        migrate.check_current(conn)
    except MigrationError as exc:
        raise MigrationError(
            f"{exc} against the configured warehouse {connection.describe(url)} "
            "(nothing was fetched or written)"
        ) from None
    finally:
        conn.close()
    return url


def known_symbol(symbol: str, url: str) -> None:
    """``UnknownInstrument`` unless the warehouse has ``symbol``, suggesting the closest
    stored symbols (case aside: ``nasdaq:aapl`` suggests ``NASDAQ:AAPL``)."""
    import difflib

    from candleflow import query
    from candleflow.errors import UnknownInstrument

    stored = [str(s) for s in query.instruments(url=url)["symbol"]]
    if symbol in stored:
        return
    by_upper = {s.upper(): s for s in stored}
    close = difflib.get_close_matches(symbol.upper(), list(by_upper), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(by_upper[c] for c in close)}?" if close else ""
    raise UnknownInstrument(
        f"unknown symbol {symbol!r}: the warehouse has no such instrument "
        f"({len(stored)} stored; {hint or 'see candleflow instruments list'})"
    )
