"""The API's Swagger UI, served from the package, and only when Airflow's setting allows it.

Why: FastAPI's default docs page loads Swagger UI from a CDN, so inside a network without
internet (or behind a strict CSP) /candleflow/docs is blank, and it would fetch third-party
code into a page that holds the user's session. The files come from the swagger-ui-dist npm
package (version in static/swagger/VERSION, Apache-2.0, LICENSE beside it), copied
unchanged. Whether there are docs at all follows ``[api] enable_swagger_ui``, as it does
for Airflow's own /docs.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

log = logging.getLogger(__name__)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="{base}/static/swagger/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{base}/static/swagger/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: {spec}, dom_id: "#swagger-ui", deepLinking: true,
      persistAuthorization: false}});
  </script>
</body>
</html>
"""


def swagger_enabled() -> bool:
    """``[api] enable_swagger_ui`` (default True, as in Airflow); True without Airflow."""
    try:
        from airflow.configuration import conf
    except ImportError:
        return True
    return conf.getboolean("api", "enable_swagger_ui", fallback=True)


def router(title: str) -> APIRouter:
    docs = APIRouter(include_in_schema=False)

    @docs.get("/docs", response_class=HTMLResponse)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        spec = json.dumps(f"{base}/openapi.json")
        return HTMLResponse(PAGE.format(title=f"{title} - Swagger UI", base=base, spec=spec))

    return docs
