"""A failed validation's Data Docs page is reachable from its task instance.

``airflow dags test`` of ``ohlcv_1h`` over the replay server's ``bad_bars`` window (a
rejected window: the sync task fails). Airflow 3 evaluates the "Data Docs" extra link when
the task finishes and keeps the URL as an XCom; the test reads it from the metadata database,
follows it through the API's routes and checks the page shows the rules and the failing
values that ``candleflow.rejected_bars`` holds (the independent oracle).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from candleflow.api.app import create_app
from candleflow.api.data_docs import PREFIX
from candleflow.db import connection
from candleflow.testing import ReplayServer
from tests.support.dag_runs import dag_env, dags_test

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
LOGICAL = "2024-03-05T12:00:00+00:00"

pytestmark = pytest.mark.timeout(900)


def link_xcoms(airflow_env: dict) -> list[tuple[str, str, object]]:
    url = airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "postgresql+psycopg2:", "postgresql:"
    )
    conn = connection.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT run_id, task_id, value FROM xcom"
                " WHERE dag_id = 'ohlcv_1h' AND key = '_link_DataDocsLink'"
            )
            return cur.fetchall()
    finally:
        conn.close()


def test_the_failed_task_links_to_a_page_with_its_rules_and_values(
    airflow_env,
    airflow_bin,
    airflow_auth,
    db_url,
    db,
    tmp_path,
    monkeypatch,
):
    store = tmp_path / "docs"
    window = {"start": START.isoformat(), "end": END.isoformat()}
    with ReplayServer(seed=5, scenario="bad_bars") as srv:
        env = dag_env(
            airflow_env,
            db_url,
            tmp_path,
            srv.url,
            ["BINANCE:BTCUSDT"],
            CANDLEFLOW_DATA_DOCS_DIR=str(store),
        )
        dags_test(airflow_bin, env, "ohlcv_1h", LOGICAL, conf=window, state="failed")
    with db.cursor() as cur:
        cur.execute("SELECT run_id, rules, raw FROM candleflow.rejected_bars")
        rejected = cur.fetchall()
    assert rejected
    run_id = rejected[0][0]
    links = [(r, t, v) for r, t, v in link_xcoms(airflow_env) if r == run_id]
    assert [t for _, t, _ in links] == ["sync_tradingview"], links
    value = links[0][2]
    link = urlsplit(value)  # the xcom column is JSON: psycopg2 hands back the string
    assert link.path.startswith(f"{PREFIX}/runs/") and "symbol=BINANCE%3ABTCUSDT" in link.query

    monkeypatch.setenv("CANDLEFLOW_DATA_DOCS_DIR", str(store))
    token = airflow_auth.valid()
    with TestClient(create_app(), headers={"Authorization": f"Bearer {token}"}) as http:
        index = http.get(link.path.removeprefix("/candleflow") + "?" + link.query)
        assert index.status_code == 200
        (href,) = re.findall(r'href="\.\./page/([^"]+)"', index.text)
        page = http.get(f"/data-docs/page/{href}")
    assert page.status_code == 200
    text = html.unescape(re.sub(r"<[^>]+>", " ", page.text))
    assert "FAILED" in text
    for _, rules, raw in rejected:
        for rule in rules:
            assert rule in text
        for key, val in raw.items():
            assert f'"{key}": {json.dumps(val)}' in text, (key, val)
