"""candleflow ticks stream, candleflow ticks import and candleflow rollup.

Plain functions with Typer annotations, registered in candleflow.cli. Each is one call
into services.ticks.jobs or services.ticks.imports; the run id of a command run is
cli__<UTC time> so its rows (ticks, rejects, bars) can be traced. Each migrates the embedded
warehouse first when it needs it (candleflow.cli.warehouse) and ends with one line of counts,
or with --json the counts as one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from candleflow.cli import inputs
from candleflow.cli.inputs import JsonOpt

log = logging.getLogger(__name__)


def _run_id() -> str:
    return "cli__" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ticks_stream(
    symbols: Annotated[
        list[str], typer.Argument(help="Symbols as EXCHANGE:TICKER.", callback=inputs.symbols)
    ],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Most ticks per micro-batch.")] = 5000,
    flush_interval: Annotated[float, typer.Option(help="Seconds between commits.")] = 0.5,
    late_after_hours: Annotated[
        float, typer.Option(help="Reject ticks this far behind the clock as late (0: never).")
    ] = 168.0,
    wait: Annotated[
        bool, typer.Option(help="Wait for another collector of these symbols to finish.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Collect live quote ticks into the warehouse; SIGTERM or Ctrl-C flushes and stops.
    One collector per symbol: a second one fails at once (or waits, with --wait)."""
    from candleflow.cli import warehouse
    from candleflow.cli.progress import Progress
    from candleflow.services.ticks.jobs import capture_ticks
    from candleflow.validation.ticks import TickRules

    late = dt.timedelta(hours=late_after_hours) if late_after_hours > 0 else None
    url = warehouse.ready()
    names = ",".join(symbols)
    with Progress("ticks stream", None, unit="ticks") as progress:
        counts = capture_ticks(
            symbols,
            run_id=_run_id(),
            url=url,
            duration=duration,
            batch_size=batch_size,
            flush_interval=flush_interval,
            handle_signals=True,
            lock_wait=None if wait else 0.0,
            rules=TickRules(late_after=late),
            on_progress=lambda stats: progress.show(
                f"{names} ({stats.inserted:,} stored, {stats.rejected:,} rejected)", stats.read
            ),
        )
        progress.show(f"{names} ({counts['inserted']:,} stored)", counts["read"])
    _print(
        counts,
        as_json,
        f"{', '.join(symbols)}: {counts['read']} ticks read, {counts['inserted']} stored, "
        f"{counts['duplicates']} duplicates, {counts['rejected']} rejected "
        f"({counts['seconds']:.1f}s)",
    )


def _print(counts: dict, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(counts) if as_json else text)


def ticks_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Tick file (CSV, JSON, parquet; .gz/.zip ok)."
        ),
    ],
    symbol: Annotated[
        str, typer.Option(help="Instrument as EXCHANGE:TICKER.", callback=inputs.symbol)
    ],
    preset: Annotated[
        str | None,
        typer.Option(help="Vendor layout, e.g. freqtrade_trades_json, lean_tick_trade, truefx."),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help='A JSON mapping, e.g. {"preset": "histdata", "timezone": "UTC"}.'),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Timezone of naive timestamps (overrides the preset).")
    ] = None,
    max_future_hours: Annotated[
        float, typer.Option(help="Reject ticks more than this far in the future.")
    ] = 24.0,
    as_json: JsonOpt = False,
) -> None:
    """Import a tick file. The canonical CSV (ts,price,size[,bid,ask,day_volume]) needs no
    options; other layouts are detected or named with --preset / --mapping."""
    if preset and mapping:
        raise typer.BadParameter("give --preset or --mapping, not both", param_hint="--mapping")
    spec = _mapping(mapping) if mapping else ({"preset": preset} if preset else None)
    if timezone:
        if spec is None:
            raise typer.BadParameter("--timezone needs --preset or --mapping")
        spec["timezone"] = timezone
    from candleflow.cli import warehouse
    from candleflow.cli.progress import Progress
    from candleflow.services.ticks.imports import import_ticks
    from candleflow.validation.ticks import TickRules

    # An explicit import is never "late": its ticks rebuild whatever bars they fall in.
    rules = TickRules(max_future=dt.timedelta(hours=max_future_hours), late_after=None)
    url = warehouse.ready()
    with Progress(f"import {file.name}", None, unit="ticks") as progress:
        result = import_ticks(file, symbol, mapping=spec, run_id=_run_id(), rules=rules, url=url)
        progress.step(symbol, result.received)
    counts = dict(result.__dict__)
    _print(
        counts,
        as_json,
        f"{symbol}: {counts['received']} ticks read from {file.name}, {counts['inserted']} "
        f"stored, {counts['duplicates']} duplicates, {counts['rejected']} rejected",
    )


def _mapping(text: str) -> dict:
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"not JSON ({exc}); expected an object", param_hint="--mapping"
        ) from None
    if not isinstance(spec, dict):
        raise typer.BadParameter(f"{text!r}; expected a JSON object", param_hint="--mapping")
    return spec


def rollup(
    start: Annotated[
        str | None,
        typer.Option(help="Rebuild from this time, ISO-8601 (UTC if no offset); re-marks it."),
    ] = None,
    end: Annotated[str | None, typer.Option(help="Rebuild up to this time (exclusive).")] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option(help="Only these symbols (repeatable).", callback=inputs.symbols),
    ] = None,
    fill: Annotated[bool, typer.Option(help="Emit flat filled bars for empty intervals.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Roll stored ticks into 1m/5m/15m/1h/1d bars (source 'rollup'): only intervals with
    new or late ticks, only closed ones."""
    lo = inputs.timestamp(start, "--start") if start is not None else None
    hi = inputs.timestamp(end, "--end") if end is not None else None
    if lo is not None and hi is not None:
        inputs.window(start, end)  # type: ignore[arg-type]
    from candleflow.cli import warehouse
    from candleflow.cli.progress import Progress
    from candleflow.services.ticks.jobs import run_rollup

    url = warehouse.ready()
    with Progress("rollup", None) as progress:
        counts = run_rollup(run_id=_run_id(), symbols=symbol, start=lo, end=hi, fill=fill, url=url)
        progress.step("closed intervals", _total(counts["built"]))
    per_tf = ", ".join(f"{tf} {n}" for tf, n in counts["built"].items() if n) or "nothing to build"
    _print(
        counts,
        as_json,
        f"rolled up {_total(counts['built'])} bars ({per_tf}): {_total(counts['inserted'])} "
        f"inserted, {_total(counts['updated'])} updated ({counts['seconds']:.2f}s)",
    )


def _total(per_timeframe: dict[str, int] | int) -> int:
    """The sum of a count kept per timeframe (``BarManager``'s ``built``, ``inserted``...)."""
    return sum(per_timeframe.values()) if isinstance(per_timeframe, dict) else int(per_timeframe)
