"""The exception hierarchy. Each docstring says who is expected to handle the error.

Two families decide what Airflow does with a failed task:

- ``TransientError``: a fault that may go away on its own (a timeout, a dropped socket, an
  unreachable database). It is raised as is, so Airflow retries the task.
- ``PermanentError``: something no retry can fix (an unknown symbol, a rejected token, a window
  that failed validation, a bad setting or input). ``candleflow.airflow.failures`` turns it into
  ``AirflowFailException``, so the task fails once, without retries that would re-fetch from the
  provider or re-send a bad token.

A class belongs to at most one family (enforced below); an error in neither family (a bug)
keeps Airflow's default handling, which is to retry.
"""

from __future__ import annotations


class CandleflowError(Exception):
    """Base of every error Candleflow raises on purpose."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        families = {base.__name__ for base in cls.__mro__} & {"TransientError", "PermanentError"}
        if len(families) == 2:
            raise TypeError(f"{cls.__name__} cannot be both transient and permanent")


class PermanentError(CandleflowError):
    """What no retry can fix. Airflow tasks fail at once (no retry); a person fixes the cause."""


class TransientError(CandleflowError):
    """A fault that may go away on its own. Raised so Airflow (or a retry loop) tries again."""


class ConfigError(PermanentError, ValueError):
    """A setting or argument is invalid. Permanent: the user fixes the setting the message names."""


class BadInputError(PermanentError, ValueError):
    """An input file or value cannot be read. Permanent: names the input and line to fix."""


class UnsupportedOperation(PermanentError, NotImplementedError):
    """A provider was asked for something its ``capabilities`` do not include. Permanent."""


class DatabaseUnavailable(TransientError):
    """The warehouse cannot be reached. Transient; names the host, never the password."""


class ProviderError(PermanentError):
    """The provider answered with an error. Permanent: carries the provider's reason.

    Faults of the provider that may pass (timeouts, disconnects, HTTP 429/5xx) are not
    ``ProviderError``: they are ``ProviderTimeout`` / ``ProviderDisconnected`` (transient).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class SymbolNotFound(ProviderError):
    """The provider does not know the symbol. Permanent: fail the symbol, keep the others."""

    def __init__(self, symbol: str, *, reason: str | None = None) -> None:
        super().__init__(
            f"symbol not found: {symbol!r} ({reason or 'unknown symbol'})", reason=reason
        )
        self.symbol = symbol


class AuthenticationError(ProviderError):
    """The provider rejected the credentials. Permanent: the user fixes the token."""


class ProtocolError(ProviderError):
    """The provider sent something the protocol does not allow (a malformed frame).

    Permanent once it escapes the provider: the provider's own retry loop already reconnected
    and saw it again, so a task retry would only repeat it.
    """


class ProviderTimeout(TransientError):
    """The provider did not answer in time. Retried with backoff, then by Airflow."""


class ProviderDisconnected(TransientError):
    """The connection closed or was refused (including HTTP 429). Retried with backoff."""


class UnknownInstrument(PermanentError, LookupError):
    """The warehouse has no instrument of that symbol (a typo, a lowercase symbol, one never
    synced). Permanent: the message suggests the closest stored symbols."""


class ValidationFailed(PermanentError):
    """Too many rows of a window failed validation. Permanent: the task fails once; nothing of
    the window loads, its rejects are stored, and a retry would fetch the same bad rows."""


class MigrationError(PermanentError):
    """The warehouse schema is not at the version this code expects.

    Permanent: handled by the operator, who runs ``candleflow db migrate``.
    """


class WarehouseUnhealthy(PermanentError):
    """The warehouse answers at the right schema but is not in order (rows sitting in a
    DEFAULT partition: a partition is missing). Permanent: retrying changes nothing."""


class PermanentFailures(PermanentError):
    """Several keys (symbols) failed and none of them can succeed on a retry.

    Raised at the end of a loop that isolated each key's failure, after the others were stored.
    ``failures`` maps each key to its error.
    """

    def __init__(self, message: str, failures: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.failures = failures


class RetryableFailures(TransientError):
    """Several keys failed and at least one may succeed on a retry: Airflow retries the task."""

    def __init__(self, message: str, failures: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.failures = failures


def failures_error(
    failures: dict[str, BaseException], *, what: str
) -> PermanentFailures | RetryableFailures:
    """One error for the keyed failures of a loop: permanent only when every failure is."""
    summary = "; ".join(f"{key}: {type(exc).__name__}: {exc}" for key, exc in failures.items())
    permanent = [key for key, exc in failures.items() if isinstance(exc, PermanentError)]
    if len(permanent) == len(failures):
        return PermanentFailures(f"{what}: {len(failures)} failed: {summary}", failures)
    retryable = sorted(set(failures) - set(permanent))
    return RetryableFailures(
        f"{what}: {len(failures)} failed, {len(retryable)} may succeed on retry "
        f"({', '.join(retryable)}): {summary}",
        failures,
    )
