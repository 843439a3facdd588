"""The exception hierarchy. Each docstring says who is expected to handle the error.

Transient errors (``TransientError``) are raised so that Airflow retries the task; permanent
ones fail fast with the offending input in the message.
"""

from __future__ import annotations


class CandleflowError(Exception):
    """Base of every error Candleflow raises on purpose."""


class ConfigError(CandleflowError, ValueError):
    """A setting or argument is invalid. Handled by the user: the message names the setting."""


class BadInputError(CandleflowError, ValueError):
    """An input file or value cannot be read. Handled by the user: names the input and line."""


class UnsupportedOperation(CandleflowError, NotImplementedError):
    """A provider was asked for something its ``capabilities`` do not include."""


class TransientError(CandleflowError):
    """A fault that may go away on its own. Raised so Airflow (or a retry loop) tries again."""


class DatabaseUnavailable(TransientError):
    """The warehouse cannot be reached. Names the host, never the password."""


class ProviderError(CandleflowError):
    """The provider answered with an error. Permanent: carries the provider's reason."""

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
    """The provider sent something the protocol does not allow (a malformed frame)."""


class ProviderTimeout(TransientError):
    """The provider did not answer in time. Retried with backoff, then by Airflow."""


class ProviderDisconnected(TransientError):
    """The connection closed or was refused (including HTTP 429). Retried with backoff."""


class ValidationFailed(CandleflowError):
    """Too many rows of a window failed validation. The task fails; nothing of it loads."""


class MigrationError(CandleflowError):
    """The warehouse schema is not at the version this code expects.

    Handled by the operator: run ``candleflow db migrate``.
    """
