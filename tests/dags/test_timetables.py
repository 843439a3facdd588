"""The OHLCV timetables: which data interval a run gets and when it may start.

Expectations are written from the exchange's published calendar (NYSE 2024: closed on
4 July, an early close on 3 July), from the bar convention (a bar covers [ts, ts + tf) and
belongs to the interval it closes in) and from the calendar, not from the code.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from candleflow.airflow.timetables import (
    MonthlyTimetable,
    SettledIntervalTimetable,
    TradingSessionTimetable,
)

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
SETTLE = dt.timedelta(seconds=30)


def _utc(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


def _runs(timetable, earliest, count=None, catchup=True, latest=None):
    restriction = TimeRestriction(earliest=earliest, latest=latest, catchup=catchup)
    info, out = None, []
    while count is None or len(out) < count:
        info = timetable.next_dagrun_info(
            last_automated_data_interval=info.data_interval if info else None,
            restriction=restriction,
        )
        if info is None:
            break
        out.append(info)
    return out


def _owner(runs, bar_end):
    """The runs whose interval (start, end] holds a bar's close."""
    return [r for r in runs if r.data_interval.start < bar_end <= r.data_interval.end]


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
        # the session's daily bar closes one day after its open: inside (start, end]
        assert _owner(runs, run.data_interval.start + dt.timedelta(days=1)) == [run]


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


def test_hourly_run_is_due_seconds_after_its_hour_closes_24x7():
    runs = _runs(SettledIntervalTimetable(HOUR, SETTLE), _utc(2024, 3, 1, 10, 20), 3)
    assert [r.data_interval.start for r in runs] == [
        _utc(2024, 3, 1, 11),
        _utc(2024, 3, 1, 12),
        _utc(2024, 3, 1, 13),
    ]
    assert runs[0].run_after == _utc(2024, 3, 1, 12, 0, 30)
    # A 24x7 bar of 11:00 closes at 12:00: it is loaded by the run of [11:00, 12:00),
    # 30 seconds after it closed, not an hour later.
    (owner,) = _owner(runs, _utc(2024, 3, 1, 12))
    assert owner is runs[0]
    assert owner.run_after - _utc(2024, 3, 1, 12) == SETTLE


def test_xnys_bar_off_the_hour_belongs_to_the_interval_it_closes_in():
    runs = _runs(SettledIntervalTimetable(HOUR, SETTLE), _utc(2024, 3, 5, 13), 4)
    # 5 March 2024 (EST): the 09:30 New York bar is 14:30-15:30 UTC; it closes in (15:00, 16:00].
    (owner,) = _owner(runs, _utc(2024, 3, 5, 15, 30))
    assert owner.data_interval == DataInterval(_utc(2024, 3, 5, 15), _utc(2024, 3, 5, 16))
    assert owner.run_after == _utc(2024, 3, 5, 16, 0, 30)


def test_an_offset_grid_loads_xnys_hourly_bars_seconds_after_they_close():
    half = dt.timedelta(minutes=30)
    runs = _runs(SettledIntervalTimetable(HOUR, SETTLE, offset=half), _utc(2024, 7, 1, 13), 8)
    assert runs[0].data_interval == DataInterval(_utc(2024, 7, 1, 13, 30), _utc(2024, 7, 1, 14, 30))
    # 1 July 2024 (EDT): New York 09:30, 10:30, ... 15:30 bars start at 13:30 ... 19:30 UTC.
    for start in (13, 14, 15, 16, 17, 18, 19):
        close = _utc(2024, 7, 1, start + 1, 30)
        (owner,) = _owner(runs, close)
        assert owner.data_interval.end == close
        assert owner.run_after == close + SETTLE


def test_settled_intervals_tile_time():
    for timetable in (
        SettledIntervalTimetable(dt.timedelta(minutes=15), SETTLE),
        SettledIntervalTimetable(HOUR, SETTLE, offset=dt.timedelta(minutes=30)),
    ):
        runs = _runs(timetable, _utc(2024, 3, 9, 22, 7), 12)
        for run, following in itertools.pairwise(runs):
            assert run.data_interval.end == following.data_interval.start
            assert run.data_interval.end - run.data_interval.start == timetable.every


def test_settled_interval_manual_run_takes_the_last_settled_interval():
    quarter = SettledIntervalTimetable(dt.timedelta(minutes=15), dt.timedelta(minutes=1))
    interval = quarter.infer_manual_data_interval(run_after=_utc(2024, 3, 1, 10, 15, 30))
    assert interval == DataInterval(_utc(2024, 3, 1, 9, 45), _utc(2024, 3, 1, 10, 0))
    interval = quarter.infer_manual_data_interval(run_after=_utc(2024, 3, 1, 10, 16))
    assert interval == DataInterval(_utc(2024, 3, 1, 10, 0), _utc(2024, 3, 1, 10, 15))


def test_settled_interval_round_trips_and_reads_old_serialisations():
    tt = SettledIntervalTimetable(HOUR, SETTLE, offset=dt.timedelta(minutes=30))
    copy = SettledIntervalTimetable.deserialize(tt.serialize())
    assert (copy.every, copy.settle, copy.offset) == (HOUR, SETTLE, dt.timedelta(minutes=30))
    old = SettledIntervalTimetable.deserialize({"every": 3600.0, "settle": 3630.0})
    assert old.offset == dt.timedelta(0)


def test_settled_interval_rejects_bad_settings():
    with pytest.raises(ValueError, match="divide a day"):
        SettledIntervalTimetable(dt.timedelta(minutes=7))
    with pytest.raises(ValueError, match="offset"):
        SettledIntervalTimetable(HOUR, offset=HOUR)
    with pytest.raises(ValueError, match="settle"):
        SettledIntervalTimetable(HOUR, -SETTLE)


def test_a_year_backfill_of_the_monthly_timetable_is_one_run_per_calendar_month():
    runs = _runs(MonthlyTimetable(), _utc(2025, 1, 1), latest=_utc(2026, 1, 1))
    # Airflow's backfill range is inclusive: 2025's twelve months and January 2026.
    assert [r.data_interval.start for r in runs] == [_utc(2025, m, 1) for m in range(1, 13)] + [
        _utc(2026, 1, 1)
    ]
    assert runs[1].data_interval == DataInterval(_utc(2025, 2, 1), _utc(2025, 3, 1))  # 28 days
    for run, following in itertools.pairwise(runs):
        assert run.data_interval.end == following.data_interval.start
    assert runs[11].run_after == _utc(2026, 1, 1, 0, 0, 30)


def test_monthly_scheduled_run_takes_the_last_closed_month():
    monthly = MonthlyTimetable()
    interval = monthly.infer_manual_data_interval(run_after=_utc(2026, 12, 1, 9))
    assert interval == DataInterval(_utc(2026, 11, 1), _utc(2026, 12, 1))
    quarters = MonthlyTimetable(3)
    interval = quarters.infer_manual_data_interval(run_after=_utc(2025, 5, 20))
    assert interval == DataInterval(_utc(2025, 1, 1), _utc(2025, 4, 1))
    copy = MonthlyTimetable.deserialize(quarters.serialize())
    assert (copy.months, copy.settle) == (3, quarters.settle)
    with pytest.raises(ValueError, match="divide a year"):
        MonthlyTimetable(5)


def test_monthly_without_catchup_starts_at_the_last_closed_month():
    (run,) = _runs(MonthlyTimetable(), _utc(2000, 1, 1), 1, catchup=False)
    now = pendulum.now("UTC")
    assert run.data_interval.end <= now < run.data_interval.end.add(months=1) + SETTLE
