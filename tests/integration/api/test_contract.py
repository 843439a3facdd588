"""The HTTP API's contract (schemathesis against its own OpenAPI document), its docs, and the
warehouse the Airflow connection names."""

from __future__ import annotations

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
from candleflow.db import connection
from tests.support.api import (
    AAPL,
    DAY,
    Series,
    bars_url,
    load_series,
)


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
