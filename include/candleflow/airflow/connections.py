"""Airflow connections -> plain settings for the services.

Looked up at task run time only (never at DAG parse time).
"""

from __future__ import annotations

import logging

from candleflow import config
from candleflow.db import connection

log = logging.getLogger(__name__)


def warehouse_url() -> str:
    """``CANDLEFLOW_DATABASE_URL``, else the ``candleflow_warehouse`` connection, else embedded."""
    if config.configured_database_url():
        return config.configured_database_url()
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(config.WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        log.info("no %s connection; using the embedded warehouse", config.WAREHOUSE_CONN_ID)
        return connection.warehouse_url()
    uri = conn.get_uri()
    return "postgresql://" + uri.split("://", 1)[1]
