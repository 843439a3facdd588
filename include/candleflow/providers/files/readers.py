"""``read_bars`` and ``read_ticks``: a vendor file -> the bar or tick contract, vectorised.

The raw columns come from ``formats``; here they become numbers and UTC timestamps.
Every value that cannot be converted is reported with its file, line and column; nothing is
dropped or repaired (a bar with Low > Open is the validation step's to reject, not ours).
Rows come back sorted by ``ts`` (a stable sort, after reversing a newest-first file, so
rows that share a timestamp keep their file order).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from candleflow.domain import BAR_COLUMNS, TICK_COLUMNS, Timeframe
from candleflow.errors import BadInputError
from candleflow.providers.files.csv_text import read_csv
from candleflow.providers.files.formats import (
    RawTable,
    detect_format,
    load_bytes,
    read_arrow,
    read_json,
)
from candleflow.providers.files.mapping import FileMapping, as_mapping

log = logging.getLogger(__name__)

_MISSING = ("", "nan", "null", "none", "na")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_FILE_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def read_bars(
    path: str | Path, mapping: FileMapping | str | Mapping[str, Any], timeframe: str | Timeframe
) -> pd.DataFrame:
    """Bars of ``timeframe`` from ``path`` with ``BAR_COLUMNS``; ``ts`` is the bar start, UTC."""

    path, mapping, tf = Path(path), as_mapping(mapping), Timeframe.parse(timeframe)
    if mapping.kind != "bars":
        raise ValueError(f"read_bars needs a bars mapping, got kind={mapping.kind!r}")
    raw = read_raw(path, mapping)
    out = pd.DataFrame({"ts": _bar_start(_timestamps(raw, mapping, path), mapping, tf)})
    for col in ("open", "high", "low", "close", "volume"):
        if col == "volume" and (mapping.volume_absent or col not in raw.frame):
            out[col] = np.nan
        else:
            out[col] = _numbers(raw, col, mapping)
    bars = _ordered(out.loc[:, list(BAR_COLUMNS)], mapping)
    log.info("read %s: %d %s bars (%s)", raw.source, len(bars), tf, mapping.timezone)
    return bars


def read_ticks(path: str | Path, mapping: FileMapping | str | Mapping[str, Any]) -> pd.DataFrame:
    """Ticks from ``path`` with ``TICK_COLUMNS`` (+ ``trade_id`` as text when mapped).

    ``ts`` is UTC to the microsecond. Absent values (no size, one-sided quotes) are NaN and
    ``day_volume`` is always NaN: files carry no cumulative session volume.
    """

    path, mapping = Path(path), as_mapping(mapping)
    if mapping.kind != "ticks":
        raise ValueError(f"read_ticks needs a ticks mapping, got kind={mapping.kind!r}")
    raw = read_raw(path, mapping)
    out = pd.DataFrame({"ts": _timestamps(raw, mapping, path)})
    for col in TICK_COLUMNS[1:]:
        out[col] = _numbers(raw, col, mapping) if col in raw.frame else np.nan
    columns = list(TICK_COLUMNS)
    if "trade_id" in raw.frame:
        out["trade_id"] = raw.frame["trade_id"].astype("str")
        columns.append("trade_id")
    ticks = _ordered(out.loc[:, columns], mapping)
    log.info("read %s: %d ticks (%s)", raw.source, len(ticks), mapping.timezone)
    return ticks


def read_raw(path: Path, mapping: FileMapping) -> RawTable:
    """The columns ``mapping`` needs from ``path``, the file's structure checked."""
    data, source, inner = load_bytes(path)
    fmt = mapping.format if mapping.format != "auto" else detect_format(inner, source)
    if not data.strip():
        raise BadInputError(f"{source}: empty file; expected {mapping.kind} rows ({fmt})")
    if fmt == "csv":
        return read_csv(data, source, mapping)
    if fmt == "json":
        return read_json(data, source, mapping)
    return read_arrow(data, source, mapping, fmt)


def _numbers(raw: RawTable, target: str, mapping: FileMapping) -> pd.Series:
    """Column ``target`` as float64, 0 as NaN where declared, prices divided as declared."""
    col = raw.frame[target]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.astype("float64").reset_index(drop=True)
    else:
        values = _parse_numbers(raw, target)
    if target in mapping.zero_is_missing:
        values = values.mask(values == 0)
    if target in mapping.price_targets and mapping.price_divisor != 1:
        values = values / mapping.price_divisor
    return values


def _parse_numbers(raw: RawTable, target: str) -> pd.Series:
    """Text -> float64: pyarrow's fast cast when every value is clean; otherwise pandas,
    which tolerates blanks (NaN) and finds the first value that is not a number."""
    col = raw.frame[target]
    try:
        cast = pc.cast(pa.array(col, from_pandas=True), pa.float64())
        return pd.Series(cast.to_numpy(zero_copy_only=False), dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        log.debug("%s: column %s needs the tolerant parser", raw.source, raw.labels[target])
    parsed = pd.to_numeric(col, errors="coerce")
    values = pd.Series(parsed.to_numpy(dtype="float64", na_value=np.nan))
    text = col.astype("str").str.strip().str.lower()
    bad = np.flatnonzero(values.isna().to_numpy() & col.notna().to_numpy() & ~text.isin(_MISSING))
    if bad.size:
        row = int(bad[0])
        value, label = col.iloc[row], raw.labels[target]
        raise BadInputError(f"{raw.where(row)}: {value!r} is not a number in column {label}")
    return values


def _timestamps(raw: RawTable, mapping: FileMapping, path: Path) -> pd.Series:
    """The ``ts`` column as UTC: typed, epoch, ms-of-day (date from the file name) or text."""

    col = raw.frame["ts"]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").reset_index(drop=True)
    if pd.api.types.is_datetime64_dtype(col):
        return _localize(col, mapping, raw.source)
    if mapping.ts_unit == "ms_of_day":
        found = _FILE_DATE.search(path.name)
        try:
            day = pd.Timestamp(dt.datetime.strptime(found.group(1), "%Y%m%d")) if found else None
        except ValueError:
            day = None
        if day is None:
            raise BadInputError(
                f"{path.name}: expected a YYYYMMDD date in the file name "
                "for millisecond-of-day timestamps"
            )
        millis = _numbers(raw, "ts", mapping)
        return _localize(day + pd.to_timedelta(millis, unit="ms"), mapping, raw.source)
    if mapping.ts_unit is not None:
        parsed = pd.to_numeric(col, errors="coerce")
        _numbers(raw, "ts", mapping)  # reports the first value that is not a number
        return pd.to_datetime(parsed, unit=mapping.ts_unit, utc=True).reset_index(drop=True)
    text = col.astype("str").str.strip()
    if "time" in raw.frame:
        text = text + " " + raw.frame["time"].astype("str").str.strip()
    fmt = mapping.ts_format or "ISO8601"
    first = text.iloc[0] if len(text) else ""
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=bool(_OFFSET.search(first)))
    bad = parsed.isna() & (text != "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        label = raw.labels["ts"] + ("+" + raw.labels["time"] if "time" in raw.labels else "")
        raise BadInputError(
            f"{raw.where(row)}: {text.iloc[row]!r} is not a timestamp in column "
            f"{label} (expected {fmt})"
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").reset_index(drop=True)
    return _localize(parsed, mapping, raw.source)


def _localize(naive: pd.Series, mapping: FileMapping, source: str) -> pd.Series:
    try:
        local = naive.dt.tz_localize(mapping.timezone, ambiguous="infer", nonexistent="raise")
    except ValueError as exc:  # pandas raises ValueError subclasses for DST gaps and folds
        raise BadInputError(
            f"{source}: a local time does not exist or is ambiguous in "
            f"{mapping.timezone} ({exc}); declare a UTC offset timezone"
        ) from exc
    return local.dt.tz_convert("UTC").reset_index(drop=True)


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
    return _localize(opened, mapping, "session open").dt.as_unit("us")


def _ordered(frame: pd.DataFrame, mapping: FileMapping) -> pd.DataFrame:
    frame = frame.assign(ts=frame["ts"].dt.as_unit("us"))
    descending = len(frame) > 1 and frame["ts"].iloc[0] > frame["ts"].iloc[-1]
    if mapping.order == "newest_first" or (mapping.order == "auto" and descending):
        frame = frame.iloc[::-1]
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)
