"""Candleflow's Airflow plugin: the trading-calendar timetables, the HTTP API and the chart.

Registered by the wheel's ``airflow.plugins`` entry point (``pyproject.toml``), so an
Airflow that has Candleflow installed loads it with nothing copied into its plugins folder
(``make up`` and the Docker image included). Registering the timetables lets the scheduler
deserialise DAGs that use them, and lets the api-server mount the API.

- ``fastapi_apps``: the API and chart page at ``/candleflow`` (``/candleflow/docs`` for the
  OpenAPI docs). Plugin apps are not behind Airflow's auth on their own; every data route
  checks the Airflow token itself (``candleflow.api.auth``).
- ``operator_extra_links``: the sync tasks' "Data Docs" button (``candleflow.airflow.links``).
- ``external_views``: "Candles" under the UI's Browse menu, showing ``/candleflow/chart`` in
  an iframe at ``/plugin/candleflow-chart``. Same origin, so the browser sends the UI's
  ``_token`` cookie with the page's API calls.

Building the app connects to nothing, so importing this module stays cheap in every
Airflow process (scheduler, dag-processor, triggerer, workers).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from candleflow.airflow.links import DataDocsLink
from candleflow.airflow.timetables import (
    MonthlyTimetable,
    SettledIntervalTimetable,
    TradingSessionTimetable,
)
from candleflow.api.app import create_app

URL_PREFIX = "/candleflow"


class CandleflowPlugin(AirflowPlugin):
    name = "candleflow"
    timetables = [TradingSessionTimetable, SettledIntervalTimetable, MonthlyTimetable]  # noqa: RUF012
    operator_extra_links = [DataDocsLink()]  # noqa: RUF012 - the sync tasks' "Data Docs"
    fastapi_apps = [  # noqa: RUF012
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Candleflow API and chart"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Candles",
            "href": f"{URL_PREFIX}/chart",
            "url_route": "candleflow-chart",
            "destination": "nav",
            "category": "browse",
        },
    ]
