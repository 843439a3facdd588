"""candleflow tv decode FILE [--bars]: a raw TradingView capture as readable data.

The decoding lives in the provider package (candleflow.providers.tradingview.decode); this
is only the command: JSON lines of the messages, or with --bars the bars as CSV.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="TradingView protocol tools.")


@app.command("decode")
def tv_decode(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Raw capture to decode.")
    ],
    bars: Annotated[
        bool, typer.Option("--bars", help="Print the bars as CSV instead of the messages.")
    ] = False,
) -> None:
    """Decode a TradingView websocket capture into JSON lines, or its bars into CSV."""
    from candleflow.errors import BadInputError
    from candleflow.providers.tradingview.decode import read_capture, write_bars_csv, write_messages

    try:
        messages = read_capture(file)
    except BadInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    if bars:
        write_bars_csv(messages, sys.stdout)
    else:
        write_messages(messages, sys.stdout)
