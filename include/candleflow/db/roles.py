"""The warehouse's read-only login, ``candleflow_reader``: setting its password.

Migration ``0003_analytics`` creates the role (LOGIN, SELECT on the ``analytics`` views
only) but cannot give it a password: migrations are plain SQL files and must not hold a
secret. ``candleflow db migrate`` calls ``set_reader_password_from_env`` after migrating,
so ``CANDLEFLOW_READER_PASSWORD`` becomes the role's password.

The password is hashed on the client (SCRAM-SHA-256, libpq's ``PQencryptPasswordConn``), so
the plain text never reaches the server, its statement log or ``pg_stat_activity``.
"""

from __future__ import annotations

import logging
import os

from psycopg2 import sql

log = logging.getLogger(__name__)

READER_ROLE = "candleflow_reader"
PASSWORD_ENV = "CANDLEFLOW_READER_PASSWORD"  # noqa: S105 - a variable name, not a secret


def set_reader_password(conn, password: str, *, role: str = READER_ROLE) -> None:
    """Give ``role`` this password (committed by the caller's transaction; runs as a role
    allowed to ALTER ROLE, e.g. the one that ran the migrations)."""
    from psycopg2.extensions import encrypt_password

    if not password:
        raise ValueError(f"empty password for {role}; set {PASSWORD_ENV} to a non-empty value")
    hashed = encrypt_password(password, role, conn, "scram-sha-256")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(hashed)
            )
        )
    log.info("password of role %s set (scram-sha-256)", role)


def set_reader_password_from_env(conn) -> bool:
    """``set_reader_password`` from ``CANDLEFLOW_READER_PASSWORD`` and commit; False when unset."""
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        return False
    with conn:
        set_reader_password(conn, password)
    return True
