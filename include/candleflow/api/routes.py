"""Instruments, latest quotes, coverage and sync status: thin routes over ``candleflow.query``.

Each route parses its parameters (``params``), makes one call into the query module and
converts the answer (``convert``). Route functions are plain ``def``: the query module
blocks on the database, so FastAPI runs them in its thread pool, off the event loop. The
query module is imported inside the routes: it pulls in pandas and pyarrow (seconds), and
the Airflow plugin imports this package in every Airflow process.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from candleflow.api import params, schemas
from candleflow.api.auth import authenticated_user
from candleflow.api.convert import jsonable, records

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.Problem, "description": "Missing, expired or invalid Airflow token"},
    404: {"model": schemas.Problem, "description": "Unknown symbol"},
    422: {"model": schemas.Problem, "description": "A parameter is invalid; detail names it"},
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


@router.get("/instruments", response_model=schemas.InstrumentList, tags=["instruments"])
def list_instruments(
    search: Annotated[str | None, Query(description="Part of the symbol or description")] = None,
    exchange: Annotated[str | None, Query(examples=["NASDAQ"])] = None,
    type: Annotated[str | None, Query(examples=["stock"])] = None,
    limit: Annotated[int, Query(description=f"1 to {params.MAX_LIMIT}")] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Instruments whose symbol or description contains ``search`` (any case), by symbol."""
    from candleflow import query

    params.limit(limit)
    search, exchange = params.text(search, "search"), params.text(exchange, "exchange")
    rows = records(query.instruments(search, exchange=exchange, type=params.text(type, "type")))
    page = rows[offset : offset + limit]
    following = offset + len(page)
    return {
        "items": page,
        "count": len(page),
        "total": len(rows),
        "next_offset": following if following < len(rows) else None,
    }


@router.get("/instruments/{symbol}", response_model=schemas.Instrument, tags=["instruments"])
def get_instrument(symbol: SymbolPath) -> dict[str, Any]:
    """One instrument by its exact symbol (``EXCHANGE:TICKER``); 404 when unknown."""
    return instrument(symbol)


@router.get("/quotes", response_model=schemas.QuoteList, tags=["quotes"])
def latest_quotes(
    symbols: Annotated[str, Query(description="Comma-separated", examples=["NASDAQ:AAPL"])],
) -> dict[str, Any]:
    """The latest quote per symbol (last tick, else the last bar's close); unknown are absent."""
    from candleflow import query

    return {"items": records(query.latest_quotes(params.symbols(symbols)))}


@router.get("/coverage/{symbol}", response_model=schemas.Coverage, tags=["coverage"])
def coverage(
    symbol: SymbolPath,
    timeframe: TimeframeQuery = "1d",
    start: TimeQuery = None,
    end: TimeQuery = None,
) -> dict[str, Any]:
    """Stored bars vs the bars the exchange calendar expects in [start, end), with gaps."""
    from candleflow import query

    tf = params.timeframe(timeframe)
    begin, finish = params.time_range(start, end, tf)
    instrument(symbol)
    report = query.coverage(symbol, tf, begin, finish)
    body = jsonable(dataclasses.asdict(report))
    body.update(missing=report.missing, complete=report.complete)
    body["gaps"] = [{"start": gap[0], "end": gap[1]} for gap in body.get("gaps", [])]
    return body


@router.get("/sync-status", response_model=schemas.SyncStatus, tags=["sync"])
def sync_status() -> dict[str, Any]:
    """The last load per instrument and timeframe: outcome, row counts, window, watermark."""
    from candleflow import query

    return {"items": records(query.sync_status())}
