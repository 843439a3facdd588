"""``candleflow bars``: stored bars from the warehouse, printed like ``candleflow fetch``.

Why the same layout: ``candleflow fetch`` (provider, no database) and ``candleflow bars``
(warehouse) can be diffed to check that a load stored what the provider returned.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

FORMATS = ("csv", "json", "table")
FILLS = ("ffill", "flat")


def bars_command(
    symbol: Annotated[str, typer.Argument(help="EXCHANGE:TICKER")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="1m ... 1h ... 1d 1w 1mo")],
    start: Annotated[str, typer.Option(help="Window start, ISO-8601 (UTC if no offset).")],
    end: Annotated[str, typer.Option(help="Window end (exclusive), ISO-8601.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or table")] = "csv",
    fill: Annotated[
        str | None, typer.Option(help="Fill missing intervals: flat or ffill (default: none).")
    ] = None,
) -> None:
    """Print the stored bars of SYMBOL in [start, end) (resampled when the timeframe is not
    stored); same columns as ``candleflow fetch``."""
    from candleflow import query
    from candleflow.output import write_bars

    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"{fmt!r}; expected one of {', '.join(FORMATS)}", param_hint="--format"
        )
    if fill is not None and fill not in FILLS:
        raise typer.BadParameter(
            f"{fill!r}; expected one of {', '.join(FILLS)}", param_hint="--fill"
        )
    try:
        frame = query.bars(symbol, timeframe, start, end, fill=fill)  # type: ignore[arg-type]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    rows = write_bars(frame, fmt, sys.stdout)  # type: ignore[arg-type]
    if rows == 0:
        typer.echo(f"no bars for {symbol} {timeframe} in [{start}, {end})", err=True)
