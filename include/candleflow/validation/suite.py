"""The Great Expectations suite for bars, and the warm runner that validates frames with it.

What runs in GX: one expectation per check of ``rules.CHECKS`` (``meta`` carries the rule
and check names), on the bars plus derived columns, so that every rule is a stock GX 1.x
expectation whose arguments never change: the candle's ``upper_wick`` (high - max(open,
close)), ``lower_wick`` (min(open, close) - low) and ``range`` (high - low), each >= 0; the
bar's place in the window, ``since_start`` (ts - start, >= 0), ``until_end`` (end - ts,
> 0) and ``closed_for`` (now - bar end, >= 0); ``on_grid``; ``abs_change``. A difference
is the comparison itself (for finite doubles x - y >= 0 exactly when x >= y, IEEE 754 with
gradual underflow) and a missing operand makes it NaN, which GX skips as the masks do.
GX's pair expectations would say the same at twice the cost: they copy the frame to drop
missing values for each of their metrics.

GX sees one float64 block (``gx_frame``): times as microseconds since the epoch (exact in
float64 until 2255; NaT as NaN, which GX's map expectations skip as they skip NaT) and
``on_grid`` as 1.0/0.0. One block, because GX filters and copies the frame for almost
every metric, and with a block per zoned timestamp column those copies were most of its
run time; object column labels, because pandas' default pyarrow string index made GX's
column lookups several times slower.

GX gives the verdict of record and the counts (each expectation's own ``unexpected_count``
metric); the vectorised masks of ``rules.py`` give the per-row attribution, and
``cross_check`` fails loudly when the two disagree.

How it runs: ``candleflow.validation.gx`` holds GX's process state and builds the suite's
expectations once per variant; ``candleflow.validation.runner`` holds GX's validator, graph and
expectations warm per process (a one-bar window in milliseconds instead of 0.4 s);
``engine="stock"`` takes GX's public ``Batch.validate`` instead, and a test holds the two to
the same verdicts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from candleflow.validation import rules as r
from candleflow.validation import runner
from candleflow.validation.gx import GX_COLUMNS, GX_LOCK, RESULT_FORMAT, SUITE_NAME

__all__ = [
    "GX_COLUMNS",
    "RESULT_FORMAT",
    "SUITE_NAME",
    "SuiteRun",
    "cross_check",
    "gx_frame",
    "run_suite",
]

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteRun:
    """The GX verdict: the JSON result and, per check, success and unexpected count."""

    success: bool
    checks: dict[str, dict[str, Any]]
    result: dict[str, Any]
    table_success: bool = True  # the expectations of the whole table (its columns)


def gx_frame(
    cols: r.Columns,
    *,
    ends: np.ndarray,
    on_grid: np.ndarray,
    abs_change: np.ndarray,
    start: int,
    end: int,
    now: int,
    earliest: int,
    window: int = 0,
) -> pd.DataFrame:
    """What GX validates: ``GX_COLUMNS`` as one float64 block (see the module docstring);
    ``ends``, the window bounds and ``earliest`` in int64 microseconds like ``cols.ts``;
    ``window`` is the window's place in a batch (``validate_windows``)."""
    import numpy as np
    import pandas as pd

    def micros(us: np.ndarray) -> np.ndarray:
        return np.where(us == r.NAT, np.nan, us.astype("float64"))

    o, h, lo, c = cols.prices
    ts, bar_end = micros(cols.ts), micros(ends)
    body_top, body_bottom = np.maximum(o, c), np.minimum(o, c)
    columns = [ts, o, h, lo, c, cols.volume, h - body_top, body_bottom - lo, h - lo, bar_end]
    columns += [on_grid.astype("float64"), abs_change, ts - start, end - ts, now - bar_end]
    columns += [np.full(len(ts), float(window)), (~cols.infinite).astype("float64"), ts - earliest]
    values = np.column_stack(columns) if len(ts) else np.empty((0, len(GX_COLUMNS)))
    return pd.DataFrame(values, columns=pd.Index(GX_COLUMNS, dtype=object))


def run_suite(
    frame: pd.DataFrame,
    *,
    jump_threshold: float | None,
    jump_rejects: bool,
    engine: Literal["warm", "stock"] = "warm",
) -> SuiteRun:
    """Validate ``frame`` (bars plus ``GX_COLUMNS``) with the suite; see the module docstring."""
    if engine not in ("warm", "stock"):
        raise ValueError(f"engine must be 'warm' or 'stock', got {engine!r}")
    threshold = None if jump_threshold is None else float(jump_threshold)
    # GX does not document its validator or engine as thread-safe: one run at a time.
    with GX_LOCK:
        if engine == "warm":
            try:
                success, outcomes = runner.runner(threshold, jump_rejects).run(frame)
            except (AttributeError, TypeError, KeyError) as exc:  # GX internals moved
                log.warning("warm GX runner unusable (%s); using Batch.validate", exc)
                success, outcomes = runner.stock(frame, threshold, jump_rejects)
        else:
            success, outcomes = runner.stock(frame, threshold, jump_rejects)
    return _suite_run(success, outcomes)


def _suite_run(success: bool, outcomes: list[dict[str, Any]]) -> SuiteRun:
    checks = {
        o["meta"]["check"]: {
            "rule": o["meta"]["rule"],
            "expectation": o["expectation_type"],
            "success": o["success"],
            "unexpected_count": o["result"].get("unexpected_count", 0),
            "severity": o["severity"],
        }
        for o in outcomes
        if o["meta"].get("check")
    }
    passed = sum(o["success"] for o in outcomes)
    table = all(o["success"] for o in outcomes if not o["meta"].get("check"))
    result = {
        "success": success,
        "statistics": {
            "evaluated_expectations": len(outcomes),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(outcomes) - passed,
            "success_percent": 100.0 * passed / len(outcomes) if outcomes else None,
        },
        "expectations": outcomes,
        "result_format": f"{RESULT_FORMAT} + unexpected_count (GX metric)",
    }
    return SuiteRun(success, checks, result, table)


def cross_check(run: SuiteRun, counts: dict[str, int]) -> None:
    """Fail loudly when GX and the pandas masks disagree on any check's count."""
    diffs = {
        check: (info["unexpected_count"], counts.get(check))
        for check, info in run.checks.items()
        if info["unexpected_count"] != counts.get(check)
    }
    if diffs:
        raise RuntimeError(f"GX and the pandas rule masks disagree (gx, pandas): {diffs}")
