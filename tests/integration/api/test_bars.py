"""The HTTP API's reads: bars (stored, resampled, paged, filled, adjusted), instruments,
quotes, coverage and sync status, and bad input. Choices documented here and in the route
docstrings: an unknown symbol is a 404; a known symbol with no bars in the range is a 200 with
an empty page; invalid parameters are 422 with ``detail`` starting with the parameter's name.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from candleflow.db import bars as bar_writer
from tests.support.api import (
    AAPL,
    BTC,
    HOUR,
    UTC,
    Series,
    bars_url,
    insert_bars,
    insert_instrument,
)


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


def test_an_instrument_lists_its_stored_timeframes(client, stored, db):
    body = client.get(f"/api/v1/instruments/{BTC.symbol}").json()
    assert body["timeframes"] == [
        {"timeframe": "1h", "first": "2024-01-01T00:00:00Z", "last": "2024-01-13T11:00:00Z"}
    ]


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
