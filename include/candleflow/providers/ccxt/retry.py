"""Retry ccxt calls: transient faults with the one backoff (``candleflow.retry``), others never.

ccxt sorts its exceptions the way a retry loop needs: ``OperationFailed`` (``NetworkError``,
``DDoSProtection``, ``RateLimitExceeded``, ``ExchangeNotAvailable``, ``RequestTimeout``, and
a malformed reply) may succeed when tried again; ``ExchangeError`` (``BadSymbol``,
``AuthenticationError``, a bad request) will not. The last transient failure is raised as
candleflow's ``TransientError`` so Airflow retries the task later; permanent ones become
``SymbolNotFound``, ``AuthenticationError`` or ``ProviderError`` at once, with the exchange
named. A ``Retry-After`` longer than ``max_delay`` (a Binance 418 ban lasts minutes to days)
is not slept through in-process: the task fails transiently and Airflow comes back later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from candleflow.errors import (
    AuthenticationError,
    CandleflowError,
    ProviderDisconnected,
    ProviderError,
    ProviderTimeout,
    SymbolNotFound,
)
from candleflow.providers.ccxt.exchange import Handle
from candleflow.retry import Backoff, retry_after_seconds

log = logging.getLogger(__name__)
T = TypeVar("T")


class Retry(Backoff):
    """``candleflow.retry.Backoff`` with ccxt's error mapping (the module docstring)."""

    def call(self, handle: Handle, fn: Callable[[Any], T], *, what: str, symbol: str) -> T:
        """``fn(exchange)`` under the exchange's lock, retried as the module docstring says.

        The lock is held for one attempt only: other threads use the exchange while this
        one waits out a backoff.
        """
        import ccxt

        def attempt() -> T:
            with handle.lock:
                try:
                    return fn(handle.exchange)
                except ccxt.OperationFailed as exc:
                    headers = getattr(handle.exchange, "last_response_headers", None)
                    exc.retry_after = retry_after_seconds(headers)  # type: ignore[attr-defined]
                    raise
                except ccxt.BaseError as exc:
                    raise permanent(exc, handle.id, symbol, what) from exc

        return self.run(
            attempt,
            what=f"ccxt {handle.id} {what}",
            retry_on=(ccxt.OperationFailed,),
            give_up=lambda exc, attempts: transient(
                exc, handle.id, what, attempts, exc.retry_after
            ),
        )


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def transient(exc: Exception, exchange: str, what: str, attempts: int, retry_after: float):
    """The candleflow error for a transient ccxt failure that outlasted the retries."""
    import ccxt

    detail = f"{exchange} {what}: {type(exc).__name__} after {attempts} attempt(s): {_short(exc)}"
    if retry_after:
        detail += f" (the exchange asks to wait {retry_after:.0f}s)"
    error = ProviderTimeout(detail) if isinstance(exc, ccxt.RequestTimeout) else None
    error = error or ProviderDisconnected(detail)
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def permanent(exc: Exception, exchange: str, symbol: str, what: str) -> CandleflowError:
    """The candleflow error for a ccxt failure no retry can fix."""
    import ccxt

    if isinstance(exc, ccxt.BadSymbol):
        return SymbolNotFound(symbol, reason=f"{exchange} refused it: {_short(exc)}")
    if isinstance(exc, ccxt.AuthenticationError):
        return AuthenticationError(
            f"{exchange} rejected the API credentials ({what}): {_short(exc)}", reason=str(exc)
        )
    if isinstance(exc, ccxt.NotSupported):
        return ProviderError(f"{exchange} does not support {what}: {_short(exc)}", reason=str(exc))
    return ProviderError(
        f"{exchange} {what} failed: {type(exc).__name__}: {_short(exc)}", reason=str(exc)
    )
