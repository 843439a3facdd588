"""Instruments, latest quotes, coverage and sync status: thin routes over ``candleflow.query``.

Each route parses its parameters (``params``, ``limits``), makes one call into the query
module and converts the answer (``convert``). Routes are ``async`` and hand the blocking
query work to ``capacity.run``: the API's own few threads, so it can never take the thread
pool Airflow's own endpoints share. The query module is imported inside the work: it pulls
in pandas and pyarrow (seconds), and the Airflow plugin imports this package in every
Airflow process.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from candleflow.api import capacity, limits, params, schemas
from candleflow.api.auth import authenticated_user
from candleflow.api.convert import jsonable, records

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.Problem, "description": "Missing, expired or invalid Airflow token"},
    404: {"model": schemas.Problem, "description": "Unknown symbol"},
    422: {
        "model": schemas.Problem,
        "description": "A parameter is invalid or the request exceeds a limit; detail names it",
    },
    503: {
        "model": schemas.Problem,
        "description": "Warehouse unavailable, a query timed out, or the API is busy (retry)",
    },
}


def data_router() -> APIRouter:
    """A router whose every route requires an Airflow token and documents the error bodies."""
    return APIRouter(prefix="/api/v1", dependencies=[Depends(authenticated_user)], responses=ERRORS)


router = data_router()

SymbolPath = Annotated[str, Path(description="EXCHANGE:TICKER", examples=["NASDAQ:AAPL"])]
TimeframeQuery = Annotated[
    str, Query(description="Bar length", json_schema_extra={"enum": params.TIMEFRAME_NAMES})
]
TimeQuery = Annotated[str | None, Query(description=params.TIME_HINT + "; UTC when naive")]


def instrument(symbol: str) -> dict[str, Any]:
    """The instrument row of ``symbol``; ``NotFound`` (404) when the warehouse has none."""
    from candleflow import query

    params.symbol(symbol)
    rows = [row for row in records(query.instruments(symbol)) if row["symbol"] == symbol]
    if not rows:
        raise params.NotFound(f"symbol: unknown symbol {symbol!r}; see GET /api/v1/instruments")
    return rows[0]


def _instruments(search, exchange, type_) -> list[dict[str, Any]]:
    from candleflow import query

    return records(query.instruments(search, exchange=exchange, type=type_))


@router.get("/instruments", response_model=schemas.InstrumentList, tags=["instruments"])
async def list_instruments(
    search: Annotated[str | None, Query(description="Part of the symbol or description")] = None,
    exchange: Annotated[str | None, Query(examples=["NASDAQ"])] = None,
    type: Annotated[str | None, Query(examples=["stock"])] = None,
    limit: Annotated[int, Query(description=f"1 to {params.MAX_LIMIT}")] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Instruments whose symbol or description contains ``search`` (any case), by symbol."""
    params.limit(limit)
    search, exchange = params.text(search, "search"), params.text(exchange, "exchange")
    rows = await capacity.run(_instruments, search, exchange, params.text(type, "type"))
    page = rows[offset : offset + limit]
    following = offset + len(page)
    return {
        "items": page,
        "count": len(page),
        "total": len(rows),
        "next_offset": following if following < len(rows) else None,
    }


def _instrument_with_timeframes(symbol: str) -> dict[str, Any]:
    from candleflow import query

    row = instrument(symbol)
    return {**row, "timeframes": records(query.stored_timeframes(symbol))}


@router.get("/instruments/{symbol}", response_model=schemas.Instrument, tags=["instruments"])
async def get_instrument(symbol: SymbolPath) -> dict[str, Any]:
    """One instrument by its exact symbol (``EXCHANGE:TICKER``), with the timeframes stored
    for it (finest first, first and last bar of each); 404 when unknown."""
    return await capacity.run(_instrument_with_timeframes, symbol)


def _quotes(symbols: list[str]) -> list[dict[str, Any]]:
    from candleflow import query

    return records(query.latest_quotes(symbols))


@router.get("/quotes", response_model=schemas.QuoteList, tags=["quotes"])
async def latest_quotes(
    symbols: Annotated[
        str,
        Query(
            description=f"Comma-separated, at most {limits.MAX_SYMBOLS}",
            examples=["NASDAQ:AAPL"],
        ),
    ],
) -> dict[str, Any]:
    """The latest quote per symbol (last tick, else the last bar's close); unknown are absent."""
    wanted = limits.symbols(params.symbols(symbols))
    return {"items": await capacity.run(_quotes, wanted)}


def _coverage(symbol: str, tf, begin, finish) -> dict[str, Any]:
    from candleflow import query

    instrument(symbol)
    try:
        report = query.coverage(symbol, tf, begin, finish, max_expected=limits.MAX_COVERAGE_BARS)
    except query.LimitExceeded as exc:
        raise params.BadParameter(exc.name, str(exc).split(": ", 1)[1]) from None
    body = jsonable(dataclasses.asdict(report))
    body.update(missing=report.missing, complete=report.complete)
    body["gaps"] = [{"start": gap[0], "end": gap[1]} for gap in body.get("gaps", [])]
    return body


@router.get("/coverage/{symbol}", response_model=schemas.Coverage, tags=["coverage"])
async def coverage(
    symbol: SymbolPath,
    timeframe: TimeframeQuery = "1d",
    start: TimeQuery = None,
    end: TimeQuery = None,
) -> dict[str, Any]:
    """Stored bars vs the bars the exchange calendar expects in [start, end), with gaps.

    At most ``200,000`` expected bars per request (422 beyond: narrow the window or use a
    coarser timeframe)."""
    tf = params.timeframe(timeframe)
    begin, finish = params.time_range(start, end, tf)
    limits.window(begin, finish)
    return await capacity.run(_coverage, symbol, tf, begin, finish)


def _sync_status() -> list[dict[str, Any]]:
    from candleflow import query

    return records(query.sync_status())


@router.get("/sync-status", response_model=schemas.SyncStatus, tags=["sync"])
async def sync_status() -> dict[str, Any]:
    """The last load per instrument and timeframe: outcome, row counts, window, watermark."""
    return {"items": await capacity.run(_sync_status)}
