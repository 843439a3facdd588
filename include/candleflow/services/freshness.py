"""Freshness: flag series whose newest bar is older than their calendar says it should be.

For each series the OHLCV DAGs load (watchlist symbol x timeframe), the newest bar that
should be in by now is the last one the exchange calendar expects (sessions, holidays,
early closes; 24x7 for crypto) whose load deadline has passed: the end of the DAG interval
it closes in, plus the DAG's settle time and a margin. A series whose newest stored bar is
older is stale. Every check is recorded in ``candleflow.freshness_checks`` (shown by
``analytics.freshness_checks``); ``on_stale="fail"`` raises so the task fails and alerts.
The lag per timeframe (how far the stalest series is behind) is returned, and handed to
``report_lag`` first, so a metrics gauge gets it even when the check then fails.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Literal

from candleflow import watchlist as watchlists
from candleflow.db import connection
from candleflow.domain import UTC, split_symbol
from candleflow.errors import CandleflowError

log = logging.getLogger(__name__)

LOOKBACK = dt.timedelta(days=14)


class StaleData(CandleflowError):
    """Series are behind their calendar. Handled by whoever gets the alert: look at the loads."""


def _due_at(spec: watchlists.DagSpec, ends, margin: dt.timedelta):
    """When bars ending at ``ends`` must be loaded: the end of the DAG interval they close in.

    The OHLCV DAGs load the bars that closed in ``(start, end]`` and run ``settle`` after
    ``end`` (``services.window``), on a UTC grid of ``every`` shifted by ``offset``; a daily
    calendar DAG runs 15 minutes after the session's bar is final.
    """
    import pandas as pd

    if spec.calendar:  # TradingSessionTimetable
        return ends + pd.Timedelta(minutes=15) + margin
    every, offset = pd.Timedelta(spec.every), pd.Timedelta(spec.offset)
    interval_end = (ends - offset).dt.ceil(every) + offset
    return interval_end + pd.Timedelta(spec.settle) + margin


def expected_start(spec, symbol: str, timezone: str, now: dt.datetime, margin: dt.timedelta):
    """Start of the newest bar of ``symbol`` that should be loaded by ``now`` (or None)."""
    import pandas as pd

    from candleflow.calendars import Market, expected

    market = Market.of(symbol, split_symbol(symbol)[0], timezone)
    later = pd.Timestamp(now) + pd.Timedelta(days=3)
    rows = expected(market, spec.timeframe, now - LOOKBACK, later.to_pydatetime(), later)
    ends = rows["start"] + pd.Timedelta(spec.timeframe.delta)
    due = _due_at(spec, ends, margin) <= now
    return None if not due.any() else rows.loc[due, "start"].iloc[-1].to_pydatetime()


def check_freshness(
    *,
    url: str,
    run_id: str | None = None,
    now: dt.datetime | None = None,
    margin: dt.timedelta = dt.timedelta(minutes=15),
    on_stale: Literal["fail", "warn"] = "warn",
    watchlist: watchlists.Watchlist | None = None,
    report_lag: Callable[[dict[str, float]], None] | None = None,
) -> dict:
    """Check every watchlist series, record the results, and fail or warn when stale.

    ``lag_seconds`` in the result: per timeframe checked, the largest ``expected - newest``
    of its series (0 when all are fresh), also passed to ``report_lag`` before any raise.
    """
    if on_stale not in ("fail", "warn"):
        raise ValueError(f"on_stale must be 'fail' or 'warn', got {on_stale!r}")
    now = now or dt.datetime.now(UTC)
    watchlist = watchlist or watchlists.load()
    stale: list[str] = []
    lags: dict[str, float] = {}
    checked = 0
    with connection.transaction(url) as conn, conn.cursor() as cur:
        for spec in watchlists.dag_specs(watchlist):
            for symbol in spec.symbols:
                cur.execute(
                    # plain rows are newer than compressed (closed) months when both exist
                    "SELECT i.id, i.timezone, coalesce((SELECT max(ts) FROM candleflow.bars b"
                    " WHERE b.instrument_id = i.id AND b.timeframe = %s),"
                    " (SELECT max(last_ts) FROM candleflow.bar_segments g"
                    " WHERE g.instrument_id = i.id AND g.timeframe = %s))"
                    " FROM candleflow.instruments i WHERE i.symbol = %s",
                    (spec.timeframe.name, spec.timeframe.name, symbol),
                )
                row = cur.fetchone()
                if row is None or row[2] is None:
                    continue  # a series never loaded has nothing to be fresh about yet
                instrument_id, timezone, newest = row
                want = expected_start(spec, symbol, timezone, now, margin)
                is_stale = want is not None and newest < want
                lag = (want - newest).total_seconds() if is_stale else 0.0
                lags[spec.timeframe.name] = max(lags.get(spec.timeframe.name, 0.0), lag)
                cur.execute(
                    "INSERT INTO candleflow.freshness_checks (run_id, instrument_id, timeframe,"
                    " newest_ts, expected_ts, is_stale, lag) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        run_id,
                        instrument_id,
                        spec.timeframe.name,
                        newest,
                        want,
                        is_stale,
                        (want - newest) if is_stale else None,
                    ),
                )
                checked += 1
                if is_stale:
                    stale.append(f"{symbol} {spec.timeframe} (newest {newest}, expected {want})")
    log.info("freshness: %d series checked, %d stale", checked, len(stale))
    if report_lag is not None:
        report_lag(lags)
    if stale and on_stale == "fail":
        raise StaleData(f"{len(stale)} stale series: " + "; ".join(stale))
    for line in stale:
        log.warning("stale: %s", line)
    return {"checked": checked, "stale": len(stale), "lag_seconds": lags}
