"""The HTTP API's auth: tokens minted and validated by Airflow's own auth manager with the
session's secret; every data route needs one, revoked tokens are refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    BTC,
    bars_url,
)


def data_urls(app) -> list[str]:
    """One concrete URL per documented data route (all of ``/api/v1``)."""
    paths = app.openapi()["paths"]
    urls = [p.replace("{symbol}", BTC.symbol) for p in paths if p.startswith("/api/v1/")]
    return [u + ("?symbols=" + BTC.symbol if u.endswith("/quotes") else "") for u in urls]


def test_every_data_route_without_a_token_is_a_401(app, stored):
    urls = data_urls(app)
    assert len(urls) == 6
    with TestClient(app) as anonymous:
        for url in urls:
            response = anonymous.get(url)
            assert response.status_code == 401, url
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["detail"].startswith("authorization: missing token")


@pytest.mark.parametrize("kind", ["forged", "expired", "garbage", "revoked"])
def test_a_bad_token_is_a_401(app, stored, airflow_auth, kind):
    if kind == "garbage":
        token = "not.a.jwt"
    elif kind == "revoked":
        token = airflow_auth.valid()
        airflow_auth.revoke(token)
    else:
        token = getattr(airflow_auth, kind)()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.get(bars_url())
    assert response.status_code == 401
    assert response.json()["detail"] in {
        "authorization: invalid token",
        "authorization: token expired; get a new one from POST /auth/token",
    }


@pytest.fixture
def remembered(monkeypatch):
    """The API's memory of tokens that passed, emptied around the test."""
    from candleflow.api import auth

    auth._passed.clear()
    yield auth
    auth._passed.clear()


def test_with_no_memory_a_revoked_token_is_refused_at_once(app, stored, airflow_auth, remembered):
    remembered.REVOCATION_TTL_S = 0.0
    try:
        token = airflow_auth.valid()
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
            assert http.get(bars_url()).status_code == 200
            airflow_auth.revoke(token)
            assert http.get(bars_url()).status_code == 401
    finally:
        remembered.REVOCATION_TTL_S = 2.0


def test_a_revoked_token_is_refused_once_its_memory_lapses(
    app,
    stored,
    airflow_auth,
    remembered,
    monkeypatch,
):
    import time

    # A memory long enough that a loaded machine still answers the second request inside it.
    monkeypatch.setattr(remembered, "REVOCATION_TTL_S", 5.0)
    token = airflow_auth.valid()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get(bars_url()).status_code == 200
        airflow_auth.revoke(token)
        assert http.get(bars_url()).status_code == 200  # remembered for at most 5 s
        time.sleep(5.1)
        response = http.get(bars_url())
    assert (
        response.status_code == 401 and response.json()["detail"] == "authorization: invalid token"
    )


def test_a_valid_token_as_bearer_or_as_the_ui_cookie_is_a_200(app, stored, token):
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get(bars_url()).status_code == 200
    with TestClient(app, cookies={"_token": token}) as browser:
        assert browser.get(bars_url()).status_code == 200


def test_docs_health_and_page_are_public(app):
    with TestClient(app) as anonymous:
        schema = anonymous.get("/openapi.json").json()
        assert "/api/v1/bars/{symbol}" in schema["paths"]
        assert "AirflowJWT" in schema["components"]["securitySchemes"]
        assert anonymous.get("/docs").status_code == 200
        assert anonymous.get("/health").json() == {"status": "ok"}
        assert "candleflow" in anonymous.get("/chart").text.lower()
        js = anonymous.get("/vendor/plotly.min.js")
        assert js.status_code == 200 and "plotly.js" in js.text[:200]
