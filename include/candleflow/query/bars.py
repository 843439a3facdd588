"""The bar read path behind ``candleflow.query.bars``: ADBC into Arrow, per instrument.

Why per instrument: each query is an index range scan of one series that PostgreSQL already
returns in ts order (a merge of the provider and rollup ranges, no sort), and the frames are
concatenated in symbol order; one multi-symbol query would have to sort the whole result.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from candleflow.domain import BARS, TIMEFRAMES, Timeframe
from candleflow.query import adjust, compressed
from candleflow.query.sessions import Market

log = logging.getLogger(__name__)

SCHEMA = pa.schema(  # the bar columns take their types from the one spec, domain.BARS
    [
        ("symbol", pa.string()),
        *((c.name, c.arrow_type()) for c in BARS),
        ("source", pa.string()),
        ("complete", pa.bool_()),
    ]
)

# One source of one series, in ts order. When the provider is read too ($6), a rollup bar is
# read only where no provider bar covers any of its interval: intraday, no provider bar
# within one bar length of its ts ($7 seconds); daily and longer ($8, the exchange timezone),
# none of the same session date (providers stamp days at UTC midnight or at the open).
_SERIES_TEMPLATE = """
SELECT b.ts, b.open, b.high, b.low, b.close, b.volume
FROM {bars}
ORDER BY b.ts
"""
_SHADOW = """
  AND NOT ($6::boolean AND EXISTS (
      SELECT 1 FROM candleflow.bars AS p
      WHERE p.instrument_id = $1 AND p.timeframe = $2
        AND p.source = 'provider'
        AND p.ts > b.ts - $7::bigint * interval '1 second'
        AND p.ts < b.ts + $7::bigint * interval '1 second'
        AND ($8::text IS NULL
             OR ((p.ts + interval '12 hours') AT TIME ZONE $8)::date
                = ((b.ts + interval '12 hours') AT TIME ZONE $8)::date)))"""
_SERIES_SQL = _SERIES_TEMPLATE.format(
    bars="candleflow.bars AS b\nWHERE b.instrument_id = $1 AND b.timeframe = $2 AND b.source = $3"
    "\n  AND b.ts >= $4 AND b.ts < $5" + _SHADOW
)
# The same as it was known at $9 (``candleflow.bars_as_of``, migration 0017: the stored bar,
# or the revision it replaced after $9). The rollup shadow is judged on today's provider bars.
_SERIES_AS_OF_SQL = _SERIES_TEMPLATE.format(
    bars="candleflow.bars_as_of($1::integer, $2, $3, $4, $5, $9) AS b\nWHERE true" + _SHADOW
)

_STORED_SQL = """
SELECT t.tf
FROM unnest($2::text[]) WITH ORDINALITY AS t(tf, n)
WHERE EXISTS (SELECT 1 FROM candleflow.bars AS b
              WHERE b.instrument_id = $1 AND b.timeframe = t.tf AND b.source = ANY($3::text[]))
   OR EXISTS (SELECT 1 FROM candleflow.bar_segments AS s
              WHERE s.instrument_id = $1 AND s.timeframe = t.tf AND s.source = ANY($3::text[]))
ORDER BY t.n
LIMIT 1
"""

# $2: the series session (``regular`` or ``extended``): one instrument row per symbol each
_INSTRUMENTS_SQL = """
SELECT id, symbol, exchange, timezone FROM candleflow.instruments
WHERE symbol = ANY($1::text[]) AND series_session = $2 ORDER BY symbol
"""
# The same with each instrument's corporate actions (``adjust``), for adjusted reads: in this
# query, not one of their own, because a read of a few thousand bars is a handful of round
# trips in all (one more was 5 % of a 10-year daily read).
_INSTRUMENTS_ACTIONS_SQL = f"""
SELECT i.id, i.symbol, i.exchange, i.timezone, {adjust.ACTIONS_COLUMN} AS actions
FROM candleflow.instruments AS i
WHERE i.symbol = ANY($1::text[]) AND i.series_session = $2 ORDER BY i.symbol
"""  # noqa: S608 - composed of constants, no value


@dataclass(frozen=True, slots=True)
class Series:
    """One instrument to read: its id, how it trades and (adjusted reads) its actions."""

    instrument_id: int
    market: Market
    actions: str | None = None  # ``adjust.ACTIONS_COLUMN``'s text, None without actions


def series(
    cursor, symbols: list[str], *, actions: bool = False, session: str = "regular"
) -> list[Series]:
    """The known instruments among ``symbols``, sorted by symbol; unknown ones are logged.
    ``actions``: with their corporate actions (what an adjusted read needs); ``session``:
    which series of each symbol (``extended``: its pre- and post-market series)."""
    cursor.execute(
        _INSTRUMENTS_ACTIONS_SQL if actions else _INSTRUMENTS_SQL, parameters=(symbols, session)
    )
    rows = cursor.fetch_arrow_table().to_pylist()
    unknown = sorted(set(symbols) - {row["symbol"] for row in rows})
    if unknown:
        log.info("unknown symbols (no rows): %s", ", ".join(map(repr, unknown)))
    return [
        Series(
            r["id"], Market.of(r["symbol"], r["exchange"], r["timezone"], session), r.get("actions")
        )
        for r in rows
    ]


def candidates(tf: Timeframe) -> list[str]:
    """Timeframes that can serve ``tf``: itself, then what it can be resampled from.

    Intraday: finer intraday timeframes that divide it, finest first. 1d: any intraday,
    finest first. 1w and 1mo: 1d first, then intraday.
    """
    intraday = [t for t in TIMEFRAMES.values() if t.intraday]
    if tf.intraday:
        finer = [t.name for t in intraday if t.minutes < tf.minutes and tf.minutes % t.minutes == 0]
    elif tf.name == "1d":
        finer = [t.name for t in intraday]
    else:
        finer = ["1d", *(t.name for t in intraday)]
    return [tf.name, *finer]


def stored_timeframe(
    cursor, instrument_id: int, tf: Timeframe, sources: list[str]
) -> Timeframe | None:
    """The finest timeframe a read of ``tf`` may use (``tf`` itself or one of
    ``candidates(tf)``, stored at any time); None when nothing usable is stored. What bounds
    the rows a read can touch (the API's page window, the export's chunks)."""
    finest = sorted(candidates(tf), key=lambda name: Timeframe.parse(name).delta)
    cursor.execute(_STORED_SQL, parameters=(instrument_id, finest, sources))
    rows = cursor.fetch_arrow_table().column("tf").to_pylist()
    return Timeframe.parse(rows[0]) if rows else None


def read_series(
    cursor,
    item: Series,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    sources: list[str],
    as_of: dt.datetime | None = None,
) -> pa.Table:
    """The bars of one series in [start, end), ts-ordered, with ``symbol`` and ``source``;
    ``as_of``: as they were known at that time (bar revisions, migration 0017).

    Why one query per source: the common case (provider bars only) stays the plain range
    read, and the constant ``source`` column is built in Arrow instead of sent per row.
    """
    pieces = []
    reach, zone = _overlap(tf, item.market)
    for source in sources:
        shadowed = source == "rollup" and "provider" in sources
        values = (item.instrument_id, tf.name, source, start, end, shadowed, reach, zone)
        if as_of is None:
            cursor.execute(_SERIES_SQL, parameters=values)
        else:
            cursor.execute(_SERIES_AS_OF_SQL, parameters=(*values, as_of))
        table = cursor.fetch_arrow_table()
        table = compressed.with_closed(
            cursor, table, item.instrument_id, tf.name, source, start, end
        )
        if len(table) or not pieces:
            pieces.append(_with_constants(table, item.market.symbol, source))
    if len(pieces) == 1:
        return pieces[0]
    merged = pa.concat_tables(pieces)
    return merged.take(merged.column("ts").to_numpy().argsort(kind="stable"))


def _overlap(tf: Timeframe, market: Market) -> tuple[int, str | None]:
    """How ``_SERIES_SQL`` finds the provider bar that hides a rollup bar: within this many
    seconds of its ts, and (daily and longer) on the same session date in this timezone."""
    if tf.intraday:
        return tf.minutes * 60, None
    return int(tf.delta.total_seconds()) + 86_400, market.timezone


def _constant(value: str, length: int) -> pa.Array:
    indices = pa.array(np.zeros(length, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([value])).cast(pa.string())


def _with_constants(table: pa.Table, symbol: str, source: str) -> pa.Table:
    """Stored bars as read, plus ``symbol``, ``source`` and ``complete`` (a stored bar is
    final: the loader never stores a forming one)."""
    n = len(table)
    columns = [table.column(name) for name in SCHEMA.names[1:-2]]
    done = pa.array(np.ones(n, dtype=bool))
    return pa.Table.from_arrays(
        [_constant(symbol, n), *columns, _constant(source, n), done], schema=SCHEMA
    )


def with_symbol(table: pa.Table, symbol: str) -> pa.Table:
    """``table`` (ts ... complete) with a leading constant ``symbol`` column, in ``SCHEMA``."""
    columns = [_constant(symbol, len(table)), *(table.column(name) for name in SCHEMA.names[1:])]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def empty() -> pa.Table:
    return SCHEMA.empty_table()
