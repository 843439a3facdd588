"""candleflow actions: list a symbol's corporate actions, or import a file of them.

``candleflow actions SYMBOL`` lists what the warehouse holds (``actions list SYMBOL`` is the
same); ``candleflow actions import FILE --symbol SYMBOL [--preset NAME]`` reads a LEAN
factor file, a zipline csvdir file or the Quandl WIKI table (the preset detected from the
file when not given) and stores the symbol's splits and dividends. The bars' adjusted reads
(``candleflow bars --adjustment``) use them at once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from candleflow.adjustments import ACTION_PRESETS
from candleflow.cli import inputs


class _SymbolFirst(TyperGroup):
    """``actions NASDAQ:AAPL`` is ``actions list NASDAQ:AAPL``: a first argument that is no
    subcommand (nor an option) is the symbol to list."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_SymbolFirst,
    no_args_is_help=True,
    help="Corporate actions (splits, dividends): 'actions SYMBOL' lists a symbol's (as "
    "'actions list SYMBOL'); 'actions import FILE --symbol SYMBOL' stores a file of them.",
)


def _run_id() -> str:
    return "cli__" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="Action file (CSV; .gz/.zip ok)."),
    ],
    symbol: Annotated[
        str, typer.Option(help="Instrument as EXCHANGE:TICKER.", callback=inputs.symbol)
    ],
    preset: Annotated[
        str | None,
        typer.Option(help=f"File layout: {', '.join(ACTION_PRESETS)} (default: detected)."),
    ] = None,
) -> None:
    """Store the splits and dividends of SYMBOL from FILE; prints the counts as JSON."""
    inputs.choice(preset, ACTION_PRESETS, "--preset")
    from candleflow.cli import warehouse
    from candleflow.services.actions import import_actions

    counts = import_actions(file, symbol, preset=preset, url=warehouse.ready(), run_id=_run_id())
    typer.echo(json.dumps(counts))


@app.command("list")
def list_command(
    symbol: Annotated[
        str, typer.Argument(help="Instrument as EXCHANGE:TICKER.", callback=inputs.symbol)
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
) -> None:
    """Print the stored corporate actions of SYMBOL, oldest first."""
    inputs.choice(fmt, ("csv", "json"), "--format")
    from candleflow import query
    from candleflow.cli import warehouse

    frame = query.actions(symbol, url=warehouse.ready())
    columns = ["ex_date", "kind", "ratio", "amount", "reference_price", "factor", "source"]
    rows = [{c: _plain(r[c]) for c in columns} for r in frame.to_dict("records")]
    if fmt == "json":
        typer.echo(json.dumps(rows))
    else:
        sys.stdout.write(",".join(columns) + "\n")
        for row in rows:
            sys.stdout.write(",".join("" if row[c] is None else str(row[c]) for c in columns))
            sys.stdout.write("\n")
    if not rows:
        typer.echo(f"no corporate actions stored for {symbol}", err=True)


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly cell: NaN -> None, dates as ISO text, numbers as numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value
