"""Fixtures of the integration tier beyond the shared ones (``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from candleflow.db import connection, roles
from tests.support.reader import READER_PASSWORD, reader_url


@pytest.fixture
def reader(db_url, db):
    """A connection as ``candleflow_reader`` (password set the way ``db migrate`` does)."""
    with db:
        roles.set_reader_password(db, READER_PASSWORD)
    conn = connection.connect(reader_url(db_url), autocommit=True)
    yield conn
    conn.close()
