"""A capture's try ends with its run's window, so a retried run still ends in its slot."""

from __future__ import annotations

import datetime as dt

from candleflow.airflow.dags.ticks_capture import MIN_TRY_SECONDS, try_seconds

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


def test_the_first_try_captures_the_whole_window():
    assert try_seconds(270, START, at(2)) == 268


def test_a_retry_captures_the_rest_of_the_window_only():
    assert try_seconds(270, START, at(200)) == 70


def test_a_retry_after_the_window_captures_a_moment_and_ends():
    assert try_seconds(270, START, at(900)) == MIN_TRY_SECONDS


def test_without_a_run_start_the_try_captures_the_seconds_asked():
    assert try_seconds(270, None, at(900)) == 270
