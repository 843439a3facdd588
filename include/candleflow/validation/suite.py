"""The Great Expectations suite for bars and how it runs.

What runs in GX: one expectation per check of ``rules.CHECKS`` (``meta`` carries the rule
and check names), on the bars plus a few derived columns (``max_open_close``,
``min_open_close``, ``bar_end``, ``on_grid``, ``abs_change``) so that every rule is a
stock GX 1.x expectation. The window, ``now`` and the jump threshold are suite parameters,
so one suite serves every call.

Why SUMMARY and not COMPLETE: with COMPLETE results and ``unexpected_index_column_names``
GX needs ~15 s per million rows on this machine, SUMMARY well under a second. So GX gives the
verdict and the counts (the source of truth for the summary), vectorised pandas masks in
``rules.py`` give the per-row attribution, and ``cross_check`` fails loudly when the two
disagree on any count.

Quiet by construction: GX is imported only inside ``_state`` (never at import time of
``candleflow.validation``); before that import the ``great_expectations`` logger is raised
to WARNING (its import logs hundreds of INFO lines) unless someone configured it, and so is
the one GX module logger that pins itself to INFO; analytics
are off (``GX_ANALYTICS_ENABLED=false``), and the ephemeral context's ``progress_bars`` are
disabled so no "Calculating Metrics" bars reach task logs. The context is built once per
process on first use (building one also creates a temporary docs directory).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from candleflow.validation import rules as r

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SUITE_NAME = "candleflow_bars"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class SuiteRun:
    """The GX verdict: the JSON result and, per check, success and unexpected count."""

    success: bool
    checks: dict[str, dict[str, Any]]
    result: dict[str, Any]


@functools.cache
def _state() -> tuple[Any, Any, Any]:
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
def build_suite(jump_check: bool, jump_rejects: bool) -> Any:
    """The suite; ``jump_check`` adds the price-jump expectation, WARNING unless it rejects."""
    gx = _state()[0]
    from great_expectations.expectations.metadata_types import FailureSeverity

    e = gx.expectations

    def meta(check: str) -> dict[str, str]:
        return {"rule": r.CHECKS[check], "check": check}

    suite = gx.ExpectationSuite(name=SUITE_NAME)
    for col in ("ts", "open", "high", "low", "close", "volume"):
        suite.add_expectation(e.ExpectColumnToExist(column=col))
    for col in r.NOT_NULL_COLUMNS:
        check = f"{r.NOT_NULL}:{col}"
        suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=col, meta=meta(check)))
    for check, a, b in (
        (r.HIGH_GE_MAX_OPEN_CLOSE, "high", "max_open_close"),
        (r.LOW_LE_MIN_OPEN_CLOSE, "min_open_close", "low"),
        (r.HIGH_GE_LOW, "high", "low"),
    ):
        suite.add_expectation(
            e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a,
                column_B=b,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=meta(check),
            )
        )
    between = e.ExpectColumnValuesToBeBetween
    suite.add_expectation(
        between(column="low", min_value=0, strict_min=True, meta=meta(r.LOW_POSITIVE))
    )
    suite.add_expectation(between(column="volume", min_value=0, meta=meta(r.VOLUME_NON_NEGATIVE)))
    suite.add_expectation(e.ExpectColumnValuesToBeUnique(column="ts", meta=meta(r.UNIQUE_TS)))
    suite.add_expectation(
        e.ExpectColumnValuesToBeInSet(column="on_grid", value_set=[True], meta=meta(r.ON_GRID))
    )
    suite.add_expectation(
        between(
            column="ts",
            min_value={"$PARAMETER": "start"},
            max_value={"$PARAMETER": "end"},
            strict_max=True,
            meta=meta(r.IN_WINDOW),
        )
    )
    suite.add_expectation(
        between(column="bar_end", max_value={"$PARAMETER": "now"}, meta=meta(r.NOT_FORMING))
    )
    if jump_check:
        severity = FailureSeverity.CRITICAL if jump_rejects else FailureSeverity.WARNING
        suite.add_expectation(
            between(
                column="abs_change",
                max_value={"$PARAMETER": "jump_threshold"},
                severity=severity,
                meta=meta(r.PRICE_JUMP),
            )
        )
    return suite


def run_suite(
    frame: pd.DataFrame,
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    jump_threshold: float | None,
    jump_rejects: bool,
) -> SuiteRun:
    """Validate ``frame`` (bars plus derived columns) with the suite; SUMMARY results."""
    params: dict[str, Any] = {"start": start, "end": end, "now": now}
    if jump_threshold is not None:
        params["jump_threshold"] = float(jump_threshold)
    # One context per process, built on first use; the lock also keeps two threads from
    # building two (GX does not document its context or batches as thread-safe).
    with _LOCK:
        _, batch_definition, _ = _state()
        suite = build_suite(jump_threshold is not None, jump_rejects)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY", expectation_parameters=params)
    checks: dict[str, dict[str, Any]] = {}
    for item in result.results:
        config = item.expectation_config
        if item.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"GX expectation {config.type} raised: {item.exception_info['exception_message']}"
            )
        check = (config.meta or {}).get("check")
        if check:
            checks[check] = {
                "rule": config.meta["rule"],
                "expectation": config.type,
                "success": bool(item.success),
                "unexpected_count": int(item.result.get("unexpected_count") or 0),
                "severity": str(getattr(config.severity, "value", config.severity)),
            }
    return SuiteRun(bool(result.success), checks, json_safe(result.describe_dict()))


def cross_check(run: SuiteRun, counts: dict[str, int]) -> None:
    """Fail loudly when GX and the pandas masks disagree on any check's count."""
    diffs = {
        check: (info["unexpected_count"], counts.get(check))
        for check, info in run.checks.items()
        if info["unexpected_count"] != counts.get(check)
    }
    if diffs:
        raise RuntimeError(f"GX and the pandas rule masks disagree (gx, pandas): {diffs}")


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
