"""One window's share of a validation: its rule masks before Great Expectations runs, its
result after.

Why split a window's validation in two: Great Expectations costs about the same for one bar
as for a thousand (a 1-bar run is 15-30 ms of fixed cost), so a chunk that validates 500
hourly windows one GX run each spent half its CPU in GX. ``prepare`` computes what is
window-local (the masks of ``rules.py``, the jump rule's previous bar, the GX columns of the
window's own bounds); ``validate_windows`` in ``candleflow.validation`` concatenates the GX
frames of many windows and runs the suite once; ``finish`` gives each window its result.
Nothing a window's rows are judged by depends on another window: every derived column is
row-local and uniqueness is of ``(window, ts)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from candleflow import frames
from candleflow.calendars import Market
from candleflow.domain import Instrument, Timeframe, to_micros
from candleflow.validation import rules as r

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Window:
    """The bars of one instrument for ``[start, end)``, as a provider returned them."""

    bars: pd.DataFrame
    instrument: Instrument
    timeframe: Timeframe
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime


@dataclass
class Prepared:
    """A window judged by the masks, waiting for the GX run that cross-checks them."""

    window: Window
    prepared_rows: int
    frame: pd.DataFrame
    masks: dict[str, np.ndarray]
    rule_masks: dict[str, np.ndarray]
    changes: np.ndarray
    gx_frame: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """Rows breaking each check (what GX's ``unexpected_count`` must equal)."""
        return {check: int(mask.sum()) for check, mask in self.masks.items()}


def prepare(window: Window, jump_threshold: float | None, index: int) -> Prepared:
    """The masks and GX frame of ``window`` (``index``: its place in the batch)."""
    import numpy as np

    from candleflow.validation import grid, plausible, suite

    # what a provider returned is canonical already (``frames.normalize_bars``): these are a
    # dtype compare and one pass over ts; a frame from elsewhere is made canonical here
    prepared = frames.canonical(window.bars)
    frame = frames.collapse_identical(prepared)
    cols = r.columns(frame)
    market = Market.of(
        window.instrument.symbol,
        timezone=window.instrument.timezone or None,
        session=window.instrument.series_session,
    )
    ends = frames.bar_ends(cols.ts, window.timeframe, market)
    grid_ok = grid.on_grid(frame["ts"], window.instrument, window.timeframe)
    bounds = {k: to_micros(getattr(window, k)) for k in ("start", "end", "now")}
    since = plausible.earliest(window.instrument.symbol, intraday=window.timeframe.intraday)
    bounds["earliest"] = to_micros(since)
    masks = r.check_masks(cols, grid_ok=grid_ok, ends=ends, **bounds)
    rule_masks = r.rule_masks(masks)
    passed = ~np.logical_or.reduce(list(rule_masks.values()))
    changes = r.price_changes(cols, passed)
    abs_change = np.abs(changes)
    if jump_threshold is not None:
        masks[r.PRICE_JUMP] = abs_change > jump_threshold
        rule_masks[r.PRICE_JUMP] = masks[r.PRICE_JUMP]
    gx = suite.gx_frame(
        cols, ends=ends, on_grid=grid_ok, abs_change=abs_change, window=index, **bounds
    )
    return Prepared(window, len(prepared), frame, masks, rule_masks, changes, gx)


def finish(p: Prepared, run: Any, *, batch: dict[str, Any], jump_rejects: bool, context) -> Any:
    """The ``ValidationResult`` of a prepared window, given the batch's GX ``run``.

    Each check's count is the window's own (its masks; their sum over the batch equals GX's
    count, which ``suite.cross_check`` has verified); a check succeeds in the window when no
    row of the window breaks it, so for a batch of one this is GX's own verdict.
    """
    import numpy as np

    from candleflow.validation import report

    counts = p.counts()
    checks = {
        check: {**info, "unexpected_count": counts.get(check, 0)}
        | {"success": counts.get(check, 0) == 0}
        for check, info in run.checks.items()
    }
    reject_rules = [*r.REJECT_RULES, *(r.FLAG_RULES if jump_rejects else ())]
    flag_rules = [] if jump_rejects else list(r.FLAG_RULES)
    masks, frame = p.rule_masks, p.frame
    bad = np.logical_or.reduce([masks[n] for n in reject_rules if n in masks])
    flag = np.zeros(len(frame), dtype=bool)
    for name in flag_rules:
        flag |= masks.get(name, flag) & ~bad
    result = report.ValidationResult(
        valid=frame.loc[~bad].reset_index(drop=True) if bad.any() else frame,
        rejected=report.rejected(frame, bad, masks, reject_rules),
        flagged=report.flagged(frame, flag, masks, flag_rules, p.changes),
        summary={},
        gx_result=run.result,
    )
    gx_success = run.table_success and all(c["success"] for c in checks.values())
    context |= {"rows_in": p.prepared_rows, "duplicates_collapsed": p.prepared_rows - len(frame)}
    result.summary.update(
        report.summary(
            result, context=context, rule_masks=masks, checks=checks, gx_success=gx_success
        )
    )
    result.summary["gx_batch"] = batch
    return result
