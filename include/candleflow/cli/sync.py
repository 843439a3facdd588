"""``candleflow fetch`` and ``candleflow sync``: providers and the load path from a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

Provider = Annotated[str, typer.Option(help="Provider name: tradingview, files, or a plug-in.")]
Timeframe = Annotated[str, typer.Option("--timeframe", "-t", help="1m ... 1h ... 1d 1w 1mo")]
Start = Annotated[str, typer.Option(help="Window start, ISO-8601 (UTC if no offset).")]
End = Annotated[str, typer.Option(help="Window end (exclusive), ISO-8601.")]
ProviderOption = Annotated[
    list[str] | None, typer.Option("--provider-option", "-o", help="KEY=VALUE, repeatable.")
]
File = Annotated[Path | None, typer.Option(help="For --provider files: the file to read.")]
Preset = Annotated[str, typer.Option(help="For --provider files: the layout preset, or auto.")]


def provider_options(
    symbols: list[str], options: list[str] | None, file: Path | None, preset: str
) -> dict:
    """``-o key=value`` pairs (values parsed as JSON when they are), plus the file shortcut."""
    parsed: dict = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--provider-option")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    if file is not None:
        from candleflow.providers.files import FileSource

        parsed["files"] = {s: FileSource(file, preset) for s in symbols}
    return parsed


def fetch(
    symbol: Annotated[str, typer.Argument(help="EXCHANGE:TICKER")],
    timeframe: Timeframe,
    start: Start,
    end: End,
    provider: Provider = "tradingview",
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    option: ProviderOption = None,
    file: File = None,
    preset: Preset = "auto",
) -> None:
    """Print the bars a provider returns for a window (no database involved)."""
    from candleflow.output import write_bars
    from candleflow.providers import get_provider

    if fmt not in ("csv", "json"):
        raise typer.BadParameter(f"{fmt!r}; expected csv or json", param_hint="--format")
    with get_provider(provider, **provider_options([symbol], option, file, preset)) as prov:
        bars = prov.fetch_bars(symbol, timeframe, start, end)
    write_bars(bars, fmt, sys.stdout)


def sync(
    symbols: Annotated[list[str], typer.Argument(help="One or more EXCHANGE:TICKER")],
    timeframe: Timeframe,
    start: Start,
    end: End,
    provider: Provider = "tradingview",
    option: ProviderOption = None,
    file: File = None,
    preset: Preset = "auto",
    reject_threshold: Annotated[float, typer.Option(help="Fail a window above this share.")] = 0.05,
) -> None:
    """Fetch, validate and load windows into the warehouse; prints each audit summary.

    Every symbol is attempted; the exit code is 1 when any of them failed.
    """
    from candleflow.errors import CandleflowError
    from candleflow.services.sync import sync as sync_window

    options = provider_options(symbols, option, file, preset)
    failed = 0
    for symbol in symbols:
        try:
            record = sync_window(
                symbol,
                timeframe,
                start,
                end,
                provider=provider,
                provider_options=options,
                reject_threshold=reject_threshold,
            )
        except CandleflowError as exc:
            failed += 1
            typer.echo(f"{symbol}: FAILED: {exc}", err=True)
            continue
        typer.echo(
            f"{symbol} {timeframe}: {record['rows_fetched']} fetched, "
            f"{record['rows_inserted']} inserted, {record['rows_updated']} updated, "
            f"{record['rows_unchanged']} unchanged, {record['rows_rejected']} rejected "
            f"({record['outcome']}, {record['duration_s']:.2f}s)"
        )
    if failed:
        raise typer.Exit(1)
