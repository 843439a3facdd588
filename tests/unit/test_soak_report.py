"""The soak's recovery figure: from a fault's start to the end of the first task that started
after the fault ended and succeeded; for a killed collector, to the capture's next try."""

from __future__ import annotations

import datetime as dt

from candleflow.testing.soak.faults import Fault
from candleflow.testing.soak.oracle import Count
from candleflow.testing.soak.report import Report, overlaps, recovery
from candleflow.testing.soak.stack import TASK_TITLE

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ti(dag_id: str, state: str, start: int, end: int | None) -> dict:
    stamp = lambda s: None if s is None else (T0 + dt.timedelta(seconds=s)).isoformat()  # noqa: E731
    return {
        "dag_id": dag_id,
        "state": state,
        "start_date": stamp(start),
        "end_date": stamp(end),
        "try_number": 1,
    }


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


def _fault(kind: str, began: int, ended: int | None = None) -> Fault:
    at = lambda s: T0 + dt.timedelta(seconds=s)  # noqa: E731
    return Fault(kind, at(began), at(began if ended is None else ended))


def test_a_fault_that_began_before_another_recovered_is_reported_as_overlapping_it():
    first, second, later = (
        _fault("kill:scheduler", 0),
        _fault("warehouse:restart", 20, 26),
        _fault("kill:api-server", 200),
    )
    tis = [_ti("ohlcv_1m", "success", 30, 90), _ti("ohlcv_1m", "success", 210, 230)]
    faults = [first, second, later]
    assert recovery(first, tis) == 90.0  # its clock ran across the warehouse restart
    assert overlaps(first, faults, tis) == [second]
    assert overlaps(second, faults, tis) == [first]  # began while the kill had not recovered
    assert overlaps(later, faults, tis) == []


def test_an_unrecovered_fault_overlaps_every_fault_after_it():
    lost, after = _fault("kill:collector", 0), _fault("kill:task", 300)
    assert overlaps(lost, [lost, after], []) == [after]


def test_the_report_gives_each_kinds_worst_over_all_faults_and_over_faults_alone():
    faults = [_fault("kill:scheduler", 0), _fault("warehouse:restart", 20, 26)]
    faults += [_fault("kill:scheduler", 300)]
    tis = [_ti("ohlcv_1m", "success", 30, 90), _ti("ohlcv_1m", "success", 310, 340)]
    report = Report(1, faults, tis, {}, Count(), Count(), Count(), [], [], {})
    kinds = report.kinds()
    assert kinds["kill:scheduler"]["worst_s"] == 90
    assert kinds["kill:scheduler"]["worst_not_overlapped_s"] == 40
    assert kinds["warehouse:restart"]["not_overlapped"] == 0
    assert kinds["warehouse:restart"]["worst_not_overlapped_s"] is None
    assert any("overlapped: warehouse:restart +20s" in line for line in report.lines())


def test_a_task_process_is_told_from_the_local_executors_workers_by_its_title():
    """kill:task kills a task, not the worker that supervises it (the same title prefix)."""
    ti = "01a25310-6325-7dac-8588-099900ae6da4"
    padded = lambda text: text.encode() + b"\0" * 40  # noqa: E731 - setproctitle pads
    assert TASK_TITLE.match(padded(f"airflow worker -- {ti}")).group(1).decode() == ti
    assert TASK_TITLE.match(f"airflow worker -- {ti}".encode())
    for busy in ("<idle>", ti):
        title = f"airflow worker -- LocalExecutor: {busy}"
        assert TASK_TITLE.match(padded(title)) is None


def test_a_killed_collector_recovers_at_its_next_try_even_when_a_later_try_replaced_it():
    fault = _fault("kill:collector", 0)
    latest = [_ti("ticks_capture", "running", 400, None)]  # the listed task instance
    tries = [_ti("ticks_capture", "failed", -100, 0), _ti("ticks_capture", "failed", 20, 200)]
    tries += latest
    assert recovery(fault, latest) == 400.0  # the latest try only: the retry is invisible
    assert recovery(fault, latest, tries) == 20.0
