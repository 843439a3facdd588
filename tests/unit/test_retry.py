"""The one retry policy (``candleflow.retry``): the backoff, Retry-After, and when to give up."""

from __future__ import annotations

import pytest

from candleflow import retry
from candleflow.errors import PermanentError, ProtocolError, ProviderDisconnected, TransientError
from candleflow.providers.tradingview.retry import RetryPolicy


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    return slept


def failing(*errors: BaseException, result: str = "ok"):
    """An attempt that raises ``errors`` one per call, then returns ``result``."""
    left = list(errors)

    def attempt() -> str:
        if left:
            raise left.pop(0)
        return result

    return attempt


def with_retry_after(exc: Exception, seconds: float) -> Exception:
    exc.retry_after = seconds  # type: ignore[attr-defined]
    return exc


def test_the_delay_doubles_from_the_base_up_to_the_cap():
    policy = retry.Backoff(attempts=10, base_delay=0.5, max_delay=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_bad_settings_name_the_values():
    with pytest.raises(ValueError, match="0 attempts"):
        retry.Backoff(attempts=0)
    with pytest.raises(ValueError, match="-1"):
        retry.Backoff(base_delay=-1)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"RETRY-AFTER": 3}, 3.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 0.0),  # the date form is not read
        ({"Retry-After": None}, 0.0),
        ({"Content-Type": "text/html"}, 0.0),
        (None, 0.0),
    ],
)
def test_retry_after_is_read_in_its_seconds_form_only(headers, seconds):
    assert retry.retry_after_seconds(headers) == seconds


def test_transient_errors_are_retried_with_the_backoff_and_on_retry_runs_first(waits):
    dropped: list[int] = []
    policy = retry.Backoff(attempts=3, base_delay=0.25, max_delay=8.0)
    attempt = failing(ProviderDisconnected("a"), ProviderDisconnected("b"))
    got = policy.run(attempt, what="fetch", on_retry=lambda: dropped.append(len(waits)))
    assert got == "ok"
    assert waits == [0.25, 0.5]
    assert dropped == [0, 1]  # the connection is dropped before each wait


def test_a_retry_after_longer_than_the_backoff_sets_the_wait(waits):
    policy = retry.Backoff(attempts=3, base_delay=0.25, max_delay=8.0)
    policy.run(failing(with_retry_after(ProviderDisconnected("429"), 5.0)), what="fetch")
    assert waits == [5.0]


def test_a_retry_after_beyond_max_delay_gives_up_at_once_without_waiting(waits):
    policy = retry.Backoff(attempts=5, base_delay=0.25, max_delay=8.0)
    ban = with_retry_after(ProviderDisconnected("418"), 600.0)
    with pytest.raises(ProviderDisconnected, match="418"):
        policy.run(failing(ban), what="fetch")
    assert waits == []


def test_the_last_error_is_raised_or_mapped_by_the_caller(waits):
    policy = retry.Backoff(attempts=2, base_delay=0.0)
    with pytest.raises(ProviderDisconnected, match="second"):
        policy.run(failing(ProviderDisconnected("first"), ProviderDisconnected("second")), what="x")
    with pytest.raises(PermanentError, match="gave up after 2: b") as err:
        policy.run(
            failing(ProviderDisconnected("a"), ProviderDisconnected("b")),
            what="x",
            give_up=lambda exc, n: PermanentError(f"gave up after {n}: {exc}"),
        )
    assert isinstance(err.value.__cause__, ProviderDisconnected)


def test_other_errors_are_not_retried(waits):
    policy = retry.Backoff(attempts=4)
    with pytest.raises(PermanentError):
        policy.run(failing(PermanentError("no such symbol")), what="x")
    assert waits == []


def test_tradingview_retries_a_malformed_frame_too(waits):
    policy = RetryPolicy(attempts=3, base_delay=0.0)
    assert policy.run(failing(ProtocolError("bad frame"), TransientError("t")), what="x") == "ok"
    assert len(waits) == 2
    with pytest.raises(ProtocolError):
        retry.Backoff(attempts=3).run(failing(ProtocolError("bad frame")), what="x")


def test_wait_says_when_a_loop_of_its_own_gives_up():
    policy = retry.Backoff(attempts=3, base_delay=1.0, max_delay=4.0)
    assert [policy.wait(n) for n in (1, 2, 3)] == [1.0, 2.0, None]
    assert policy.wait(1, retry_after=3.0) == 3.0
    assert policy.wait(1, retry_after=5.0) is None
