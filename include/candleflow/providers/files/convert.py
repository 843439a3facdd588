"""Typing a vendor file's raw columns: numbers and UTC timestamps, cell by cell.

A cell that cannot be typed does not stop the file. It becomes NaN (a number) or NaT (a
timestamp) and is marked ``bad`` beside its value, so the row can be rejected with its rule
and its text (``bad_ts`` and ``not_a_number`` for ticks, ``not_null`` for bars) while the
rest of the file loads. An empty cell is missing, not bad. What stops a file is its
structure only: a column the mapping needs is absent, a field count is wrong.

Epoch numbers in a unit the file does not use are the usual cause of bad timestamps:
milliseconds read as seconds land in the year 56143, microseconds beyond any datetime. An
epoch outside the years 1 to 9999 (what a Python datetime, and so the database driver,
holds) is NaT and bad, its text kept.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from candleflow.errors import BadInputError
from candleflow.providers.files.formats import RawTable
from candleflow.providers.files.mapping import FileMapping

_MISSING = ("", "nan", "null", "none", "na")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_FILE_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")


@dataclass
class Typed:
    """A typed column and the cells whose text was not a value of its kind."""

    values: pd.Series
    bad: np.ndarray


def numbers(raw: RawTable, target: str, mapping: FileMapping) -> Typed:
    """Column ``target`` as float64, 0 as NaN where declared, prices divided as declared."""
    col = raw.frame[target]
    bad = np.zeros(len(col), dtype=bool)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.astype("float64").reset_index(drop=True)
    else:
        values, bad = _parse_numbers(col)
    if target in mapping.zero_is_missing:
        values = values.mask(values == 0)
    if target in mapping.price_targets and mapping.price_divisor != 1:
        values = values / mapping.price_divisor
    return Typed(values, bad)


def _parse_numbers(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Text -> float64: pyarrow's fast cast when every value is clean; otherwise pandas,
    which turns blanks into NaN and marks every other value that is not a number."""
    try:
        cast = pc.cast(pa.array(col, from_pandas=True), pa.float64())
        return pd.Series(cast.to_numpy(zero_copy_only=False), dtype="float64"), np.zeros(
            len(col), dtype=bool
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    parsed = pd.to_numeric(col, errors="coerce")
    values = pd.Series(parsed.to_numpy(dtype="float64", na_value=np.nan))
    text = col.astype("str").str.strip().str.lower()
    bad = values.isna().to_numpy() & col.notna().to_numpy() & ~text.isin(_MISSING).to_numpy()
    return values, bad


def timestamps(raw: RawTable, mapping: FileMapping, path: Path) -> Typed:
    """The ``ts`` column as UTC: typed, epoch, ms-of-day (date from the file name) or text."""
    col = raw.frame["ts"]
    none = np.zeros(len(col), dtype=bool)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return Typed(col.dt.tz_convert("UTC").reset_index(drop=True), none)
    if pd.api.types.is_datetime64_dtype(col):
        return Typed(localize(col, mapping, raw.source), none)
    if mapping.ts_unit == "ms_of_day":
        millis = numbers(raw, "ts", mapping)
        stamps = _file_day(path) + pd.to_timedelta(millis.values, unit="ms")
        return Typed(localize(stamps, mapping, raw.source), millis.bad)
    if mapping.ts_unit is not None:
        epoch = numbers(raw, "ts", mapping)
        stamps = pd.to_datetime(epoch.values, unit=mapping.ts_unit, utc=True, errors="coerce")
        years = stamps.dt.year
        beyond = (stamps.isna() | (years < 1) | (years > 9999)).to_numpy()  # no datetime
        beyond = beyond & epoch.values.notna().to_numpy()
        stamps = stamps.mask(beyond)
        return Typed(stamps.reset_index(drop=True), epoch.bad | beyond)
    text = col.astype("str").str.strip().mask(col.isna(), "")
    if "time" in raw.frame:
        text = (text + " " + raw.frame["time"].astype("str").str.strip()).str.strip()
    present = text != ""
    first = text[present].iloc[0] if present.any() else ""
    parsed = pd.to_datetime(
        text.where(present), format=mapping.ts_format or "ISO8601", errors="coerce",
        utc=bool(_OFFSET.search(first)),
    )  # fmt: skip
    bad = (parsed.isna() & present).to_numpy()
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return Typed(parsed.dt.tz_convert("UTC").reset_index(drop=True), bad)
    return Typed(localize(parsed, mapping, raw.source), bad)


def _file_day(path: Path) -> pd.Timestamp:
    found = _FILE_DATE.search(path.name)
    try:
        return pd.Timestamp(dt.datetime.strptime(found.group(1), "%Y%m%d"))
    except (AttributeError, ValueError):
        raise BadInputError(
            f"{path.name}: expected a YYYYMMDD date in the file name "
            "for millisecond-of-day timestamps"
        ) from None


def localize(naive: pd.Series, mapping: FileMapping, source: str) -> pd.Series:
    """Naive local times in the mapping's timezone -> UTC."""
    try:
        local = naive.dt.tz_localize(mapping.timezone, ambiguous="infer", nonexistent="raise")
    except ValueError as exc:  # pandas raises ValueError subclasses for DST gaps and folds
        raise BadInputError(
            f"{source}: a local time does not exist or is ambiguous in "
            f"{mapping.timezone} ({exc}); declare a UTC offset timezone"
        ) from exc
    return local.dt.tz_convert("UTC").reset_index(drop=True)


def texts(raw: RawTable, target: str, bad: np.ndarray) -> pd.Series:
    """The original text of the ``bad`` cells of ``target`` (None elsewhere), for ``raw``."""
    out = pd.Series(None, index=range(len(bad)), dtype=object)
    if bad.any():
        out[bad] = raw.frame[target].reset_index(drop=True)[bad].astype("str").to_numpy()
    return out
