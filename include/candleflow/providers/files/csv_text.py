"""CSV reading with exact line numbers: a vendor text file -> the mapped raw columns.

Field counts are checked with numpy over the whole buffer (no Python loop per row), so a
broken row is reported by its physical line number, 1-based as a text editor shows it (blank
lines are skipped but counted). pyarrow then parses every mapped column as text; typing is
``readers``' job, so a bad value is reported with its line too. A file with quoted
fields skips the numpy check (a quoted delimiter would miscount) and relies on pyarrow's.

``iter_csv`` reads a stream in blocks of whole lines (``BLOCK_BYTES`` by default), each
parsed as above with the line numbers going on: an import holds one block at a time
whatever the file's size. A quoted field may not hold a line break there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from candleflow.errors import BadInputError
from candleflow.providers.files.formats import RawTable, by_target, resolve_columns

if TYPE_CHECKING:
    from candleflow.providers.files.mapping import FileMapping

log = logging.getLogger(__name__)

BLOCK_BYTES = 4 << 20
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?")
_BOM = b"\xef\xbb\xbf"


def read_csv(data: bytes, source: str, mapping: FileMapping) -> RawTable:
    """The mapped columns of a CSV, as text, with the physical line number of every row."""
    data = data.removeprefix(_BOM)
    header, names = _header(data, source, mapping)
    return _parse(data, source, mapping, names, skip=header, line=1)


def iter_csv(
    stream: BinaryIO,
    source: str,
    mapping: FileMapping,
    block: int = BLOCK_BYTES,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[RawTable | None]:
    """``read_csv`` of a stream, one block of whole lines at a time (see the docstring).

    ``wanted(i)`` False skips parsing block ``i`` (None is yielded in its place): the
    blocks of a file are the same on every read, so a caller that indexed them once reads
    only those it needs."""
    head = stream.read(block).removeprefix(_BOM)
    if not head.strip():
        raise BadInputError(f"{source}: empty file; expected {mapping.kind} rows (csv)")
    header, names = _header(head, source, mapping)
    data, line, skip, rows = head, 1, header, 0
    while True:
        more = stream.read(block)
        cut = data.rfind(b"\n") + 1 if more else len(data)
        if more and cut == 0:  # one line longer than a block: read on
            data += more
            continue
        body, data = data[:cut], data[cut:] + more
        if body[skip:].strip():
            index = int(rows)
            if wanted is None or wanted(index):
                yield _parse(body, source, mapping, names, skip=skip, line=line)
            else:
                yield None
            rows += 1
        line += body.count(b"\n")
        skip = 0
        if not more and not data:
            break
    if not rows:  # a header and no rows: one empty table, as read_csv gives
        yield _parse(head[:header], source, mapping, names, skip=header, line=1)


def _lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(buffer, starts, ends, 0-based line index) of the non-blank lines of ``data``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if not len(buf):
        none = np.zeros(0, dtype=np.int64)
        return buf, none, none, none
    breaks = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(buf)]))
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == ord("\r")))
    keep = ends > starts  # blank lines are skipped, and counted for line numbers
    return buf, starts[keep], ends[keep], np.flatnonzero(keep)


def _header(data: bytes, source: str, mapping: FileMapping) -> tuple[int, list[str]]:
    """(bytes the header takes, column names) from the start of the file."""
    _, starts, ends, _ = _lines(data)
    delimiter = mapping.delimiter

    def text(k: int) -> str:
        return data[starts[k] : ends[k]].decode("utf-8", errors="replace")

    if not len(starts):
        return 0, []
    if not mapping.header:
        return 0, [f"field {i + 1}" for i in range(len(text(0).split(delimiter)))]
    names = [
        n.strip().strip('"') or f"field {i + 1}" for i, n in enumerate(text(0).split(delimiter))
    ]
    row = text(1).split(delimiter) if len(starts) > 1 else []
    end = data.find(b"\n", int(starts[0]))
    return (end + 1 if end >= 0 else len(data)), _header_with_time(names, row, source)


def _parse(
    data: bytes, source: str, mapping: FileMapping, names: list[str], *, skip: int, line: int
) -> RawTable:
    """The rows of ``data`` after its first ``skip`` bytes; ``line``: the number of its first
    line in the file (1-based)."""
    body = data[skip:]
    first_line = line + data[:skip].count(b"\n")
    buf, starts, ends, index = _lines(body)
    line_no = index + first_line

    def text(k: int) -> str:
        return body[starts[k] : ends[k]].decode("utf-8", errors="replace")

    if b'"' not in body and len(starts):
        seps = np.flatnonzero(buf == mapping.delimiter.encode()[0])
        fields = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
        bad = np.flatnonzero(fields != len(names))
        if bad.size:
            k = int(bad[0])
            raise BadInputError(
                f"{source} line {line_no[k]}: expected {len(names)} fields"
                f" ({','.join(names)}) got {fields[k]}: {text(k)[:80]!r}"
            )
    resolved = resolve_columns(mapping, names, source)
    wanted = list(dict.fromkeys(resolved.values()))
    if not len(starts):  # a header and no rows: a valid, empty file
        log.warning("%s: header only, no rows", source)
        empty = pd.DataFrame({name: pd.Series(dtype="str") for name in wanted})
        return RawTable(source, by_target(empty, resolved), resolved, line_no)
    try:
        table = pcsv.read_csv(
            pa.py_buffer(body[starts[0] :]),
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
    lines = line_no if table.num_rows == len(line_no) else None
    frame = by_target(table.to_pandas(), resolved)
    del table
    pa.default_memory_pool().release_unused()  # arrow's allocator keeps freed blocks
    return RawTable(source, frame, resolved, lines)


def _header_with_time(names: list[str], row: list[str], source: str) -> list[str]:
    """Repair a header that lacks the ``Time`` name its rows carry (backtrader's 1-min file).

    Only when the first row has exactly one field more than the header and that extra second
    field is a time of day; any other mismatch is left for the field-count check to reject.
    """
    if len(row) != len(names) + 1 or "Time" in names:
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
