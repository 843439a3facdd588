"""The OHLCV timetables: data intervals that tile time, each run due once its bars closed.

Three shapes, one rule: **a run loads the bars that closed inside its data interval**
``(start, end]`` and is due ``settle`` (seconds) after ``end``. Consecutive intervals share
their edges, so every bar closes in exactly one interval and a backfill of many runs loads
exactly what one large window would.

- ``SettledIntervalTimetable``: fixed intervals on the UTC clock (``every`` divides a day),
  optionally shifted by ``offset``: the hourly ``ohlcv_1h`` runs at 10:00:30 for the bars
  that closed in (09:00, 10:00]. An XNYS 1h bar of 08:30-09:30 New York closes off the hour
  and belongs to the interval it closes in; a DAG of such bars alone can shift its grid by
  ``offset=30m`` so they land seconds after they close instead of half an hour.
- ``MonthlyTimetable``: calendar months in UTC (or ``months``-month blocks aligned to the
  year), for the ``ohlcv_<tf>_history`` DAGs: one backfill run per month.
- ``TradingSessionTimetable``: one daily-bars run per trading session of an exchange.

Registered by the plugin (``candleflow.airflow.plugin``) so the scheduler can deserialise them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

DEFAULT_SETTLE = dt.timedelta(seconds=30)


def _calendar(name: str):
    from candleflow import calendars

    return calendars.get_calendar(name)


def _pendulum(ts: Any) -> pendulum.DateTime:
    return pendulum.instance(ts.to_pydatetime() if hasattr(ts, "to_pydatetime") else ts, tz="UTC")


class _TilingTimetable(Timetable):
    """Intervals ``[_floor(t), _shift(_floor(t), 1))`` that tile time; due ``settle`` after."""

    periodic = True
    can_be_scheduled = True
    settle: dt.timedelta

    def _floor(self, at: pendulum.DateTime) -> pendulum.DateTime:
        raise NotImplementedError

    def _shift(self, start: pendulum.DateTime, steps: int) -> pendulum.DateTime:
        raise NotImplementedError

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        """The newest interval already due at ``run_after``."""
        end = self._floor(_pendulum(run_after) - self.settle)
        return DataInterval(self._shift(end, -1), end)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            start = _pendulum(last_automated_data_interval.end)
        elif restriction.earliest is None:
            return None
        else:
            earliest = _pendulum(restriction.earliest)
            start = self._floor(earliest)
            if start < earliest:
                start = self._shift(start, 1)
            if not restriction.catchup:
                latest = self.infer_manual_data_interval(run_after=pendulum.now("UTC")).start
                start = max(start, latest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        end = self._shift(start, 1)
        return DagRunInfo(run_after=end + self.settle, data_interval=DataInterval(start, end))


class SettledIntervalTimetable(_TilingTimetable):
    """Fixed intervals on the UTC clock (plus ``offset``), each run ``settle`` after its end."""

    def __init__(
        self,
        every: dt.timedelta,
        settle: dt.timedelta = DEFAULT_SETTLE,
        offset: dt.timedelta = dt.timedelta(0),
    ):
        if every <= dt.timedelta(0) or dt.timedelta(days=1) % every:
            raise ValueError(f"every must divide a day evenly, got {every}")
        if not dt.timedelta(0) <= offset < every:
            raise ValueError(f"offset must be within [0, every={every}), got {offset}")
        if settle < dt.timedelta(0):
            raise ValueError(f"settle must be >= 0, got {settle}")
        self.every, self.settle, self.offset = every, settle, offset
        shifted = f" shifted by {offset}" if offset else ""
        self.description = f"every {every}{shifted}, due {settle} after each interval ends"

    @property
    def summary(self) -> str:
        return f"every {self.every} (+{self.settle})"

    def serialize(self) -> dict[str, Any]:
        return {
            "every": self.every.total_seconds(),
            "settle": self.settle.total_seconds(),
            "offset": self.offset.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> SettledIntervalTimetable:
        return cls(
            dt.timedelta(seconds=data["every"]),
            dt.timedelta(seconds=data["settle"]),
            dt.timedelta(seconds=data.get("offset", 0)),
        )

    def _floor(self, at: pendulum.DateTime) -> pendulum.DateTime:
        at = _pendulum(at) - self.offset
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        steps = int((at - midnight).total_seconds() // self.every.total_seconds())
        return midnight + steps * self.every + self.offset

    def _shift(self, start: pendulum.DateTime, steps: int) -> pendulum.DateTime:
        return start + steps * self.every


class MonthlyTimetable(_TilingTimetable):
    """Calendar months in UTC (``months`` at a time, aligned to January), ``settle`` after."""

    def __init__(self, months: int = 1, settle: dt.timedelta = DEFAULT_SETTLE):
        if months not in (1, 2, 3, 4, 6, 12):
            raise ValueError(f"months must divide a year (1, 2, 3, 4, 6 or 12), got {months}")
        self.months, self.settle = months, settle
        span = "month" if months == 1 else f"{months} months"
        self.description = f"every calendar {span} (UTC), due {settle} after it ends"

    @property
    def summary(self) -> str:
        return "monthly" if self.months == 1 else f"every {self.months} months"

    def serialize(self) -> dict[str, Any]:
        return {"months": self.months, "settle": self.settle.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> MonthlyTimetable:
        return cls(data["months"], dt.timedelta(seconds=data["settle"]))

    def _floor(self, at: pendulum.DateTime) -> pendulum.DateTime:
        at = _pendulum(at)
        month = (at.month - 1) // self.months * self.months + 1
        return pendulum.datetime(at.year, month, 1, tz="UTC")

    def _shift(self, start: pendulum.DateTime, steps: int) -> pendulum.DateTime:
        return start.add(months=steps * self.months)


class TradingSessionTimetable(Timetable):
    """One run per trading session of ``calendar``, once the session's daily bar is final.

    A daily bar is stamped at its session's open and covers ``[open, open + 1 day)``; it
    closes inside the interval ``(open of S, open of the next session]``, so each run's data
    interval is ``[open of S, open of next session)`` and the run is due one day after the
    open plus ``delay``. Weekends and holidays get no run. The calendar comes from
    ``candleflow.calendars``.
    """

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
