"""candleflow export: bars to Hive-partitioned Parquet (symbol, month) for a lake or a backtest.

The files hold what ``candleflow bars`` (``candleflow.query.bars``) returns for the same
window; the layout and schema are ``candleflow.db.lake``'s. Re-running an export rewrites
the same files; a window that covers part of a month keeps the rest of that month's file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from candleflow.cli import inputs
from candleflow.cli.inputs import EndOpt, StartOpt, SymbolsArg, TimeframeOpt
from candleflow.errors import BadInputError


def export_command(
    symbols: SymbolsArg,
    timeframe: TimeframeOpt,
    start: StartOpt,
    end: EndOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (created if missing).")],
    adjustment: Annotated[
        str | None,
        typer.Option(help="Price adjustment as in candleflow bars (default: the query's)."),
    ] = None,
) -> None:
    """Export the bars of SYMBOL... in [start, end) to Parquet files under --out."""
    begin, finish = inputs.window(start, end)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; expected a folder", param_hint="--out")
    from candleflow.cli import warehouse
    from candleflow.query.export import export_parquet

    url = warehouse.ready()
    try:
        result = export_parquet(
            symbols, timeframe, begin, finish, out, adjustment=adjustment, url=url
        )
    except ValueError as exc:  # a bad --adjustment (the query module's check)
        raise BadInputError(str(exc)) from None
    for symbol, count in result.bars.items():
        typer.echo(f"{symbol}: {count} bars")
    typer.echo(
        f"exported {result.total} {timeframe} bars to {len(result.files)} files under {out}"
        f" in {result.seconds:.1f}s"
    )
