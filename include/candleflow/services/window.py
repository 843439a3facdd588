"""Which bars a window holds, and how a long window is cut into slices.

**The rule: a window ``(start, end]`` holds the bars that closed inside it**, the bars whose
end ``ts + timeframe`` is in ``(start, end]``. Why closes and not starts: a scheduled run is
due seconds after its interval ends, when exactly the bars that closed in it are final; a
bar that starts off the clock grid (an XNYS 1h bar of 14:30 UTC) belongs to the interval it
closes in (15:00-16:00), instead of waiting a whole extra interval. Consecutive windows share
their edges, so every bar belongs to exactly one of them: many small windows load exactly
what one large window loads. For bars on the UTC grid (24x7 markets) it is the same set as
"bars starting in ``[start, end)``".

To get them, fetch ``[start - longest bar, end)`` (the provider's window is bar starts) and
keep the bars whose end is in ``(start, end]``.

**Slices** bound memory: a window is loaded in slices of at most ``max_bars`` bar lengths,
each fetched, validated and loaded on its own (its own transaction and audit row), so a
20-year 1m window never holds more than one slice in memory. Slice edges are a pure function
of the window, so a retry sees the same slices and can skip those already loaded.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING

from candleflow.domain import Timeframe

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SLICE_BARS = 200_000  # ~60 MB of bars in pandas; peak RSS measured in bench_memory.py


def fetch_range(
    tf: Timeframe, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The bar-start window to ask the provider for: every bar that can close in (start, end]."""
    longest = tf.delta if tf.minutes is not None else dt.timedelta(days=31)
    return start - longest, end


def closed_in(bars: pd.DataFrame, tf: Timeframe, start: dt.datetime, end: dt.datetime):
    """The rows of ``bars`` whose bar closed in ``(start, end]`` (attrs kept)."""
    import pandas as pd

    if bars.empty:
        return bars
    if tf.minutes is not None:  # int64 microseconds: a one-bar window costs microseconds
        ts = pd.DatetimeIndex(bars["ts"]).as_unit("us").asi8
        ends = ts + tf.minutes * 60_000_000
        keep = (ends > _micros(start)) & (ends <= _micros(end))
    else:
        ends = bars["ts"].map(tf.bar_end)
        keep = ((ends > start) & (ends <= end)).to_numpy()
    if keep.all():  # the usual case: every bar fetched closed in the window
        return bars
    kept = bars[keep].reset_index(drop=True)
    kept.attrs = dict(bars.attrs)
    return kept


def slices(
    tf: Timeframe, start: dt.datetime, end: dt.datetime, max_bars: int | None = DEFAULT_SLICE_BARS
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``(start, end]`` cut into consecutive windows of at most ``max_bars`` bar lengths."""
    if start >= end:
        raise ValueError(f"empty window ({start.isoformat()}, {end.isoformat()}]")
    if max_bars is None:
        return [(start, end)]
    if max_bars < 1:
        raise ValueError(f"max_bars must be >= 1, got {max_bars}")
    step = tf.delta * max_bars
    edges = [start]
    while edges[-1] + step < end:
        edges.append(edges[-1] + step)
    edges.append(end)
    return list(itertools.pairwise(edges))


def _micros(value: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
