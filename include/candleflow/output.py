"""Printing bars for people and pipes: one CSV/JSON layout for every command.

Columns are ``ts`` (ISO-8601, UTC), ``open``, ``high``, ``low``, ``close``, ``volume``
(empty in CSV, null in JSON, when the instrument has none). ``candleflow fetch`` and
``candleflow bars`` share it, so their outputs can be diffed.
"""

from __future__ import annotations

import json
import math
from typing import IO, TYPE_CHECKING, Literal

from candleflow.domain import BAR_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

Format = Literal["csv", "json", "table"]
FORMATS = ("csv", "json", "table")


def _rows(bars: pd.DataFrame, extra: tuple[str, ...]):
    columns = [*extra, *BAR_COLUMNS]
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
        yield row


def write_bars(
    bars: pd.DataFrame, fmt: Format, out: IO[str], *, extra: tuple[str, ...] = ()
) -> int:
    """Write ``bars`` to ``out``; returns the number of rows. ``extra`` columns go first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rows = list(_rows(bars, extra))
    if fmt == "json":
        json.dump(rows, out, indent=None)
        out.write("\n")
        return len(rows)
    header = [*extra, *BAR_COLUMNS]
    sep = "," if fmt == "csv" else "  "
    out.write(sep.join(header) + "\n")
    for row in rows:
        cells = [
            "" if row[c] is None else (repr(row[c]) if isinstance(row[c], float) else str(row[c]))
            for c in header
        ]
        out.write(sep.join(cells) + "\n")
    return len(rows)
