"""Data Docs pages: each validated slice's results as HTML people can open.

Why: Great Expectations users expect Data Docs, a page per validation run with its
expectations, their observed values and the rows that failed. Rebuilding GX's own site would
mean a second validation (or GX's checkpoint store) per slice; the chunk already holds the
result (``ValidationResult``: the expectations with their counts, the rejected rows with the
rules they broke and their raw values, the flagged rows), so ``render`` builds the page from
that, once, when the slice is stored (``services.load``), into the Data Docs store
(``db.docs_store``), which the plugin's API serves (``api.data_docs``).
"""

from __future__ import annotations

import html
import json
from typing import Any

MAX_ROWS = 500  # failing rows shown per page; the rest are counted (all in rejected_bars)


class _Html(str):
    """Cells already rendered (an expectation's static part, shared by a batch's windows)."""


_STATIC: dict[int, tuple[dict, _Html]] = {}  # id(outcome) -> (outcome, its cells)


def _static_cells(outcome: dict) -> _Html:
    """The type, rule and arguments cells of one GX outcome, rendered once per batch: the
    windows of a batch share its result, so their pages share these cells."""
    hit = _STATIC.get(id(outcome))
    if hit is not None and hit[0] is outcome:
        return hit[1]
    if len(_STATIC) > 4096:
        _STATIC.clear()
    meta = outcome.get("meta") or {}
    kwargs = {k: v for k, v in (outcome.get("kwargs") or {}).items() if k != "batch_id"}
    cells = _Html(
        "".join(_cell(v) for v in (outcome.get("expectation_type"), meta.get("rule") or "", kwargs))
    )
    _STATIC[id(outcome)] = (outcome, cells)
    return cells


def _cell(value: Any) -> str:
    if isinstance(value, _Html):
        return value
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
                _static_cells(outcome),
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
