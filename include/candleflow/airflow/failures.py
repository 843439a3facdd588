"""Turn Candleflow's permanent errors into Airflow's "fail, do not retry".

Airflow retries any exception a task raises. For a ``PermanentError`` (unknown symbol, a
rejected token, a failed validation, a bad setting) a retry only re-fetches from the provider
or re-sends the bad token, so every operator and ``@task`` of Candleflow runs its service call
inside ``fail_permanent`` (a context manager) or under ``@fails_permanently`` (its decorator
form). Transient errors pass through untouched, so Airflow still retries them.

A chunk task that isolates each symbol's failure calls ``raise_for_failures`` once at the end:
it fails without retry only when every failure was permanent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from candleflow.errors import PermanentError, failures_error

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def is_permanent(exc: BaseException) -> bool:
    """True when no retry can fix ``exc`` (a ``PermanentError``)."""
    return isinstance(exc, PermanentError)


@contextlib.contextmanager
def fail_permanent(what: str = "task") -> Iterator[None]:
    """Re-raise a ``PermanentError`` raised inside as ``AirflowFailException`` (no retry).

    The original error is kept as ``__cause__`` so the task log shows its traceback.
    """
    try:
        yield
    except PermanentError as exc:
        log.error("%s failed permanently (no retry): %s: %s", what, type(exc).__name__, exc)
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def fails_permanently(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of ``fail_permanent`` for ``@task`` functions (put it under ``@task``).

    ``functools.wraps`` keeps the signature, which Airflow reads for the task's arguments.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with fail_permanent(func.__name__):
            return func(*args, **kwargs)

    return wrapper


def raise_for_failures(failures: Mapping[str, BaseException], *, what: str = "chunk") -> None:
    """End a task that isolated per-key failures (for example one per symbol).

    Nothing failed: returns. Every failure permanent: ``AirflowFailException`` (retrying would
    redo the same errors). Any other failure: ``RetryableFailures`` (a ``TransientError``
    naming the keys), so Airflow retries the task, which should then redo only those keys.
    """
    if not failures:
        return
    with fail_permanent(what):
        raise failures_error(dict(failures), what=what)
