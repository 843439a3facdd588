"""The read side for consumers: bars, quotes, instruments, coverage and load status.

Reads only (the session is ``default_transaction_read_only``), through ADBC into Arrow, so
a million bars reach pandas about as fast as the driver can read them. Symbols and every
value are bound parameters; an unknown symbol (or an injection attempt) is an empty result.

Rules where a consumer has to know them:

- **Source: one series.** Bars come from the provider and from the BarManager's tick rollup
  (which builds a session market's bars on the provider's grid, XNYS 1h at 09:30, 10:30 ...
  New York time, and none outside the regular session). Where they cover different parts of
  a window, the series is the provider's bars where they exist and rollup bars elsewhere,
  never both for overlapping intervals: a rollup bar is returned only where no provider bar
  covers any part of its interval (daily and longer: no provider bar of its session date).
  ``source="provider"`` or ``"rollup"`` reads one source alone. The ``source`` column says
  which one each row came from (``fill`` for bars added by ``fill``); ``complete`` is true
  for every stored bar, of either source (its interval has closed).
- **Resample on read, from what covers each part.** Where bars of ``timeframe`` are stored
  (from the first to the end of the last one in the window) they are returned as stored.
  Before and after that span, each bar is built from the finest stored timeframe that
  covers its interval completely (``query_bars.candidates``), else from the finest that has
  any of it (``complete`` false); weeks and months from the daily series chosen that way.
  So five months of 1h history and one day of 1m read as 1d give every day (``query.compose``).
  A bar is built as first open, max high, min low, last close, summed volume
  (NULL when all are NULL). Intraday buckets are anchored at the session open (XNYS 1h bars
  at 09:30, 10:30 New York) or at UTC midnight for 24x7 markets; a daily bar is one exchange
  session stamped at its open (24x7: the UTC day); weekly buckets start on Monday and
  monthly ones on the 1st, in the exchange's timezone (UTC for 24x7), each stamped at the
  ts of its first bar. Buckets are built from the bars inside [start, end): align the
  window to whole buckets for whole bars. A resampled bar's source is ``rollup`` when any
  of its bars is, else ``provider``.
- **Complete.** ``complete`` is False for a resampled bar whose interval the bars it was
  built from do not fully cover, judged against the exchange session: a 1d bar built from
  six 1h bars of a seven-bar XNYS session, a week missing a session, the bucket cut by the
  window's edge or still forming. An early close needs only its shorter session; a
  holiday is no missing session. Stored bars are complete (no forming bar is stored);
  filled bars are not (no data built them).
- **Fill.** ``None`` returns what is stored. ``"flat"`` adds a bar for every interval
  missing between a symbol's first and last bar in the window (by the exchange calendar
  for session markets: nights, weekends and holidays are not missing; continuous for
  24x7) with open = high = low = close = the previous close and volume 0. ``"ffill"`` adds
  the same bars with the previous bar's open, high, low and close and a NULL volume.
- **Adjustment.** Bars are stored raw; ``adjustment`` applies the instrument's corporate
  actions on read (``candleflow.adjustments``, LEAN's arithmetic): ``"splits"`` (the default,
  what TradingView and most charts show) multiplies each price by the product of the split
  factors after its session date and divides the volume by it, ``"total_return"`` also
  applies the dividends' factors, ``"raw"`` returns what traded. The stored bars are
  adjusted before resampling, so a week holding a split is built from days in one scale.
- **As of.** ``as_of=T`` returns the series as it was known at T: a bar loaded after T is
  left out, a bar corrected after T has the values it had then (``candleflow.bar_revisions``
  keeps every replaced version, migration 0017). Without it, the bars as stored now.
- **Types.** ``ts`` is ``datetime64[us, UTC]`` (Arrow ``timestamp[us, UTC]``); a NULL volume
  is NaN in pandas and null in Arrow and polars; ``complete`` is a boolean.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

from candleflow.adjustments import Adjustment, check_adjustment
from candleflow.domain import FILLS as _FILLS
from candleflow.domain import OUTPUTS as _OUTPUTS
from candleflow.domain import SOURCES as _SOURCES
from candleflow.domain import Fill, Output, Session, Source, Timeframe, check_session, to_utc
from candleflow.query import bars as query_bars
from candleflow.query import pool as query_pool
from candleflow.query import reads as query_reads
from candleflow.query.coverage import Coverage, LimitExceeded, coverage_of, expected_count
from candleflow.query.tables import (
    instruments,
    latest_quotes,
    stored_timeframes,
    sync_status,
    validation_result,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


__all__ = [
    "Coverage",
    "LimitExceeded",
    "actions",
    "bar_version",
    "bars",
    "coverage",
    "instruments",
    "latest_quotes",
    "source_timeframe",
    "stored_timeframes",
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
    return to_utc(value, name=name)  # the one timestamp parser (candleflow.domain)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    adjustment: Adjustment = "splits",
    session: Session = "regular",
    as_of: str | dt.datetime | None = None,
    url: str | None = None,
) -> Any:
    """Bars of ``symbols`` in [start, end), sorted by (symbol, ts); see the module docstring.

    ``session``: the regular-session series, or ``extended`` (pre- and post-market too, a
    series of its own: its sessions, coverage and ``complete`` follow the extended hours).

    Columns: ``symbol``, ``ts``, ``open``, ``high``, ``low``, ``close``, ``volume``, ``source``,
    ``complete``.
    """
    tf = Timeframe.parse(timeframe)
    _choice(fill, _FILLS, "fill")
    _choice(source, _SOURCES, "source")
    mode = check_adjustment(adjustment)
    session = check_session(session)
    if output not in _OUTPUTS:
        raise ValueError(f"bad output {output!r}; expected one of {', '.join(_OUTPUTS)}")
    wanted = [symbols] if isinstance(symbols, str) else list(symbols)
    begin, finish = _utc(start, "start"), _utc(end, "end")
    known_at = None if as_of is None else _utc(as_of, "as_of")
    sources = [source] if source else list(_SOURCES)
    tables = _read(
        url,
        lambda cursor: query_reads.read_bars(
            cursor,
            wanted,
            tf,
            begin,
            finish,
            fill,
            sources,
            adjustment=mode,
            session=session,
            as_of=known_at,
        ),
    )
    table = pa.concat_tables(tables) if tables else query_bars.empty()
    log.info(
        "read %d bars of %d symbols at %s [%s, %s) (%s, %s session)",
        len(table),
        len(wanted),
        tf,
        begin,
        finish,
        mode,
        session,
    )
    return _convert(table, output)


def coverage(
    symbol: str,
    timeframe: str | Timeframe,
    start: str | dt.datetime,
    end: str | dt.datetime,
    *,
    max_expected: int | None = None,
    session: Session = "regular",
    url: str | None = None,
) -> Coverage:
    """Stored bars of one series vs the bars its calendar expects in [start, end).

    ``session="extended"``: the extended-hours series, against its extended sessions.

    Only intervals that ended by now are expected; gaps are [start, end) ranges of
    consecutive expected bars that are missing (an XNYS holiday or night is no gap).
    ``max_expected`` bounds the work: a window whose calendar expects more bars raises
    ``LimitExceeded`` before any grid is built or bar read.
    """
    tf = Timeframe.parse(timeframe)
    begin, finish = _utc(start, "start"), _utc(end, "end")
    session = check_session(session)

    def work(cursor) -> tuple[list[query_bars.Series], pa.Table | None]:
        found = query_bars.series(cursor, [symbol], session=session)
        if not found:
            return found, None
        if max_expected is not None:
            count = expected_count(found[0].market, tf, begin, min(finish, _now()))
            if count > max_expected:
                raise LimitExceeded(
                    "start/end",
                    f"the window expects {count:,} {tf} bars; the limit is {max_expected:,} "
                    "expected bars per coverage request: narrow start/end or use a coarser "
                    "timeframe",
                )
        return found, query_bars.read_series(cursor, found[0], tf, begin, finish, list(_SOURCES))

    found, table = _read(url, work)
    if table is None:
        raise ValueError(f"unknown symbol {symbol!r}; see candleflow.query.instruments()")
    return coverage_of(table.to_pandas(), found[0].market, tf, begin, finish)


def actions(symbol: str, *, url: str | None = None) -> pd.DataFrame:
    """The corporate actions stored for ``symbol``, oldest first: ``ex_date``, ``kind``
    (split or dividend), ``ratio`` (split: new shares per old), ``amount`` (dividend: cash
    per share), ``reference_price``, ``factor`` (what earlier prices are multiplied by),
    ``source``, ``run_id``, ``recorded_at``. Empty for a symbol without any (or unknown)."""
    from candleflow.query import adjust

    return _read(url, lambda cursor: adjust.list_actions(cursor, symbol))


def bar_version(symbol: str, *, url: str | None = None) -> tuple | None:
    """A value that changes whenever a bar of ``symbol`` is written (any timeframe or source,
    by any writer: a trigger bumps it) or how it trades changes; None for an unknown symbol.

    What a cache of derived answers (the API's encoded pages) is keyed on: equal versions
    mean equal bars. Read it before the bars, so that a cached answer is never older than
    the version it is stored under.
    """
    from candleflow.query import versions

    return versions.version(symbol, url)


def source_timeframe(
    symbol: str,
    timeframe: str | Timeframe,
    *,
    start: str | dt.datetime | None = None,
    end: str | dt.datetime | None = None,
    url: str | None = None,
) -> Timeframe | None:
    """The finest stored timeframe ``bars`` may read for ``symbol`` at ``timeframe`` (itself,
    or one it is resampled from where itself is not stored), at any time or, given ``start``
    and ``end``, in that window; None when nothing usable is."""
    tf = Timeframe.parse(timeframe)
    window = None if start is None or end is None else (_utc(start, "start"), _utc(end, "end"))

    def work(cursor) -> Timeframe | None:
        found = query_bars.series(cursor, [symbol])
        if not found:
            return None
        if window is None:
            return query_bars.stored_timeframe(cursor, found[0].instrument_id, tf, list(_SOURCES))
        from candleflow.query import compose

        spans = compose.spans(cursor, found[0].instrument_id, tf, *window, list(_SOURCES))
        return min((s.tf for s in spans), key=lambda t: t.delta, default=None)

    return _read(url, work)
