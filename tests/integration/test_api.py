"""The HTTP API: contract (schemathesis against its own OpenAPI document), bad input, auth.

The app runs in-process (ASGI) against a per-test warehouse database with known bars, and
tokens are minted and validated by Airflow's own auth manager with the session's secret.
Choices documented here and in the route docstrings: an unknown symbol is a 404; a known
symbol with no bars in the range is a 200 with an empty page; invalid parameters are 422
with ``detail`` starting with the parameter's name.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from candleflow.api.app import create_app
from candleflow.db import upsert
from tests.support.api import Series, airflow_auth, load_series  # noqa: F401 - fixture

UTC = dt.UTC
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
BTC = Series("BINANCE:BTCUSDT", "1h", dt.datetime(2024, 1, 1, tzinfo=UTC), 300, HOUR)
AAPL = Series("NASDAQ:AAPL", "1d", dt.datetime(2024, 1, 2, 14, 30, tzinfo=UTC), 40, DAY)


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
def token(airflow_auth):  # noqa: F811 - the imported fixture
    return airflow_auth.valid()


@pytest.fixture
def client(app, token):
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def bars_url(symbol: str = BTC.symbol, **query) -> str:
    query = {"timeframe": "1h", "start": "2024-01-01", "end": "2024-01-02", **query}
    return f"/api/v1/bars/{symbol}?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_bars_are_the_stored_ones_with_utc_iso_timestamps(client, stored):
    body = client.get(bars_url()).json()
    assert body["count"] == 24 and len(body["bars"]) == 24
    assert body["bars"][0]["ts"] == "2024-01-01T00:00:00Z"
    assert body["bars"][-1]["ts"] == "2024-01-01T23:00:00Z"
    assert set(body["bars"][0]) == {"ts", "open", "high", "low", "close", "volume"}
    assert body["start"] == "2024-01-01T00:00:00Z" and body["end"] == "2024-01-02T00:00:00Z"
    assert body["next"] is None


def test_a_timeframe_that_is_not_stored_is_resampled_on_read(client, stored):
    hourly = client.get(bars_url()).json()["bars"]
    body = client.get(bars_url(timeframe="4h")).json()
    assert body["count"] == 6
    first = body["bars"][0]
    assert first["ts"] == "2024-01-01T00:00:00Z"
    assert first["open"] == pytest.approx(hourly[0]["open"])
    assert first["close"] == pytest.approx(hourly[3]["close"])
    assert first["volume"] == pytest.approx(sum(bar["volume"] for bar in hourly[:4]))


def test_pages_joined_by_next_equal_the_whole_range(client, stored):
    whole = client.get(bars_url(end="2024-01-20")).json()
    assert whole["count"] == BTC.count and whole["next"] is None
    pages, start = [], "2024-01-01"
    for _ in range(20):
        page = client.get(bars_url(start=start, end="2024-01-20", limit=70)).json()
        assert page["count"] <= 70
        pages.extend(page["bars"])
        start = page["next"]
        if start is None:
            break
    assert pages == whole["bars"]


def test_fill_adds_the_missing_bars(client, stored, db):
    with db.cursor() as cur:
        cur.execute(
            "DELETE FROM candleflow.bars WHERE ts >= '2024-01-01 05:00Z'"
            " AND ts < '2024-01-01 08:00Z'"
        )
    db.commit()
    assert client.get(bars_url()).json()["count"] == 21
    flat = client.get(bars_url(fill="flat")).json()
    assert flat["count"] == 24 and flat["fill"] == "flat"
    filled = next(bar for bar in flat["bars"] if bar["ts"] == "2024-01-01T05:00:00Z")
    assert filled["volume"] == 0 and filled["open"] == filled["close"]


def test_etag_answers_304_until_a_new_load_changes_the_bars(client, stored, db):
    first = client.get(bars_url())
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"') and len(tag) > 8
    assert first.headers["cache-control"] == "private, no-cache"

    again = client.get(bars_url(), headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert client.get(bars_url(), headers={"If-None-Match": f'"x", W/{tag}'}).status_code == 304
    assert client.get(bars_url(), headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(bars_url(fill="flat"), headers={"If-None-Match": tag}).status_code == 200

    corrected = pd.DataFrame(first.json()["bars"][5:6]).assign(
        ts=lambda f: pd.to_datetime(f["ts"], utc=True).astype("datetime64[us, UTC]"),
        close=lambda f: f["close"] + 1,
    )
    with db:  # a new load (the loader's upsert) corrects one bar of the range
        with db.cursor() as cur:
            cur.execute("SELECT id FROM candleflow.instruments WHERE symbol = %s", (BTC.symbol,))
            instrument_id = cur.fetchone()[0]
        upsert.upsert_bars(db, instrument_id, "1h", corrected, run_id="reload")
    changed = client.get(bars_url(), headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["bars"][5]["close"] == pytest.approx(first.json()["bars"][5]["close"] + 1)


@pytest.mark.parametrize(
    ("url", "starts"),
    [
        (bars_url(timeframe="7m"), "timeframe: unknown timeframe '7m'; expected one of 1m"),
        (bars_url(start="yesterday"), "start: invalid datetime 'yesterday'"),
        (bars_url(end="2024-13-01"), "end: invalid datetime '2024-13-01'"),
        (bars_url(start="2024-01-02", end="2024-01-01"), "start: start 2024-01-02T00:00:00Z must"),
        (bars_url(start="2024-01-01", end="2024-01-01"), "start: start 2024-01-01T00:00:00Z must"),
        (bars_url(limit=50001), "limit: 50001 is out of range; expected 1 to 50000"),
        (bars_url(limit=0), "limit: 0 is out of range"),
        (bars_url(limit="lots"), "limit: "),
        (bars_url(fill="linear"), "fill: unknown fill 'linear'"),
        (bars_url(symbol="AAPL"), "symbol: bad symbol 'AAPL'; expected EXCHANGE:TICKER"),
        ("/api/v1/quotes?symbols=,", "symbols: empty"),
        ("/api/v1/coverage/BINANCE:BTCUSDT?timeframe=2d", "timeframe: unknown timeframe '2d'"),
        ("/api/v1/instruments?limit=100000", "limit: 100000 is out of range"),
        ("/api/v1/instruments?type=%00", "type: contains a NUL character"),
        ("/api/v1/bars/NASDAQ:A%00?timeframe=1d", "symbol: contains a NUL character"),
    ],
)
def test_bad_input_is_a_422_that_names_the_parameter(client, stored, url, starts):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(starts), response.json()


@pytest.mark.parametrize(
    "url",
    [
        bars_url(symbol="NASDAQ:NOPE"),
        "/api/v1/instruments/NASDAQ:NOPE",
        "/api/v1/coverage/NASDAQ:NOPE?start=2024-01-01&end=2024-02-01",
    ],
)
def test_an_unknown_symbol_is_a_404_naming_it(client, stored, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("symbol: unknown symbol 'NASDAQ:NOPE'")


def test_a_known_symbol_without_bars_in_the_range_is_an_empty_page(client, stored):
    body = client.get(bars_url(start="2020-01-01", end="2020-02-01")).json()
    assert body["count"] == 0 and body["bars"] == [] and body["next"] is None


def test_instruments_list_search_and_get(client, stored):
    listing = client.get("/api/v1/instruments").json()
    assert [item["symbol"] for item in listing["items"]] == [BTC.symbol, AAPL.symbol]
    assert listing["total"] == 2 and listing["next_offset"] is None
    found = client.get("/api/v1/instruments?search=apple").json()["items"]
    assert [item["symbol"] for item in found] == [AAPL.symbol]
    assert client.get("/api/v1/instruments?exchange=BINANCE").json()["total"] == 1
    page = client.get("/api/v1/instruments?limit=1").json()
    assert page["count"] == 1 and page["next_offset"] == 1
    one = client.get(f"/api/v1/instruments/{AAPL.symbol}").json()
    assert one["exchange"] == "NASDAQ" and one["timezone"] == "America/New_York"
    assert one["first_seen"].endswith("Z")


def test_latest_quotes_fall_back_to_the_last_bar(client, stored):
    items = client.get(f"/api/v1/quotes?symbols={BTC.symbol},NASDAQ:NOPE").json()["items"]
    assert [item["symbol"] for item in items] == [BTC.symbol]
    assert items[0]["ts"] == "2024-01-13T12:00:00Z"  # the end of the last of 300 hourly bars


def test_coverage_and_sync_status(client, stored):
    body = client.get(
        f"/api/v1/coverage/{BTC.symbol}?timeframe=1h&start=2024-01-01&end=2024-01-02"
    ).json()
    assert body["bars"] == 24 and body["expected"] == 24 and body["complete"] is True
    assert body["first"] == "2024-01-01T00:00:00Z" and body["gaps"] == []
    assert client.get("/api/v1/sync-status").json() == {"items": []}


# --- auth ------------------------------------------------------------------------------


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
def test_a_bad_token_is_a_401(app, stored, airflow_auth, kind):  # noqa: F811
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


# --- contract ----------------------------------------------------------------------------


# The app object reads the warehouse per request (CANDLEFLOW_DATABASE_URL, set by `db_url`
# via `stored`), so one module-level app serves every generated case.
contract = schemathesis.openapi.from_asgi("/openapi.json", create_app()).include(
    path_regex="^/api/v1/"
)


@contract.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_contract(case, stored, token):
    """Every response to generated input is documented: status, content type and schema."""
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
