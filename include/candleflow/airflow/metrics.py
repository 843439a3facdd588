"""Candleflow's counters, gauge and timings, sent through Airflow's own ``Stats``.

Why Airflow's: its ``[metrics]`` settings (``statsd_on``, ``otel_on``,
``statsd_datadog_enabled``, host, port, prefix, allow and block lists) then govern ours too,
so pointing Airflow at a StatsD server or an OpenTelemetry collector is all it takes
(``docs/lineage.md``); with none on, ``Stats`` is Airflow's no-op logger.

Every metric is tagged ``timeframe`` and ``provider`` where it has them. A plain StatsD server
has no tags (Airflow drops them unless ``statsd_influxdb_enabled``), so there each value is
also sent under a name that ends with them, ``candleflow.bars.inserted.tradingview.1h``,
while the plain name carries the total. The metrics (counts of one task run each):

- ``candleflow.bars.fetched|inserted|updated|rejected``: rows fetched from the provider, new
  and changed rows written to ``bars``, rows written to ``rejected_bars`` (a window rejected
  whole counts: its rows were fetched and its rejects stored); the sums of ``load_audit``.
  The rollup counts its bars as provider ``rollup``.
- ``candleflow.ticks.stored|rejected``: quote ticks written to ``ticks`` / ``rejected_ticks``.
- ``candleflow.freshness.lag_seconds`` (gauge): per timeframe, how far the stalest series'
  newest bar is behind the newest bar its calendar expects (0 when all are fresh).
- ``candleflow.sync.fetch|validate|load`` (timings, ms): per symbol and run.

A metric that cannot be sent is logged, never raised: metrics never fail a load.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec

if TYPE_CHECKING:
    from candleflow.services.results import ChunkResult

log = logging.getLogger(__name__)

P = ParamSpec("P")


def never_raises(func: Callable[P, None]) -> Callable[P, None]:
    """Metrics never fail a load: an error sending them is logged and dropped."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:  # logged with its traceback, then dropped
            log.warning("could not send the %s metrics", func.__name__, exc_info=True)

    return wrapper


@never_raises
def chunk(result: ChunkResult) -> None:
    """The counts of one chunk task, and each validated symbol's step timings."""
    tags = {"provider": result.provider, "timeframe": result.timeframe}
    totals = result.totals()
    _counts(
        "bars",
        {
            "fetched": sum(r.quality.rows_fetched for r in result.symbols),
            "inserted": totals["rows_inserted"],
            "updated": totals["rows_updated"],
            "rejected": sum(r.quality.rows_rejected for r in result.symbols),
        },
        tags,
    )
    for r in result.symbols:
        if r.quality.rules:  # validated: its steps ran
            for step, seconds in r.quality.seconds.items():
                _send("timing", f"candleflow.sync.{step}", dt.timedelta(seconds=seconds), tags)


@never_raises
def rollup(result: Mapping[str, Any]) -> None:
    """The bars one rollup wrote, per timeframe (provider ``rollup``)."""
    inserted, updated = result.get("inserted") or {}, result.get("updated") or {}
    for tf in dict.fromkeys([*inserted, *updated]):
        counts = {"inserted": inserted.get(tf, 0), "updated": updated.get(tf, 0)}
        _counts("bars", counts, {"provider": "rollup", "timeframe": tf})


@never_raises
def ticks(result: Mapping[str, Any], provider: str = "tradingview") -> None:
    """The ticks one capture stored and rejected."""
    counts = {"stored": result.get("inserted", 0), "rejected": result.get("rejected", 0)}
    _counts("ticks", counts, {"provider": provider})


@never_raises
def freshness_lag(lags: Mapping[str, float]) -> None:
    """``freshness.lag_seconds`` per timeframe (``services.freshness.check_freshness``)."""
    for tf, seconds in lags.items():
        _send("gauge", "candleflow.freshness.lag_seconds", float(seconds), {"timeframe": tf})


def _counts(kind: str, counts: Mapping[str, int], tags: dict[str, str]) -> None:
    for name, value in counts.items():
        _send("incr", f"candleflow.{kind}.{name}", int(value), tags)


def _send(method: str, name: str, value: Any, tags: dict[str, str]) -> None:
    send = getattr(_stats(), method)
    send(name, value, tags=tags)
    if _tags_dropped():
        send(".".join([name, *tags.values()]), value)


def _stats() -> Any:
    """Airflow's ``Stats`` as a task process sets it up (``airflow.sdk`` since Airflow 3.2)."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # older Airflow 3
        from airflow.stats import Stats
    return Stats


@functools.cache
def _tags_dropped() -> bool:
    """True for a plain StatsD backend, which sends no tags."""
    from airflow.sdk.configuration import conf

    def on(key: str) -> bool:
        return conf.getboolean("metrics", key, fallback=False)

    return (
        on("statsd_on") and not on("statsd_datadog_enabled") and not on("statsd_influxdb_enabled")
    )
