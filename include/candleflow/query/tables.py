"""Tables for consumers other than bars: latest quotes, instruments, load status, validation.

Each is one SQL statement on a pooled read-only connection (``candleflow.query.pool``),
returned as a pandas DataFrame; values are bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa

from candleflow.query import pool as query_pool


def _read(url: str | None, work):
    return query_pool.POOL.run(query_pool.resolve(url), work)


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
               price_scale, provider, active, first_seen, last_seen, series_session
        FROM candleflow.instruments
        WHERE ($1::text IS NULL OR strpos(lower(symbol || ' ' || description), lower($1)) > 0)
          AND ($2::text IS NULL OR exchange = $2) AND ($3::text IS NULL OR type = $3)
        ORDER BY symbol, series_session DESC
        """,
        (search, exchange, type),
        url,
    )


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


def stored_timeframes(symbol: str, *, url: str | None = None) -> pd.DataFrame:
    """The timeframes stored for ``symbol`` (any source), finest first, with the first and
    last bar's ts of each: what a chart needs to pick a timeframe that has data."""
    from candleflow.domain import TIMEFRAMES

    return _frame(
        """
        SELECT t.tf AS timeframe, min(f.ts) AS first, max(l.ts) AS last
        FROM candleflow.instruments AS i
        CROSS JOIN unnest($2::text[]) WITH ORDINALITY AS t(tf, n)
        CROSS JOIN (VALUES ('provider'), ('rollup')) AS s(source)
        JOIN LATERAL (SELECT least(
                          (SELECT b.ts FROM candleflow.bars AS b
                           WHERE b.instrument_id = i.id AND b.timeframe = t.tf
                             AND b.source = s.source ORDER BY b.ts LIMIT 1),
                          (SELECT min(g.first_ts) FROM candleflow.bar_segments AS g
                           WHERE g.instrument_id = i.id AND g.timeframe = t.tf
                             AND g.source = s.source)) AS ts) AS f ON f.ts IS NOT NULL
        JOIN LATERAL (SELECT greatest(
                          (SELECT b.ts FROM candleflow.bars AS b
                           WHERE b.instrument_id = i.id AND b.timeframe = t.tf
                             AND b.source = s.source ORDER BY b.ts DESC LIMIT 1),
                          (SELECT max(g.last_ts) FROM candleflow.bar_segments AS g
                           WHERE g.instrument_id = i.id AND g.timeframe = t.tf
                             AND g.source = s.source)) AS ts) AS l ON true
        WHERE i.symbol = $1 AND i.series_session = 'regular'
        GROUP BY t.tf, t.n
        ORDER BY t.n
        """,
        (symbol, list(TIMEFRAMES)),
        url,
    )


def rejected_count(symbol: str, timeframe: str, start, end, *, url: str | None = None) -> int:
    """Rejected bars of one series that start in ``[start, end)`` (the chart's count)."""
    frame = _frame(
        """
        SELECT count(*) AS n FROM candleflow.rejected_bars
        WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts < $4
        """,
        (symbol, timeframe, start, end),
        url,
    )
    return int(frame["n"].iloc[0])
