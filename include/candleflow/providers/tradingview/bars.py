"""Bar parsing and the per-fetch bar store of the chart session.

Bars are keyed by their open time, never by ``i`` (indices are renumbered between pages).
``abs(x) >= 1e99`` is TradingView's "no value" sentinel (it sends ``1e+100``), and a 5-element
``v`` array means the symbol has no volume; both become NaN, i.e. NULL in the warehouse.

Why pages stay numpy arrays: a million-bar fetch spent 2 s building its DataFrame from one
Python tuple per bar. A page is parsed in one ``np.array`` call (the per-bar path remains
for pages that need it: ragged or malformed bars) and the merge rule is applied once, on
all pages, when the frame is built.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from candleflow.domain import BAR_COLUMNS
from candleflow.errors import ProtocolError
from candleflow.providers.tradingview.retry import Timings

NO_VALUE = 1e99


def value(x: Any) -> float:
    """A bar or quote number; the 1e+100 sentinel and null become NaN."""
    if x is None:
        return math.nan
    x = float(x)
    return math.nan if abs(x) >= NO_VALUE else x


Row = tuple[float, float, float, float, float]


def parse_bar(raw: Any) -> tuple[float, Row]:
    """One ``v`` array as (open time, OHLCV); 5 elements mean no volume (NaN)."""
    if not isinstance(raw, list) or len(raw) < 5 or raw[0] is None:
        raise ProtocolError(f"malformed bar {str(raw)[:80]}")
    vol = value(raw[5]) if len(raw) > 5 else math.nan
    return float(raw[0]), (value(raw[1]), value(raw[2]), value(raw[3]), value(raw[4]), vol)


def parse_page(entries: list[Any]) -> np.ndarray:
    """The ``s`` list of one message as an ``(n, 6)`` float array: time, OHLCV (NaN gaps)."""
    try:
        page = np.array([e["v"] for e in entries], dtype=np.float64)  # None becomes NaN
    except (TypeError, KeyError, ValueError, IndexError):  # ragged, not dicts, not numbers
        page = np.empty((0, 0))
    if page.ndim != 2 or page.shape[1] not in (5, 6) or np.isnan(page[:, 0]).any():
        rows = [parse_bar(e.get("v") if isinstance(e, dict) else None) for e in entries]
        return np.array([(t, *r) for t, r in rows], dtype=np.float64).reshape(-1, 6)
    if page.shape[1] == 5:
        page = np.column_stack([page, np.full(len(page), np.nan)])
    values = page[:, 1:]
    values[np.abs(values) >= NO_VALUE] = np.nan
    return page


class BarStore:
    """The pages of one fetch; survives its reconnects.

    Merge rule: one message's bars replace what an earlier message said about the same
    times (a re-sent page after a reconnect is identical; a live ``du`` grows the newest
    bar). Within one message, *different* bars with the same time are all kept: that
    conflict is the server's, and validation rejects it rather than this class choosing.
    Identical copies are collapsed by the base class's normalisation.
    """

    def __init__(self) -> None:
        self.pages: list[np.ndarray] = []
        self._times: set[float] = set()

    def __len__(self) -> int:
        """Distinct bar times held."""
        return len(self._times)

    def add_series(self, entries: list[Any]) -> list[float]:
        """Merge the ``s`` list of one message; returns the bar times it carried."""
        if not entries:
            return []
        page = parse_page(entries)
        self.pages.append(page)
        times = page[:, 0].tolist()
        self._times.update(times)
        return times

    def times(self) -> np.ndarray:
        """Distinct bar times held, ascending."""
        return np.sort(np.fromiter(self._times, dtype=np.float64, count=len(self._times)))

    def oldest(self) -> float | None:
        return min(self._times) if self._times else None

    def merged(self) -> np.ndarray:
        """All rows after the merge rule, sorted by time (stable within a message)."""
        if len(self.pages) == 1:
            page = self.pages[0]
            if len(page) < 2 or (np.diff(page[:, 0]) > 0).all():
                return page
        if not self.pages:
            return np.empty((0, 6))
        rows = np.concatenate(self.pages)
        source = np.repeat(np.arange(len(self.pages)), [len(p) for p in self.pages])
        order = np.lexsort((source, rows[:, 0]))  # by time, then message; stable
        rows, source = rows[order], source[order]
        starts = np.r_[True, rows[1:, 0] != rows[:-1, 0]]
        group = np.cumsum(starts) - 1
        last = np.r_[starts[1:], True]
        latest = source[last][group]  # the newest message that spoke of each time
        return rows[source == latest]

    def frame(self, timings: Timings) -> Any:
        """The bars as a ``BAR_COLUMNS`` DataFrame, ``ts`` UTC, sorted."""
        import pandas as pd

        started = time.perf_counter()
        rows = self.merged()
        stamps = pd.to_datetime((rows[:, 0] * 1_000_000).astype("int64"), unit="us", utc=True)
        frame = pd.DataFrame(rows[:, 1:], columns=list(BAR_COLUMNS[1:]))  # one float block
        frame.insert(0, "ts", stamps)
        timings.frame_build_s += time.perf_counter() - started
        return frame
