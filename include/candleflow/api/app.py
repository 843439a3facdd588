"""The Candleflow HTTP API and chart page as one FastAPI app, mounted by the Airflow plugin.

``create_app()`` builds it without touching the database (the plugin module is imported by
every Airflow process). Mounted at ``/candleflow`` in the api-server, its OpenAPI document is
``/candleflow/openapi.json`` and its docs ``/candleflow/docs`` (Swagger UI from the package,
when ``[api] enable_swagger_ui`` is on); tests and the benchmark serve the same app with
uvicorn.

Errors have one shape, ``{"detail": "<parameter>: <what was wrong; what was expected>"}``:
FastAPI's own validation errors are rewritten into it so a client never has to dig the
parameter's name out of a nested list. A request over a limit (``limits``) is a 422 naming
it. An unreachable warehouse is a 503 that says only "warehouse unavailable": which host
and why goes to the server's log, not to every API client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from candleflow.api import bars, data_docs, docs, pages, routes
from candleflow.api.capacity import Busy
from candleflow.api.params import BadParameter, NotFound
from candleflow.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DESCRIPTION = """Bars, quotes, instruments, coverage and load status from the Candleflow
warehouse. Every `/api/v1` route needs an Airflow token: `Authorization: Bearer <token>`
with a token from the api-server's `POST /auth/token`, or the Airflow UI's `_token` cookie.
Timestamps are ISO-8601 UTC (`2024-01-02T14:30:00Z`); a bar's `ts` is its start."""


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _bad_parameter(request: Request, exc: Exception) -> JSONResponse:
    return _problem(422, str(exc))


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _problem(404, str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    from candleflow.query.pool import QueryTimeout

    if isinstance(exc, QueryTimeout):  # says what to change; names no host, no statement
        log.warning("query timed out on %s: %s", request.url.path, exc)
        return _problem(503, f"query: {exc}")
    log.warning("warehouse unavailable on %s: %s", request.url.path, exc)
    return _problem(503, "warehouse unavailable")


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    log.warning("busy on %s: %s", request.url.path, exc)
    response = _problem(503, str(exc))
    response.headers["Retry-After"] = "1"
    return response


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation error list, as one sentence per parameter."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = []
    for error in errors:
        name = str(error.get("loc", ("", "?"))[-1])
        value = error.get("input")
        got = "" if value is None or isinstance(value, dict) else f" (got {value!r})"
        parts.append(f"{name}: {error.get('msg', 'invalid')}{got}")
    return _problem(422, "; ".join(parts) or "request: invalid")


def create_app(*, swagger_ui: bool | None = None) -> FastAPI:
    """The app; cheap to build (no database). ``swagger_ui`` None follows Airflow's
    ``[api] enable_swagger_ui``."""
    title = "Candleflow API"
    app = FastAPI(
        title=title,
        version="1",
        description=DESCRIPTION,
        docs_url=None,  # served from the package below, not from FastAPI's CDN page
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    if docs.swagger_enabled() if swagger_ui is None else swagger_ui:
        app.include_router(docs.router(title))
    app.include_router(routes.router)
    app.include_router(bars.router)
    app.include_router(pages.router)
    app.include_router(data_docs.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.get("/health", tags=["health"], response_model=dict[str, str])
    def health() -> dict[str, str]:
        """Liveness of the app itself (no database, no token): for load balancers and tests."""
        return {"status": "ok"}

    app.add_exception_handler(BadParameter, _bad_parameter)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(Busy, _busy)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app
