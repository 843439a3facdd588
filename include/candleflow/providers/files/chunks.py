"""A vendor file as a sequence of raw chunks, so an import holds one chunk at a time.

CSV (plain, ``.gz`` or a one-file ``.zip``) is read in blocks of whole lines
(``csv_text.iter_csv``) of about ``CHUNK_ROWS`` rows (``ROW_BYTES`` each: a 1m bar or a tick
with a microsecond timestamp), parquet in record batches of ``CHUNK_ROWS`` rows, feather (Arrow
IPC) batch by batch as written. What has no streaming form is read whole, as one chunk:
JSON arrays, and parquet or feather inside a ``.gz``/``.zip`` (their readers need to seek).
Chunks come in file order with their line or row numbers.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from candleflow.errors import BadInputError
from candleflow.providers.files.csv_text import iter_csv
from candleflow.providers.files.formats import (
    RawTable,
    by_target,
    detect_format,
    load_bytes,
    read_arrow,
    read_json,
    resolve_columns,
)
from candleflow.providers.files.mapping import FileMapping

CHUNK_ROWS = 25_000
ROW_BYTES = 48
_CORRUPT = (gzip.BadGzipFile, EOFError, zlib.error, zipfile.BadZipFile)


def iter_raw(
    path: Path,
    mapping: FileMapping,
    rows: int = CHUNK_ROWS,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[RawTable | None]:
    """The mapped raw columns of ``path``, chunk by chunk (see the module docstring).

    ``wanted(i)`` False lets a CSV block go unparsed (None in its place); other formats
    yield every chunk and leave the skipping to the caller."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    compressed = path.suffix.lower() in (".gz", ".zip")
    inner = _inner_name(path) if compressed else path.name
    source = f"{path.name}:{inner}" if path.suffix.lower() == ".zip" else path.name
    fmt = mapping.format if mapping.format != "auto" else detect_format(inner, source)
    if fmt == "csv":
        yield from _csv(path, source, mapping, rows * ROW_BYTES, wanted)
    elif fmt == "parquet" and not compressed:
        yield from _parquet(path, source, mapping, rows)
    elif fmt == "feather" and not compressed:
        yield from _feather(path, source, mapping)
    else:
        data, source, _ = load_bytes(path)
        _not_empty(data, source, mapping, fmt)
        yield (
            read_json(data, source, mapping)
            if fmt == "json"
            else read_arrow(data, source, mapping, fmt)
        )


def _not_empty(data: bytes, source: str, mapping: FileMapping, fmt: str) -> None:
    if not data.strip():
        raise BadInputError(f"{source}: empty file; expected {mapping.kind} rows ({fmt})")


def _inner_name(path: Path) -> str:
    if path.suffix.lower() == ".gz":
        return path.stem
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise BadInputError(f"{path.name}: not a readable zip file ({exc})") from exc
    if len(members) != 1:
        found = [m.filename for m in members]
        raise BadInputError(f"{path.name}: expected one file in the zip, found {found}")
    return members[0].filename


def _csv(
    path: Path, source: str, mapping: FileMapping, block: int, wanted
) -> Iterator[RawTable | None]:
    kind = "gzip" if path.suffix.lower() == ".gz" else "zip"
    with ExitStack() as stack:
        try:
            if path.suffix.lower() == ".gz":
                stream = stack.enter_context(gzip.open(path, "rb"))
            elif path.suffix.lower() == ".zip":
                archive = stack.enter_context(zipfile.ZipFile(path))
                stream = stack.enter_context(archive.open(_inner_name(path)))
            else:
                stream = stack.enter_context(path.open("rb"))
            yield from iter_csv(stream, source, mapping, block, wanted)
        except _CORRUPT as exc:
            raise BadInputError(f"{path.name}: not a readable {kind} file ({exc})") from exc


def _parquet(path: Path, source: str, mapping: FileMapping, rows: int) -> Iterator[RawTable]:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInputError(f"{source}: not a valid parquet file ({exc})") from exc
    resolved = resolve_columns(mapping, list(file.schema_arrow.names), source)
    wanted = list(dict.fromkeys(resolved.values()))
    offset = 0
    for batch in file.iter_batches(batch_size=rows, columns=wanted):
        yield RawTable(source, by_target(batch.to_pandas(), resolved), resolved, offset=offset)
        offset += batch.num_rows


def _feather(path: Path, source: str, mapping: FileMapping) -> Iterator[RawTable]:
    try:
        reader = pa.ipc.open_file(path)
    except (pa.ArrowInvalid, OSError):  # feather v1, or not feather: the whole-file reader
        data, source, _ = load_bytes(path)
        yield read_arrow(data, source, mapping, "feather")
        return
    resolved = resolve_columns(mapping, list(reader.schema.names), source)
    wanted = list(dict.fromkeys(resolved.values()))
    offset = 0
    for i in range(reader.num_record_batches):
        batch = reader.get_batch(i).select(wanted)
        yield RawTable(source, by_target(batch.to_pandas(), resolved), resolved, offset=offset)
        offset += batch.num_rows
