"""Validate windows of bars: which rows load, which are rejected (and why), which are flagged.

``validate_windows`` judges many windows with one run of the Great Expectations suite
(``suite.py``, run by the warm runner of ``runner.py``); each window's rule masks and result
come from ``window.py``, the rules themselves (names stored in ``rejected_bars.rules``) from
``rules.py`` and ``grid.py``. ``validate_bars`` is the one-window form. Decisions:

- Identical duplicate rows are collapsed first (as ``fetch_bars`` does; counted in the
  summary as ``duplicates_collapsed``). Rows that share a ``ts`` but differ anywhere are a
  conflict: ALL rows of the group are rejected with ``unique_ts``; none is chosen.
- A row can break several rules; all are listed. ``not_null`` covers ts/open/high/low/close
  (NaN and +-inf count as missing); a missing price breaks only ``not_null``, an infinite
  value (a volume too) ``finite``. ``plausible_ts`` refuses a ts before the instrument's
  earliest plausible time (``validation.plausible``: epoch-unit mistakes land in 1970).
- ``price_jump`` compares each row's close with the previous row (in ts order) that passes
  every reject rule; the first such row has no previous bar. It flags (the row still loads)
  unless ``flag_jumps=False``, which makes it a reject rule; ``jump_threshold=None`` turns
  it off.

Why many windows per run: GX's cost is almost all fixed (15-30 ms a run, whatever the rows),
so a sync chunk collects the windows it has fetched into batches (``services.batches``) and
validates each batch at once. Each window still gets its own result, counts and rejects;
``summary["gx_batch"]`` says which run judged it (windows and rows of the batch, GX's verdict
on the whole batch). A process that starts without GX (the CLI) may run the batches in a
helper process instead (``validation.sidecar``).

Importing this package imports neither pandas nor great_expectations; both load on first use,
or before a worker forks its task processes (``candleflow.validation.warm``). Each call logs
and records its duration and whether GX was already warm in this process (``timing`` in the
summary), which is how the first validation inside a task is measured.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from candleflow.domain import DEFAULT_JUMP_THRESHOLD, UTC, Instrument, Timeframe
from candleflow.validation import rules as r
from candleflow.validation.report import ValidationResult
from candleflow.validation.window import Window

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FLAG_RULES",
    "REJECT_RULES",
    "ValidationResult",
    "Window",
    "validate_bars",
    "validate_windows",
]

REJECT_RULES = r.REJECT_RULES
FLAG_RULES = r.FLAG_RULES

log = logging.getLogger(__name__)
_CALLS = {"pid": os.getpid(), "count": 0}  # validations in this process (a fork starts at 0)


def validate_bars(
    bars: pd.DataFrame,
    *,
    instrument: Instrument,
    timeframe: str | Timeframe,
    start: dt.datetime | str,
    end: dt.datetime | str,
    now: dt.datetime | None = None,
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD,
    flag_jumps: bool = True,
) -> ValidationResult:
    """Check ``bars`` of ``instrument`` for ``[start, end)``; see the module docstring.

    A frame without one of ``BAR_COLUMNS`` (or with a non-numeric price column) raises
    ``BadInputError``: the whole frame is unusable, so no row is judged.
    """
    from candleflow.domain import to_utc

    window = Window(
        bars,
        instrument,
        Timeframe.parse(timeframe),
        to_utc(start, name="start"),
        to_utc(end, name="end"),
        to_utc(now or dt.datetime.now(UTC), name="now"),
    )
    (outcome,) = validate_windows([window], jump_threshold=jump_threshold, flag_jumps=flag_jumps)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def validate_windows(
    windows: Sequence[Window],
    *,
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD,
    flag_jumps: bool = True,
) -> list[ValidationResult | Exception]:
    """Each window's ``ValidationResult``, from one GX run over all of them.

    A window whose frame is unusable (``BadInputError``: a missing or non-numeric column)
    gets its exception in its place instead of a result, and the others are still judged.
    """
    import pandas as pd

    from candleflow.errors import BadInputError
    from candleflow.validation import runner, suite
    from candleflow.validation import window as w

    if jump_threshold is not None and not jump_threshold > 0:
        raise ValueError(f"jump_threshold must be > 0 or None, got {jump_threshold!r}")
    began = time.perf_counter()
    jump_rejects = not flag_jumps
    warm = runner.is_warm(jump_threshold, jump_rejects)
    outcomes: list[Any] = []
    for index, window in enumerate(windows):
        try:
            outcomes.append(w.prepare(window, jump_threshold, index))
        except BadInputError as exc:
            outcomes.append(exc)
    ready = [p for p in outcomes if isinstance(p, w.Prepared)]
    if not ready:
        return outcomes
    frames = [p.gx_frame for p in ready]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    run = suite.run_suite(frame, jump_threshold=jump_threshold, jump_rejects=jump_rejects)
    totals: dict[str, int] = {}
    for p in ready:
        for check, count in p.counts().items():
            totals[check] = totals.get(check, 0) + count
    suite.cross_check(run, totals)
    seconds = time.perf_counter() - began
    batch = {"windows": len(ready), "rows": len(frame), "gx_success": run.success}
    timing = {"seconds": seconds, "gx_warm": warm, "nth_in_process": _nth()}
    for i, p in enumerate(outcomes):
        if isinstance(p, w.Prepared):
            context = _context(p, jump_threshold, jump_rejects)
            result = w.finish(p, run, batch=batch, jump_rejects=jump_rejects, context=context)
            outcomes[i] = result
            result.summary["timing"] = timing
            _log(p.window, result, seconds, warm, len(ready))
    return outcomes


def _context(p: Any, jump_threshold: float | None, jump_rejects: bool) -> dict[str, Any]:
    window = p.window
    return {
        "symbol": window.instrument.symbol,
        "timeframe": window.timeframe.name,
        "window": [window.start.isoformat(), window.end.isoformat()],
        "now": window.now.isoformat(),
        "jump_threshold": jump_threshold,
        "price_jump_rejects": jump_rejects,
    }


def _log(window: Window, result: ValidationResult, seconds: float, warm: bool, n: int) -> None:
    log.info(
        "validated %s %s [%s, %s): %d rows, %d valid, %d rejected, %d flagged,"
        " gx success %s, %.1f ms%s%s",
        window.instrument.symbol,
        window.timeframe,
        window.start,
        window.end,
        result.summary["rows_checked"],
        len(result.valid),
        len(result.rejected),
        len(result.flagged),
        result.summary["gx_success"],
        seconds * 1000,
        f" (one GX run for {n} windows)" if n > 1 else "",
        "" if warm else " (GX warmed up in this call)",
    )


def _nth() -> int:
    """This call's number among the validations of this process (1 = the first)."""
    if _CALLS["pid"] != os.getpid():  # a forked task process: its own count
        _CALLS.update(pid=os.getpid(), count=0)
    _CALLS["count"] += 1
    return _CALLS["count"]
