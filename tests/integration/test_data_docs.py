"""Data Docs: each validated slice's page, written from the result the load holds, served by
the API, reached from a sync task's extra link and from the chart's rejected-bar count.

The bad window is the replay server's ``bad_bars`` scenario; the oracle for what the page
must show is what the load stored in ``candleflow.rejected_bars`` (rules and raw values).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from candleflow.airflow.links import DataDocsLink
from candleflow.api.app import create_app
from candleflow.api.data_docs import PREFIX
from candleflow.db import docs_store as docs
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 8, tzinfo=dt.UTC)
SYMBOL = "NASDAQ:MSFT"
RUN = "manual__2024-03-08T00:00:00+00:00"

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def synced(db_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv(docs.STORE_ENV, str(tmp_path / "docs"))
    with ReplayServer(seed=3, now=END.timestamp(), bar_cap=28) as srv:
        result = sync(
            SYMBOL,
            "1h",
            START,
            END,
            provider_options={"url": f"{srv.url}?scenario=bad_bars", "timeout": 10},
            url=db_url,
            reject_threshold=0.9,
            run_id=RUN,
        )
    with db.cursor() as cur:
        cur.execute(
            "SELECT ts, rules, raw, window_start, window_end FROM candleflow.rejected_bars"
            " WHERE run_id = %s ORDER BY ts",
            (RUN,),
        )
        rejected = cur.fetchall()
    assert rejected and result["rows_rejected"] == len(rejected)
    return rejected


@pytest.fixture
def client(db_url, airflow_auth):
    token = airflow_auth.valid()
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_each_page_shows_the_failed_rules_and_the_failing_values(synced):
    for ts, rules, raw, lo, hi in synced:
        page = _text(docs.page_path(RUN, SYMBOL, "1h", lo, hi).read_text())
        assert "FAILED" in page
        for rule in rules:
            assert rule in page
        for key, value in raw.items():  # the values as received (jsonb reorders keys)
            assert f'"{key}": {json.dumps(value)}' in page, (key, value, ts)
    assert "expect_" in page and "FAILED" in page  # the expectations, with their verdict


def test_the_run_index_from_the_task_link_leads_to_the_page(synced, client):
    operator = SimpleNamespace(symbols=[SYMBOL, "NASDAQ:AAPL"], timeframe="1h")
    link = DataDocsLink().get_link(operator, ti_key=SimpleNamespace(run_id=RUN))
    path = urlsplit(link)
    assert path.path.startswith(f"{PREFIX}/runs/")
    index = client.get(path.path.removeprefix("/candleflow") + "?" + path.query)
    assert index.status_code == 200
    hrefs = re.findall(r'href="([^"]+)"', index.text)
    assert len(hrefs) == len({(lo, hi) for *_, lo, hi in synced})
    page = client.get("/data-docs/page/" + hrefs[0].removeprefix("../page/"))
    assert page.status_code == 200
    assert "Rejected rows" in page.text and any(r in page.text for r in synced[0][1])


def test_the_chart_count_links_to_the_symbol_pages(synced, client):
    query = {"timeframe": "1h", "start": START.isoformat(), "end": END.isoformat()}
    answer = client.get(f"/data-docs/symbols/{SYMBOL}/rejected", params=query)
    assert answer.status_code == 200
    body = answer.json()
    in_range = [r for r in synced if r[0] is not None and START <= r[0] < END]
    assert body["rejected"] == len(in_range) > 0
    listing = client.get("/" + body["href"])
    assert listing.status_code == 200 and RUN in listing.text


def test_a_path_outside_the_store_is_a_404(synced, client):
    assert client.get("/data-docs/page/..%2F..%2Fsecrets.json").status_code == 404


def test_the_pages_need_a_token(synced, db_url):
    with TestClient(create_app()) as anonymous:
        assert anonymous.get(f"/data-docs/runs/{RUN}").status_code == 401
