"""Validate a window of bars: which rows load, which are rejected (and why), which are flagged.

``validate_bars`` runs the Great Expectations suite of ``suite.py`` on the bars and splits
them by the rules of ``rules.py`` (names stored in ``rejected_bars.rules``). Decisions:

- Identical duplicate rows are collapsed first (as ``fetch_bars`` does; counted in the
  summary as ``duplicates_collapsed``). Rows that share a ``ts`` but differ anywhere are a
  conflict: ALL rows of the group are rejected with ``unique_ts``; none is chosen.
- A row can break several rules; all are listed. ``not_null`` covers ts/open/high/low/close
  (NaN and +-inf count as missing); a missing price breaks only ``not_null``.
- ``price_jump`` compares each row's close with the previous row (in ts order) that passes
  every reject rule; the first such row has no previous bar. It flags (the row still loads)
  unless ``flag_jumps=False``, which makes it a reject rule; ``jump_threshold=None`` turns
  it off.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from candleflow.domain import UTC, Instrument, Timeframe
from candleflow.validation import rules as r

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLAG_RULES", "REJECT_RULES", "ValidationResult", "validate_bars"]

REJECT_RULES = r.REJECT_RULES
FLAG_RULES = r.FLAG_RULES

log = logging.getLogger(__name__)
_CALLS = {"pid": os.getpid(), "count": 0}  # validations in this process (a fork starts at 0)


@dataclass(frozen=True)
class ValidationResult:
    """What ``validate_bars`` found. ``summary`` and ``gx_result`` are JSON-serialisable."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    flagged: pd.DataFrame
    summary: dict[str, Any]
    gx_result: dict[str, Any] = field(repr=False)

    @property
    def rejected_share(self) -> float:
        """Rejected rows over rows checked (0.0 for an empty window): the sync's threshold."""
        checked = self.summary["rows_checked"]
        return self.summary["rows_rejected"] / checked if checked else 0.0


def validate_bars(
    bars: pd.DataFrame,
    *,
    instrument: Instrument,
    timeframe: str | Timeframe,
    start: dt.datetime | str,
    end: dt.datetime | str,
    now: dt.datetime | None = None,
    jump_threshold: float | None = 0.5,
    flag_jumps: bool = True,
) -> ValidationResult:
    """Check ``bars`` of ``instrument`` for ``[start, end)``; see the module docstring.

    A frame without one of ``BAR_COLUMNS`` (or with a non-numeric price column) raises
    ``BadInputError``: the whole frame is unusable, so no row is judged.
    """
    import numpy as np

    from candleflow.domain import to_utc
    from candleflow.validation import grid, report, runner, suite

    began = time.perf_counter()
    tf = Timeframe.parse(timeframe)
    start, end = to_utc(start, name="start"), to_utc(end, name="end")
    now = to_utc(now or dt.datetime.now(UTC), name="now")
    if jump_threshold is not None and not jump_threshold > 0:
        raise ValueError(f"jump_threshold must be > 0 or None, got {jump_threshold!r}")
    jump_rejects = not flag_jumps
    warm = runner.is_warm(jump_threshold, jump_rejects)
    prepared = r.prepare(bars)
    frame = r.collapse_identical(prepared)
    cols = r.columns(frame)
    ends = r.bar_ends(frame, cols, tf)
    grid_ok = grid.on_grid(frame["ts"], instrument, tf)
    bounds = {k: _micros(v) for k, v in (("start", start), ("end", end), ("now", now))}
    masks = r.check_masks(cols, grid_ok=grid_ok, ends=ends, **bounds)
    rule_masks = r.rule_masks(masks)
    passed = ~np.logical_or.reduce(list(rule_masks.values()))
    changes = r.price_changes(cols, passed)
    abs_change = np.abs(changes)
    if jump_threshold is not None:
        masks[r.PRICE_JUMP] = abs_change > jump_threshold
        rule_masks[r.PRICE_JUMP] = masks[r.PRICE_JUMP]
    gx_frame = suite.gx_frame(cols, ends=ends, on_grid=grid_ok, abs_change=abs_change, **bounds)
    run = suite.run_suite(gx_frame, jump_threshold=jump_threshold, jump_rejects=jump_rejects)
    suite.cross_check(run, {check: int(mask.sum()) for check, mask in masks.items()})
    reject_rules = [*REJECT_RULES, *(FLAG_RULES if jump_rejects else ())]
    flag_rules = [] if jump_rejects else list(FLAG_RULES)
    bad = np.logical_or.reduce([rule_masks[n] for n in reject_rules if n in rule_masks])
    flag = np.zeros(len(frame), dtype=bool)
    for name in flag_rules:
        flag |= rule_masks.get(name, flag) & ~bad
    result = ValidationResult(
        valid=frame.loc[~bad].reset_index(drop=True) if bad.any() else frame,
        rejected=report.rejected(frame, bad, rule_masks, reject_rules),
        flagged=report.flagged(frame, flag, rule_masks, flag_rules, changes),
        summary={},
        gx_result=run.result,
    )
    context = {
        "symbol": instrument.symbol,
        "timeframe": tf.name,
        "window": [start.isoformat(), end.isoformat()],
        "now": now.isoformat(),
        "rows_in": len(prepared),
        "duplicates_collapsed": len(prepared) - len(frame),
        "jump_threshold": jump_threshold,
        "price_jump_rejects": jump_rejects,
    }
    result.summary.update(report.summary(result, context=context, rule_masks=rule_masks, run=run))
    seconds = time.perf_counter() - began
    result.summary["timing"] = {"seconds": seconds, "gx_warm": warm, "nth_in_process": _nth()}
    log.info(
        "validated %s %s [%s, %s): %d rows, %d valid, %d rejected, %d flagged,"
        " gx success %s, %.1f ms%s",
        instrument.symbol,
        tf,
        start,
        end,
        len(frame),
        len(result.valid),
        len(result.rejected),
        len(result.flagged),
        run.success,
        seconds * 1000,
        "" if warm else " (GX warmed up in this call)",
    )
    return result


def _micros(value: dt.datetime) -> int:
    """A UTC datetime as int64 microseconds since the epoch, exactly."""
    delta = value - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _nth() -> int:
    """This call's number among the validations of this process (1 = the first)."""
    if _CALLS["pid"] != os.getpid():  # a forked task process: its own count
        _CALLS.update(pid=os.getpid(), count=0)
    _CALLS["count"] += 1
    return _CALLS["count"]
