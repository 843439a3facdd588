"""The HTTP API's page cache: never stale, whoever writes, and never across warehouses."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from candleflow.db import connection, migrate
from tests.support.api import (
    BTC,
    UTC,
    bars_url,
    insert_bars,
)


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
    from tests.support.databases import create_database, drop_database

    url = bars_url()
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as http:
        original = http.get(url).json()
        clone = create_database(server_url, "cf_test_api_clone", template=None)
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
