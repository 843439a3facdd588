"""Cheap layout detection: pick a preset from a file's name, header or first row.

Only looks at the extension, the Lean folder layout, a parquet schema or the first few
kilobytes of text; it never parses the whole file. When nothing matches it says so and lists
the presets, because guessing a timezone or a bar label wrongly would corrupt data silently.
Detected presets keep their default timezone and label: declare a mapping when they differ.
"""

from __future__ import annotations

import gzip
import logging
import re
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from candleflow.errors import BadInputError
from candleflow.providers.files.mapping import PRESETS, FileMapping, preset

log = logging.getLogger(__name__)

_LEAN_INTRADAY = re.compile(r"\d{8}_(trade|quote)\.zip", re.IGNORECASE)
_PEEK = 4096

# header names that must all be present -> preset, most specific first
_HEADERS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"Time", "Open", "High", "Low", "Last"}), "barchart"),
    (frozenset({"Date", "Open", "High", "Low", "Close", "Adj Close"}), "yahoo"),
    (frozenset({"Date", "Time", "Open", "High", "Low", "Close"}), "backtrader"),
    (frozenset({"Datetime", "Open", "High", "Low", "Close"}), "backtrader"),
    (frozenset({"Date", "Open", "High", "Low", "Close"}), "backtrader"),
    (frozenset({"date", "open", "high", "low", "close"}), "zipline_csv"),
    (frozenset({"timestamp", "open", "high", "low", "close"}), "nautilus_csv"),
    (frozenset({"timestamp_utc", "open", "high", "low", "close"}), "nautilus_csv"),
    (frozenset({"timestamp", "id", "price", "amount"}), "freqtrade_trades_csv"),
    (frozenset({"timestamp", "bid", "ask"}), "truefx"),
)
_HEADERLESS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{8} \d{9},[\d.]+,[\d.]+(,[\d.]+)?"), "histdata"),
    (re.compile(r"\d{10},[\d.]+,[\d.]+"), "kraken_csv"),
)


def detect_mapping(path: str | Path) -> FileMapping:
    """The preset that fits ``path``; ``BadInputError`` listing the presets if none does."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path.name}: empty file; expected bars or ticks")
    name = _detect(path)
    if name is None:
        raise BadInputError(
            f"{path.name}: cannot detect the file layout; declare a FileMapping or one of the "
            f"presets: {', '.join(PRESETS)}"
        )
    log.info("%s: detected layout %s", path.name, name)
    return preset(name)


def _detect(path: Path) -> str | None:
    lower = path.name.lower()
    if lower.endswith(".zip"):
        lean = _detect_lean(lower, {p.lower() for p in path.parts})
        if lean is not None:
            return lean
    if lower.endswith((".feather", ".arrow")):
        return "freqtrade_feather"
    if lower.endswith((".parquet", ".pq")):
        return _detect_parquet(path)
    head = _peek(path)
    if lower.endswith((".json", ".json.gz")):
        first = re.match(r"\s*\[\s*\[([^\]]*)\]", head)
        width = len(first.group(1).split(",")) if first else 0
        return {6: "freqtrade_json_ohlcv", 7: "freqtrade_trades_json"}.get(width)
    return _detect_text(head.splitlines())


def _detect_lean(lower: str, parts: set[str]) -> str | None:
    """Lean's folder layout: ``daily/<ticker>.zip``, ``minute|tick/<t>/<date>_<side>.zip``."""
    if "daily" in parts and "minute" not in parts and "tick" not in parts:
        return "lean_daily"
    if not _LEAN_INTRADAY.fullmatch(lower):
        return None
    side = "trade" if "trade" in lower else "quote"
    if "tick" in parts:
        return f"lean_tick_{side}"
    return "lean_minute" if "minute" in parts and side == "trade" else None


def _detect_text(lines: list[str]) -> str | None:
    if not lines:
        return None
    header = {n.strip().strip('"') for n in lines[0].split(",")}
    if "ticker" in header:
        return None  # several instruments in one file: needs a per-symbol filter, not a preset
    for needed, name in _HEADERS:
        if needed <= header:
            first_value = lines[1].split(",")[0] if len(lines) > 1 else ""
            return "mplfinance_intraday" if name == "backtrader" and "/" in first_value else name
    return next((name for rx, name in _HEADERLESS if rx.fullmatch(lines[0].strip())), None)


def _detect_parquet(path: Path) -> str | None:

    try:
        names = set(pq.read_schema(path).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadInputError(f"{path.name}: not a valid parquet file ({exc})") from exc
    if {"timestamp", "trade_id", "price"} <= names:
        return "nautilus_parquet_trades"
    if {"timestamp", "bid", "ask"} <= names:
        return "nautilus_parquet_quotes"
    return None


def _peek(path: Path) -> str:
    """The first few KB of text, decompressed; empty when unreadable (the reader then reports)."""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read(_PEEK)
        elif path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = archive.namelist()
                with archive.open(members[0]) as fh:
                    raw = fh.read(_PEEK) if len(members) == 1 else b""
        else:
            with path.open("rb") as fh:
                raw = fh.read(_PEEK)
    except (OSError, EOFError, zipfile.BadZipFile, IndexError):
        return ""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return text[: text.rfind("\n") + 1] if "\n" in text else text
