"""The read side for consumers: bars, quotes, instruments, coverage and load status.

Reads only (the session is ``default_transaction_read_only``), through ADBC into Arrow, so
a million bars reach pandas about as fast as the driver can read them. Symbols and every
value are bound parameters; an unknown symbol (or an injection attempt) is an empty result.

Rules where a consumer has to know them:

- **Source.** Bars come from the provider and from the BarManager's tick rollup. For each
  ts the provider bar wins; a rollup bar is returned only where no provider bar has that ts.
  ``source="provider"`` or ``"rollup"`` reads one source alone. The ``source`` column says
  which one each row came from (``fill`` for bars added by ``fill``).
- **Resample on read.** When no bar of ``timeframe`` is stored for a symbol (at any time, in
  the chosen sources), its bars are built from the finest stored timeframe that divides it
  (``query_bars.candidates``): first open, max high, min low, last close, summed volume
  (NULL when all are NULL). Intraday buckets are anchored at the session open (XNYS 1h bars
  at 09:30, 10:30 New York) or at UTC midnight for 24x7 markets; a daily bar is one exchange
  session stamped at its open (24x7: the UTC day); weekly buckets start on Monday and
  monthly ones on the 1st, in the exchange's timezone (UTC for 24x7), each stamped at the
  ts of its first bar. Buckets are built from the bars inside [start, end): align the
  window to whole buckets for whole bars. A resampled bar's source is ``rollup`` when any
  of its bars is, else ``provider``.
- **Fill.** ``None`` returns what is stored. ``"flat"`` adds a bar for every interval
  missing between a symbol's first and last bar in the window (by the exchange calendar
  for session markets: nights, weekends and holidays are not missing; continuous for
  24x7) with open = high = low = close = the previous close and volume 0. ``"ffill"`` adds
  the same bars with the previous bar's open, high, low and close and a NULL volume.
- **Types.** ``ts`` is ``datetime64[us, UTC]`` (Arrow ``timestamp[us, UTC]``); a NULL volume
  is NaN in pandas and null in Arrow and polars.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, TypeVar

import pandas as pd
import pyarrow as pa

from candleflow.domain import Timeframe
from candleflow.query import bars as query_bars
from candleflow.query import pool as query_pool
from candleflow.query.coverage import Coverage, coverage_of

log = logging.getLogger(__name__)

T = TypeVar("T")

Output = Literal["pandas", "arrow", "polars"]
Fill = Literal["ffill", "flat"]
Source = Literal["provider", "rollup"]
_OUTPUTS = ("pandas", "arrow", "polars")
_FILLS = ("ffill", "flat")
_SOURCES = ("provider", "rollup")

__all__ = [
    "Coverage",
    "bars",
    "coverage",
    "instruments",
    "latest_quotes",
    "sync_status",
    "validation_result",
]


def _read_only_url(url: str | None) -> str:
    """The warehouse URL with a read-only session (resolved once per setting; see
    ``query_pool.resolve``)."""
    return query_pool.resolve(url)


@contextlib.contextmanager
def _cursor(url: str | None) -> Iterator[Any]:
    """A cursor on a pooled read-only connection, held by this thread until the block ends."""
    with query_pool.POOL.connection(_read_only_url(url)) as (conn, _), conn.cursor() as cursor:
        yield cursor


def _read(url: str | None, work: Callable[[Any], T]) -> T:
    """``work(cursor)`` on a pooled connection; a broken pooled one is replaced transparently."""
    return query_pool.POOL.run(_read_only_url(url), work)


def _utc(value: str | dt.datetime | pd.Timestamp, name: str) -> dt.datetime:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"bad {name} {value!r}; expected an ISO-8601 time") from None
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"bad {name} {value!r}; expected one of {', '.join(allowed)} or None")


def _convert(table: pa.Table, output: str) -> Any:
    if output == "arrow":
        return table
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return table.to_pandas(split_blocks=True)


def bars(
    symbols: str | Iterable[str],
    timeframe: str | Timeframe,
    start: str | dt.datetime,
    end: str | dt.datetime,
    *,
    fill: Fill | None = None,
    output: Output = "pandas",
    source: Source | None = None,
    url: str | None = None,
) -> Any:
    """Bars of ``symbols`` in [start, end), sorted by (symbol, ts); see the module docstring.

    Columns: ``symbol``, ``ts``, ``open``, ``high``, ``low``, ``close``, ``volume``, ``source``.
    """
    tf = Timeframe.parse(timeframe)
    _choice(fill, _FILLS, "fill")
    _choice(source, _SOURCES, "source")
    if output not in _OUTPUTS:
        raise ValueError(f"bad output {output!r}; expected one of {', '.join(_OUTPUTS)}")
    wanted = [symbols] if isinstance(symbols, str) else list(symbols)
    begin, finish = _utc(start, "start"), _utc(end, "end")
    sources = [source] if source else list(_SOURCES)
    tables = _read(
        url, lambda cursor: query_bars.read_bars(cursor, wanted, tf, begin, finish, fill, sources)
    )
    table = pa.concat_tables(tables) if tables else query_bars.empty()
    log.info(
        "read %d bars of %d symbols at %s [%s, %s)", len(table), len(wanted), tf, begin, finish
    )
    return _convert(table, output)


def _frame(sql: str, parameters: tuple = (), url: str | None = None) -> pd.DataFrame:
    def work(cursor) -> pa.Table:
        cursor.execute(sql, parameters=parameters)
        return cursor.fetch_arrow_table()

    return _read(url, work).to_pandas()


def latest_quotes(symbols: str | Iterable[str], *, url: str | None = None) -> pd.DataFrame:
    """The latest tick per symbol (``ts``, ``price``, ``bid``, ``ask``, ``day_volume``).

    A symbol without ticks falls back to its most recent bar close (the bar of any timeframe
    that ended last; ``ts`` is that bar's end, bid/ask/day_volume NULL, ``origin`` = ``bar``).
    Reads ``analytics.latest_quotes``; unknown symbols are absent.
    """
    wanted = [symbols] if isinstance(symbols, str) else list(symbols)
    return _frame(
        "SELECT symbol, ts, price, bid, ask, day_volume, origin, timeframe"
        " FROM analytics.latest_quotes WHERE symbol = ANY($1::text[]) ORDER BY symbol",
        (wanted,),
        url,
    )


def instruments(
    search: str | None = None,
    *,
    exchange: str | None = None,
    type: str | None = None,
    url: str | None = None,
) -> pd.DataFrame:
    """Instruments whose symbol or description contains ``search`` (any case), optionally
    of one exchange and type, sorted by symbol."""
    return _frame(
        """
        SELECT id, symbol, exchange, ticker, description, type, currency, timezone, session,
               price_scale, provider, active, first_seen, last_seen
        FROM candleflow.instruments
        WHERE ($1::text IS NULL OR strpos(lower(symbol || ' ' || description), lower($1)) > 0)
          AND ($2::text IS NULL OR exchange = $2) AND ($3::text IS NULL OR type = $3)
        ORDER BY symbol
        """,
        (search, exchange, type),
        url,
    )


def coverage(
    symbol: str,
    timeframe: str | Timeframe,
    start: str | dt.datetime,
    end: str | dt.datetime,
    *,
    url: str | None = None,
) -> Coverage:
    """Stored bars of one series vs the bars its calendar expects in [start, end).

    Only intervals that ended by now are expected; gaps are [start, end) ranges of
    consecutive expected bars that are missing (an XNYS holiday or night is no gap).
    """
    tf = Timeframe.parse(timeframe)
    begin, finish = _utc(start, "start"), _utc(end, "end")

    def work(cursor) -> tuple[list[query_bars.Series], pa.Table | None]:
        found = query_bars.series(cursor, [symbol])
        if not found:
            return found, None
        return found, query_bars.read_series(cursor, found[0], tf, begin, finish, list(_SOURCES))

    found, table = _read(url, work)
    if table is None:
        raise ValueError(f"unknown symbol {symbol!r}; see candleflow.query.instruments()")
    return coverage_of(table.to_pandas(), found[0].market, tf, begin, finish)


def sync_status(*, url: str | None = None) -> pd.DataFrame:
    """The last load per instrument and timeframe: outcome, counts, window and watermark."""
    return _frame(
        """
        SELECT DISTINCT ON (a.symbol, a.timeframe)
               a.symbol, a.timeframe, a.run_id, a.provider, a.outcome, a.window_start,
               a.window_end, a.rows_fetched, a.rows_valid, a.rows_rejected, a.rows_inserted,
               a.rows_updated, a.rows_unchanged, a.duration_s, a.error, a.finished_at,
               s.last_bar_ts AS watermark
        FROM candleflow.load_audit AS a
        LEFT JOIN candleflow.sync_state AS s
               ON s.instrument_id = a.instrument_id AND s.timeframe = a.timeframe
        ORDER BY a.symbol, a.timeframe, a.finished_at DESC, a.id DESC
        """,
        url=url,
    )


def validation_result(
    run_id: str, symbol: str | None = None, *, url: str | None = None
) -> dict[str, Any] | None:
    """The Great Expectations result stored with a run's load (the latest one when the run
    loaded several windows of ``symbol``); None when the run stored none."""
    frame = _frame(
        """
        SELECT validation::text AS validation FROM candleflow.load_audit
        WHERE run_id = $1 AND ($2::text IS NULL OR symbol = $2) AND validation IS NOT NULL
        ORDER BY finished_at DESC, id DESC LIMIT 1
        """,
        (run_id, symbol),
        url,
    )
    return None if frame.empty else json.loads(frame["validation"].iloc[0])
