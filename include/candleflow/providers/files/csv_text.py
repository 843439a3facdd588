"""CSV reading with exact line numbers: a vendor text file -> the mapped raw columns.

Field counts are checked with numpy over the whole buffer (no Python loop per row), so a
broken row is reported by its physical line number, 1-based as a text editor shows it (blank
lines are skipped but counted). pyarrow then parses every mapped column as text; typing is
``readers``' job, so a bad value is reported with its line too. A file with quoted
fields skips the numpy check (a quoted delimiter would miscount) and relies on pyarrow's.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from candleflow.errors import BadInputError
from candleflow.providers.files.formats import RawTable, by_target, resolve_columns

if TYPE_CHECKING:
    from candleflow.providers.files.mapping import FileMapping

log = logging.getLogger(__name__)

_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?")
_BOM = b"\xef\xbb\xbf"


def read_csv(data: bytes, source: str, mapping: FileMapping) -> RawTable:
    """The mapped columns of a CSV, as text, with the physical line number of every row."""
    data = data.removeprefix(_BOM)
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(buf)]))
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == ord("\r")))
    keep = ends > starts  # blank lines are skipped, and counted for line numbers
    starts, ends, line_no = starts[keep], ends[keep], np.flatnonzero(keep) + 1
    delimiter = mapping.delimiter.encode()
    seps = np.flatnonzero(buf == delimiter[0])
    fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1

    def text(k: int) -> str:
        return data[starts[k] : ends[k]].decode("utf-8", errors="replace")

    first = 1 if mapping.header else 0
    if mapping.header:
        names = [
            n.strip().strip('"') or f"field {i + 1}"
            for i, n in enumerate(text(0).split(mapping.delimiter))
        ]
        row = text(first).split(mapping.delimiter) if len(starts) > first else []
        names = _header_with_time(names, fields, first, row, source)
    else:
        names = [f"field {i + 1}" for i in range(int(fields[0]))]
    quoted = b'"' in data
    if not quoted:
        bad = np.flatnonzero(fields[first:] != len(names))
        if bad.size:
            k = int(bad[0]) + first
            raise BadInputError(
                f"{source} line {line_no[k]}: expected {len(names)} fields"
                f" ({','.join(names)}) got {fields[k]}: {text(k)[:80]!r}"
            )
    resolved = resolve_columns(mapping, names, source)
    wanted = list(dict.fromkeys(resolved.values()))
    if len(starts) <= first:  # a header and no rows: a valid, empty file
        log.warning("%s: header only, no rows", source)
        empty = pd.DataFrame({name: pd.Series(dtype="str") for name in wanted})
        return RawTable(source, by_target(empty, resolved), resolved, line_no[first:])
    body = data[starts[first] :]

    try:
        table = pcsv.read_csv(
            pa.py_buffer(body),
            read_options=pcsv.ReadOptions(column_names=names),
            parse_options=pcsv.ParseOptions(delimiter=mapping.delimiter),
            convert_options=pcsv.ConvertOptions(
                include_columns=wanted, column_types=dict.fromkeys(wanted, pa.string())
            ),
        )
    except pa.ArrowInvalid as exc:
        raise BadInputError(
            f"{source}: cannot parse as CSV ({exc}); expected {len(names)} "
            f"fields ({','.join(names)})"
        ) from exc
    lines = line_no[first:] if table.num_rows == len(line_no) - first else None
    return RawTable(source, by_target(table.to_pandas(), resolved), resolved, lines)


def _header_with_time(
    names: list[str], fields: np.ndarray, first: int, row: list[str], source: str
) -> list[str]:
    """Repair a header that lacks the ``Time`` name its rows carry (backtrader's 1-min file).

    Only when the first row has exactly one field more than the header and that extra second
    field is a time of day; any other mismatch is left for the field-count check to reject.
    """
    if len(fields) <= first or fields[first] != len(names) + 1 or "Time" in names:
        return names
    if not _TIME_OF_DAY.fullmatch(row[1].strip()):
        return names
    log.warning(
        "%s: header has %d names but rows have %d fields; reading field 2 as Time",
        source,
        len(names),
        len(names) + 1,
    )
    return [names[0], "Time", *names[1:]]
