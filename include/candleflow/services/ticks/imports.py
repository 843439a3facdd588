"""``import_ticks``: a tick file -> validated rows in ``candleflow.ticks``, chunk by chunk.

Formats: the canonical CSV needs no options (header ``ts,price,size`` plus optionally
``bid,ask,day_volume``; ``ts`` ISO-8601 with a UTC offset); every vendor layout of
``providers.files`` (freqtrade trades, Binance trades and quotes in nautilus parquet, Lean
ticks, TrueFX, HistData...) is read by its preset, detected from the file when not given.

**Bounded memory.** The file is read in chunks (``providers.files.iter_ticks``: blocks of
whole lines, parquet batches), each validated and stored in its own transaction, so a
2-million-tick file is never in memory at once. An interrupted import leaves whole chunks;
running it again stores the rest and finds the stored ticks as duplicates.

**Identity.** ``seq`` numbers ticks sharing a ``ts`` in file order
(``validation.ticks.assign_seq``), so the key ``(instrument, ts, seq)`` is the same on every
import: re-importing a file inserts nothing. A group of ticks sharing a timestamp may straddle
two chunks; the count of the last timestamp is carried into the next chunk, so the numbering
is exactly that of the whole file. That carry is enough for a file in time order (ties and
jitter inside a chunk included). A file that is not (a chunk reaches back before an earlier
chunk's last tick, or the file runs newest first) is stored whole instead, in one
transaction, numbered as before: what the chunks stored already comes back as duplicates.

Bad rows never stop the file: they go to ``rejected_ticks`` with their rule and raw text.
An unknown symbol is created in ``instruments`` with default metadata (UTC, 24x7); create
it first with its timezone and session when its daily bars must follow an exchange.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from candleflow.db import partitions
from candleflow.db.connection import connect
from candleflow.db.instruments import ensure_instrument
from candleflow.errors import BadInputError
from candleflow.services.ticks.store import StoreResult, store_ticks
from candleflow.validation.ticks import TickRules, assign_seq

log = logging.getLogger(__name__)

CANONICAL_REQUIRED = ("ts", "price", "size")
CANONICAL_OPTIONAL = ("bid", "ask", "day_volume")


class _OutOfOrder(Exception):
    """A chunk reaches back before the last tick of an earlier one: read the file whole."""


class _Numbering:
    """``seq`` across the chunks of one file in time order (see the module docstring)."""

    def __init__(self) -> None:
        self.last = None  # the newest ts numbered so far
        self.count = 0  # ticks numbered at ``last``
        self.missing = 0  # ticks numbered without a ts

    def number(self, frame, mapping) -> Any:
        from candleflow.providers.files.readers import descending

        ts = frame["ts"]
        known = ts.notna()
        first = self.last is None and self.missing == 0
        if known.any():
            lo, hi = ts[known].min(), ts[known].max()
            if (first and descending(frame, mapping)) or (self.last is not None and lo < self.last):
                raise _OutOfOrder
        carry = {self.last: self.count} if self.last is not None else None
        frame = assign_seq(frame, carry)
        if self.missing:
            frame.loc[~known, "seq"] += self.missing
        self.missing += int((~known).sum())
        if known.any():
            self.count = (self.count if hi == self.last else 0) + int((ts == hi).sum())
            self.last = hi
        return frame


def read_tick_file(path: str | Path, mapping: Any = None):
    """The ticks of ``path`` as ``TICK_COLUMNS`` + ``seq`` (UTC, sorted by ts, seq), whole.

    ``mapping`` is a ``FileMapping``, a preset name or a dict (see ``providers.files``);
    None means the canonical CSV when the header says so, else detection.
    """
    from candleflow.providers.files import read_ticks

    frame = read_ticks(Path(path), tick_mapping(Path(path), mapping))
    return assign_seq(frame.reset_index(drop=True))


def tick_mapping(path: Path, mapping: Any = None):
    """The ``FileMapping`` to read ``path`` with: given, canonical, or detected."""
    from candleflow.providers.files import FileMapping, detect_mapping
    from candleflow.providers.files.mapping import as_mapping

    if mapping is not None:
        return as_mapping(mapping) if isinstance(mapping, Mapping | str) else mapping
    header = _canonical_header(path)
    if header is None:
        return detect_mapping(path)
    unknown = set(header) - set(CANONICAL_REQUIRED) - set(CANONICAL_OPTIONAL)
    if unknown:
        raise BadInputError(
            f"{path.name}: unknown columns {sorted(unknown)}; expected ts,price,size"
            f" and optionally {','.join(CANONICAL_OPTIONAL)}"
        )
    return FileMapping({c: c for c in header}, kind="ticks")


def _canonical_header(path: Path) -> list[str] | None:
    if path.suffix.lower() not in (".csv", ".txt") or not path.is_file():
        return None
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        header = [h.strip() for h in handle.readline().split(",")]
    return header if header[: len(CANONICAL_REQUIRED)] == list(CANONICAL_REQUIRED) else None


def import_ticks(
    path: str | Path,
    symbol: str,
    *,
    mapping: Any = None,
    run_id: str,
    rules: TickRules | None = None,
    url: str | None = None,
    now: dt.datetime | None = None,
    chunk_rows: int | None = None,
) -> StoreResult:
    """Read, validate and store one file's ticks for ``symbol``, one transaction per chunk."""
    from candleflow.providers.files.readers import iter_ticks

    path = Path(path)
    spec = tick_mapping(path, mapping)
    options = {"rows": chunk_rows} if chunk_rows else {}
    stored = StoreResult(0, 0, 0, 0)
    conn = connect(url)
    try:
        with conn:
            instrument_id = ensure_instrument(conn, symbol)
        store = {"run_id": run_id, "source": "file", "rules": rules, "now": now}
        floor = (rules or TickRules()).floor(symbol)
        numbering = _Numbering()
        try:
            for chunk in iter_ticks(path, spec, **options):
                frame = numbering.number(chunk, spec)
                _cover(conn, frame, floor)
                with conn:
                    part = store_ticks(conn, instrument_id, symbol, frame, **store)
                stored = _add(stored, part)
        except _OutOfOrder:
            log.warning("%s is not in time order: storing it whole", path.name)
            frame = read_tick_file(path, spec)
            _cover(conn, frame, floor)
            with conn:
                whole = store_ticks(conn, instrument_id, symbol, frame, **store)
            # what the chunks stored comes back as duplicates of the whole file
            stored = dataclasses.replace(
                whole,
                inserted=whole.inserted + stored.inserted,
                duplicates=whole.duplicates - stored.inserted,
            )
    finally:
        conn.close()
    log.info(
        "imported %s as %s: %d read, %d inserted, %d duplicates, %d rejected",
        path.name, symbol, stored.received, stored.inserted, stored.duplicates, stored.rejected,
    )  # fmt: skip
    return stored


def _cover(conn, frame: Any, floor: dt.datetime) -> None:
    """The tick partitions of the chunk's plausible rows (from the instrument's floor to
    tomorrow: what the tick rules may accept), before its transaction: imported ticks are
    history, older than the partitions kept ahead (``db.partitions``)."""
    import pandas as pd

    ts = pd.to_datetime(frame["ts"], utc=True, errors="coerce")
    ts = ts[(ts >= floor) & (ts <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1))]
    partitions.cover(conn, "ticks", partitions.months_of(ts))


def _add(a: StoreResult, b: StoreResult) -> StoreResult:
    return StoreResult(
        *(x + y for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True))
    )
