"""``candleflow ticks stream``, ``candleflow ticks import`` and ``candleflow rollup``.

Plain functions with Typer annotations; the lead registers them in ``candleflow.cli``.
Each is one call into services.ticks.jobs or services.ticks.imports; the run id of a
command run is cli__<UTC time> so its rows (ticks, rejects, bars) can be traced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _run_id() -> str:
    return "cli__" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ticks_stream(
    symbols: Annotated[list[str], typer.Argument(help="Symbols as EXCHANGE:TICKER.")],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Most ticks per micro-batch.")] = 5000,
    flush_interval: Annotated[float, typer.Option(help="Seconds between commits.")] = 0.5,
) -> None:
    """Collect live quote ticks into the warehouse; SIGTERM or Ctrl-C flushes and stops."""
    from candleflow.services.ticks.jobs import capture_ticks

    counts = capture_ticks(
        symbols,
        run_id=_run_id(),
        duration=duration,
        batch_size=batch_size,
        flush_interval=flush_interval,
        handle_signals=True,
    )
    typer.echo(json.dumps(counts))


def ticks_import(
    file: Annotated[Path, typer.Argument(help="Tick file (CSV, JSON, parquet; .gz/.zip ok).")],
    symbol: Annotated[str, typer.Option(help="Instrument as EXCHANGE:TICKER.")],
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
    lookback_hours: Annotated[
        float, typer.Option(help="Reject ticks this far behind the rollup watermark as late.")
    ] = 24.0,
) -> None:
    """Import a tick file. The canonical CSV (ts,price,size[,bid,ask,day_volume]) needs no
    options; other layouts are detected or named with --preset / --mapping."""
    from candleflow.services.ticks.imports import import_ticks
    from candleflow.validation.ticks import TickRules

    if preset and mapping:
        raise typer.BadParameter("give --preset or --mapping, not both", param_hint="--mapping")
    spec: dict | None = json.loads(mapping) if mapping else ({"preset": preset} if preset else None)
    if timezone:
        if spec is None:
            raise typer.BadParameter("--timezone needs --preset or --mapping")
        spec["timezone"] = timezone
    rules = TickRules(
        max_future=dt.timedelta(hours=max_future_hours), lookback=dt.timedelta(hours=lookback_hours)
    )
    result = import_ticks(file, symbol, mapping=spec, run_id=_run_id(), rules=rules)
    typer.echo(json.dumps(result.__dict__))


def rollup(
    start: Annotated[
        dt.datetime | None, typer.Option(help="Rebuild from this UTC time (re-marks the window).")
    ] = None,
    end: Annotated[dt.datetime | None, typer.Option(help="Rebuild up to this UTC time.")] = None,
    symbol: Annotated[
        list[str] | None, typer.Option(help="Only these symbols (repeatable).")
    ] = None,
    fill: Annotated[bool, typer.Option(help="Emit flat filled bars for empty intervals.")] = False,
) -> None:
    """Roll stored ticks into 1m/5m/15m/1h/1d bars (source 'rollup'): only intervals with
    new or late ticks, only closed ones."""
    from candleflow.services.ticks.jobs import run_rollup

    def utc(value: dt.datetime | None) -> dt.datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=dt.UTC)

    counts = run_rollup(run_id=_run_id(), symbols=symbol, start=utc(start), end=utc(end), fill=fill)
    typer.echo(json.dumps(counts))
