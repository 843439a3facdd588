"""Retry with bounded exponential backoff, and the timing counters of a fetch.

Why separate from the socket: the policy wraps a whole attempt (connect, sessions, pages),
so a reconnect resumes the work; and ``Timings`` is shared by every socket a provider opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from candleflow.errors import ProtocolError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Timings:
    """Cumulative counters for the benchmark: where the time of a fetch goes."""

    network_wait_s: float = 0.0  # blocked in recv (server work + transfer)
    decode_s: float = 0.0  # splitting envelopes and json.loads
    merge_s: float = 0.0  # parsing bar arrays into the BarStore (sentinels, dedupe by time)
    frame_build_s: float = 0.0  # building the pandas DataFrame
    frames: int = 0
    connections: int = 0
    messages: int = 0
    chars: int = 0
    reconnects: int = 0
    pages: int = 0  # history replies read (series loads and request_more_data)
    bars_received: int = 0  # bars merged, before the window trim
    range_fallbacks: int = 0  # fetches whose ranged request the server ignored

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``min(base * 2**(n-1), max_delay)`` before attempt n+1."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"max_retries gives {self.attempts} attempts; need at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(
                f"backoff delays must be >= 0, got {self.base_delay}, {self.max_delay}"
            )

    def delay(self, failures: int) -> float:
        return min(self.base_delay * 2 ** (failures - 1), self.max_delay)

    def run(self, attempt: Callable[[], T], *, what: str, on_retry: Callable[[], None]) -> T:
        """Call ``attempt`` until it succeeds; transient errors are retried, others raised.

        ``on_retry`` drops the broken connection; ``attempt`` must reconnect and resume.
        A malformed frame (``ProtocolError``) is retried too: the stream position is lost,
        so the only safe continuation is a new socket; if it persists it is raised as the
        permanent error it then is. Otherwise the last error is a ``TransientError``, so
        Airflow retries the task later.
        """
        for failure in range(1, self.attempts + 1):
            try:
                return attempt()
            except (TransientError, ProtocolError) as exc:
                if failure == self.attempts:
                    log.error("%s: giving up after %d attempts: %s", what, failure, exc)
                    raise
                retry_after = min(float(getattr(exc, "retry_after", 0.0)), self.max_delay)
                wait = max(self.delay(failure), retry_after)
                log.warning(
                    "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                    what,
                    failure,
                    self.attempts,
                    exc,
                    wait,
                )
                on_retry()
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def retry_after_seconds(headers: dict[str, str] | None) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds form only), else 0."""
    for key, text in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(float(text), 0.0)
            except ValueError:
                return 0.0
    return 0.0
