"""The soak's recovery figure: from a fault's start to the end of the first task that started
after the fault ended and succeeded; for a killed collector, to the capture's next try."""

from __future__ import annotations

import datetime as dt

from candleflow.testing.soak.faults import Fault
from candleflow.testing.soak.report import recovery

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ti(dag_id: str, state: str, start: int, end: int | None) -> dict:
    stamp = lambda s: None if s is None else (T0 + dt.timedelta(seconds=s)).isoformat()  # noqa: E731
    return {"dag_id": dag_id, "state": state, "start_date": stamp(start), "end_date": stamp(end)}


def test_recovery_is_the_next_successful_work_after_the_fault():
    fault = Fault("warehouse:restart", T0, T0 + dt.timedelta(seconds=6))
    tis = [
        _ti("ohlcv_1m", "success", 2, 30),  # began during the fault: proves nothing
        _ti("ohlcv_1m", "failed", 10, 20),
        _ti("ticks_capture", "success", 8, 9),  # the capture is not the measure
        _ti("ohlcv_1m", "success", 40, 55),
        _ti("ohlcv_1h", "success", 50, 70),
    ]
    assert recovery(fault, tis) == 55.0
    assert recovery(fault, tis[:3]) is None  # not recovered


def test_a_killed_collector_recovers_when_the_capture_runs_again():
    fault = Fault("kill:collector", T0, T0)
    assert recovery(fault, [_ti("ticks_capture", "running", 25, None)]) == 25.0
