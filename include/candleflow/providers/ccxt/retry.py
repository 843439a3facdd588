"""Retry ccxt calls: transient faults with backoff (honouring ``Retry-After``), others never.

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

import dataclasses
import logging
import time
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

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Retry:
    """Up to ``attempts`` tries, ``min(base * 2**(n-1), max_delay)`` seconds apart."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"max_retries gives {self.attempts} attempts; need at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(
                f"backoff must be >= 0 seconds, got {self.base_delay}, {self.max_delay}"
            )

    def call(self, handle: Handle, fn: Callable[[Any], T], *, what: str, symbol: str) -> T:
        """``fn(exchange)`` under the exchange's lock, retried as the module docstring says.

        The lock is held for one attempt only: other threads use the exchange while this
        one waits out a backoff.
        """
        import ccxt

        for attempt in range(1, self.attempts + 1):
            with handle.lock:
                try:
                    return fn(handle.exchange)
                except ccxt.OperationFailed as exc:
                    failure, retry_after = exc, _retry_after(handle.exchange)
                except ccxt.BaseError as exc:
                    raise permanent(exc, handle.id, symbol, what) from exc
            wait = max(min(self.base_delay * 2 ** (attempt - 1), self.max_delay), retry_after)
            if attempt == self.attempts or retry_after > self.max_delay:
                log.error(
                    "ccxt %s %s: giving up after %d attempts: %s",
                    handle.id,
                    what,
                    attempt,
                    _short(failure),
                )
                raise transient(failure, handle.id, what, attempt, retry_after) from failure
            log.warning(
                "ccxt %s %s: attempt %d/%d failed (%s: %s); retrying in %.2fs",
                handle.id,
                what,
                attempt,
                self.attempts,
                type(failure).__name__,
                _short(failure),
                wait,
            )
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exchange: Any) -> float:
    """Seconds from the failed reply's ``Retry-After`` header (delta-seconds form), else 0."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    for key in headers:
        if key.lower() == "retry-after":
            try:
                return max(float(headers[key]), 0.0)
            except (TypeError, ValueError):
                return 0.0
    return 0.0


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
