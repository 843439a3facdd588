"""``read_bars`` and ``read_ticks``: a vendor file -> the bar or tick contract, vectorised.

The raw columns come from ``chunks``; ``convert`` types them. A value that cannot be typed
does not stop the file (``convert``): a bar keeps its row with NaN or NaT, for validation to
reject as ``not_null`` (the reader logs where and what the text was); a tick carries the
text in ``raw_ts`` or ``unparsed``, for the tick rules (``bad_ts``, ``not_a_number``) to
reject it with its raw values. Nothing is dropped or repaired (a bar with Low > Open is the
validation step's to reject, not ours); only a broken structure stops a file.

``iter_bars``/``iter_ticks`` yield chunks in file order, so an import holds one chunk at a
time. ``read_bars``/``read_ticks`` return the whole file sorted by ``ts`` (a stable sort,
after reversing a newest-first file, so rows that share a timestamp keep their file order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candleflow.domain import BAR_COLUMNS, TICK_COLUMNS, Timeframe
from candleflow.providers.files import convert
from candleflow.providers.files.chunks import CHUNK_ROWS, iter_raw
from candleflow.providers.files.formats import RawTable
from candleflow.providers.files.mapping import FileMapping, as_mapping

log = logging.getLogger(__name__)


def iter_bars(
    path: str | Path,
    mapping: FileMapping | str | Mapping[str, Any],
    timeframe: str | Timeframe,
    *,
    rows: int = CHUNK_ROWS,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[pd.DataFrame | None]:
    """The bars of ``path`` chunk by chunk, in file order (``BAR_COLUMNS``; ts the start).

    ``wanted(i)`` False skips chunk ``i`` (None in its place): not parsed (CSV) or not
    converted (other formats). The chunks of a file are the same on every read."""
    path, mapping, tf = Path(path), as_mapping(mapping), Timeframe.parse(timeframe)
    if mapping.kind != "bars":
        raise ValueError(f"read_bars needs a bars mapping, got kind={mapping.kind!r}")
    for i, raw in enumerate(iter_raw(path, mapping, rows, wanted)):
        skip = raw is None or (wanted is not None and not wanted(i))
        yield None if skip else _bars(raw, mapping, tf, path)


def read_bars(
    path: str | Path, mapping: FileMapping | str | Mapping[str, Any], timeframe: str | Timeframe
) -> pd.DataFrame:
    """Bars of ``timeframe`` from ``path`` with ``BAR_COLUMNS``; ``ts`` is the bar start, UTC."""
    mapping = as_mapping(mapping)
    frames = list(iter_bars(path, mapping, timeframe))
    bars = _ordered(pd.concat(frames, ignore_index=True), mapping)
    log.info("read %s: %d %s bars (%s)", Path(path).name, len(bars), timeframe, mapping.timezone)
    return bars


def iter_ticks(
    path: str | Path, mapping: FileMapping | str | Mapping[str, Any], *, rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Ticks of ``path`` chunk by chunk, in file order (see ``read_ticks``)."""
    path, mapping = Path(path), as_mapping(mapping)
    if mapping.kind != "ticks":
        raise ValueError(f"read_ticks needs a ticks mapping, got kind={mapping.kind!r}")
    for raw in iter_raw(path, mapping, rows):
        yield _ticks(raw, mapping, path)


def read_ticks(path: str | Path, mapping: FileMapping | str | Mapping[str, Any]) -> pd.DataFrame:
    """Ticks from ``path`` with ``TICK_COLUMNS`` (+ ``trade_id`` as text when mapped).

    ``ts`` is UTC to the microsecond. Absent values (no size, one-sided quotes) are NaN and
    ``day_volume`` is NaN unless mapped (vendor files carry no cumulative session volume).
    Rows with unreadable values carry their text in ``raw_ts`` / ``unparsed``.
    """
    mapping = as_mapping(mapping)
    ticks = _ordered(pd.concat(list(iter_ticks(path, mapping)), ignore_index=True), mapping)
    log.info("read %s: %d ticks (%s)", Path(path).name, len(ticks), mapping.timezone)
    return ticks


def _bars(raw: RawTable, mapping: FileMapping, tf: Timeframe, path: Path) -> pd.DataFrame:
    ts = convert.timestamps(raw, mapping, path)
    out = pd.DataFrame({"ts": _bar_start(ts.values, mapping, tf)})
    bad = {"ts": ts.bad}
    for col in BAR_COLUMNS[1:]:
        if col == "volume" and (mapping.volume_absent or col not in raw.frame):
            out[col] = np.nan
        else:
            typed = convert.numbers(raw, col, mapping)
            out[col], bad[col] = typed.values, typed.bad
    _warn(raw, bad, "their bars are rejected as not_null")
    return out.assign(ts=out["ts"].dt.as_unit("us")).loc[:, list(BAR_COLUMNS)]


def _ticks(raw: RawTable, mapping: FileMapping, path: Path) -> pd.DataFrame:
    ts = convert.timestamps(raw, mapping, path)
    out = pd.DataFrame({"ts": ts.values.dt.as_unit("us")})
    bad: dict[str, np.ndarray] = {}
    for col in TICK_COLUMNS[1:]:
        if col in raw.frame:
            typed = convert.numbers(raw, col, mapping)
            out[col], bad[col] = typed.values, typed.bad
        else:
            out[col] = np.nan
    if "trade_id" in raw.frame:
        out["trade_id"] = raw.frame["trade_id"].astype("str").reset_index(drop=True)
    if ts.bad.any():
        out["raw_ts"] = convert.texts(raw, "ts", ts.bad)
    if any(mask.any() for mask in bad.values()):
        texts = {col: convert.texts(raw, col, mask) for col, mask in bad.items() if mask.any()}
        rows = np.flatnonzero(np.logical_or.reduce([m for m in bad.values()]))
        unparsed = pd.Series(None, index=out.index, dtype=object)
        unparsed[rows] = [{c: t[i] for c, t in texts.items() if t[i] is not None} for i in rows]
        out["unparsed"] = unparsed
    _warn(raw, {"ts": ts.bad, **bad}, "their ticks are rejected (bad_ts, not_a_number)")
    return out


def _warn(raw: RawTable, bad: dict[str, np.ndarray], fate: str) -> None:
    """One line per chunk naming the first unreadable value, its place and the count."""
    count = sum(int(mask.sum()) for mask in bad.values())
    if not count:
        return
    col, mask = next((c, m) for c, m in bad.items() if m.any())
    row = int(np.flatnonzero(mask)[0])
    value = raw.frame[col].iloc[row]
    log.warning(
        "%s: %r is not a %s in column %s (%d unreadable values in this part of the file); %s",
        raw.where(row), value, "timestamp" if col == "ts" else "number", raw.labels[col],
        count, fate,
    )  # fmt: skip


def _bar_start(ts: pd.Series, mapping: FileMapping, tf: Timeframe) -> pd.Series:
    """Move bar-end labels to the start; stamp daily+ bars at their date (see FileMapping)."""

    if mapping.label == "end":
        ts = ts - (
            pd.DateOffset(months=1) if tf.minutes is None else pd.Timedelta(minutes=tf.minutes)
        )
    if tf.intraday:
        return ts.dt.as_unit("us")
    day = ts.dt.tz_convert(mapping.timezone).dt.tz_localize(None).dt.normalize()
    if mapping.session_open is None:
        return day.dt.tz_localize("UTC").dt.as_unit("us")
    o = mapping.session_open
    opened = day + pd.Timedelta(hours=o.hour, minutes=o.minute, seconds=o.second)
    return convert.localize(opened, mapping, "session open").dt.as_unit("us")


def descending(frame: pd.DataFrame, mapping: FileMapping) -> bool:
    """Whether the file runs newest first: declared, or (``auto``) its first row is newer
    than its last. Such a file's ties are numbered in reverse file order."""
    if mapping.order != "auto":
        return mapping.order == "newest_first"
    return len(frame) > 1 and bool(frame["ts"].iloc[0] > frame["ts"].iloc[-1])


def _ordered(frame: pd.DataFrame, mapping: FileMapping) -> pd.DataFrame:
    if descending(frame, mapping):
        frame = frame.iloc[::-1]
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)
