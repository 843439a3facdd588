"""``candleflow.airflow.failures`` and the two error families it acts on.

The expected family of each error is written out here from what the error means (what no
retry can fix vs what may pass), not derived from the hierarchy under test.
"""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk.exceptions import AirflowFailException

from candleflow import errors
from candleflow.airflow.failures import fail_permanent, fails_permanently, raise_for_failures

PERMANENT = {
    "SymbolNotFound": errors.SymbolNotFound("NASDAQ:NOPE"),
    "AuthenticationError": errors.AuthenticationError("bad token"),
    "ValidationFailed": errors.ValidationFailed("12 of 20 bars rejected"),
    "ConfigError": errors.ConfigError("chunk_size must be >= 1"),
    "BadInputError": errors.BadInputError("ticks.csv line 3: no price"),
    "ProviderError": errors.ProviderError("series error", reason="no_data"),
    "ProtocolError": errors.ProtocolError("malformed frame"),
    "UnsupportedOperation": errors.UnsupportedOperation("files cannot search"),
    "MigrationError": errors.MigrationError("run candleflow db migrate"),
}
TRANSIENT = {
    "ProviderTimeout": errors.ProviderTimeout("no data within 10s"),
    "ProviderDisconnected": errors.ProviderDisconnected("connection refused"),
    "DatabaseUnavailable": errors.DatabaseUnavailable("cannot connect to db:5432/wh"),
}


@pytest.mark.parametrize("name", list(PERMANENT))
def test_a_permanent_error_fails_the_task_without_retry(name):
    error = PERMANENT[name]
    assert isinstance(error, errors.PermanentError) and not isinstance(error, errors.TransientError)
    with pytest.raises(AirflowFailException, match=name) as info, fail_permanent("sync"):
        raise error
    assert info.value.__cause__ is error  # the original traceback stays in the task log


@pytest.mark.parametrize("error", [*TRANSIENT.values(), KeyError("a bug")], ids=repr)
def test_anything_else_passes_through_for_airflow_to_retry(error):
    assert not isinstance(error, errors.PermanentError)
    with pytest.raises(type(error)) as info, fail_permanent("sync"):
        raise error
    assert info.value is error


def test_an_error_cannot_be_both_permanent_and_transient():
    with pytest.raises(TypeError, match="Both cannot be both transient and permanent"):
        type("Both", (errors.ProviderError, errors.TransientError), {})


def test_the_decorator_keeps_the_signature_airflow_reads():
    def load(symbol: str, run_id: str | None = None, params: dict | None = None) -> dict:
        raise errors.SymbolNotFound(symbol)

    wrapped = fails_permanently(load)
    assert inspect.signature(wrapped) == inspect.signature(load)
    assert wrapped.__name__ == "load"
    with pytest.raises(AirflowFailException, match="NASDAQ:NOPE"):
        wrapped("NASDAQ:NOPE")


def test_a_chunk_fails_without_retry_only_when_every_failure_is_permanent():
    raise_for_failures({})  # nothing failed: returns
    with pytest.raises(AirflowFailException, match=r"2 failed.*NASDAQ:NOPE.*BINANCE:BAD"):
        raise_for_failures(
            {"NASDAQ:NOPE": PERMANENT["SymbolNotFound"], "BINANCE:BAD": PERMANENT["ProviderError"]}
        )
    with pytest.raises(
        errors.RetryableFailures, match=r"1 may succeed on retry \(NYSE:IBM\)"
    ) as info:
        raise_for_failures(
            {"NASDAQ:NOPE": PERMANENT["SymbolNotFound"], "NYSE:IBM": TRANSIENT["ProviderTimeout"]}
        )
    assert isinstance(info.value, errors.TransientError)
    assert set(info.value.failures) == {"NASDAQ:NOPE", "NYSE:IBM"}
