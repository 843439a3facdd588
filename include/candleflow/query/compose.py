"""A read of one timeframe from what covers each part of the window.

Why per part: a series is often stored in several timeframes over different spans (five
months of 1h history, today's 1m from the scheduled run or the tick rollup). Reading only
the finest stored timeframe returned one daily bar for five months; reading only the
coarsest would hide the freshest data. So, for a read of ``tf`` in [start, end):

- where ``tf`` itself is stored (from its first to the end of its last bar in the window),
  its bars are returned as stored;
- outside that span, each ``tf`` bar is built from the finest stored timeframe that covers
  its interval completely (``complete``), else from the finest that has any bar of it
  (``complete`` false: honest at the seams, where no single timeframe holds the whole bar);
- weeks and months are built from the daily series chosen the same way, so a week of
  stored days plus today's minutes is one week, complete only when every session is.

Interior holes of a stored ``tf`` are not patched from finer timeframes (they are what
coverage and validation report); only the parts before and after its span are.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from candleflow.domain import Timeframe
from candleflow.query import adjust, resample
from candleflow.query.bars import Series, candidates, read_series

log = logging.getLogger(__name__)

DAY = Timeframe.parse("1d")
_RANK = "_rank"

# Where each timeframe that can serve a read is stored in the window: its first and last ts
# (two index endpoint lookups per timeframe and source), in ``candidates`` order.
_SPANS_TEMPLATE = """
SELECT t.tf, min(x.first) AS first, max(x.last) AS last
FROM unnest($2::text[]) WITH ORDINALITY AS t(tf, n)
CROSS JOIN unnest($3::text[]) AS s(src)
CROSS JOIN LATERAL (
    SELECT least((SELECT b.ts FROM {bars} ORDER BY b.ts LIMIT 1){first}) AS first,
           greatest((SELECT b.ts FROM {bars} ORDER BY b.ts DESC LIMIT 1){last}) AS last) AS x
GROUP BY t.tf, t.n
HAVING min(x.first) IS NOT NULL
ORDER BY t.n
"""
# Compressed (closed) months count by their segments' bounds, clipped to the window, without
# decoding them: a closed month is whole, so its bounds are where the timeframe is stored.
_SEGMENTS = (
    " FROM candleflow.bar_segments AS g WHERE g.instrument_id = $1 AND g.timeframe = t.tf"
    " AND g.source = s.src AND g.last_ts >= $4 AND g.first_ts < $5)"
)
_SPANS_SQL = _SPANS_TEMPLATE.format(
    bars="candleflow.bars AS b WHERE b.instrument_id = $1 AND b.timeframe = t.tf"
    " AND b.source = s.src AND b.ts >= $4 AND b.ts < $5",
    first=", (SELECT CASE WHEN count(*) > 0 THEN greatest(min(g.first_ts), $4) END" + _SEGMENTS,
    last=", (SELECT CASE WHEN count(*) > 0 THEN least(max(g.last_ts), $5) END" + _SEGMENTS,
)
_SPANS_AS_OF_SQL = _SPANS_TEMPLATE.format(  # bar_revisions version plain rows only
    bars="candleflow.bars_as_of($1::integer, t.tf, s.src, $4, $5, $6) AS b", first="", last=""
)


@dataclass(frozen=True, slots=True)
class Span:
    """Where one timeframe is stored within a read's window: its first and last bar."""

    tf: Timeframe
    first: dt.datetime
    last: dt.datetime


def spans(
    cursor,
    instrument_id: int,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    sources: list[str],
    as_of: dt.datetime | None = None,
) -> list[Span]:
    """The timeframes of ``candidates(tf)`` stored in [start, end), in that order."""
    sql, extra = (_SPANS_SQL, ()) if as_of is None else (_SPANS_AS_OF_SQL, (as_of,))
    cursor.execute(sql, parameters=(instrument_id, candidates(tf), sources, start, end, *extra))
    return [
        Span(Timeframe.parse(r["tf"]), r["first"], r["last"])
        for r in cursor.fetch_arrow_table().to_pylist()
    ]


@dataclass(frozen=True, slots=True)
class Read:
    """What every part of one series' read shares: where it reads and how it adjusts."""

    cursor: Any
    item: Series
    sources: list[str]
    adjustment: str
    as_of: dt.datetime | None = None

    def stored(self, tf: Timeframe, windows: list[tuple[dt.datetime, dt.datetime]]) -> pa.Table:
        """The stored ``tf`` bars in ``windows`` (ordered, disjoint), adjusted."""
        pieces = [
            read_series(self.cursor, self.item, tf, lo, hi, self.sources, self.as_of)
            for lo, hi in windows
        ]
        table = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        market = self.item.market
        return adjust.apply(table, self.item.actions, tf, market.timezone, self.adjustment)

    def best(self, tf: Timeframe, start: dt.datetime, end: dt.datetime) -> Any:
        """The ``tf`` bars of [start, end): the stored table (Arrow, ``SCHEMA``) when ``tf``
        alone serves the window, else a frame without ``symbol``; None when nothing is."""
        found = spans(
            self.cursor, self.item.instrument_id, tf, start, end, self.sources, self.as_of
        )
        if not found:
            return None
        own = found[0] if found[0].tf == tf else None
        rest = [(start, end)]
        if own is not None:
            edges = ((start, own.first), (tf.bar_end(own.last), end))
            rest = [(lo, hi) for lo, hi in edges if lo < hi]
        finer = [s for s in found if s.tf != tf and _meets(s, rest)]
        table = self.stored(tf, [(start, end)]) if own is not None else None
        if not finer:
            return table
        frames = [] if table is None else [_ranked(_frame(table), -1)]
        if tf.intraday or tf == DAY:
            frames += self._built(tf, finer, rest)
        else:
            frames += self._periods(tf, rest)
        frames = [f for f in frames if not f.empty]
        return _choose(frames, self.item.market, tf) if frames else table

    def _built(self, tf: Timeframe, finer: list[Span], rest) -> list[pd.DataFrame]:
        """``tf`` bars resampled from each finer stored timeframe, ranked finest first,
        complete ones before incomplete ones."""
        out = []
        for n, span in enumerate(finer):
            frame = _frame(self.stored(span.tf, [w for w in rest if _meets(span, [w])]))
            if frame.empty:
                continue
            symbol = self.item.market.symbol
            log.info("resampling %s %s from %s (%d bars)", symbol, tf, span.tf, len(frame))
            built = resample.resample(frame, self.item.market, span.tf, tf)
            rank = np.where(built["complete"].to_numpy(dtype=bool), n, n + len(finer))
            out.append(built.assign(**{_RANK: rank}))
        return out

    def _periods(self, tf: Timeframe, rest) -> list[pd.DataFrame]:
        """Weeks or months built from the daily series of each part (itself composed)."""
        out = []
        for lo, hi in rest:
            daily = self.best(DAY, lo, hi)
            if daily is None:
                continue
            frame = _frame(daily) if isinstance(daily, pa.Table) else daily
            if not frame.empty:
                out.append(_ranked(resample.resample(frame, self.item.market, DAY, tf), 0))
        return out


def _meets(span: Span, windows) -> bool:
    return any(span.first < hi and span.last >= lo for lo, hi in windows)


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.drop_columns("symbol").to_pandas()


def _ranked(frame: pd.DataFrame, rank: int) -> pd.DataFrame:
    return frame.assign(**{_RANK: rank})


def _choose(frames: list[pd.DataFrame], market, tf: Timeframe) -> pd.DataFrame:
    """One bar per ``tf`` interval: the best ranked of the candidates, in ts order."""
    merged = pd.concat(frames, ignore_index=True)
    keys = pd.DatetimeIndex(resample.bar_keys(merged, market, tf)).asi8
    order = np.lexsort((merged[_RANK].to_numpy(), keys))
    first = np.ones(len(order), dtype=bool)
    sorted_keys = keys[order]
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    chosen = merged.iloc[order[first]].drop(columns=_RANK)
    return chosen.sort_values("ts", kind="stable").reset_index(drop=True)
