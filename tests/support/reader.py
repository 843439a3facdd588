"""The BI role ``candleflow_reader`` in tests: its password, its URL and plain row reads.

The ``reader`` fixture (``tests/integration/conftest.py``) connects as the role with the
password set the way ``db migrate`` does; the analytics, adjustments, compressed-warehouse
and API tests read through it or these helpers.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from candleflow.db import roles

READER_PASSWORD = "reader-test-secret"


def rows(db, sql: str, params=()) -> list[tuple]:
    """Every row of one query, in its own transaction."""
    with db, db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def reader_url(db_url: str) -> str:
    """``db_url`` with the reader role and its password in place of the owner."""
    parts = urlsplit(db_url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(
        netloc=f"{roles.READER_ROLE}:{quote(READER_PASSWORD, safe='')}@{host}"
    ).geturl()
