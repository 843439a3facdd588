"""Value types shared by providers, validation, the loader and the query module.

One vocabulary everywhere: an ``Instrument`` is identified by its ``symbol``
(``EXCHANGE:TICKER``); a bar (a row of a ``BARS`` frame) has ``ts``, its **start** in UTC,
and covers ``[ts, ts + timeframe)``; a ``Tick`` is one quote or trade update. Beside the
types live the ideas every layer must read the same way, each in one place: ``to_utc`` (the
one timestamp parser), the column specs ``BARS``/``TICKS`` (PostgreSQL and Arrow types
derive from them), the choice enums the CLI (Typer) and the HTTP API (FastAPI) both offer,
and the default reject threshold; the symbol rule (``check_symbol``) is ``symbols``'s,
re-exported here.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

# The symbol rule lives in ``symbols``; re-exported here, where every door imports it from.
from candleflow.symbols import SYMBOL_ITEMS as SYMBOL_ITEMS
from candleflow.symbols import SYMBOL_MAX_LENGTH as SYMBOL_MAX_LENGTH
from candleflow.symbols import SYMBOL_PATTERN as SYMBOL_PATTERN
from candleflow.symbols import check_symbol as check_symbol
from candleflow.symbols import split_symbol

if TYPE_CHECKING:
    import pyarrow as pa

UTC = dt.UTC

#: Above this share of rejected rows a window fails and nothing of it loads.
DEFAULT_REJECT_THRESHOLD = 0.05
DEFAULT_JUMP_THRESHOLD = 0.5  # |close change| over which a bar is flagged price_jump


# ----- timestamps -----------------------------------------------------------------------------


def to_utc(value: dt.datetime | dt.date | str, *, name: str = "timestamp") -> dt.datetime:
    """An aware UTC ``datetime`` from ISO-8601 text, a date or a datetime.

    Why one parser: the CLI, the API, DAG params, the sync and validation must read
    ``2024-03-01``, ``2024-03-01T14:30Z`` and ``2024-03-01T09:30-05:00`` alike. Naive values
    are taken as UTC (the warehouse's zone); a date is its UTC midnight; a pandas Timestamp
    becomes a plain datetime. Bad input raises ``ValueError`` (``TypeError`` for a wrong
    type) naming ``name`` and the expected form.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(
                f"bad {name} {value!r}; expected ISO-8601, e.g. 2024-01-02 or 2024-01-02T14:30Z"
            ) from None
    elif hasattr(value, "to_pydatetime"):  # pandas.Timestamp, without importing pandas
        if value != value:  # NaT is the one value not equal to itself
            raise ValueError(f"bad {name}: NaT; expected a time")
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise TypeError(
            f"{name} must be a datetime, date or ISO-8601 string, got {type(value).__name__}"
        )
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_micros(value: dt.datetime) -> int:
    """An aware datetime as int64 microseconds since the epoch, exactly (no float rounding):
    the unit the bar masks of the providers, the sync and validation compare in."""
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


# ----- the column specs -----------------------------------------------------------------------

_PG = {"timestamp": "timestamptz", "float": "float8", "int": "int8", "bool": "bool", "text": "text"}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a bar or tick frame: the warehouse and Arrow types follow its kind."""

    name: str
    kind: Literal["timestamp", "float", "int", "bool", "text"]
    nullable: bool = True

    @property
    def pg_type(self) -> str:
        return _PG[self.kind]

    def arrow_type(self) -> pa.DataType:
        import pyarrow as pa

        return {
            "timestamp": pa.timestamp("us", tz="UTC"),
            "float": pa.float64(),
            "int": pa.int64(),
            "bool": pa.bool_(),
            "text": pa.string(),
        }[self.kind]


#: A bar: ``ts`` (start, UTC), prices, and volume (NULL where the instrument has none).
BARS: tuple[Column, ...] = (
    Column("ts", "timestamp", nullable=False),
    *(Column(c, "float", nullable=False) for c in ("open", "high", "low", "close")),
    Column("volume", "float"),
)
#: A tick: ``ts`` and ``seq`` (ties at one ts) are its key with the instrument; the rest values.
TICKS: tuple[Column, ...] = (
    Column("ts", "timestamp", nullable=False),
    Column("seq", "int", nullable=False),
    *(Column(c, "float") for c in ("price", "size", "day_volume", "bid", "ask")),
)

BAR_COLUMNS: tuple[str, ...] = tuple(c.name for c in BARS)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
#: The value columns of a tick frame (``seq`` is added where ticks are keyed).
TICK_COLUMNS: tuple[str, ...] = tuple(c.name for c in TICKS if c.name != "seq")


def pg_types(columns: tuple[Column, ...]) -> dict[str, str]:
    """``{name: PostgreSQL type}`` in column order, for staging tables and COPY."""
    return {c.name: c.pg_type for c in columns}


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of ``columns`` (``ts`` as UTC microseconds)."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, c.arrow_type(), c.nullable) for c in columns])


# ----- choices offered by the CLI and the API -------------------------------------------------


class FillMode(enum.StrEnum):
    """How missing intervals are filled on read (see ``candleflow.query``)."""

    FFILL = "ffill"
    FLAT = "flat"


class BarFormat(enum.StrEnum):
    """How ``candleflow fetch``/``bars`` print bars."""

    CSV = "csv"
    JSON = "json"
    TABLE = "table"


class QueryOutput(enum.StrEnum):
    """The frame type ``candleflow.query`` returns."""

    PANDAS = "pandas"
    ARROW = "arrow"
    POLARS = "polars"


class SeriesSession(enum.StrEnum):
    """Which series of a symbol: its exchange's regular session, or extended hours (pre- and
    post-market too). Part of the instrument's key: the two are never mixed."""

    REGULAR = "regular"
    EXTENDED = "extended"


class BarSource(enum.StrEnum):
    """Where a stored bar came from; part of the ``bars`` key."""

    PROVIDER = "provider"
    ROLLUP = "rollup"


# The values as plain strings (for messages and membership tests) and as Literal types (for
# signatures); tests check that each Literal lists exactly its enum's values.
FILLS: tuple[str, ...] = tuple(m.value for m in FillMode)
BAR_FORMATS: tuple[str, ...] = tuple(m.value for m in BarFormat)
OUTPUTS: tuple[str, ...] = tuple(m.value for m in QueryOutput)
SOURCES: tuple[str, ...] = tuple(m.value for m in BarSource)
SESSIONS: tuple[str, ...] = tuple(m.value for m in SeriesSession)
Fill = Literal["ffill", "flat"]
Format = Literal["csv", "json", "table"]
Output = Literal["pandas", "arrow", "polars"]
Source = Literal["provider", "rollup"]
Session = Literal["regular", "extended"]


def check_session(session: str | None) -> str:
    """``regular`` (also for None or empty) or ``extended``; else ``ValueError`` listing both."""
    value = (session or "regular").strip().lower()
    if value not in SESSIONS:
        raise ValueError(f"bad session {session!r}; expected one of {', '.join(SESSIONS)}")
    return value


# ----- value types ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length in the project's notation (``1m`` ... ``1mo``) with its TradingView code."""

    name: str
    tv_resolution: str
    minutes: int | None  # None for the calendar month, which has no fixed length

    @classmethod
    def parse(cls, value: str | Timeframe) -> Timeframe:
        if isinstance(value, Timeframe):
            return value
        try:
            return TIMEFRAMES[value]
        except KeyError:
            raise ValueError(
                f"unknown timeframe {value!r}; expected one of {', '.join(TIMEFRAMES)}"
            ) from None

    @classmethod
    def from_resolution(cls, code: str) -> Timeframe:
        for tf in TIMEFRAMES.values():
            if tf.tv_resolution == code:
                return tf
        raise ValueError(f"unknown TradingView resolution {code!r}")

    @property
    def intraday(self) -> bool:
        return self.minutes is not None and self.minutes < 1440

    @property
    def delta(self) -> dt.timedelta:
        """The fixed length; a month is approximated by 31 days (only for window maths)."""
        return dt.timedelta(minutes=self.minutes if self.minutes is not None else 31 * 1440)

    def bar_end(self, ts: dt.datetime) -> dt.datetime:
        """The end of the bar that starts at ``ts`` (exclusive)."""
        if self.minutes is not None:
            return ts + dt.timedelta(minutes=self.minutes)
        year, month = (ts.year + 1, 1) if ts.month == 12 else (ts.year, ts.month + 1)
        return ts.replace(year=year, month=month)

    def __str__(self) -> str:
        return self.name


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        Timeframe("1m", "1", 1),
        Timeframe("3m", "3", 3),
        Timeframe("5m", "5", 5),
        Timeframe("15m", "15", 15),
        Timeframe("30m", "30", 30),
        Timeframe("45m", "45", 45),
        Timeframe("1h", "60", 60),
        Timeframe("2h", "120", 120),
        Timeframe("3h", "180", 180),
        Timeframe("4h", "240", 240),
        Timeframe("1d", "1D", 1440),
        Timeframe("1w", "1W", 7 * 1440),
        Timeframe("1mo", "1M", None),
    )
}


@dataclass(frozen=True, slots=True)
class Instrument:
    """What a provider knows about a symbol; the ``instruments`` table mirrors it."""

    symbol: str
    description: str = ""
    type: str = ""
    currency: str = ""
    timezone: str = "Etc/UTC"
    session: str = "24x7"
    price_scale: int = 100
    provider: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)
    # which series of the symbol: "regular" or "extended" (pre- and post-market too); the
    # warehouse keeps one instrument row per symbol and series session
    series_session: str = "regular"

    @property
    def exchange(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def ticker(self) -> str:
        return split_symbol(self.symbol)[1]


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote update: the last trade price and its time, sizes and the top of book.

    ``seq`` orders ticks that share a timestamp; with ``ts`` and the symbol it is the tick key.
    """

    symbol: str
    ts: dt.datetime
    price: float | None
    size: float | None = None
    day_volume: float | None = None
    bid: float | None = None
    ask: float | None = None
    seq: int = 0
