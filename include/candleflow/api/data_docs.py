"""Data Docs in the browser: the pages ``validation.docs`` wrote, behind the Airflow token.

- ``/data-docs/runs/{run_id}``: a run's pages, optionally of some symbols and a timeframe
  (a sync task's "Data Docs" extra link opens this with the task's own symbols);
- ``/data-docs/symbols/{symbol}``: one symbol's pages, newest first (the chart page's
  rejected-bar count links here);
- ``/data-docs/page/{path}``: one page;
- ``/data-docs/symbols/{symbol}/rejected``: the rejected bars of a series in a range, and
  where their pages are (JSON, for the chart page's count).

HTML for people, so outside the OpenAPI document's ``/api/v1``; the pages hold bar values,
so each route checks the Airflow token like the data routes (the UI's ``_token`` cookie
is sent along when the link is followed from the UI).
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from candleflow.api import capacity, params
from candleflow.api.auth import authenticated_user
from candleflow.db.docs_store import SERVED_AT as PREFIX  # noqa: F401 - re-exported

router = APIRouter(prefix="/data-docs", dependencies=[Depends(authenticated_user)])
# Links within are relative, so the same app works wherever it is mounted.


def _index(title: str, pages: list[dict[str, str]], label) -> HTMLResponse:
    items = "".join(
        f'<li><a href="../page/{quote(p["path"])}">{html.escape(label(p))}</a></li>' for p in pages
    )
    body = f"<ul>{items}</ul>" if pages else "<p>No validated slices here yet.</p>"
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body style='font-family:sans-serif'><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )


@router.get("/runs/{run_id}", include_in_schema=False)
async def run_index(
    run_id: str,
    symbol: Annotated[list[str] | None, Query()] = None,
    timeframe: str | None = None,
) -> HTMLResponse:
    return await capacity.run(_run_index, run_id, symbol, timeframe)


def _run_index(run_id: str, symbol: list[str] | None, timeframe: str | None) -> HTMLResponse:
    from candleflow.db import docs_store as docs

    pages = docs.run_pages(run_id, symbols=symbol or (), timeframe=timeframe)
    return _index(
        f"Data Docs of run {run_id}", pages, lambda p: f"{p['symbol']} {p['timeframe']} {p['page']}"
    )


@router.get("/symbols/{symbol}", include_in_schema=False)
async def symbol_index(symbol: str, timeframe: str | None = None) -> HTMLResponse:
    return await capacity.run(_symbol_index, symbol, timeframe)


def _symbol_index(symbol: str, timeframe: str | None) -> HTMLResponse:
    from candleflow.db import docs_store as docs

    pages = docs.symbol_pages(symbol, timeframe=timeframe)
    return _index(
        f"Data Docs of {symbol}", pages, lambda p: f"{p['timeframe']} {p['page']} ({p['run_id']})"
    )


@router.get("/page/{path:path}", include_in_schema=False)
async def page(path: str) -> HTMLResponse:
    return await capacity.run(_page, path)


def _page(path: str) -> HTMLResponse:
    from candleflow.db import docs_store as docs

    text = docs.read_page(path)
    if text is None:
        raise params.NotFound(f"page: no Data Docs page {path!r}")
    return HTMLResponse(text)


@router.get("/symbols/{symbol}/rejected", include_in_schema=False)
async def rejected(symbol: str, timeframe: str, start: str, end: str) -> dict[str, object]:
    tf = params.timeframe(timeframe)
    begin, finish = params.time_range(start, end, tf)
    n = await capacity.run(_rejected_count, symbol, tf.name, begin, finish)
    # relative to the chart page (``/candleflow/chart``), beside which this router is mounted
    href = f"data-docs/symbols/{quote(symbol, safe='')}?timeframe={quote(tf.name)}"
    return {"symbol": symbol, "timeframe": tf.name, "rejected": n, "href": href}


def _rejected_count(symbol: str, timeframe: str, begin, finish) -> int:
    from candleflow.query.tables import rejected_count

    return rejected_count(symbol, timeframe, begin, finish)
