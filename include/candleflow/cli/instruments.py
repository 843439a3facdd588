"""candleflow instruments list / remove: what the warehouse holds, and undoing a mistake.

A symbol a provider once accepted (a typo such as NASDAQ:APPL against a permissive
provider) stays an instrument that every freshness check then flags; ``remove`` deletes it
with its bars, ticks, rejects, audit rows and watermarks in one transaction
(``db.removal``). It asks for ``--yes`` because nothing of it can be restored.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from candleflow.cli import inputs
from candleflow.cli.inputs import JsonOpt

app = typer.Typer(no_args_is_help=True, help="The instruments the warehouse holds.")

COLUMNS = (
    "symbol", "series_session", "description", "type", "currency", "timezone", "provider",
    "last_seen",
)  # fmt: skip


@app.command("list")
def instruments_list(
    search: Annotated[
        str | None, typer.Argument(help="Only symbols or descriptions containing this.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the stored instruments (symbol, description, type, ...), by symbol."""
    from candleflow import query
    from candleflow.cli import warehouse
    from candleflow.output import table

    frame = query.instruments(search, url=warehouse.ready())
    if as_json:
        typer.echo(frame.to_json(orient="records", date_format="iso"))
        return
    if frame.empty:
        typer.echo("no instruments" + (f" matching {search!r}" if search else ""), err=True)
        return
    rows = [[_text(row[c]) for c in COLUMNS] for _, row in frame.iterrows()]
    table(list(COLUMNS), rows, sys.stdout)


def _text(value: object) -> str:
    if value is None or value != value:  # None, NaN, NaT
        return ""
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)


@app.command("remove")
def instruments_remove(
    symbol: Annotated[str, typer.Argument(help="EXCHANGE:TICKER", callback=inputs.symbol)],
    yes: Annotated[
        bool, typer.Option("--yes", help="Really delete (required: it cannot be undone).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete SYMBOL's instrument with its bars, ticks, rejects, audit rows and watermarks,
    in one transaction. Take it off the watchlist first, or the next sync adds it again."""
    from candleflow.cli import warehouse
    from candleflow.db import connection, removal
    from candleflow.errors import UnknownInstrument

    if not yes:
        raise typer.BadParameter(
            f"removing {symbol} deletes all its bars and ticks and cannot be undone; "
            "add --yes to do it",
            param_hint="--yes",
        )
    url = warehouse.ready()
    with connection.transaction(url) as conn:
        counts = removal.remove_instrument(conn, symbol)
    if counts is None:
        warehouse.known_symbol(symbol, url)  # raises, suggesting the closest stored symbols
        raise UnknownInstrument(f"unknown symbol {symbol!r}")
    if as_json:
        typer.echo(json.dumps({"symbol": symbol, "deleted": counts}))
        return
    rows = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()) if t != "instruments")
    typer.echo(f"removed {symbol}" + (f" with {rows}" if rows else " (no rows stored)"))
