"""Shared by the HTTP API tests: the app in-process (ASGI) against a per-test warehouse
database with known bars, a valid token, a client that sends it, and the page cache."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from candleflow.api.app import create_app
from tests.support.api import AAPL, BTC, load_series


@pytest.fixture
def stored(db):
    """Two instruments with known bars: 300 hourly BTC bars (24x7) and 40 daily AAPL bars."""
    load_series(db, BTC, description="Bitcoin / TetherUS")
    load_series(
        db,
        AAPL,
        description="Apple Inc.",
        type_="stock",
        timezone="America/New_York",
        session="0930-1600",
    )
    return {"btc": BTC, "aapl": AAPL}


@pytest.fixture
def app(db_url):
    return create_app()


@pytest.fixture
def token(airflow_auth):
    return airflow_auth.valid()


@pytest.fixture
def client(app, token):
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


@pytest.fixture
def pages():
    from candleflow.api.cache import PAGES

    PAGES.clear()
    yield PAGES
    PAGES.clear()
