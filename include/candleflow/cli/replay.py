"""candleflow replay-server: run the fake TradingView server in the foreground.

For offline demos and for pointing a client at a local server by hand; tests use
ReplayServer as a context manager instead. A plain function with Typer annotations,
registered in candleflow.cli like every command. It knows a catalogue of real-looking
symbols (--list prints it) and refuses others as TradingView does, so a typo fails as it
would against TradingView; --any-symbol serves any symbol of the exchanges it models.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from candleflow.cli import inputs
from candleflow.testing.scenarios import SCENARIOS

log = logging.getLogger(__name__)


def replay_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bars and ticks.")] = 1,
    bar_cap: Annotated[int, typer.Option(help="Most bars per history page.")] = 5000,
    max_bars: Annotated[
        int | None,
        typer.Option(
            help="Lookback: serve only the newest N bars of each series; older ranges come "
            "back empty without an error, as on a TradingView plan (about 5000 on a free "
            "one). Default: unlimited.",
            min=1,
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(help=f"Server-wide fault scenario: one of {', '.join(SCENARIOS)}."),
    ] = None,
    any_symbol: Annotated[
        bool,
        typer.Option(
            "--any-symbol",
            help="Serve any symbol of NASDAQ, NYSE, AMEX, BINANCE, TVC (and SP:SPX), not only "
            "the catalogue (for invented universes such as NASDAQ:S0001).",
        ),
    ] = False,
    list_symbols: Annotated[
        bool, typer.Option("--list", help="Print the catalogue of symbols and exit.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="For --scenario lean-aapl: serve NASDAQ:AAPL's real daily history as it was "
            "on this date (YYYY-MM-DD)."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="For --scenario lean-aapl: the shared data folder (default: "
            "$CANDLEFLOW_SHARED_DATA, else ../shared/data)."
        ),
    ] = None,
) -> None:
    """Serve the TradingView websocket protocol with synthetic data until Ctrl-C."""
    if list_symbols:
        import sys

        from candleflow.output import table
        from candleflow.testing.universe import SYMBOLS

        table(["symbol", "description"], [[s, d] for s, d in SYMBOLS.items()], sys.stdout)
        return
    if scenario is not None and scenario not in SCENARIOS:
        raise typer.BadParameter(
            f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}",
            param_hint="--scenario",
        )
    if (scenario == "lean-aapl") != (as_of is not None):
        raise typer.BadParameter(
            "--as-of goes with --scenario lean-aapl, and that scenario needs it",
            param_hint="--as-of",
        )
    day = inputs.timestamp(as_of, "--as-of").date() if as_of else None
    from candleflow.testing.replay_server import ReplayServer

    server = ReplayServer(
        host,
        port,
        seed=seed,
        bar_cap=bar_cap,
        max_bars=max_bars,
        scenario=scenario,
        any_symbol=any_symbol,
        as_of=day,
        data=data,
    )
    # The URL is printed by the event loop once the port is bound (port 0 resolves then).
    server.on_ready = lambda: typer.echo(server.url, err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("replay server on %s stopped", server.url)
