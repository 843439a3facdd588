"""Great Expectations in this process: imported once and quietly, and the suite built once.

Why apart from ``suite``: GX's import, context and batch definition (``state``), the lock
around its validator, and each suite variant (``build_suite``) are per-process state that the
warm ``runner`` and ``suite.run_suite`` both need; ``suite`` runs the suite through the
runner, so this state lives below both of them and the import graph stays one-way
(gx <- runner <- suite).

What the suite checks is ``suite``'s module docstring. Quiet by construction: GX is imported
only inside ``state`` (never at import time of ``candleflow.validation``), its loggers are
raised to WARNING unless configured, analytics are off and progress bars disabled.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
from typing import Any

from candleflow.validation import rules as r

SUITE_NAME = "candleflow_bars"
RESULT_FORMAT = "BOOLEAN_ONLY"
GX_COLUMNS = (
    *("ts", "open", "high", "low", "close", "volume"),
    *("upper_wick", "lower_wick", "range", "bar_end", "on_grid", "abs_change"),
    *("since_start", "until_end", "closed_for", "window", "finite", "since_earliest"),
)
GX_LOCK = threading.RLock()


@functools.cache
def state() -> tuple[Any, Any, Any]:
    """(gx module, batch definition, context) built once per process, quietly."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # That module pins its own logger to INFO ("Created temporary directory ..." per context).
    logging.getLogger(ProgressBarsConfig.__module__).setLevel(gx_log.getEffectiveLevel())
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("candleflow").add_dataframe_asset("bars")
    return gx, asset.add_batch_definition_whole_dataframe("whole_frame"), context


@functools.cache
def build_suite(jump_threshold: float | None, jump_rejects: bool) -> Any:
    """The suite; a threshold adds the price-jump expectation, WARNING unless it rejects."""
    gx = state()[0]
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations

    def meta(check: str) -> dict[str, str]:
        return {"rule": r.CHECKS[check], "check": check}

    between = e.ExpectColumnValuesToBeBetween
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    suite.add_expectation(
        e.ExpectTableColumnsToMatchSet(column_set=list(GX_COLUMNS[:6]), exact_match=False)
    )
    for col in r.NOT_NULL_COLUMNS:
        check = f"{r.NOT_NULL}:{col}"
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=col, meta=meta(check)))
    for check, column in (
        (r.HIGH_GE_MAX_OPEN_CLOSE, "upper_wick"),
        (r.LOW_LE_MIN_OPEN_CLOSE, "lower_wick"),
        (r.HIGH_GE_LOW, "range"),
    ):
        suite.add_expectation(between(column=column, min_value=0, meta=meta(check)))
    suite.add_expectation(
        between(column="low", min_value=0, strict_min=True, meta=meta(r.LOW_POSITIVE))
    )
    suite.add_expectation(between(column="volume", min_value=0, meta=meta(r.VOLUME_NON_NEGATIVE)))
    suite.add_expectation(  # ts unique within each window of a batch
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["window", "ts"],
            ignore_row_if="any_value_is_missing",
            meta=meta(r.UNIQUE_TS),
        )
    )
    suite.add_expectation(
        e.ExpectColumnValuesToBeInSet(column="on_grid", value_set=[1.0], meta=meta(r.ON_GRID))
    )
    suite.add_expectation(between(column="since_start", min_value=0, meta=meta(r.IN_WINDOW_START)))
    suite.add_expectation(
        between(column="until_end", min_value=0, strict_min=True, meta=meta(r.IN_WINDOW_END))
    )
    suite.add_expectation(between(column="closed_for", min_value=0, meta=meta(r.NOT_FORMING)))
    suite.add_expectation(
        e.ExpectColumnValuesToBeInSet(column="finite", value_set=[1.0], meta=meta(r.FINITE))
    )
    suite.add_expectation(between(column="since_earliest", min_value=0, meta=meta(r.PLAUSIBLE_TS)))
    if jump_threshold is not None:
        severity = FailureSeverity.CRITICAL if jump_rejects else FailureSeverity.WARNING
        suite.add_expectation(
            between(
                column="abs_change",
                max_value=float(jump_threshold),
                severity=severity,
                meta=meta(r.PRICE_JUMP),
            )
        )
    return suite


def json_safe(value: Any) -> Any:
    """A JSON (and jsonb) safe copy: NaN/inf become None, other objects become strings."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return clean(json.loads(json.dumps(value, default=str)))
