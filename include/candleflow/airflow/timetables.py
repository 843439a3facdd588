"""``TradingSessionTimetable``: one daily-bars run per trading session of an exchange.

A daily bar is stamped at its session's open and covers ``[open, open + 1 day)`` (the
project's bar convention), so it is final one day after the open. Each run's data
interval is ``[open of session S, open of the next session)`` -- consecutive runs tile
time without gaps, so a backfill of many runs loads exactly what one large window would --
and it runs once the bar of S is final (plus ``delay``), on trading days only: weekends
and holidays get no run. Built on exchange_calendars; registered by the plugin in
``plugins/candleflow_plugin.py`` so the scheduler can deserialise it.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable


@functools.cache
def _calendar(name: str):
    import exchange_calendars

    return exchange_calendars.get_calendar(name, start="1990-01-02")


def _pendulum(ts: Any):
    import pendulum

    return pendulum.instance(ts.to_pydatetime() if hasattr(ts, "to_pydatetime") else ts)


class TradingSessionTimetable(Timetable):
    """Run after each trading session's daily bar is complete."""

    periodic = True
    can_be_scheduled = True

    def __init__(self, calendar: str = "XNYS", delay: dt.timedelta = dt.timedelta(minutes=15)):
        self.calendar = calendar
        self.delay = delay
        self.description = f"after each {calendar} session's daily bar is final (+{delay})"

    @property
    def summary(self) -> str:
        return f"{self.calendar} sessions"

    def serialize(self) -> dict[str, Any]:
        return {"calendar": self.calendar, "delay": self.delay.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> TradingSessionTimetable:
        return cls(data["calendar"], dt.timedelta(seconds=data["delay"]))

    def validate(self) -> None:
        _calendar(self.calendar)  # raises for an unknown calendar name

    # ----- sessions ------------------------------------------------------------------------

    def interval(self, session) -> DataInterval:
        cal = _calendar(self.calendar)
        return DataInterval(
            _pendulum(cal.session_open(session)),
            _pendulum(cal.session_open(cal.next_session(session))),
        )

    def _run_after(self, interval: DataInterval):
        return interval.start + dt.timedelta(days=1) + self.delay

    def _session_on_or_after(self, at: dt.datetime):
        """The first session whose open is at or after ``at``."""
        import pandas as pd

        cal = _calendar(self.calendar)
        session = cal.minute_to_session(pd.Timestamp(at), direction="next")
        if cal.session_open(session) < pd.Timestamp(at):
            session = cal.next_session(session)
        return session

    def _last_complete_session(self, at: dt.datetime):
        """The newest session whose daily bar is final at ``at``."""
        cal = _calendar(self.calendar)
        session = self._session_on_or_after(at - dt.timedelta(days=1) - self.delay)
        while self._run_after(self.interval(session)) > at:
            session = cal.previous_session(session)
        return session

    # ----- the Timetable protocol -----------------------------------------------------------

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        return self.interval(self._last_complete_session(run_after))

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        cal = _calendar(self.calendar)
        if last_automated_data_interval is not None:
            session = cal.next_session(
                self._session_on_or_after(last_automated_data_interval.start)
            )
        elif restriction.earliest is None:
            return None
        else:
            session = self._session_on_or_after(restriction.earliest)
            if not restriction.catchup:
                latest = self._last_complete_session(dt.datetime.now(dt.UTC))
                session = max(session, latest)
        interval = self.interval(session)
        if restriction.latest is not None and interval.start > restriction.latest:
            return None
        return DagRunInfo(run_after=self._run_after(interval), data_interval=interval)


class SettledIntervalTimetable(Timetable):
    """Fixed intervals aligned to the UTC clock, each run once its bars are final.

    A bar starting inside ``[start, end)`` ends up to one timeframe after ``end`` (an XNYS
    1h bar of 10:30 is final at 11:30), so the run waits ``settle`` past the interval's
    end. Cron's data-interval timetable would run at ``end`` and find those bars still
    forming; they would then belong to no later run and be lost.
    """

    periodic = True
    can_be_scheduled = True

    def __init__(self, every: dt.timedelta, settle: dt.timedelta = dt.timedelta(0)):
        if every <= dt.timedelta(0) or dt.timedelta(days=1) % every:
            raise ValueError(f"every must divide a day evenly, got {every}")
        self.every = every
        self.settle = settle
        self.description = f"every {every}, run {settle} after each interval ends"

    @property
    def summary(self) -> str:
        return f"every {self.every} (+{self.settle})"

    def serialize(self) -> dict[str, Any]:
        return {"every": self.every.total_seconds(), "settle": self.settle.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SettledIntervalTimetable:
        return cls(dt.timedelta(seconds=data["every"]), dt.timedelta(seconds=data["settle"]))

    def _floor(self, at):
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        steps = int((at - midnight).total_seconds() // self.every.total_seconds())
        return midnight + steps * self.every

    def _info(self, start) -> DagRunInfo:
        interval = DataInterval(start, start + self.every)
        return DagRunInfo(run_after=interval.end + self.settle, data_interval=interval)

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        end = self._floor(run_after - self.settle)
        return DataInterval(end - self.every, end)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            start = last_automated_data_interval.end
        elif restriction.earliest is None:
            return None
        else:
            start = self._floor(restriction.earliest)
            if start < restriction.earliest:
                start += self.every
            if not restriction.catchup:
                import pendulum

                latest = self.infer_manual_data_interval(run_after=pendulum.now("UTC")).start
                start = max(start, latest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return self._info(start)
