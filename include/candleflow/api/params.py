"""Request parameters: parse once, and name the parameter in every error.

FastAPI's own validation says *where* (``query.limit``) in a nested list; a consumer reading
a 422 wants one sentence that names the parameter and what was expected. Everything the
routes accept goes through here, so the wording is the same on every route.
"""

from __future__ import annotations

import datetime as dt

from candleflow.adjustments import ADJUSTMENTS, DEFAULT_ADJUSTMENT, Adjustment
from candleflow.domain import FILLS, TIMEFRAMES, UTC, Fill, Timeframe, split_symbol, to_utc

DEFAULT_LIMIT = 5000
MAX_LIMIT = 50_000
DEFAULT_BARS = 500  # the span a bars request gets when it names no start
# Timestamps outside this range are rejected: they are never market data, and window
# arithmetic near datetime.min/max would overflow.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)
TIME_HINT = "ISO-8601 like 2024-01-02 or 2024-01-02T14:30:00Z"


class BadParameter(ValueError):
    """A request parameter is invalid. Handled by the app: a 422 whose detail names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class NotFound(LookupError):
    """The request names something the warehouse does not have. Handled by the app: 404."""


def timeframe(value: str, name: str = "timeframe") -> Timeframe:
    try:
        return Timeframe.parse(value)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None


def text(value: str | None, name: str) -> str | None:
    """A free-text filter; empty means none. PostgreSQL text cannot hold NUL: reject it here."""
    if not value:
        return None
    if "\x00" in value:
        raise BadParameter(name, "contains a NUL character")
    return value


def symbol(value: str, name: str = "symbol") -> str:
    text(value, name)
    try:
        split_symbol(value)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None
    return value


def symbols(value: str, name: str = "symbols") -> list[str]:
    """A comma-separated list (``NASDAQ:AAPL,BINANCE:BTCUSDT``), each checked, order kept."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise BadParameter(name, "empty; expected EXCHANGE:TICKER[,EXCHANGE:TICKER...]")
    return list(dict.fromkeys(symbol(item, name) for item in items))


def timestamp(value: str | None, name: str) -> dt.datetime | None:
    """An ISO-8601 date or datetime; a naive one is taken as UTC, an offset is converted."""
    if value is None or value == "":
        return None
    try:
        parsed = to_utc(value, name=name)
    except ValueError:
        raise BadParameter(name, f"invalid datetime {value!r}; expected {TIME_HINT}") from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if not EARLIEST <= parsed < LATEST:
        raise BadParameter(
            name, f"{value!r} is out of range; expected a time in [1900-01-01, 2200-01-01)"
        )
    return parsed


def time_range(
    start: str | None, end: str | None, tf: Timeframe, *, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC; ``end`` defaults to now, ``start`` to ``DEFAULT_BARS`` bars back."""
    end_ts = timestamp(end, "end") or (now or dt.datetime.now(UTC))
    start_ts = timestamp(start, "start")
    if start_ts is None:
        start_ts = max(EARLIEST, end_ts - DEFAULT_BARS * tf.delta)
    if start_ts >= end_ts:
        raise BadParameter("start", f"start {iso(start_ts)} must be before end {iso(end_ts)}")
    return start_ts, end_ts


def limit(value: int) -> int:
    if not 1 <= value <= MAX_LIMIT:
        raise BadParameter("limit", f"{value} is out of range; expected 1 to {MAX_LIMIT}")
    return value


def fill(value: str | None) -> Fill | None:
    if value in (None, "", "none"):
        return None
    if value not in FILLS:
        raise BadParameter("fill", f"unknown fill {value!r}; expected one of none, ffill, flat")
    return value  # type: ignore[return-value]


def adjustment(value: str | None) -> Adjustment:
    if value in (None, ""):
        return DEFAULT_ADJUSTMENT
    if value not in ADJUSTMENTS:
        raise BadParameter(
            "adjustment", f"unknown adjustment {value!r}; expected one of {', '.join(ADJUSTMENTS)}"
        )
    return value  # type: ignore[return-value]


def iso(ts: dt.datetime) -> str:
    """``2024-01-02T14:30:00Z``: the one timestamp format of every response."""
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


TIMEFRAME_NAMES: list[str] = list(TIMEFRAMES)
