"""Validation in batches: the slices a chunk has fetched, judged by one Great Expectations run.

Why: a GX run costs 15-30 ms whatever its rows, so the 500 one-bar windows of an hourly
refresh spent half a chunk's CPU in GX when each had a run of its own. The chunk's
dispatcher hands each fetched slice to a ``Batcher``; once ``windows`` slices (or
``max_rows`` bars) are waiting, they are validated together (``validation.validate_windows``:
each window still gets its own result, rejects and counts) and go to the writer lanes, where
each is stored in its own transaction as before. A long window's slices are large, so they
make batches of one or two (``max_rows``, the slice size); memory stays bounded as it was.

A batch whose run fails as a whole (a GX error, the masks and GX disagreeing, the helper
process gone) is validated again here window by window, so one window's fault stays with
its symbol. In a process that starts without GX (the CLI) the batches go to a helper process
(``validation.sidecar``) and the lanes wait for each slice's verdict (``Verdict``).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from candleflow.services import window

log = logging.getLogger(__name__)

DEFAULT_BATCH_WINDOWS = 64


class Batcher:
    """Collects fetched slices, validates them in batches, passes them to ``lanes``."""

    def __init__(self, lanes: Any, *, windows: int, max_rows: int | None, sidecar=None) -> None:
        if windows < 1:
            raise ValueError(f"batch windows must be >= 1, got {windows}")
        self.lanes, self.ctx, self.sidecar = lanes, lanes.ctx, sidecar
        self.windows, self.max_rows = windows, max_rows
        self.pending: list[tuple[str, Any, Any, Future]] = []
        self.rows = 0

    def add(self, symbol: str, lo, hi, fetched: Future) -> None:
        """Queue a slice whose fetch is running; validates the batch once it is full."""
        self.pending.append((symbol, lo, hi, fetched))
        piece = _fetched(fetched)  # waits for the fetch
        self.rows += 0 if piece is None else len(piece.bars)
        if len(self.pending) >= self.windows or (self.max_rows and self.rows >= self.max_rows):
            self.flush()

    def flush(self) -> None:
        """Validate what is waiting (one GX run) and hand every slice to the lanes."""
        ctx, todo = self.ctx, []
        for i, (symbol, _, _, fetched) in enumerate(self.pending):
            piece = _fetched(fetched)
            if piece is None or piece.bars.empty or ctx.results[symbol].error is not None:
                continue  # a failed fetch, a night, a symbol already failed: nothing to judge
            instrument = ctx.found[symbol].instrument
            todo.append((i, _slice_window(piece, instrument, ctx.tf, ctx.settings.now)))
        windows = [w for _, w in todo]
        if self.sidecar is not None and windows:
            future = self.sidecar.submit(windows, self.ctx.settings.jump_threshold)
            verdicts = [Verdict(self, future, k, w) for k, w in enumerate(windows)]
        else:
            verdicts = self._validate(windows)
        outcomes = dict(zip([i for i, _ in todo], verdicts, strict=True))
        for i, (symbol, lo, hi, fetched) in enumerate(self.pending):
            self.lanes.submit(symbol, lo, hi, fetched, outcomes.get(i))
        self.pending, self.rows = [], 0

    def _validate(self, windows: list) -> list:
        from candleflow.validation import validate_windows

        if not windows:
            return []
        threshold = self.ctx.settings.jump_threshold
        try:
            return validate_windows(windows, jump_threshold=threshold)
        except Exception as exc:  # noqa: BLE001 - judged again one by one, below
            if len(windows) == 1:
                return [exc]
            log.warning("validating %d windows together failed (%s); one by one", len(windows), exc)
            return [self._one(w, threshold) for w in windows]

    @staticmethod
    def _one(window, threshold) -> Any:
        from candleflow.validation import validate_windows

        try:
            return validate_windows([window], jump_threshold=threshold)[0]
        except Exception as exc:  # noqa: BLE001 - kept with its symbol, audited by the lane
            return exc


class Verdict:
    """A slice's result from the helper process, waited for by the lane that stores it."""

    def __init__(self, batcher: Batcher, future: Future, index: int, window: Any) -> None:
        self.batcher, self.future, self.index, self.window = batcher, future, index, window

    def result(self) -> Any:
        try:
            return self.future.result()[self.index]
        except Exception as exc:  # noqa: BLE001 - judged here instead, same verdict
            log.warning("validation helper failed (%s); validating here", exc)
            return self.batcher._one(self.window, self.batcher.ctx.settings.jump_threshold)


def resolve(validated: Any) -> Any:
    """What a lane stores with: a result, an exception, None (validate there)."""
    return validated.result() if isinstance(validated, Verdict) else validated


def _slice_window(piece: window.Slice, instrument, tf, now) -> Any:
    """The ``validation.Window`` of a slice: its bars judged over the bar starts it covers."""
    from candleflow.validation import Window

    return Window(piece.bars, instrument, tf, piece.lo, piece.hi, now)


def _fetched(fetched: Future) -> window.Slice | None:
    """The fetched slice, or None when the fetch failed (its lane audits the failure)."""
    try:
        piece, _ = fetched.result()
    except Exception:  # noqa: BLE001 - the lane re-reads the future and records the error
        return None
    return piece


def ahead(depth: int, slice_rows: int, budget_rows: int | None) -> int:
    """How many slices to fetch ahead: as many as ``budget_rows`` bars allow (all the
    one-bar windows of an hourly refresh, so fetching goes on while the first batch waits
    for GX), never fewer than ``2 * depth``."""
    if not budget_rows:
        return 1 << 30
    return max(2 * depth, budget_rows // max(1, slice_rows))
