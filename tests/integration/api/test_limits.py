"""The HTTP API's limits and failures: bounded requests, an unreachable or slow warehouse,
and its own threads and queue, so slow requests never take the threads Airflow shares."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import (
    BTC,
    bars_url,
)


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
