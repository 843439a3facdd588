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
from candleflow.db import bars as bar_writer
from candleflow.db import connection, migrate
from tests.support.api import (  # noqa: F401 - airflow_auth is a fixture
    Series,
    airflow_auth,
    insert_bars,
    insert_instrument,
    load_series,
)

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
    assert set(body["bars"][0]) == {"ts", "open", "high", "low", "close", "volume", "complete"}
    assert all(bar["complete"] is True for bar in body["bars"])
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
    assert all(bar["complete"] for bar in body["bars"])


def test_a_daily_bar_from_six_hours_of_a_session_is_marked_incomplete(client, db):
    """The chart's default 1d view of a symbol with only six 1h bars of a day stored."""
    iid = insert_instrument(db, "NYSE:IBM", timezone="America/New_York", session="0930-1600")
    opens = [dt.datetime(2024, 7, d, 13, 30, tzinfo=UTC) for d in (1, 2)]  # 09:30 New York
    full = Series("NYSE:IBM", "1h", opens[0], 7, HOUR)
    partial = Series("NYSE:IBM", "1h", opens[1], 6, HOUR)
    insert_bars(db, full, iid)
    insert_bars(db, partial, iid)

    body = client.get(bars_url("NYSE:IBM", timeframe="1d", start="2024-07-01", end="2024-07-03"))
    bars = body.json()["bars"]
    assert [(bar["ts"], bar["complete"]) for bar in bars] == [
        ("2024-07-01T13:30:00Z", True),
        ("2024-07-02T13:30:00Z", False),
    ]


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
        bar_writer.upsert_bars(db, instrument_id, "1h", corrected, run_id="reload")
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
        (bars_url(symbol="NASDAQ:AA%20PL"), "symbol: bad symbol 'NASDAQ:AA PL': whitespace"),
        (bars_url(symbol="NASDAQ:AAPL:X"), "symbol: bad symbol 'NASDAQ:AAPL:X': more than one"),
        ("/api/v1/instruments/A:" + "B" * 70, "symbol: bad symbol 'A:BBB"),
        ("/api/v1/quotes?symbols=NASDAQ:AAPL,NYSE:I%09BM", "symbols: bad symbol 'NYSE:I\\tBM'"),
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


@pytest.fixture
def remembered(monkeypatch):
    """The API's memory of tokens that passed, emptied around the test."""
    from candleflow.api import auth

    auth._passed.clear()
    yield auth
    auth._passed.clear()


def test_with_no_memory_a_revoked_token_is_refused_at_once(app, stored, airflow_auth, remembered):  # noqa: F811
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
    airflow_auth,  # noqa: F811 - the imported fixture
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


# --- the page cache: never stale, whoever writes ---------------------------------------------


@pytest.fixture
def pages():
    from candleflow.api.cache import PAGES

    PAGES.clear()
    yield PAGES
    PAGES.clear()


@pytest.mark.parametrize(
    "write",
    [
        "UPDATE candleflow.bars SET close = close + 1, high = high + 1"
        " WHERE ts = '2024-01-01 05:00Z'",
        "DELETE FROM candleflow.bars WHERE ts = '2024-01-01 05:00Z'",
        "INSERT INTO candleflow.bars (instrument_id, timeframe, source, ts, open, high, low, close)"
        " SELECT instrument_id, timeframe, source, ts + interval '30 minutes', 1, 1, 1, 1"
        " FROM candleflow.bars WHERE ts = '2024-01-01 05:00Z'",
        "TRUNCATE candleflow.bars",
    ],
    ids=["update", "delete", "insert", "truncate"],
)
def test_a_cached_page_is_rebuilt_after_any_write_to_its_bars(client, stored, db, pages, write):
    url = bars_url(timeframe="4h")  # resampled: the bars it is built from are 1h
    first = client.get(url).json()
    assert client.get(url).json() == first and pages.hits == 1  # served from the cache

    with db, db.cursor() as cur:  # SQL by hand: no writer of the package is involved
        cur.execute(write)
        cur.execute(
            "SELECT ts, open, high, low, close FROM candleflow.bars WHERE timeframe = '1h'"
            " AND ts >= '2024-01-01' AND ts < '2024-01-02' ORDER BY ts"
        )
        rows = cur.fetchall()
    after = client.get(url).json()

    assert after != first
    expected = {}
    for ts, open_, high, low, close in rows:
        bucket = ts.replace(hour=ts.hour // 4 * 4, minute=0)
        got = expected.setdefault(bucket, [open_, high, low, close])
        got[1], got[2], got[3] = max(got[1], high), min(got[2], low), close
    assert [
        (bar["ts"], [bar["open"], bar["high"], bar["low"], bar["close"]]) for bar in after["bars"]
    ] == [(params_iso(ts), pytest.approx(v)) for ts, v in sorted(expected.items())]


def params_iso(ts: dt.datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pages_of_another_warehouse_are_never_served(app, token, stored, pages, server_url):
    """Two databases with the same symbol and the same series versions (a clone)."""
    from tests.conftest import _create_database, drop_database

    url = bars_url()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        original = http.get(url).json()
        clone = _create_database(server_url, "cf_test_api_clone", template=None)
        try:
            conn = connection.connect(clone)
            migrate.migrate(conn)
            with conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO candleflow.instruments (symbol, exchange, ticker)"
                    " VALUES (%s, 'BINANCE', 'BTCUSDT') RETURNING id",
                    (BTC.symbol,),
                )
                iid = cur.fetchone()[0]
            insert_bars(conn, BTC, iid, base=500.0)
            conn.close()
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("CANDLEFLOW_DATABASE_URL", clone)
                other = http.get(url).json()
        finally:
            drop_database(server_url, "cf_test_api_clone")
    assert other["count"] == original["count"]
    assert other["bars"][0]["open"] != original["bars"][0]["open"]


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "starts"),
    [
        (
            f"/api/v1/coverage/{BTC.symbol}?timeframe=1m&start=1990-01-01",
            "start/end: the window expects",
        ),
        (bars_url(start="1900-01-01", end="2024-01-01"), "start/end: the window spans 124 years"),
        ("/api/v1/quotes?symbols=" + ",".join(f"X:S{i}" for i in range(501)), "symbols: 501"),
    ],
    ids=["coverage-grid", "window", "quotes"],
)
def test_a_request_over_a_limit_is_a_422_naming_the_limit(client, stored, url, starts):
    response = client.get(url)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(starts) and "the limit is" in detail, detail


def test_a_resampled_page_reads_a_bounded_number_of_stored_rows(client, stored, monkeypatch, pages):
    from candleflow.api import limits

    cache = pages
    monkeypatch.setattr(limits, "MAX_READ_ROWS", 48)  # 48 1h rows: two days of 4h bars
    whole = bars_url(timeframe="4h", end="2024-01-13")
    page = client.get(whole).json()
    assert page["count"] == 11 and page["next"] == "2024-01-02T20:00:00Z"
    joined, start = page["bars"], page["next"]
    while start:
        page = client.get(bars_url(timeframe="4h", start=start, end="2024-01-13")).json()
        assert page["count"] <= 12
        joined, start = joined + page["bars"], page["next"]
    monkeypatch.setattr(limits, "MAX_READ_ROWS", 10**6)
    cache.clear()  # the same request, read in one page this time
    assert joined == client.get(whole).json()["bars"]


# --- failures and capacity ---------------------------------------------------------------


def test_an_unreachable_warehouse_is_a_503_that_names_nothing(app, token, monkeypatch, caplog):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "hunter2-in-a-keyword-dsn"
    monkeypatch.setenv(
        "CANDLEFLOW_DATABASE_URL",
        f"host=127.0.0.1 port={port} user=bob password={secret} dbname=warehouse",
    )
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.get("/api/v1/instruments")
    assert response.status_code == 503
    assert response.json() == {"detail": "warehouse unavailable"}
    logged = "\n".join(r.getMessage() for r in caplog.records if "unavailable" in r.getMessage())
    assert f"127.0.0.1:{port}/warehouse" in logged
    assert secret not in caplog.text and "bob" not in logged


@pytest.fixture
def slow_sync_status(monkeypatch):
    """sync-status as a real statement that takes ``seconds`` on the real database."""
    from candleflow import query
    from candleflow.query import tables

    def make(seconds: float) -> None:
        monkeypatch.setattr(
            query,
            "sync_status",
            lambda **_: tables._frame(f"SELECT pg_sleep({seconds}) IS NULL AS slept"),
        )

    return make


def test_a_query_past_the_statement_timeout_is_a_503_naming_the_timeout(
    client, stored, monkeypatch, slow_sync_status
):
    from candleflow.query import pool

    slow_sync_status(5)
    monkeypatch.setattr(pool, "STATEMENT_TIMEOUT", "200ms")
    pool.read_only_url.cache_clear()
    pool._resolved.clear()
    try:
        response = client.get("/api/v1/sync-status")
    finally:
        pool.read_only_url.cache_clear()
        pool._resolved.clear()
    assert response.status_code == 503
    assert response.json()["detail"].startswith("query: the query ran past the statement timeout")


def _concurrently(app, token, calls: list[str]) -> list[tuple[str, int, dict]]:
    """``calls`` (paths) sent at once, the /ui one a little after; (path, status, headers)
    in the order they finished. The default thread limiter has one token, as if Airflow's
    own endpoints had taken all but one."""
    import asyncio

    import anyio.to_thread
    import httpx
    from fastapi import FastAPI

    parent = FastAPI()

    @parent.get("/ui")
    def ui() -> dict:  # a sync endpoint, like Airflow's own: the default thread limiter
        return {"ok": True}

    parent.mount("/candleflow", app)
    finished: list[tuple[str, int, dict]] = []

    async def scenario() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        transport = httpx.ASGITransport(app=parent)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers, timeout=60
        ) as http:

            async def call(path: str) -> None:
                response = await http.get(path)
                finished.append((path, response.status_code, dict(response.headers)))

            slow = [asyncio.create_task(call(path)) for path in calls]
            await asyncio.sleep(0.3)
            await call("/ui")
            await asyncio.gather(*slow)

    asyncio.run(scenario())
    return finished


def test_slow_api_requests_never_take_the_threads_airflow_shares(
    app, token, stored, monkeypatch, slow_sync_status
):
    from candleflow.api import capacity

    slow_sync_status(0.6)
    monkeypatch.setattr(capacity, "CONCURRENCY", 1)
    finished = _concurrently(app, token, ["/candleflow/api/v1/sync-status"] * 3)
    order = [path for path, _, _ in finished]
    assert order.index("/ui") == 0, order  # not behind the three slow ones
    assert [status for _, status, _ in finished] == [200] * 4


def test_beyond_the_queue_timeout_the_api_answers_busy(
    app, token, stored, monkeypatch, slow_sync_status
):
    from candleflow.api import capacity

    slow_sync_status(1.0)
    monkeypatch.setattr(capacity, "CONCURRENCY", 1)
    monkeypatch.setattr(capacity, "QUEUE_TIMEOUT_S", 0.3)
    finished = _concurrently(app, token, ["/candleflow/api/v1/sync-status"] * 3)
    busy = [headers for _, status, headers in finished if status == 503]
    assert len(busy) == 2 and all(h["retry-after"] == "1" for h in busy)
    assert sorted(status for _, status, _ in finished) == [200, 200, 503, 503]


# --- docs and instruments -------------------------------------------------------------------


def test_swagger_ui_is_served_from_the_package_and_follows_airflows_setting(monkeypatch):
    with TestClient(create_app()) as anonymous:
        page = anonymous.get("/docs").text
        assert (
            "static/swagger/swagger-ui-bundle.js" in page
            and "static/swagger/swagger-ui.css" in page
        )
        assert "cdn" not in page.lower() and "https://" not in page
        bundle = anonymous.get("/static/swagger/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    monkeypatch.setenv("AIRFLOW__API__ENABLE_SWAGGER_UI", "False")
    with TestClient(create_app()) as anonymous:
        assert anonymous.get("/docs").status_code == 404
        assert anonymous.get("/openapi.json").status_code == 200


def test_an_instrument_lists_its_stored_timeframes(client, stored, db):
    body = client.get(f"/api/v1/instruments/{BTC.symbol}").json()
    assert body["timeframes"] == [
        {"timeframe": "1h", "first": "2024-01-01T00:00:00Z", "last": "2024-01-13T11:00:00Z"}
    ]


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


@pytest.fixture
def connection_db_url(server_url, template_db):
    """A second migrated warehouse: what the candleflow_warehouse connection names."""
    import uuid

    from tests.conftest import _create_database, drop_database

    name = f"cf_test_conn_{uuid.uuid4().hex[:12]}"
    yield _create_database(server_url, name, template=template_db)
    drop_database(server_url, name)


def test_the_api_reads_the_warehouse_the_airflow_connection_names(
    client, stored, connection_db_url, monkeypatch
):
    # CANDLEFLOW_DATABASE_URL (the db fixture) holds BTC and AAPL; the connection's
    # warehouse holds IBM only. The connection wins, as in every front door.
    conn = connection.connect(connection_db_url)
    try:
        load_series(conn, Series("NYSE:IBM", "1d", AAPL.start, 5, DAY), description="IBM")
        conn.commit()
    finally:
        conn.close()
    assert [i["symbol"] for i in client.get("/api/v1/instruments").json()["items"]] == [
        "BINANCE:BTCUSDT",
        "NASDAQ:AAPL",
    ]
    monkeypatch.setenv("AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE", connection_db_url)
    assert [i["symbol"] for i in client.get("/api/v1/instruments").json()["items"]] == ["NYSE:IBM"]
    body = client.get(bars_url("NYSE:IBM", timeframe="1d", start="2024-01-01", end="2024-02-01"))
    assert body.status_code == 200 and body.json()["count"] == 5


# --- adjustment for corporate actions ----------------------------------------------------------

SPLIT = (
    "INSERT INTO candleflow.corporate_actions (instrument_id, ex_date, kind, ratio, factor, source)"
    " SELECT id, '2024-01-16', 'split', 4, 0.25, 'test' FROM candleflow.instruments"
    " WHERE symbol = 'NASDAQ:AAPL'"
)


def test_adjustment_splits_is_the_default_and_raw_is_what_is_stored(client, stored, db):
    url = bars_url(AAPL.symbol, timeframe="1d", start="2024-01-10", end="2024-01-20")
    before = client.get(url).json()
    with db, db.cursor() as cur:  # by hand: the trigger, not a writer, bumps the version
        cur.execute(SPLIT)
    raw = client.get(url + "&adjustment=raw").json()
    assert raw["bars"] == before["bars"] and raw["adjustment"] == "raw"
    split = client.get(url).json()
    assert split["adjustment"] == "splits"
    for old, new in zip(raw["bars"], split["bars"], strict=True):
        scale = 0.25 if old["ts"] < "2024-01-16" else 1.0  # the ex-date's session is not
        assert new["close"] == pytest.approx(old["close"] * scale)
        assert new["volume"] == pytest.approx(old["volume"] / scale)
    total = client.get(url + "&adjustment=total_return").json()
    assert total["bars"] == split["bars"]  # no dividend stored
    bad = client.get(url + "&adjustment=dividends")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("adjustment:")


def test_a_cached_adjusted_page_is_rebuilt_after_a_new_action(client, stored, db, pages):
    url = bars_url(AAPL.symbol, timeframe="1w", start="2024-01-08", end="2024-01-22")
    first = client.get(url).json()
    assert client.get(url).json() == first and pages.hits == 1
    with db, db.cursor() as cur:
        cur.execute(SPLIT)
    after = client.get(url).json()  # the second week's close is on or after the ex-date
    assert after["bars"][0]["close"] == pytest.approx(first["bars"][0]["close"] / 4)
    assert after["bars"][1]["close"] == pytest.approx(first["bars"][1]["close"])
