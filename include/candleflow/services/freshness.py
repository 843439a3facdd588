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
from candleflow.dag_specs import DagSpec, dag_specs
from candleflow.db import checks, connection
from candleflow.domain import UTC, split_symbol
from candleflow.errors import CandleflowError

log = logging.getLogger(__name__)

LOOKBACK = dt.timedelta(days=14)


class StaleData(CandleflowError):
    """Series are behind their calendar. Handled by whoever gets the alert: look at the loads."""


def _due_at(spec: DagSpec, ends, margin: dt.timedelta):
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


def _series(spec) -> list[tuple[str, str]]:
    """(symbol, series session) of every series a DAG loads: a chunk's ``session`` option."""
    if not spec.chunks:
        return [(symbol, "regular") for symbol in spec.symbols]
    return [
        (symbol, chunk.options.get("session", "regular"))
        for chunk in spec.chunks
        for symbol in chunk.symbols
    ]


def expected_start(
    spec,
    symbol: str,
    timezone: str,
    now: dt.datetime,
    margin: dt.timedelta,
    session: str = "regular",
):
    """Start of the newest bar of ``symbol``'s ``session`` series that should be loaded by
    ``now`` (or None): an extended series expects its pre- and post-market bars too."""
    import pandas as pd

    from candleflow.calendars import Market, expected

    market = Market.of(symbol, split_symbol(symbol)[0], timezone, session)
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
        for spec in dag_specs(watchlist):
            for symbol, session in _series(spec):
                row = checks.newest_bar(cur, symbol, spec.timeframe.name, session)
                if row is None or row[2] is None:
                    continue  # a series never loaded has nothing to be fresh about yet
                instrument_id, timezone, newest = row
                want = expected_start(spec, symbol, timezone, now, margin, session)
                is_stale = want is not None and newest < want
                lag = (want - newest).total_seconds() if is_stale else 0.0
                lags[spec.timeframe.name] = max(lags.get(spec.timeframe.name, 0.0), lag)
                checks.record_freshness(
                    cur,
                    instrument_id,
                    spec.timeframe.name,
                    run_id=run_id,
                    newest=newest,
                    expected=want,
                    lag=(want - newest) if is_stale else None,
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
