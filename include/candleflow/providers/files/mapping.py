"""``FileMapping``: how one vendor's file layout maps onto the bar and tick contract.

A mapping is declared, not guessed row by row: which source column holds ``ts``, ``open``...
(or ``price``, ``size``, ``bid``, ``ask`` for ticks), how timestamps are written, in which
timezone, whether a bar is labelled by its start or its end, and how prices are scaled. The
named ``PRESETS`` cover common vendor layouts (freqtrade, Binance, Lean, TrueFX, HistData...); a
preset is a starting point that ``preset(name, timezone=..., label=...)`` adjusts.

Column references are a header name, a tuple of alternative header names (the first present
wins) or, for files without a header, a 0-based position.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ColumnRef = str | int | tuple[str, ...]

BAR_TARGETS = ("ts", "time", "open", "high", "low", "close", "volume")
TICK_TARGETS = ("ts", "time", "price", "size", "bid", "ask", "day_volume", "trade_id")
OPTIONAL_TARGETS = frozenset(
    {"time", "volume", "size", "bid", "ask", "day_volume", "trade_id", "price"}
)
KINDS = ("bars", "ticks")
FORMATS = ("auto", "csv", "parquet", "feather", "json")
TS_UNITS = ("s", "ms", "us", "ns", "ms_of_day")
LABELS = ("start", "end")
ORDERS = ("auto", "oldest_first", "newest_first")


def _check_choice(name: str, value: object, valid: tuple[object, ...]) -> None:
    if value not in valid:
        raise ValueError(f"bad {name} {value!r}; expected one of {', '.join(map(repr, valid))}")


@dataclass(frozen=True)
class FileMapping:
    """The declared layout of a bar or tick file.

    ``ts`` holds the timestamp, or only the date when ``time`` names a separate time-of-day
    column. Text timestamps follow ``ts_format`` (a ``strptime`` format; ``None`` = ISO 8601);
    numeric ones follow ``ts_unit`` (epoch ``s``/``ms``/``us``/``ns``, or ``ms_of_day`` with
    the date taken from a ``YYYYMMDD`` in the file name, as Lean writes them). Naive times are
    in ``timezone``; epochs and explicit offsets are absolute. ``label="end"`` bars are moved
    to their start. Daily and longer bars are stamped at 00:00 UTC of their local date, or at
    ``session_open`` local time when given. ``zero_is_missing`` names targets where a vendor
    writes 0 for "no value" (Lean quote ticks carry one side per row).
    """

    columns: Mapping[str, ColumnRef]
    kind: Literal["bars", "ticks"] = "bars"
    header: bool = True
    delimiter: str = ","
    format: Literal["auto", "csv", "parquet", "feather", "json"] = "auto"
    ts_format: str | None = None
    ts_unit: Literal["s", "ms", "us", "ns", "ms_of_day"] | None = None
    timezone: str = "UTC"
    label: Literal["start", "end"] = "start"
    session_open: dt.time | None = None
    price_divisor: float = 1.0
    order: Literal["auto", "oldest_first", "newest_first"] = "auto"
    volume_absent: bool = False
    zero_is_missing: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, KINDS)
        _check_choice("format", self.format, FORMATS)
        _check_choice("label", self.label, LABELS)
        _check_choice("order", self.order, ORDERS)
        if self.ts_unit is not None:
            _check_choice("ts_unit", self.ts_unit, TS_UNITS)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"bad timezone {self.timezone!r}; expected an IANA name") from None
        if len(self.delimiter) != 1:
            raise ValueError(f"bad delimiter {self.delimiter!r}; expected one character")
        if not self.price_divisor > 0:
            raise ValueError(f"bad price_divisor {self.price_divisor!r}; expected a number > 0")
        valid = self.targets
        unknown = sorted(set(self.columns) - set(valid))
        if unknown:
            raise ValueError(f"unknown {self.kind} column targets {unknown}; expected {valid}")
        required = [t for t in valid if t not in OPTIONAL_TARGETS]
        missing = [t for t in required if t not in self.columns]
        if self.kind == "ticks" and not {"price", "bid", "ask"} & set(self.columns):
            missing.append("price or bid/ask")
        if missing:
            raise ValueError(f"{self.kind} mapping lacks {missing}; it maps {sorted(self.columns)}")
        if not self.header and any(not isinstance(v, int) for v in self.columns.values()):
            raise ValueError("a file without a header needs 0-based column positions (int)")
        for target in self.zero_is_missing:
            _check_choice("zero_is_missing target", target, valid)

    @property
    def targets(self) -> tuple[str, ...]:
        return BAR_TARGETS if self.kind == "bars" else TICK_TARGETS

    @property
    def price_targets(self) -> tuple[str, ...]:
        return ("open", "high", "low", "close") if self.kind == "bars" else ("price", "bid", "ask")


_OHLCV = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
_ohlcv = {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}
_POSITIONAL = {"ts": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}
_LEAN_NY = {"header": False, "timezone": "America/New_York", "price_divisor": 10_000.0}

PRESETS: dict[str, FileMapping] = {
    # backtrader's datas/: Yahoo daily (Date) and intraday (Date + Time) or Datetime.
    "backtrader": FileMapping({"ts": ("Datetime", "Date"), "time": "Time", **_OHLCV}),
    "yahoo": FileMapping({"ts": "Date", **_OHLCV}, timezone="America/New_York"),
    "mplfinance_intraday": FileMapping(
        {"ts": "Date", **_OHLCV}, ts_format="%m/%d/%Y %H:%M", timezone="America/New_York"
    ),
    "barchart": FileMapping(
        {"ts": "Time", **_OHLCV, "close": "Last"}, ts_format="%m/%d/%Y", order="newest_first"
    ),
    "zipline_csv": FileMapping({"ts": "date", **_ohlcv}, timezone="America/New_York"),
    # Lean: deci-cents, New York time; minute files count milliseconds since midnight.
    "lean_daily": FileMapping(_POSITIONAL, ts_format="%Y%m%d %H:%M", **_LEAN_NY),
    "lean_minute": FileMapping(_POSITIONAL, ts_unit="ms_of_day", **_LEAN_NY),
    "lean_tick_trade": FileMapping(
        {"ts": 0, "price": 1, "size": 2}, kind="ticks", ts_unit="ms_of_day", **_LEAN_NY
    ),
    "lean_tick_quote": FileMapping(
        {"ts": 0, "bid": 1, "ask": 3},
        kind="ticks",
        ts_unit="ms_of_day",
        zero_is_missing=("bid", "ask"),
        **_LEAN_NY,
    ),
    "freqtrade_feather": FileMapping({"ts": "date", **_ohlcv}, format="feather"),
    "freqtrade_json_ohlcv": FileMapping(_POSITIONAL, header=False, format="json", ts_unit="ms"),
    "freqtrade_trades_json": FileMapping(
        {"ts": 0, "trade_id": 1, "price": 4, "size": 5},
        kind="ticks",
        header=False,
        format="json",
        ts_unit="ms",
    ),
    "freqtrade_trades_csv": FileMapping(
        {"ts": "timestamp", "trade_id": "id", "price": "price", "size": "amount"},
        kind="ticks",
        ts_unit="ms",
    ),
    "nautilus_csv": FileMapping({"ts": ("timestamp", "timestamp_utc"), **_ohlcv}),
    "nautilus_parquet_trades": FileMapping(
        {"ts": "timestamp", "trade_id": "trade_id", "price": "price", "size": "quantity"},
        kind="ticks",
        format="parquet",
    ),
    "nautilus_parquet_quotes": FileMapping(
        {"ts": "timestamp", "bid": "bid", "ask": "ask"}, kind="ticks", format="parquet"
    ),
    "truefx": FileMapping({"ts": "timestamp", "bid": "bid", "ask": "ask"}, kind="ticks"),
    # HistData.com ticks are in EST without daylight saving, i.e. a fixed UTC-5.
    "histdata": FileMapping(
        {"ts": 0, "bid": 1, "ask": 2},
        kind="ticks",
        header=False,
        ts_format="%Y%m%d %H%M%S%f",
        timezone="Etc/GMT+5",
    ),
    "kraken_csv": FileMapping(
        {"ts": 0, "price": 1, "size": 2}, kind="ticks", header=False, ts_unit="s"
    ),
}
PRESETS["mplfinance"] = PRESETS["yahoo"]


def preset(name: str, **overrides: Any) -> FileMapping:
    """A named preset, optionally adjusted (``preset("backtrader", label="end")``)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}") from None
    return dataclasses.replace(base, **overrides) if overrides else base


def as_mapping(value: FileMapping | str | Mapping[str, Any]) -> FileMapping:
    """Accept a mapping, a preset name, or a dict (``{"preset": ..., **overrides}`` or fields).

    Dicts are what an Airflow connection's extras hold, so a provider can be configured there.
    """
    if isinstance(value, FileMapping):
        return value
    if isinstance(value, str):
        return preset(value)
    options = dict(value)
    if isinstance(options.get("session_open"), str):
        options["session_open"] = dt.time.fromisoformat(options["session_open"])
    if "zero_is_missing" in options:
        options["zero_is_missing"] = tuple(options["zero_is_missing"])
    name = options.pop("preset", None)
    return preset(name, **options) if name else FileMapping(**options)
