"""The one retry policy: bounded exponential backoff, honouring a server's ``Retry-After``.

Every loop that tries again (a provider's requests, the quote stream's reconnects, the tick
collector's flushes, the local stack's restarts) waits ``min(base * 2**(n-1), max_delay)``
seconds after its n-th failure. A server that asks for longer (``Retry-After``) gets it, up to
``max_delay``; asking for more than that gives up at once: a ban of minutes is not slept through
in-process, the error is raised and Airflow comes back later. Callers keep only what is theirs:
which errors are worth another try, and what the last one becomes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from candleflow.errors import TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds form only, any key case), else 0."""
    for key, text in (headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(float(text), 0.0)
            except (TypeError, ValueError):
                return 0.0
    return 0.0


def _retry_after_of(exc: BaseException) -> float:
    return float(getattr(exc, "retry_after", 0.0) or 0.0)


def _short(exc: BaseException, limit: int = 300) -> str:
    """An error's text for a log line: an HTTP error can carry a whole HTML page."""
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Backoff:
    """Up to ``attempts`` tries, ``min(base_delay * 2**(n-1), max_delay)`` seconds apart."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"max_retries gives {self.attempts} attempts; need at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(
                f"backoff delays must be >= 0 seconds, got {self.base_delay}, {self.max_delay}"
            )

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (1 is the first)."""
        return min(self.base_delay * 2 ** (failures - 1), self.max_delay)

    def wait(self, failures: int, retry_after: float = 0.0) -> float | None:
        """Seconds before the next try, or None to give up: the tries are spent, or the
        server asked for a longer wait than ``max_delay``."""
        if failures >= self.attempts or retry_after > self.max_delay:
            return None
        return max(self.delay(failures), retry_after)

    def run(
        self,
        attempt: Callable[[], T],
        *,
        what: str,
        retry_on: tuple[type[BaseException], ...] = (TransientError,),
        on_retry: Callable[[], None] = lambda: None,
        give_up: Callable[[Any, int], BaseException] | None = None,
    ) -> T:
        """Call ``attempt`` until it succeeds; an error of ``retry_on`` is tried again.

        ``on_retry`` runs before each wait (a provider drops its broken connection there).
        The last error is raised as it is, or as ``give_up(error, attempts)`` makes it; its
        ``retry_after`` attribute, when set, is the server's ``Retry-After``.
        """
        failure = 0
        while True:
            try:
                return attempt()
            except retry_on as exc:
                failure += 1
                wait = self.wait(failure, _retry_after_of(exc))
                if wait is None:
                    log.error("%s: giving up after %d attempts: %s", what, failure, _short(exc))
                    if give_up is None:
                        raise
                    raise give_up(exc, failure) from exc
                log.warning(
                    "%s: attempt %d/%d failed (%s: %s); retrying in %.2fs",
                    what,
                    failure,
                    self.attempts,
                    type(exc).__name__,
                    _short(exc),
                    wait,
                )
                on_retry()
                time.sleep(wait)
