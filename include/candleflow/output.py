"""Printing bars for people and pipes: one CSV/JSON/table layout for every command.

Columns are ts (ISO-8601, UTC), open, high, low, close, volume (empty in CSV, null in
JSON, when the instrument has none). candleflow fetch and candleflow bars share it, so their
outputs can be diffed; bars adds complete (true/false) as a last column. The table is for
people: columns aligned, numbers to the right (``table``, also used for other listings).
"""

from __future__ import annotations

import json
import math
from typing import IO, TYPE_CHECKING

from candleflow.domain import BAR_COLUMNS, Format
from candleflow.domain import BAR_FORMATS as FORMATS

if TYPE_CHECKING:
    import pandas as pd


def _rows(bars: pd.DataFrame, extra: tuple[str, ...], trailing: tuple[str, ...]):
    columns = [*extra, *BAR_COLUMNS, *trailing]
    for values in bars[columns].itertuples(index=False, name=None):
        row = dict(zip(columns, values, strict=True))
        row["ts"] = row["ts"].strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        for key in ("open", "high", "low", "close", "volume"):
            value = row[key]
            row[key] = (
                None
                if value is None or (isinstance(value, float) and math.isnan(value))
                else float(value)
            )
        for key in trailing:
            row[key] = None if row[key] is None else bool(row[key])
        yield row


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def write_bars(
    bars: pd.DataFrame,
    fmt: Format,
    out: IO[str],
    *,
    extra: tuple[str, ...] = (),
    trailing: tuple[str, ...] = (),
) -> int:
    """Write ``bars`` to ``out``; returns the number of rows. ``extra`` columns go first,
    ``trailing`` ones (booleans: true/false) last."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rows = list(_rows(bars, extra, trailing))
    if fmt == "json":
        json.dump(rows, out, indent=None)
        out.write("\n")
        return len(rows)
    header = [*extra, *BAR_COLUMNS, *trailing]
    cells = [[_cell(row[c]) for c in header] for row in rows]
    if fmt == "table":
        numeric = [c in ("open", "high", "low", "close", "volume") for c in header]
        table(header, cells, out, right=numeric)
        return len(rows)
    out.write(",".join(header) + "\n")
    for line in cells:
        out.write(",".join(line) + "\n")
    return len(rows)


def table(
    header: list[str], rows: list[list[str]], out: IO[str], *, right: list[bool] | None = None
) -> None:
    """``rows`` under ``header`` in aligned columns two spaces apart; a column marked in
    ``right`` (numbers) is aligned to the right."""
    right = right or [False] * len(header)
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        cells = [
            str(v).rjust(w) if r else str(v).ljust(w)
            for v, w, r in zip(line, widths, right, strict=True)
        ]
        out.write("  ".join(cells).rstrip() + "\n")
