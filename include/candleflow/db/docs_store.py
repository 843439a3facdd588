"""The Data Docs store: where each validated slice's page lives, and reading it back.

Why in ``db/``: like the Parquet layout (``db.lake``), it is a store the command side writes
(``services.load`` with ``validation.docs``'s pages) and the read side serves
(``api.data_docs``), so both reach it from below. Layout, one file per slice:

    <store>/<run id>/<symbol>/<timeframe>/<window start>_<window end>.html

The store is ``CANDLEFLOW_DATA_DOCS_DIR``, else ``data_docs/`` in the home. Folder names are
percent-encoded, so a run id or symbol cannot leave the store; readers pass the plain names
(a URL may be decoded once or twice on its way).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, unquote

from candleflow import config

log = logging.getLogger(__name__)

STORE_ENV = "CANDLEFLOW_DATA_DOCS_DIR"
SERVED_AT = "/candleflow/data-docs"  # where the plugin's API serves the store
_STAMP = "%Y%m%dT%H%M%SZ"


def store() -> Path:
    return Path(config.setting(STORE_ENV) or config.home() / "data_docs")


def _name(text: str) -> str:
    return quote(text, safe="") or "_"


def page_path(run_id: str, symbol: str, timeframe: str, start: dt.datetime, end: dt.datetime):
    """Where the page of one slice lives in the store."""
    stem = f"{start.astimezone(dt.UTC):{_STAMP}}_{end.astimezone(dt.UTC):{_STAMP}}.html"
    return store() / _name(run_id) / _name(symbol) / _name(timeframe) / stem


def write_page(text: str, *, run_id: str, symbol: str, timeframe: str, start, end) -> Path:
    """Write one slice's page atomically (a reader never sees half a page); its path."""
    path = page_path(run_id, symbol, timeframe, start, end)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


_QUEUE: dict = {"writer": None, "pending": []}
_LOCK = threading.Lock()


def write_later(text: str, **where) -> None:
    """``write_page`` on one background thread. Why: a new file costs a few milliseconds of
    disk latency on a busy machine, as much as loading a symbol's hour; the load's path only
    renders and queues. ``flush`` (the chunk's end) waits for the queue."""
    with _LOCK:
        if _QUEUE["writer"] is None:
            _QUEUE["writer"] = ThreadPoolExecutor(1, thread_name_prefix="cf-data-docs")
        _QUEUE["pending"].append(_QUEUE["writer"].submit(write_page, text, **where))


def flush() -> int:
    """Wait for the queued pages; a page that could not be written is logged, never raised
    (a load does not fail for its page). Returns the pages written."""
    with _LOCK:
        pending: list[Future] = _QUEUE["pending"]
        _QUEUE["pending"] = []
    written = 0
    for future in pending:
        try:
            future.result()
            written += 1
        except OSError as exc:
            log.warning("Data Docs page not written: %s", exc)
    return written


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
