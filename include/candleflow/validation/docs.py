"""Data Docs: each validated slice's results as an HTML page people can open.

Why: Great Expectations users expect Data Docs, a page per validation run with its
expectations, their observed values and the rows that failed. Rebuilding GX's own site would
mean a second validation (or GX's checkpoint store) per slice; the chunk already holds the
result (``ValidationResult``: the expectations with their counts, the rejected rows with the
rules they broke and their raw values, the flagged rows), so the page is rendered from that,
once, when the slice is stored (``services.load``), and written as a plain file:

    <store>/<run id>/<symbol>/<timeframe>/<window start>_<window end>.html

The store is ``CANDLEFLOW_DATA_DOCS_DIR``, else ``data_docs/`` in the home. The plugin's API
serves it (``api.data_docs``): a run's index (what a sync task's "Data Docs" link opens),
and a symbol's pages (what the chart page's rejected-bar count links to). Names are
percent-encoded, so a run id or symbol cannot leave the store.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from candleflow import config

STORE_ENV = "CANDLEFLOW_DATA_DOCS_DIR"
MAX_ROWS = 500  # failing rows shown per page; the rest are counted (all in rejected_bars)
_STAMP = "%Y%m%dT%H%M%SZ"


def store() -> Path:
    return Path(os.environ.get(STORE_ENV) or config.home() / "data_docs")


def _name(text: str) -> str:
    return quote(text, safe="") or "_"


def page_path(run_id: str, symbol: str, timeframe: str, start: dt.datetime, end: dt.datetime):
    """Where the page of one slice lives in the store."""
    stem = f"{start.astimezone(dt.UTC):{_STAMP}}_{end.astimezone(dt.UTC):{_STAMP}}.html"
    return store() / _name(run_id) / _name(symbol) / _name(timeframe) / stem


def write_page(result: Any, *, run_id: str, symbol: str, timeframe: str, start, end) -> Path:
    """Render ``result`` (a ``ValidationResult``) and write it atomically; returns its path."""
    path = page_path(run_id, symbol, timeframe, start, end)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(render(result, run_id=run_id, symbol=symbol, timeframe=timeframe))
    tmp.replace(path)
    return path


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, default=str)
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _expectations(result: Any) -> list[list[Any]]:
    """One row per expectation: this window's verdict and unexpected count for the row
    checks (``summary["expectations"]``), the batch's for table-level ones."""
    mine = result.summary.get("expectations") or {}
    checked = result.summary.get("rows_checked")
    rows = []
    for outcome in (result.gx_result or {}).get("expectations") or []:
        meta = outcome.get("meta") or {}
        kwargs = {k: v for k, v in (outcome.get("kwargs") or {}).items() if k != "batch_id"}
        own = mine.get(meta.get("check")) if meta.get("check") else None
        success = own["success"] if own else outcome.get("success")
        observed = (
            own["unexpected_count"]
            if own
            else (outcome.get("result") or {}).get("unexpected_count")
        )
        rows.append(
            [
                "passed" if success else "FAILED",
                outcome.get("expectation_type"),
                meta.get("rule") or "",
                kwargs,
                observed,
                checked if own else (outcome.get("result") or {}).get("element_count"),
                outcome.get("severity"),
            ]
        )
    return rows


def _failing(frame: Any, columns: list[str]) -> tuple[list[list[Any]], int]:
    if frame is None or not len(frame):
        return [], 0
    rows = []
    for rec in frame.head(MAX_ROWS).to_dict("records"):
        rows.append([rec.get(c) if c != "rules" else ", ".join(rec.get(c) or ()) for c in columns])
    return rows, len(frame)


def render(result: Any, *, run_id: str, symbol: str, timeframe: str) -> str:
    """The page: the verdict, the rules' counts, every expectation, the failing rows."""
    s = result.summary
    window = s.get("window") or ["", ""]
    verdict = "passed" if s.get("gx_success") else "FAILED"
    counts = [[rule, n] for rule, n in (s.get("rules") or {}).items()]
    rejected, n_rejected = _failing(result.rejected, ["ts", "rules", "raw"])
    flagged, n_flagged = _failing(result.flagged, ["ts", "rules", "open", "close", "change"])
    more = lambda shown, n: f"<p>{n - len(shown)} more not shown.</p>" if n > len(shown) else ""  # noqa: E731
    title = f"{symbol} {timeframe} {window[0]} to {window[1]}"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Data Docs: {html.escape(title)}</title><style>
body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}}
.FAILED{{color:#b00}}.passed{{color:#070}}</style></head><body>
<h1>Data Docs: {html.escape(title)}</h1>
<p>Suite <b>{html.escape(str(s.get("suite")))}</b>, run <code>{html.escape(run_id)}</code>:
<b class="{verdict}">{verdict}</b>. Rows checked {s.get("rows_checked")}, valid
{s.get("rows_valid")}, rejected {s.get("rows_rejected")}, flagged {s.get("rows_flagged")}
(duplicates collapsed {s.get("duplicates_collapsed")}).</p>
<h2>Rules</h2>{_table(["rule", "rows"], counts)}
<h2>Expectations</h2>{
        _table(
            ["status", "expectation", "rule", "arguments", "unexpected", "checked", "severity"],
            _expectations(result),
        )
    }
<h2>Rejected rows ({n_rejected})</h2>{_table(["ts", "rules", "values"], rejected)}{
        more(rejected, n_rejected)
    }
<h2>Flagged rows ({n_flagged}, loaded)</h2>{
        _table(["ts", "rules", "open", "close", "change"], flagged)
    }{more(flagged, n_flagged)}
</body></html>
"""


def run_pages(run_id: str, *, symbols=(), timeframe: str | None = None) -> list[dict[str, str]]:
    """The pages of one run (optionally of some symbols or one timeframe), in order."""
    base = store() / _name(run_id)
    wanted = {_name(s) for s in symbols}
    pages = []
    for path in sorted(base.glob("*/*/*.html")):
        sym, tf = path.parent.parent.name, path.parent.name
        if (wanted and sym not in wanted) or (timeframe and unquote(tf) != timeframe):
            continue
        pages.append(
            {"symbol": unquote(sym), "timeframe": unquote(tf), "page": path.stem,
             "path": _plain(path)}
        )  # fmt: skip
    return pages


def symbol_pages(symbol: str, *, timeframe: str | None = None, limit: int = 200):
    """A symbol's pages across runs, newest first (by file time)."""
    tf = _name(timeframe) if timeframe else "*"
    paths = store().glob(f"*/{_name(symbol)}/{tf}/*.html")
    newest = sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    return [
        {"run_id": unquote(p.parents[2].name), "timeframe": unquote(p.parent.name),
         "page": p.stem, "path": _plain(p)}
        for p in newest
    ]  # fmt: skip


def read_page(relative: str) -> str | None:
    """A page's HTML by its plain path (``run/symbol/timeframe/window.html``, the names
    not encoded: a URL may be decoded once or twice on its way), None when absent."""
    parts = relative.split("/")
    if len(parts) != 4 or any(p in ("", ".", "..") for p in parts):
        return None
    root = store().resolve()
    path = (root.joinpath(*map(_name, parts[:3])) / parts[3]).resolve()
    if root not in path.parents or path.suffix != ".html" or not path.is_file():
        return None
    return path.read_text()


def _plain(path: Path) -> str:
    """The path of a page as ``read_page`` takes it."""
    rel = path.relative_to(store()).parts
    return "/".join([*map(unquote, rel[:3]), rel[3]])
