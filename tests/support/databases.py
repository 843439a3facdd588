"""Whole databases on the test server: created (optionally from a template) and dropped.

The conftest's ``db_url`` fixture clones one per test with these; a test that needs a database
of another shape (an empty one, a second warehouse) calls them itself.
"""

from __future__ import annotations

from candleflow.db import connection


def _admin(server_url: str):
    return connection.connect(server_url, autocommit=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """A new database ``name`` (an old one of that name is dropped first); its URL."""
    from psycopg2 import sql

    conn = _admin(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            cur.execute(query)
    finally:
        conn.close()
    return connection.admin_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    from psycopg2 import sql

    conn = _admin(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()
