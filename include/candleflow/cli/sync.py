"""candleflow fetch and candleflow sync: providers and the load path from a shell.

A long window is worked in steps of at most STEP_BARS bars of the timeframe, on one open
provider. A sync step is one load (one transaction, one load_audit row, like one run of a
history DAG), so the progress bar moves, and a failure keeps the steps already loaded.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from candleflow.cli import inputs
from candleflow.cli.inputs import (
    EndOpt,
    JsonOpt,
    SessionOpt,
    StartOpt,
    SymbolArg,
    SymbolsArg,
    TimeframeOpt,
)
from candleflow.domain import DEFAULT_REJECT_THRESHOLD

STEP_BARS = 20_000
COUNTS = ("rows_fetched", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected")

Provider = Annotated[
    str, typer.Option(help="Provider name: tradingview, ccxt, files, or a plug-in.")
]
ProviderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--provider-option",
        "-o",
        help="KEY=VALUE, repeatable; VALUE may be JSON, e.g. for ccxt "
        'urls=\'{"api": {"public": "http://127.0.0.1:8901/api/v3"}}\'.',
    ),
]
File = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="For --provider files: the file to read."),
]
Preset = Annotated[str, typer.Option(help="For --provider files: the layout preset, or auto.")]


def provider_options(
    provider: str,
    symbols: list[str],
    options: list[str] | None,
    file: Path | None,
    preset: str,
    session: str = "regular",
) -> dict:
    """-o key=value pairs (values parsed as JSON when they are), plus the file shortcut and
    ``--session``, checked against the provider before anything is opened: an unknown
    provider or option, a value of the wrong type, ``--session extended`` of a provider
    without extended hours or ``--provider files`` without ``--file`` is one line, exit 2."""
    from candleflow.errors import ConfigError
    from candleflow.providers.options import check_options
    from candleflow.providers.registry import provider_class

    try:
        cls = provider_class(provider)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--provider") from None
    parsed: dict = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(
                f"{item!r}; expected KEY=VALUE", param_hint="--provider-option"
            )
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    if file is not None:
        from candleflow.providers.files import FileSource

        parsed["files"] = {s: FileSource(file, preset) for s in symbols}
    elif provider == "files" and "files" not in parsed:
        raise typer.BadParameter(
            "--provider files reads a vendor file: give it with --file FILE", param_hint="--file"
        )
    if session != "regular":
        if "session" not in inspect.signature(cls.__init__).parameters:
            raise typer.BadParameter(
                f"provider {provider!r} has no {session}-hours series", param_hint="--session"
            )
        parsed["session"] = session
    try:
        check_options(provider, cls, parsed)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--provider-option") from None
    return parsed


def steps(
    start: dt.datetime, end: dt.datetime, timeframe: str
) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut into consecutive windows of at most STEP_BARS bar lengths."""
    from candleflow.domain import Timeframe

    span = Timeframe.parse(timeframe).delta * STEP_BARS
    out, lo = [], start
    while lo < end:
        out.append((lo, min(end, lo + span)))
        lo = out[-1][1]
    return out


def _label(symbol: str, lo: dt.datetime, hi: dt.datetime) -> str:
    return f"{symbol} [{lo:%Y-%m-%d %H:%M}, {hi:%Y-%m-%d %H:%M})"


def fetch(
    symbol: SymbolArg,
    timeframe: TimeframeOpt,
    start: StartOpt,
    end: EndOpt,
    provider: Provider = "tradingview",
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    option: ProviderOption = None,
    file: File = None,
    preset: Preset = "auto",
    session: SessionOpt = "regular",
) -> None:
    """Print the bars a provider returns for a window (no database involved)."""
    inputs.choice(fmt, ("csv", "json"), "--format")
    begin, finish = inputs.window(start, end)
    options = provider_options(provider, [symbol], option, file, preset, session)
    import pandas as pd

    from candleflow.cli.progress import Progress
    from candleflow.output import write_bars
    from candleflow.providers import get_provider

    windows = steps(begin, finish, timeframe)
    frames = []
    with get_provider(provider, **options) as prov, Progress("fetch", len(windows)) as progress:
        for lo, hi in windows:
            frames.append(prov.fetch_bars(symbol, timeframe, lo, hi))
            progress.step(_label(symbol, lo, hi), len(frames[-1]))
    bars = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    write_bars(bars, fmt, sys.stdout)  # type: ignore[arg-type]


def _cpu_bound(provider: str) -> bool:
    """Whether the provider fetches on this process's cores (no validation helper then)."""
    from candleflow.providers.registry import provider_class

    try:
        return provider_class(provider).cpu_bound
    except (ValueError, TypeError, ImportError):  # reported when the provider is made
        return False


def _summary(symbol: str, timeframe: str, totals: Counter, outcomes: Counter, secs: float) -> str:
    outcome = ", ".join(k if len(outcomes) == 1 else f"{k} x{n}" for k, n in outcomes.items())
    return (
        f"{symbol} {timeframe}: {totals['rows_fetched']} fetched, "
        f"{totals['rows_inserted']} inserted, {totals['rows_updated']} updated, "
        f"{totals['rows_unchanged']} unchanged, {totals['rows_rejected']} rejected "
        f"({outcome}, {secs:.2f}s)"
    )


def sync(
    symbols: SymbolsArg,
    timeframe: TimeframeOpt,
    start: StartOpt,
    end: EndOpt,
    provider: Provider = "tradingview",
    option: ProviderOption = None,
    file: File = None,
    preset: Preset = "auto",
    reject_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Fail a window above this share (0 to 1).")
    ] = DEFAULT_REJECT_THRESHOLD,
    as_json: JsonOpt = False,
    session: SessionOpt = "regular",
) -> None:
    """Fetch, validate and load windows into the warehouse; prints each symbol's summary.

    Every symbol is attempted; the exit code is 1 when any of them failed. The embedded
    warehouse is migrated first when it needs it.
    """
    begin, finish = inputs.window(start, end)
    options = provider_options(provider, symbols, option, file, preset, session)
    from candleflow.validation import sidecar

    total = len(symbols) * len(steps(begin, finish, timeframe))
    if not _cpu_bound(provider):
        sidecar.helper(total)  # importing GX on the other core from now on (if worth it)
    from candleflow.cli import warehouse
    from candleflow.cli.progress import Progress
    from candleflow.providers import get_provider
    from candleflow.services.sync import sync_many

    url = warehouse.ready()
    # One chunk on one provider connection: fetches run ahead of validation and loading,
    # each step (STEP_BARS bars) of each symbol is one load, a failure stops only its symbol.
    with get_provider(provider, **options) as prov, Progress("sync", total) as progress:

        def step(symbol: str, lo: dt.datetime, hi: dt.datetime, audit: dict | None) -> None:
            progress.step(_label(symbol, lo, hi), audit["rows_fetched"] if audit else 0)

        chunk = sync_many(
            symbols, timeframe, begin, finish, provider=prov, url=url,
            reject_threshold=reject_threshold, slice_bars=STEP_BARS, on_slice=step,
        )  # fmt: skip
    failed = [r for r in chunk.symbols if r.error is not None]
    if as_json:
        typer.echo(json.dumps({"timeframe": timeframe, "symbols": _records(chunk.symbols)}))
    for result in chunk.symbols:
        if result.error is not None:
            typer.echo(f"{result.symbol}: FAILED: {result.error}", err=True)
        elif not as_json:
            totals = Counter(result.counts)
            outcomes = Counter([result.outcome])
            typer.echo(_summary(result.symbol, timeframe, totals, outcomes, result.duration_s))
    if failed:
        raise typer.Exit(1)


def _records(results: list) -> list[dict]:
    """Each symbol's counts, outcome and error as ``load_audit`` names them."""
    return [{**r.as_dict(), "error": None if r.error is None else str(r.error)} for r in results]
