"""``sync``: fetch, validate and load one instrument's window, in one transaction.

The command behind every OHLCV DAG task and ``candleflow sync``. Its contract:
- the window is ``[start, end)``; only complete bars are loaded;
- rows that fail validation go to ``rejected_bars`` with their rules, the rest load;
- when the rejected share passes ``reject_threshold`` the window fails: nothing of it
  loads, the rejects and an audit row are still recorded, ``ValidationFailed`` is raised;
- a fetch that fails is audited as ``failed`` and re-raised (transient faults retry);
- re-running a window converges to the same rows and rewrites nothing unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from candleflow.db import connection
from candleflow.domain import UTC, Instrument, Timeframe
from candleflow.errors import ValidationFailed
from candleflow.providers import Capability, IDataProvider, get_provider
from candleflow.providers.base import to_utc
from candleflow.services.instruments import ensure_instrument, load_instrument

log = logging.getLogger(__name__)

DEFAULT_REJECT_THRESHOLD = 0.05


def sync(
    symbol: str,
    timeframe: str | Timeframe,
    start: dt.datetime | str,
    end: dt.datetime | str,
    *,
    provider: str | IDataProvider = "tradingview",
    provider_options: dict[str, Any] | None = None,
    run_id: str | None = None,
    url: str | None = None,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    jump_threshold: float | None = 0.5,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Load ``symbol``'s ``timeframe`` bars of ``[start, end)``; returns the audit record."""
    from candleflow.db.audit import AuditRecord, write_audit

    tf = Timeframe.parse(timeframe)
    start, end = to_utc(start, name="start"), to_utc(end, name="end")
    now = to_utc(now) if now else dt.datetime.now(UTC)
    run_id = run_id or f"manual__{now.isoformat()}"
    if not 0 <= float(reject_threshold) <= 1:
        raise ValueError(f"reject_threshold must be within [0, 1], got {reject_threshold!r}")
    url = url or connection.warehouse_url()
    prov = get_provider(provider, **(provider_options or {}))
    audit: dict[str, Any] = {  # the load_audit row, filled in as the load goes
        "run_id": run_id,
        "instrument_id": None,
        "symbol": symbol,
        "timeframe": tf.name,
        "provider": prov.name,
        "window_start": start,
        "window_end": end,
        "started_at": dt.datetime.now(UTC),
        "outcome": "failed",
    }
    clock = time.perf_counter()
    try:
        instrument = _instrument(prov, symbol, url)
        bars = prov.fetch_bars(symbol, tf, start, end, now=now)
    except Exception as exc:  # audited, then re-raised unchanged: Airflow decides on retries
        audit["error"] = f"{type(exc).__name__}: {exc}"
        audit["duration_s"] = time.perf_counter() - clock
        with connection.transaction(url) as conn:
            write_audit(conn, AuditRecord(**audit))
        raise
    finally:
        if not isinstance(provider, IDataProvider):
            prov.close()
    return _validate_and_load(
        bars, instrument, tf, audit, url, reject_threshold, jump_threshold, now, clock
    )


def _instrument(prov: IDataProvider, symbol: str, url: str) -> Instrument:
    """What the provider says about the symbol, else what the warehouse knows, else defaults."""
    if Capability.RESOLVE in prov.capabilities:
        return prov.resolve(symbol)
    conn = connection.connect(url)
    try:
        stored = load_instrument(conn, symbol)
    finally:
        conn.close()
    return stored or Instrument(symbol=symbol, provider=prov.name)


def _validate_and_load(
    bars, instrument, tf, audit, url, reject_threshold, jump_threshold, now, clock
) -> dict[str, Any]:
    from candleflow.db.audit import AuditRecord, advance_watermark, write_audit
    from candleflow.db.upsert import lock_series, upsert_bars
    from candleflow.validation import validate_bars
    from candleflow.validation.rejects import record_rejects

    start, end, run_id = audit["window_start"], audit["window_end"], audit["run_id"]
    result = validate_bars(
        bars,
        instrument=instrument,
        timeframe=tf,
        start=start,
        end=end,
        now=now,
        jump_threshold=jump_threshold,
    )
    audit.update(
        rows_fetched=len(bars),
        rows_valid=len(result.valid),
        rows_rejected=len(result.rejected),
        rows_flagged=len(result.flagged),
        validation={"summary": result.summary, "gx_result": result.gx_result},
    )
    failure: ValidationFailed | None = None
    with connection.transaction(url) as conn:
        audit["instrument_id"] = instrument_id = ensure_instrument(conn, instrument)
        lock_series(conn, instrument_id, tf.name)  # serialises overlapping windows of a series
        record_rejects(
            conn,
            result.rejected,
            instrument_id=instrument_id,
            symbol=instrument.symbol,
            timeframe=tf.name,
            run_id=run_id,
        )
        if len(bars) and result.rejected_share > float(reject_threshold):
            failure = ValidationFailed(
                f"{instrument.symbol} {tf} [{start:%Y-%m-%dT%H:%MZ}, {end:%Y-%m-%dT%H:%MZ}): "
                f"{len(result.rejected)} of {len(bars)} bars rejected "
                f"({result.rejected_share:.1%} > {float(reject_threshold):.1%}); "
                "nothing loaded, see candleflow.rejected_bars"
            )
            audit.update(outcome="rejected", error=str(failure))
        else:
            counts = upsert_bars(conn, instrument_id, tf.name, result.valid, run_id=run_id)
            audit.update(
                rows_inserted=counts.inserted,
                rows_updated=counts.updated,
                rows_unchanged=counts.unchanged,
                outcome="success",
            )
            if len(result.valid):
                last = result.valid["ts"].max().to_pydatetime()
                advance_watermark(conn, instrument_id, tf.name, last, run_id=run_id)
        audit["duration_s"] = time.perf_counter() - clock
        write_audit(conn, AuditRecord(**audit))
    log.info(
        "loaded %s %s [%s, %s): %d fetched, %d inserted, %d updated, %d unchanged, %d rejected,"
        " %d flagged (%s)",
        instrument.symbol,
        tf,
        start,
        end,
        audit["rows_fetched"],
        audit.get("rows_inserted", 0),
        audit.get("rows_updated", 0),
        audit.get("rows_unchanged", 0),
        audit["rows_rejected"],
        audit["rows_flagged"],
        audit["outcome"],
    )
    if failure is not None:
        raise failure
    record = AuditRecord(**audit).as_dict()
    record.pop("validation", None)  # the full result stays in load_audit, not in XCom
    return record
