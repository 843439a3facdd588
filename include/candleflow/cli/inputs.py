"""A command's input, parsed once, with errors that name the input and say what was expected.

Why at the edge: a typo (a timeframe of 7m, a start of yesterday, a symbol without its
exchange) must stop the command before it opens a provider or the warehouse, as one line
that names the option, and not surface later as a traceback from deep inside a load. Every
check here raises typer.BadParameter, which the entry point prints as one line, exit 2.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from candleflow.domain import Timeframe, check_symbol

TIME_HINT = "ISO-8601 like 2024-01-02 or 2024-01-02T14:30:00Z (UTC if no offset)"
# The times a window may span: wide enough for any market's history (daily series start in
# the 19th century), narrow enough that a step, a provider's epoch seconds or a pandas column
# never overflow (0001-01-01 minus a day is not a datetime).
EARLIEST = dt.datetime(1800, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def timeframe(value: str) -> str:
    """The timeframe notation, checked (1m ... 1h ... 1d 1w 1mo)."""
    try:
        return Timeframe.parse(value).name
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def symbol(value: str) -> str:
    """One EXCHANGE:TICKER symbol, checked for its shape (not for its existence)."""
    try:
        return check_symbol(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def symbols(values: list[str] | None) -> list[str] | None:
    return None if values is None else [symbol(value) for value in values]


def timestamp(value: str, option: str) -> dt.datetime:
    """An ISO-8601 date or time in UTC; the error names ``option``."""
    from candleflow.domain import to_utc

    try:
        when = to_utc(value, name=option)
    except (ValueError, TypeError, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is not a time; expected {TIME_HINT}", param_hint=option
        ) from None
    if not EARLIEST <= when <= LATEST:
        raise typer.BadParameter(
            f"{value!r} is out of range; expected a time between {EARLIEST:%Y-%m-%d} and "
            f"{LATEST:%Y-%m-%d}",
            param_hint=option,
        )
    return when


def window(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC, non-empty."""
    begin, finish = timestamp(start, "--start"), timestamp(end, "--end")
    if begin >= finish:
        raise typer.BadParameter(
            f"the window is empty: --start {start} is not before --end {end}; "
            "expected start < end (end is exclusive)",
            param_hint="--start/--end",
        )
    return begin, finish


def choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(
            f"{value!r}; expected one of {', '.join(allowed)}", param_hint=option
        )
    return value


SymbolArg = Annotated[str, typer.Argument(help="EXCHANGE:TICKER", callback=symbol)]
SymbolsArg = Annotated[
    list[str], typer.Argument(help="One or more EXCHANGE:TICKER", callback=symbols)
]
TimeframeOpt = Annotated[
    str,
    typer.Option("--timeframe", "-t", help="1m ... 1h ... 1d 1w 1mo", callback=timeframe),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (for programs) instead of text.")
]
StartOpt = Annotated[str, typer.Option(help="Window start, ISO-8601 (UTC if no offset).")]
EndOpt = Annotated[str, typer.Option(help="Window end (exclusive), ISO-8601.")]


def session(value: str) -> str:
    """``--session``: regular or extended, else a one-line usage error (exit 2)."""
    from candleflow.domain import check_session

    try:
        return check_session(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


SessionOpt = Annotated[
    str,
    typer.Option(
        "--session",
        help="Which series: regular (the exchange's session) or extended (pre- and "
        "post-market too, US equities 04:00-20:00 New York), stored apart.",
        callback=session,
    ),
]
