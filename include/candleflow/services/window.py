"""Which bars a window holds, how a long window is cut into slices, and how many of its bars
lie beyond a provider's lookback.

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
from typing import TYPE_CHECKING, NamedTuple

from candleflow import calendars
from candleflow.domain import Instrument, Timeframe, to_micros
from candleflow.frames import bar_ends, ts_micros

if TYPE_CHECKING:
    import pandas as pd

    from candleflow.providers import IDataProvider

DEFAULT_SLICE_BARS = 200_000  # ~60 MB of bars in pandas; peak RSS measured in bench_memory.py


def fetch_range(
    tf: Timeframe, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The bar-start window to ask the provider for: every bar that can close in (start, end]."""
    longest = tf.delta if tf.minutes is not None else dt.timedelta(days=31)
    return start - longest, end


def closed_in(
    bars: pd.DataFrame, tf: Timeframe, start: dt.datetime, end: dt.datetime, market=None
) -> pd.DataFrame:
    """The rows of ``bars`` whose bar closed in ``(start, end]`` (attrs kept).

    A bar's end is ``frames.bar_ends``'s: a daily bar of ``market`` (a session instrument)
    closes at its session's close, so a window holds the sessions that closed in it.

    ``bars`` is canonical (``frames.normalize_bars``, what ``fetch_bars`` returns): its
    timestamps are read as they are. A row without a timestamp placed by its provider
    (``anchor``) is judged by its anchor, so it is in exactly one window; the ``anchor``
    column goes no further.
    """
    if bars.empty:
        return bars
    place = bars["anchor"] if "anchor" in bars.columns else bars["ts"]
    ends = bar_ends(ts_micros(place), tf, market)  # int64 µs, no copy of the column
    keep = (ends > to_micros(start)) & (ends <= to_micros(end))
    if "anchor" in bars.columns:
        bars = bars.drop(columns="anchor")
    elif keep.all():  # the usual case: every bar fetched closed in the window
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
    if step >= end - start:  # also keeps 200,000 months from overflowing a datetime
        return [(start, end)]
    edges = [start]
    while edges[-1] + step < end:
        edges.append(edges[-1] + step)
    edges.append(end)
    return list(itertools.pairwise(edges))


class Slice(NamedTuple):
    """A fetched slice: the bars that closed in ``(start, end]`` and the bar starts
    ``[lo, hi)`` asked of the provider for them (what validation judges them over and what
    ``out_of_reach`` counts from), so no caller works ``fetch_range`` out again."""

    bars: pd.DataFrame
    start: dt.datetime
    end: dt.datetime
    lo: dt.datetime
    hi: dt.datetime


def fetch_slice(
    prov: IDataProvider, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime, now
) -> Slice:
    """The bars of ``symbol`` that closed in ``(start, end]`` (``attrs`` of the fetch kept)."""
    lo, hi = fetch_range(tf, start, end)
    bars = prov.fetch_bars(symbol, tf, lo, hi, now=now)
    market = calendars.Market.of(symbol, session=prov.session)
    return Slice(closed_in(bars, tf, start, end, market), start, end, lo, hi)


def out_of_reach(
    instrument: Instrument, tf: Timeframe, piece: Slice, reachable: dt.datetime | None, now
) -> int:
    """How many bars closing in the slice's ``(start, end]`` start before ``reachable`` (the
    calendar's count: an XNYS night is not out of reach, it has no bars)."""
    import pandas as pd

    lo, start, end = piece.lo, piece.start, piece.end
    if reachable is None or reachable <= lo:
        return 0
    market = calendars.Market.of(
        instrument.symbol,
        timezone=instrument.timezone or None,
        session=instrument.series_session,
    )
    bars = calendars.expected(market, tf, lo, min(end, reachable), now)
    bar_start, ends = bars["start"], bars["end"]  # a daily bar ends at its session's close
    keep = (ends > pd.Timestamp(start)) & (ends <= pd.Timestamp(end))
    keep &= bar_start < pd.Timestamp(reachable)
    return int(keep.sum())
