"""Lineage names and the never-fail rule, without Airflow running: the DAG tests
(``tests/dags/test_lineage.py``, ``test_metrics.py``) check the events and metrics of real runs."""

from __future__ import annotations

import logging

import pytest

from candleflow.airflow import lineage, metrics

pytestmark = pytest.mark.timeout(60)


class Records(logging.Handler):
    """The records of one module's logger (Airflow's logging setup bypasses caplog)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_of():
    attached: list[Records] = []

    def attach(module) -> list[str]:
        handler = Records(module.log)
        module.log.addHandler(handler)
        attached.append(handler)
        return handler.messages

    yield attach
    for handler in attached:
        handler.logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("dsn", "namespace", "database"),
    [
        ("postgresql://cf:s3cret@db.example.com:6543/wh", "postgres://db.example.com:6543", "wh"),
        ("postgresql://cf:s3cret@db.example.com/wh", "postgres://db.example.com:5432", "wh"),
        ("postgresql://postgres@%2Ftmp%2Fcf%2Frun:5433/cf", "postgres://localhost:5433", "cf"),
        ("host=/run/pg port=5434 dbname=cf password=s3cret", "postgres://localhost:5434", "cf"),
        ("postgresql://cf:s3cret@h1,h2:5435/wh", "postgres://h1:5432", "wh"),  # h1's port
        ("postgresql://cf:s3cret@h1:5436,h2:5435/wh", "postgres://h1:5436", "wh"),
    ],
)
def test_a_warehouse_is_named_host_port_and_database_never_its_secrets(dsn, namespace, database):
    assert lineage.warehouse(dsn) == (namespace, database)
    assert "s3cret" not in "".join(lineage.warehouse(dsn))


def test_a_series_namespace_is_its_provider_and_for_ccxt_its_exchange():
    assert lineage.provider_namespace("tradingview", "NASDAQ:AAPL", None) == "tradingview://"
    assert lineage.provider_namespace("ccxt", "BINANCE:BTCUSDT", None) == "ccxt://binance"
    aliased = {"exchanges": {"BN": "binanceus"}, "token": "s3cret"}
    assert lineage.provider_namespace("ccxt", "BN:BTCUSD", aliased) == "ccxt://binanceus"
    assert lineage.provider_namespace("files", "NYSE:IBM", None) == "files://"


def test_facets_that_cannot_be_built_are_logged_not_raised(warnings_of):
    logged = warnings_of(lineage)
    assert lineage.chunk_lineage(object(), "postgresql://h/db") is None  # not a ChunkResult
    assert logged == ["no OpenLineage facets for this chunk"]


def test_annotate_builds_nothing_when_openlineage_is_off(monkeypatch):
    monkeypatch.setattr(lineage, "enabled", lambda: False)

    def build():
        raise AssertionError("built while OpenLineage is off")

    lineage.annotate(build)


def test_annotate_outside_a_task_is_logged_not_raised(monkeypatch, warnings_of):
    logged = warnings_of(lineage)
    monkeypatch.setattr(lineage, "enabled", lambda: True)
    lineage.annotate(lambda: ([], []))  # no running task: no context to add datasets to
    assert logged == ["no OpenLineage datasets for this task"]


def test_metrics_that_cannot_be_sent_are_logged_not_raised(warnings_of):
    logged = warnings_of(metrics)
    metrics.chunk(object())  # not a ChunkResult
    metrics.freshness_lag({"1h": "not a number"})
    assert logged == [
        "could not send the chunk metrics",
        "could not send the freshness_lag metrics",
    ]
