"""The OHLCV timetables: which data interval a run gets and when it may start.

Expectations are written from the exchange's published calendar (NYSE 2024: closed on
4 July, an early close on 3 July) and from the bar convention, not from the code.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from candleflow.airflow.timetables import SettledIntervalTimetable, TradingSessionTimetable

UTC = dt.UTC


def _utc(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


def _runs(timetable, earliest, count, catchup=True):
    restriction = TimeRestriction(earliest=earliest, latest=None, catchup=catchup)
    info, out = None, []
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=info.data_interval if info else None,
            restriction=restriction,
        )
        out.append(info)
    return out


def test_trading_sessions_skip_holidays_and_weekends():
    runs = _runs(TradingSessionTimetable("XNYS"), _utc(2024, 7, 3), 4)
    starts = [r.data_interval.start for r in runs]
    # 3 July (open 09:30 EDT), no 4 July, 5 July, then Monday 8 July and Tuesday 9 July.
    assert starts == [
        _utc(2024, 7, 3, 13, 30),
        _utc(2024, 7, 5, 13, 30),
        _utc(2024, 7, 8, 13, 30),
        _utc(2024, 7, 9, 13, 30),
    ]


def test_trading_session_intervals_tile_time_and_run_after_the_bar_is_final():
    runs = _runs(TradingSessionTimetable("XNYS", dt.timedelta(minutes=15)), _utc(2024, 7, 3), 4)
    for run, following in itertools.pairwise(runs):
        assert run.data_interval.end == following.data_interval.start
    for run in runs:
        assert run.run_after == run.data_interval.start + dt.timedelta(days=1, minutes=15)


def test_trading_session_winter_open_is_14_30_utc():
    (run,) = _runs(TradingSessionTimetable("XNYS"), _utc(2024, 1, 5), 1)
    assert run.data_interval.start == _utc(2024, 1, 5, 14, 30)
    assert run.data_interval.end == _utc(2024, 1, 8, 14, 30)


def test_trading_session_manual_run_takes_the_last_final_session():
    tt = TradingSessionTimetable("XNYS", dt.timedelta(minutes=15))
    # Monday 8 July 12:00 UTC: Friday's bar (open 5 July 13:30) has been final since Saturday.
    interval = tt.infer_manual_data_interval(run_after=_utc(2024, 7, 8, 12))
    assert interval == DataInterval(_utc(2024, 7, 5, 13, 30), _utc(2024, 7, 8, 13, 30))


def test_trading_session_round_trips_through_serialisation():
    tt = TradingSessionTimetable("XNYS", dt.timedelta(minutes=20))
    copy = TradingSessionTimetable.deserialize(tt.serialize())
    assert (copy.calendar, copy.delay) == ("XNYS", dt.timedelta(minutes=20))


def test_settled_intervals_are_aligned_and_wait_for_the_last_bar():
    hourly = SettledIntervalTimetable(dt.timedelta(hours=1), dt.timedelta(hours=1, seconds=30))
    runs = _runs(hourly, _utc(2024, 3, 1, 10, 20), 3)
    assert [r.data_interval.start for r in runs] == [
        _utc(2024, 3, 1, 11),
        _utc(2024, 3, 1, 12),
        _utc(2024, 3, 1, 13),
    ]
    # The XNYS 1h bar of 11:30 UTC ends at 12:30: the run of [11:00, 12:00) waits past it.
    assert runs[0].run_after == _utc(2024, 3, 1, 13, 0, 30)


def test_settled_interval_manual_run_takes_the_last_settled_interval():
    quarter = SettledIntervalTimetable(dt.timedelta(minutes=15), dt.timedelta(minutes=1))
    interval = quarter.infer_manual_data_interval(run_after=_utc(2024, 3, 1, 10, 15, 30))
    assert interval == DataInterval(_utc(2024, 3, 1, 9, 45), _utc(2024, 3, 1, 10, 0))


def test_settled_interval_rejects_an_interval_that_does_not_divide_a_day():
    with pytest.raises(ValueError, match="divide a day"):
        SettledIntervalTimetable(dt.timedelta(minutes=7))
