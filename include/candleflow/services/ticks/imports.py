"""``import_ticks``: a tick file -> validated rows in ``candleflow.ticks``, in one transaction.

Formats: the canonical CSV needs no options (header ``ts,price,size`` plus optionally
``bid,ask,day_volume``; ``ts`` ISO-8601 with a UTC offset); every vendor layout of
``providers.files`` (freqtrade trades, Binance trades and quotes in nautilus parquet, Lean
ticks, TrueFX, HistData...) is read by its preset, detected from the file when not given.

``seq`` numbers ticks sharing a ``ts`` in file order (``validation.ticks.assign_seq``), so the key
``(instrument, ts, seq)`` is the same on every import: re-importing a file inserts nothing.
An unknown symbol is created in ``instruments`` with default metadata (UTC, 24x7); create
it first with its timezone and session when its daily bars must follow an exchange.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from candleflow.db.connection import transaction
from candleflow.domain import TICK_COLUMNS
from candleflow.errors import BadInputError
from candleflow.services.instruments import ensure_instrument
from candleflow.services.ticks.store import StoreResult, store_ticks
from candleflow.validation.ticks import TickRules, assign_seq

log = logging.getLogger(__name__)

CANONICAL_REQUIRED = ("ts", "price", "size")
CANONICAL_OPTIONAL = ("bid", "ask", "day_volume")


def read_tick_file(path: str | Path, mapping: Any = None):
    """The ticks of ``path`` as ``TICK_COLUMNS`` + ``seq`` (UTC, sorted by ts, seq).

    ``mapping`` is a ``FileMapping``, a preset name or a dict (see ``providers.files``);
    None means the canonical CSV when the header says so, else detection.
    """
    from candleflow.providers.files import detect_mapping, read_ticks

    path = Path(path)
    if mapping is None and _is_canonical(path):
        frame = _read_canonical(path)
    else:
        frame = read_ticks(path, mapping if mapping is not None else detect_mapping(path))
    return assign_seq(frame.reset_index(drop=True))


def _is_canonical(path: Path) -> bool:
    if path.suffix.lower() not in (".csv", ".txt") or not path.is_file():
        return False
    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first column's name
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        header = [h.strip() for h in handle.readline().split(",")]
    return header[: len(CANONICAL_REQUIRED)] == list(CANONICAL_REQUIRED)


def _read_canonical(path: Path):
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(path, dtype={"ts": "str"}, encoding="utf-8-sig")
    unknown = set(frame.columns) - set(CANONICAL_REQUIRED) - set(CANONICAL_OPTIONAL)
    if unknown:
        raise BadInputError(
            f"{path.name}: unknown columns {sorted(unknown)}; expected ts,price,size"
            f" and optionally {','.join(CANONICAL_OPTIONAL)}"
        )
    ts = pd.to_datetime(frame["ts"], format="ISO8601", utc=True, errors="coerce")
    bad = ts.isna() & frame["ts"].notna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise BadInputError(
            f"{path.name} line {line}: {frame['ts'][bad].iloc[0]!r} is not an ISO-8601 "
            "timestamp with offset"
        )
    out = pd.DataFrame({"ts": ts.dt.as_unit("us")})
    for col in TICK_COLUMNS[1:]:
        out[col] = pd.to_numeric(frame[col], errors="raise") if col in frame else np.nan
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


def import_ticks(
    path: str | Path,
    symbol: str,
    *,
    mapping: Any = None,
    run_id: str,
    rules: TickRules | None = None,
    url: str | None = None,
    now: dt.datetime | None = None,
) -> StoreResult:
    """Read, validate and store one file's ticks for ``symbol`` (one transaction)."""
    frame = read_tick_file(path, _as_mapping(mapping))
    with transaction(url) as conn:
        instrument_id = ensure_instrument(conn, symbol)
        result = store_ticks(
            conn, instrument_id, symbol, frame, run_id=run_id, source="file", rules=rules, now=now
        )
    log.info(
        "imported %s as %s: %d read, %d inserted, %d duplicates, %d rejected",
        Path(path).name,
        symbol,
        result.received,
        result.inserted,
        result.duplicates,
        result.rejected,
    )
    return result


def _as_mapping(mapping: Any) -> Any:
    if mapping is None or not isinstance(mapping, Mapping):
        return mapping
    from candleflow.providers.files.mapping import as_mapping

    return as_mapping(mapping)
