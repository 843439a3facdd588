"""candleflow bars: stored bars from the warehouse, printed like candleflow fetch.

Why the same layout: candleflow fetch (provider, no database) and candleflow bars
(warehouse) can be diffed to check that a load stored what the provider returned. bars
adds one last column, complete: false for a resampled bar whose interval the stored bars
do not fully cover (six hours of a session as a "daily" bar), so the first six columns
still diff against fetch. Prices are split-adjusted by default, as charts show them;
--adjustment raw prints what traded (what fetch prints); --session extended prints the
extended-hours series (what fetch --session extended prints), never mixed with the regular
one. A symbol the warehouse does not know is an error (exit 1) that suggests the closest
stored ones: "no bars" would hide a typo such as nasdaq:aapl. --as-of prints the series as
it was known at a past time (bar_revisions), so a backtest run then can be reproduced.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from candleflow.adjustments import ADJUSTMENTS, DEFAULT_ADJUSTMENT
from candleflow.cli import inputs
from candleflow.cli.inputs import EndOpt, SessionOpt, StartOpt, SymbolArg, TimeframeOpt
from candleflow.domain import BAR_FORMATS as FORMATS
from candleflow.domain import FILLS


def bars_command(
    symbol: SymbolArg,
    timeframe: TimeframeOpt,
    start: StartOpt,
    end: EndOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv, json or table")] = "csv",
    fill: Annotated[
        str | None, typer.Option(help="Fill missing intervals: flat or ffill (default: none).")
    ] = None,
    adjustment: Annotated[
        str,
        typer.Option(
            help="Corporate actions: raw (as traded), splits (the default, as charts show) or "
            "total_return (splits and dividends)."
        ),
    ] = DEFAULT_ADJUSTMENT,
    session: SessionOpt = "regular",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Print the series as it was known at this time (ISO date or datetime, UTC "
            "when naive): bars loaded later left out, corrections since undone.",
        ),
    ] = None,
) -> None:
    """Print the stored bars of SYMBOL in [start, end), resampled when the timeframe is not
    stored; same columns as candleflow fetch, then complete."""
    inputs.choice(fmt, FORMATS, "--format")
    inputs.choice(fill, FILLS, "--fill")
    inputs.choice(adjustment, ADJUSTMENTS, "--adjustment")
    begin, finish = inputs.window(start, end)
    known_at = inputs.timestamp(as_of, "--as-of") if as_of else None
    from candleflow import query
    from candleflow.cli import warehouse
    from candleflow.output import write_bars

    url = warehouse.ready()
    frame = query.bars(
        symbol,
        timeframe,
        begin,
        finish,
        fill=fill,
        adjustment=adjustment,
        session=session,
        as_of=known_at,
        url=url,  # type: ignore[arg-type]
    )
    if frame.empty:
        warehouse.known_symbol(symbol, url)
    rows = write_bars(frame, fmt, sys.stdout, trailing=("complete",))  # type: ignore[arg-type]
    if rows == 0:
        typer.echo(f"no bars for {symbol} {timeframe} in [{start}, {end})", err=True)
