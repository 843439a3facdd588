"""What one request may cost: the limits every route enforces, and their 422s.

Why: the API runs inside Airflow's api-server, next to the UI. Unbounded work there (a
coverage grid of a century of 1m bars, a resampled page that reads 20 years of 1m bars)
holds a thread, a database session and memory while the UI waits. Each limit is named in
the 422 a request that exceeds it gets, so a client knows which knob to turn:

- ``MAX_WINDOW``: a request's [start, end) spans at most 100 years;
- ``MAX_COVERAGE_BARS``: a coverage request expects at most 200,000 bars (a 24x7 1h
  series for 22 years, or 1m bars for 4.5 months), counted from the calendar before any
  grid is built;
- ``MAX_READ_ROWS``: a bars page reads at most 250,000 stored rows, measured in the stored
  timeframe it is resampled from, so a 1d page from 1m bars covers about 170 sessions
  and says where to continue (``next``) instead of reading everything;
- ``MAX_SYMBOLS``: a quotes request names at most 500 symbols; ``limit`` (bars per page,
  instruments per page) is at most ``params.MAX_LIMIT``.

Each database statement also has the read-only pool's statement_timeout, and the routes'
work runs under the API's own thread capacity (``capacity``).
"""

from __future__ import annotations

import datetime as dt

from candleflow.api.params import BadParameter

MAX_WINDOW = dt.timedelta(days=36525)
MAX_COVERAGE_BARS = 200_000
MAX_READ_ROWS = 250_000
MAX_SYMBOLS = 500


def window(start: dt.datetime, end: dt.datetime) -> None:
    if end - start > MAX_WINDOW:
        years = (end - start).days / 365.25
        raise BadParameter(
            "start/end",
            f"the window spans {years:.0f} years; the limit is {MAX_WINDOW.days // 365} years "
            "per request: narrow start/end",
        )


def symbols(items: list[str]) -> list[str]:
    if len(items) > MAX_SYMBOLS:
        raise BadParameter(
            "symbols", f"{len(items)} symbols; the limit is {MAX_SYMBOLS} per request"
        )
    return items
