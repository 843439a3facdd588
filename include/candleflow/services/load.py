"""Store one slice of one series: rejects, bars, watermark and audit row, in one transaction.

What every sync is made of (``services.sync`` for one symbol, ``services.chunk`` for many):
the slice has been fetched (``services.window.fetch_slice``, which keeps the bars that closed
in it) and judged by its batch's validation (``services.batches``); ``store_slice`` writes the
rejects (keyed by provider and the slice's window, so a retry keeps one copy), the valid bars,
the watermark and the ``load_audit`` row in **one transaction** on the caller's connection,
so a failed load leaves nothing of the slice visible. Above the reject threshold nothing but
the rejects and the audit row is written, and ``ValidationFailed`` is raised. A slice that
failed before it could be stored (a fetch, a resolve) gets its ``failed`` audit row from
``audit_failure``; the caller decides what to raise.

The provider's lookback window: a provider that serves only the newest N bars of a series
(TradingView's plans) sets ``frame.attrs["reachable_start"]``, the oldest bar it can serve.
A slice wholly older than that is audited ``out_of_window`` (not a success, not a failure),
with the bars it should have held counted in ``rows_out_of_reach``; a slice that straddles it
loads what is reachable and counts the rest there too. The series' ``sync_state`` keeps the
reachable start, so freshness and coverage can tell "not loaded" from "out of reach".
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from candleflow.domain import (
    DEFAULT_JUMP_THRESHOLD,
    DEFAULT_REJECT_THRESHOLD,
    UTC,
    Instrument,
    Timeframe,
)
from candleflow.errors import ValidationFailed
from candleflow.services import window

log = logging.getLogger(__name__)

_COUNTS = ("rows_fetched", "rows_valid", "rows_rejected", "rows_flagged", "rows_inserted")
_COUNTS += ("rows_updated", "rows_unchanged")


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """What every slice of one sync shares: the run, the warehouse, the thresholds."""

    run_id: str
    url: str
    now: dt.datetime
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD
    slice_bars: int | None = window.DEFAULT_SLICE_BARS
    clear_number: int | None = None  # the Airflow run's clear count: a clear redoes everything
    # A scheduled run's interval start: the run also loads each series from its watermark up
    # to here (``services.catchup``); slices ending by it are audited ``catch_up``.
    catch_up_to: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not 0 <= float(self.reject_threshold) <= 1:
            raise ValueError(
                f"reject_threshold must be within [0, 1], got {self.reject_threshold!r}"
            )


def _audit(symbol, tf, provider, start, end, settings, **values) -> dict[str, Any]:
    return {
        "run_id": settings.run_id,
        "clear_number": settings.clear_number,
        "instrument_id": None,
        "symbol": symbol,
        "timeframe": tf.name,
        "provider": provider,
        "window_start": start,
        "window_end": end,
        "started_at": dt.datetime.now(UTC),
        "outcome": "failed",
        "catch_up": settings.catch_up_to is not None and end <= settings.catch_up_to,
        **values,
    }


def audit_failure(conn, symbol, tf, provider, start, end, settings, exc, clock, instrument_id):
    """Record a slice that failed before it could be validated (fetch, resolve)."""
    from candleflow.db.audit import AuditRecord, write_audit

    audit = _audit(symbol, tf, provider, start, end, settings, instrument_id=instrument_id)
    audit.update(error=f"{type(exc).__name__}: {exc}", duration_s=time.perf_counter() - clock)
    with conn:
        write_audit(conn, AuditRecord(**audit))


def store_slice(
    conn,
    piece: window.Slice,
    instrument: Instrument,
    instrument_id: int,
    tf: Timeframe,
    settings: LoadSettings,
    *,
    provider: str,
    clock: float,
    validated: Any = None,
) -> dict[str, Any]:
    """Load the slice's bars (what closed in it) as ``validated`` judged them; the audit row.

    ``validated`` is the slice's ``ValidationResult`` from its batch (``services.batches``:
    one Great Expectations run for many slices); only a slice without bars may come without.
    """
    from candleflow.db import partitions
    from candleflow.db.audit import AuditRecord, advance_watermark, record_reach, write_audit
    from candleflow.db.bars import upsert_bars
    from candleflow.db.locks import lock_series
    from candleflow.db.rejects import write_rejected_bars
    from candleflow.services import action_checks

    symbol, bars, start, end = instrument.symbol, piece.bars, piece.start, piece.end
    audit = _audit(symbol, tf, provider, start, end, settings, instrument_id=instrument_id)
    reachable = bars.attrs.get("reachable_start")
    missing = window.out_of_reach(instrument, tf, piece, reachable, settings.now)
    if bars.empty:  # a night, a weekend, a window out of reach: nothing to judge or load
        return _store_empty(
            conn, audit, tf, instrument, instrument_id, reachable, missing, clock, bars
        )
    if validated is None:
        raise ValueError(f"{symbol} {tf}: a slice with bars is stored with its validation")
    result = validated
    batch = result.summary["gx_batch"]  # this slice's share of its batch's validation time
    validate_s = result.summary["timing"]["seconds"] / batch["windows"]
    audit.update(
        rows_fetched=len(bars),
        rows_valid=len(result.valid),
        rows_rejected=len(result.rejected),
        rows_flagged=len(result.flagged),
        rows_out_of_reach=missing,
        validation={"summary": result.summary, "gx_result": result.gx_result},
    )
    failure: ValidationFailed | None = None
    loading = time.perf_counter()
    # a backfill of old history: its partitions first, outside the load's transaction
    partitions.cover(conn, f"bars_{tf.name}", partitions.months_of(result.valid["ts"]))
    audit["actions_recorded"] = action_checks.store_apart(
        conn, instrument_id, instrument, bars, provider=provider, run_id=settings.run_id
    )
    with conn:
        lock_series(conn, instrument_id, tf.name)  # serialises overlapping windows of a series
        write_rejected_bars(
            conn,
            result.rejected,
            instrument_id=instrument_id,
            symbol=symbol,
            timeframe=tf.name,
            run_id=settings.run_id,
            provider=provider,
            window=(start, end),
        )
        if len(bars) and result.rejected_share > float(settings.reject_threshold):
            failure = ValidationFailed(
                f"{symbol} {tf} ({start:%Y-%m-%dT%H:%MZ}, {end:%Y-%m-%dT%H:%MZ}]: "
                f"{len(result.rejected)} of {len(bars)} bars rejected "
                f"({result.rejected_share:.1%} > {float(settings.reject_threshold):.1%}); "
                "nothing loaded, see candleflow.rejected_bars"
            )
            audit.update(outcome="rejected", error=str(failure))
        else:
            counts = upsert_bars(conn, instrument_id, tf.name, result.valid, run_id=settings.run_id)
            audit.update(
                rows_inserted=counts.inserted,
                rows_updated=counts.updated,
                rows_unchanged=counts.unchanged,
                outcome="success",
            )
            if len(result.valid):
                last = result.valid["ts"].max().to_pydatetime()
                advance_watermark(conn, instrument_id, tf.name, last, run_id=settings.run_id)
            if reachable is not None:
                record_reach(conn, instrument_id, tf.name, reachable)
        audit["duration_s"] = time.perf_counter() - clock
        write_audit(conn, AuditRecord(**audit))
    # step timings for metrics (not audit columns, so added after the row is written)
    audit.update(validate_s=validate_s, load_s=time.perf_counter() - loading)
    audit["docs_s"] = _data_docs(result, settings.run_id, symbol, tf, start, end)
    _log(audit, tf, reachable)
    if failure is not None:
        failure.audit = audit  # the chunk's result keeps the rejected window's rules
        raise failure
    return audit


def _data_docs(result, run_id, symbol, tf, start, end) -> float:
    """Render the slice's Data Docs page from the result in hand (``validation.docs``) and
    queue it for the store (``db.docs_store``: written off the load's path, the chunk's end
    waits for it); the seconds this took. A page that cannot be written is logged, never a
    failed load."""
    from candleflow.db import docs_store
    from candleflow.validation import docs

    began = time.perf_counter()
    page = docs.render(result, run_id=run_id, symbol=symbol, timeframe=tf.name)
    docs_store.write_later(
        page, run_id=run_id, symbol=symbol, timeframe=tf.name, start=start, end=end
    )
    return time.perf_counter() - began


def _store_empty(
    conn, audit, tf, instrument, instrument_id, reachable, missing, clock, bars
) -> dict[str, Any]:
    """The audit row (and the reach) of a slice in which no bar closed.

    Validation is skipped, not passed (``load_audit.validation`` stays NULL): there is no row
    to judge, and a Great Expectations run costs as much for zero rows as for one, which at
    night (every equity's hourly window empty) was most of an hourly run's work.
    """
    from candleflow.db.audit import AuditRecord, record_reach, write_audit
    from candleflow.services import action_checks

    out_of_window = reachable is not None and audit["window_end"] <= reachable
    audit.update(dict.fromkeys(_COUNTS, 0), rows_out_of_reach=missing)
    audit["outcome"] = "out_of_window" if out_of_window else "success"
    loading = time.perf_counter()
    audit["actions_recorded"] = action_checks.store_apart(
        conn, instrument_id, instrument, bars, provider=audit["provider"], run_id=audit["run_id"]
    )
    with conn:
        if reachable is not None:
            record_reach(conn, instrument_id, tf.name, reachable)
        audit["duration_s"] = time.perf_counter() - clock
        write_audit(conn, AuditRecord(**audit))
    audit.update(validate_s=0.0, load_s=time.perf_counter() - loading)
    _log(audit, tf, reachable)
    return audit


def _log(audit: dict[str, Any], tf: Timeframe, reachable) -> None:
    if audit["outcome"] == "out_of_window":
        log.warning(
            "out of window: %s %s (%s, %s] is older than the provider's reachable history"
            " (from %s): %d bars out of reach, nothing to load",
            audit["symbol"],
            tf,
            audit["window_start"],
            audit["window_end"],
            reachable,
            audit["rows_out_of_reach"],
        )
        return
    if audit["rows_out_of_reach"]:
        log.warning(
            "partly out of reach: %s %s (%s, %s]: %d bars before %s cannot be served",
            audit["symbol"],
            tf,
            audit["window_start"],
            audit["window_end"],
            audit["rows_out_of_reach"],
            reachable,
        )
    log.info(
        "loaded %s %s (%s, %s]: %d fetched, %d inserted, %d updated, %d unchanged, %d rejected,"
        " %d flagged (%s)",
        audit["symbol"],
        tf,
        audit["window_start"],
        audit["window_end"],
        audit["rows_fetched"],
        audit.get("rows_inserted", 0),
        audit.get("rows_updated", 0),
        audit.get("rows_unchanged", 0),
        audit["rows_rejected"],
        audit["rows_flagged"],
        audit["outcome"],
    )
