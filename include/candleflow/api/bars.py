"""GET /api/v1/bars/{symbol}: bars of one series in [start, end), a page at a time.

Why pages: one request must stay bounded however wide the range (years of 1m bars are
millions of rows). A page returns at most ``limit`` bars and reads at most
``limits.MAX_READ_ROWS`` stored rows, counted in the timeframe it reads (a 1d page
resampled from 1m bars reads 1m rows): its window is ``PAGE_SPAN`` x ``limit`` bar lengths,
shortened to what that many stored rows cover. ``next`` is the ts to pass as ``start``
(same ``end``) for the rest; null when the range is complete. A page that stops early never
ends on a bar that could be cut by the window (a bucket being resampled on read), so pages
join without seams.

Every bar has ``complete``: false for a resampled bar whose interval the stored bars do not
fully cover (see ``candleflow.query``). Prices are adjusted for corporate actions on read,
split-adjusted unless ``adjustment`` says ``raw`` or ``total_return``; a new action bumps the
instrument's data version like a write of its bars, so no cached page outlives it.

Speed: pages are cached encoded (``cache``), keyed by the instrument's data version, which
every write bumps; a hit costs one small query. Bodies are written from Arrow by Arrow's
kernels (``encode``) and sent gzip-compressed to clients that accept it. Every 200 carries a
strong ``ETag`` and ``Cache-Control: private, no-cache``: a client sending it back in
``If-None-Match`` gets a 304 without the body while nothing changed (``no-cache`` because
even a closed range changes on a backfill; ``private`` because the data is behind a token).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import pyarrow as pa
from fastapi import Query, Request, Response

from candleflow.api import capacity, encode, limits, params, schemas
from candleflow.api.cache import PAGES, Page
from candleflow.api.routes import SymbolPath, TimeframeQuery, TimeQuery, data_router
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
AdjustmentQuery = Annotated[
    str,
    Query(
        description="Corporate actions: splits (split-adjusted, as charts show), raw (as "
        "traded) or total_return (splits and dividends)",
        json_schema_extra={"enum": list(params.ADJUSTMENTS)},
    ),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        description="The series as it was known at this time (" + params.TIME_HINT + "; UTC "
        "when naive): bars loaded later left out, corrected bars with their values then"
    ),
]
LimitQuery = Annotated[
    int, Query(description=f"Bars per page, 1 to {params.MAX_LIMIT}; see `next`")
]


def page_window(
    start: dt.datetime, end: dt.datetime, tf: Timeframe, stored: Timeframe | None, limit: int
) -> dt.datetime:
    """The end of the window one page reads: ``end``, or sooner for a wide range or a read
    of finer stored bars (at most ``MAX_READ_ROWS`` of them, and two whole bars at least)."""
    span = tf.delta * limit * PAGE_SPAN
    if stored is not None:
        span = min(span, max(stored.delta * limits.MAX_READ_ROWS, tf.delta * 2))
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


def build_page(
    symbol: str,
    tf: Timeframe,
    start: dt.datetime,
    end: dt.datetime,
    fill: params.Fill | None,
    limit: int,
    *,
    cacheable: bool,
    adjustment: params.Adjustment = params.DEFAULT_ADJUSTMENT,
    as_of: dt.datetime | None = None,
) -> Page:
    """The page's body, from the cache while the instrument's bars are unchanged (runs on
    one of the API's threads: it blocks on the database)."""
    from candleflow import query
    from candleflow.query import pool

    version = query.bar_version(symbol)  # first: the page is at least as new as this
    if version is None:
        raise params.NotFound(f"symbol: unknown symbol {symbol!r}; see GET /api/v1/instruments")
    key = (pool.resolve(None), symbol, tf.name, start, end, fill, adjustment, as_of, limit)
    key += (version,)
    found = PAGES.get(key) if cacheable else None
    if found is not None:
        return found
    # the widest page first, then shortened by the finest timeframe stored in it
    widest = page_window(start, end, tf, None, limit)
    finest = query.source_timeframe(symbol, tf, start=start, end=widest)
    window_end = page_window(start, end, tf, finest, limit)
    table = query.bars(
        [symbol],
        tf,
        start,
        window_end,
        fill=fill,
        adjustment=adjustment,
        as_of=as_of,
        output="arrow",
    )
    rows, following = paginate(table, start, window_end, end, limit)
    head = {
        "symbol": symbol,
        "timeframe": tf.name,
        "start": params.iso(start),
        "end": params.iso(end),
        "fill": fill,
        "adjustment": adjustment,
        "as_of": params.iso(as_of) if as_of else None,
        "count": len(rows),
        "next": params.iso(following) if following else None,
    }
    head_json = json.dumps(head, separators=(",", ":"))[:-1].encode()
    page = Page.of(head_json + b',"bars":' + encode.bars_json(rows) + b"}")
    return PAGES.put(key, page) if cacheable else page


@router.get(
    "/bars/{symbol}", response_model=schemas.BarsPage, tags=["bars"], responses=NOT_MODIFIED
)
async def get_bars(
    request: Request,
    symbol: SymbolPath,
    timeframe: TimeframeQuery = "1d",
    start: TimeQuery = None,
    end: TimeQuery = None,
    fill: FillQuery = None,
    adjustment: AdjustmentQuery = params.DEFAULT_ADJUSTMENT,
    limit: LimitQuery = params.DEFAULT_LIMIT,
    as_of: AsOfQuery = None,
) -> Response:
    """OHLCV bars of ``symbol``; ts is the bar start (UTC), a bar covers [ts, ts + timeframe).

    A timeframe that is not stored is resampled on read from a finer stored one, and each
    bar says whether it is ``complete``. Prices are split-adjusted unless ``adjustment`` is
    ``raw`` or ``total_return``; the volume is divided by the split factor. An unknown symbol
    is a 404; a known one with no bars in the range is an empty page. Without ``start`` the
    range is the 500 bar lengths before ``end`` (default: now). Send the ``ETag`` of a
    previous answer as ``If-None-Match`` to get a 304 when it is unchanged. ``as_of`` reads
    the series as it was known then (point in time: later loads and corrections undone).
    """
    tf = params.timeframe(timeframe)
    begin, finish = params.time_range(start, end, tf)
    limits.window(begin, finish)
    size, mode = params.limit(limit), params.fill(fill)
    adjust = params.adjustment(adjustment)
    known_at = params.timestamp(as_of, "as_of")
    params.symbol(symbol)
    # A range ending "now" differs on every request: not worth keeping.
    page = await capacity.run(
        build_page,
        symbol,
        tf,
        begin,
        finish,
        mode,
        size,
        cacheable=bool(end),
        adjustment=adjust,
        as_of=known_at,
    )
    headers = {"ETag": page.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if encode.matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(page.gzipped, media_type="application/json", headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)
