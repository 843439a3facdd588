"""Raw readers: the bytes of a plain/gzip/zip file, parquet, feather and JSON arrays.

Only I/O and structure live here (CSV has its own module, ``csv_text``); ``readers``
turns the raw columns into typed bars or ticks. Binary and JSON files have no lines, so their
errors name the 1-based row; CSV errors name the physical line.
"""

from __future__ import annotations

import gzip
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import feather

from candleflow.errors import BadInputError

if TYPE_CHECKING:
    from candleflow.providers.files.mapping import FileMapping

log = logging.getLogger(__name__)

EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "feather",
}
SKIPPABLE = frozenset({"time", "volume", "size", "trade_id"})


@dataclass
class RawTable:
    """The mapped columns of one file, still raw, with where each row came from."""

    source: str
    frame: pd.DataFrame
    labels: dict[str, str]
    lines: np.ndarray | None = None
    offset: int = 0  # rows of the file before this chunk (binary formats)

    def where(self, row: int) -> str:
        """``"orcl.csv line 17"`` for text files, ``"x.parquet row 17"`` otherwise."""
        if self.lines is not None:
            return f"{self.source} line {int(self.lines[row])}"
        return f"{self.source} row {self.offset + row + 1}"


def load_bytes(path: Path) -> tuple[bytes, str, str]:
    """(decompressed bytes, name for messages, inner file name) of a plain, .gz or .zip file."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    found = [m.filename for m in members]
                    raise BadInputError(f"{path.name}: expected one file in the zip, found {found}")
                return (
                    archive.read(members[0]),
                    f"{path.name}:{members[0].filename}",
                    members[0].filename,
                )
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise BadInputError(f"{path.name}: not a readable zip file ({exc})") from exc
    if path.suffix.lower() == ".gz":
        try:
            return gzip.decompress(path.read_bytes()), path.name, path.stem
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise BadInputError(f"{path.name}: not a readable gzip file ({exc})") from exc
    return path.read_bytes(), path.name, path.name


def detect_format(inner_name: str, source: str) -> str:
    fmt = EXTENSIONS.get(Path(inner_name).suffix.lower())
    if fmt is None:
        raise BadInputError(
            f"{source}: unknown file format; expected a name ending in {', '.join(EXTENSIONS)}"
            " (optionally .gz or .zip) or a mapping with format= set"
        )
    return fmt


def resolve_columns(mapping: FileMapping, names: list[str], source: str) -> dict[str, str]:
    """target -> source column name; optional targets absent from the file are left out."""
    resolved: dict[str, str] = {}
    for target, ref in mapping.columns.items():
        if isinstance(ref, int):
            candidates: tuple[str, ...] = (names[ref],) if ref < len(names) else ()
        else:
            candidates = (ref,) if isinstance(ref, str) else tuple(ref)
        found = next((c for c in candidates if c in names), None)
        if found is not None:
            resolved[target] = found
        elif target in SKIPPABLE:
            log.debug("%s: no column %r; %s left empty", source, ref, target)
        else:
            wanted = f"field {ref + 1}" if isinstance(ref, int) else " or ".join(candidates)
            raise BadInputError(
                f"{source}: expected a column {wanted} for {target!r}; found {','.join(names)}"
            )
    return resolved


def read_arrow(data: bytes, source: str, mapping: FileMapping, fmt: str) -> RawTable:

    try:
        reader = pq.read_table if fmt == "parquet" else feather.read_table
        table = reader(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInputError(f"{source}: not a valid {fmt} file ({exc})") from exc
    resolved = resolve_columns(mapping, list(table.column_names), source)
    frame = table.select(list(dict.fromkeys(resolved.values()))).to_pandas()
    return RawTable(source, by_target(frame, resolved), resolved)


def read_json(data: bytes, source: str, mapping: FileMapping) -> RawTable:

    try:
        rows = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadInputError(f"{source}{where}: not valid JSON ({exc})") from exc
    if not isinstance(rows, list):
        raise BadInputError(f"{source}: expected a JSON array of rows, got {type(rows).__name__}")
    if rows and isinstance(rows[0], dict):
        frame = pd.DataFrame.from_records(rows)
        names = [str(c) for c in frame.columns]
        frame.columns = names
    else:
        lengths = np.fromiter((len(r) if isinstance(r, list) else -1 for r in rows), int, len(rows))
        width = int(lengths[0]) if len(rows) else 0
        bad = np.flatnonzero(lengths != width)
        if bad.size:
            got = "not an array" if lengths[bad[0]] < 0 else f"{lengths[bad[0]]} fields"
            raise BadInputError(
                f"{source} row {bad[0] + 1}: expected an array of {width} fields, got {got}"
            )
        names = [f"field {i + 1}" for i in range(width)]
        frame = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame(columns=names)
    resolved = resolve_columns(mapping, names, source)
    return RawTable(source, by_target(frame, resolved), resolved)


def by_target(frame: pd.DataFrame, resolved: dict[str, str]) -> pd.DataFrame:

    return pd.DataFrame({t: frame[name].reset_index(drop=True) for t, name in resolved.items()})
