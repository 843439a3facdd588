"""The chart page and its files: public, because the data it loads is what is protected.

The page is static HTML/JS/CSS from ``static/``; the charting library is plotly.js, taken
from the installed ``plotly`` wheel (its ``package_data/plotly.min.js``), so nothing is
fetched from a CDN at run time and its version is pinned by the lock file like any other
dependency. The file is found without importing plotly (a heavy import).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).with_name("static")
VENDOR_PACKAGE = "plotly"
VENDOR_FILE = ("package_data", "plotly.min.js")
# plotly.min.js is ~5 MB and changes only with the package: let browsers keep it a day.
VENDOR_CACHE = "public, max-age=86400"

router = APIRouter(tags=["page"])


@cache
def vendor_js() -> Path | None:
    """``plotly.min.js`` inside the installed plotly package, or None when not installed."""
    spec = importlib.util.find_spec(VENDOR_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*VENDOR_FILE)
        if path.is_file():
            return path
    return None


@router.get("/", include_in_schema=False)
def root(request: Request) -> RedirectResponse:
    return RedirectResponse(str(request.url_for("chart_page")))


@router.get("/chart", include_in_schema=False)
def chart_page() -> FileResponse:
    """The interactive candlestick chart (symbol, timeframe and range pickers)."""
    return FileResponse(STATIC / "chart.html", media_type="text/html")


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    path = vendor_js()
    if path is None:
        raise HTTPException(
            status_code=503,
            detail="chart library missing: the plotly package is not installed; "
            "run `uv sync` (or `pip install plotly==7.1.0`)",
        )
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": VENDOR_CACHE})
