"""TradingView's use of the one retry policy (``candleflow.retry``), and a fetch's timings.

Why separate from the socket: the policy wraps a whole attempt (connect, sessions, pages),
so a reconnect resumes the work; and ``Timings`` is shared by every socket a provider opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from candleflow.errors import ProtocolError, TransientError
from candleflow.retry import Backoff

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


class RetryPolicy(Backoff):
    """``candleflow.retry.Backoff`` over whole attempts; a malformed frame is retried too.

    ``on_retry`` drops the broken connection; ``attempt`` must reconnect and resume. A
    ``ProtocolError`` means the stream position is lost, so the only safe continuation is a
    new socket; if it persists it is raised as the permanent error it then is. Otherwise the
    last error is a ``TransientError``, so Airflow retries the task later.
    """

    def run(
        self,
        attempt: Callable[[], T],
        *,
        what: str,
        retry_on: tuple[type[BaseException], ...] = (TransientError, ProtocolError),
        on_retry: Callable[[], None] = lambda: None,
        give_up: Callable[[Any, int], BaseException] | None = None,
    ) -> T:
        return super().run(
            attempt, what=what, retry_on=retry_on, on_retry=on_retry, give_up=give_up
        )
