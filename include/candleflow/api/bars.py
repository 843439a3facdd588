"""``GET /api/v1/bars/{symbol}``: bars of one series in [start, end), a page at a time.

Why pages: one request must stay bounded however wide the range (years of 1m bars are
millions of rows). A page reads at most ``PAGE_SPAN`` × ``limit`` bar lengths of time, so
the database work is bounded by ``limit`` even before counting rows, and returns at most
``limit`` bars. ``next`` is the ts to pass as ``start`` (same ``end``) for the rest; it is
null when the range is complete. A page that stops early never ends on a bar that could be
cut by the window (a bucket being resampled on read), so pages join without seams.

The body is written from the Arrow table by Arrow's kernels (``encode``): a year of 1h bars
is ~9,000 rows, and building pydantic objects for each would cost more than the query.

Caching: every 200 carries a strong ``ETag`` (a hash of the body) and
``Cache-Control: private, no-cache``. A client that sends it back in ``If-None-Match`` gets
a 304 without the body when nothing changed; the server still reads the bars to know that
(a cheap, always-correct validator of "nothing changed" would need a change counter per
series that every write path bumps, which the schema does not have: load_audit misses
rollup bars and direct upserts, and no timestamp sees a deleted bar). ``no-cache`` because
even a closed range changes on a backfill; ``private`` because the data is behind a token.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import pyarrow as pa
from fastapi import Query, Request, Response

from candleflow.api import encode, params, schemas
from candleflow.api.routes import SymbolPath, TimeframeQuery, TimeQuery, data_router, instrument
from candleflow.domain import Timeframe

# Session markets trade ~1/5 of the week's hours (XNYS: 32.5 of 168), so a window of 6×limit
# bar lengths usually fills a page of them, while bounding the read for 24x7 markets.
PAGE_SPAN = 6
CACHE_CONTROL = "private, no-cache"
NOT_MODIFIED: dict[int | str, dict] = {
    304: {"description": "Not modified: `If-None-Match` names the current `ETag`; no body"}
}

router = data_router()

FillQuery = Annotated[
    str | None,
    Query(
        description="Missing intervals: none (as stored), ffill (previous OHLC, null volume) "
        "or flat (previous close, volume 0)",
        json_schema_extra={"enum": ["none", *params.FILLS]},
    ),
]
LimitQuery = Annotated[
    int, Query(description=f"Bars per page, 1 to {params.MAX_LIMIT}; see `next`")
]


def page_window(start: dt.datetime, end: dt.datetime, tf: Timeframe, limit: int) -> dt.datetime:
    """The end of the window one page reads: ``end``, or sooner for a wide range."""
    span = tf.delta * limit * PAGE_SPAN
    return end if end - start <= span else start + span


def paginate(
    table: pa.Table, start: dt.datetime, window_end: dt.datetime, end: dt.datetime, limit: int
):
    """``(rows of this page, next start or None)`` for the bars read in [start, window_end)."""
    count = len(table)
    if count > limit:
        return table.slice(0, limit), table.column("ts")[limit].as_py()
    if window_end >= end:
        return table, None
    if count > 1:
        # The last bar may be a bucket the window cut short: leave it to the next page.
        return table.slice(0, count - 1), table.column("ts")[count - 1].as_py()
    return table, window_end


@router.get(
    "/bars/{symbol}", response_model=schemas.BarsPage, tags=["bars"], responses=NOT_MODIFIED
)
def get_bars(
    request: Request,
    symbol: SymbolPath,
    timeframe: TimeframeQuery = "1d",
    start: TimeQuery = None,
    end: TimeQuery = None,
    fill: FillQuery = None,
    limit: LimitQuery = params.DEFAULT_LIMIT,
) -> Response:
    """OHLCV bars of ``symbol``; ts is the bar start (UTC), a bar covers [ts, ts + timeframe).

    A timeframe that is not stored is resampled on read from a finer stored one. An unknown
    symbol is a 404; a known one with no bars in the range is an empty page. Without
    ``start`` the range is the 500 bar lengths before ``end`` (default: now). Send the
    ``ETag`` of a previous answer as ``If-None-Match`` to get a 304 when it is unchanged.
    """
    from candleflow import query

    tf = params.timeframe(timeframe)
    begin, finish = params.time_range(start, end, tf)
    size = params.limit(limit)
    mode = params.fill(fill)
    params.symbol(symbol)
    window_end = page_window(begin, finish, tf, size)
    table = query.bars([symbol], tf, begin, window_end, fill=mode, output="arrow")
    if len(table) == 0:
        instrument(symbol)
    page, following = paginate(table, begin, window_end, finish, size)
    head = {
        "symbol": symbol,
        "timeframe": tf.name,
        "start": params.iso(begin),
        "end": params.iso(finish),
        "fill": mode,
        "count": len(page),
        "next": params.iso(following) if following else None,
    }
    head_json = json.dumps(head, separators=(",", ":"))[:-1].encode()
    body = head_json + b',"bars":' + encode.bars_json(page) + b"}"
    headers = {"ETag": encode.etag(body), "Cache-Control": CACHE_CONTROL}
    if encode.matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
