"""Instruments: resolve the watchlist's symbols through the provider into ``instruments``.

Daily, and on demand (trigger it after editing the watchlist). Each symbol's exchange,
description, type, currency, timezone, session and price scale are upserted; the OHLCV
DAGs and the BarManager read the timezone and session from there. A re-run only refreshes
the rows. One unknown symbol does not stop the others: they are all stored, then the task
fails naming the symbols the provider did not know.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag

from candleflow import watchlist
from candleflow.airflow.operators import SyncInstrumentsOperator
from candleflow.assets import INSTRUMENTS

WATCHLIST = watchlist.load()

DEFAULT_ARGS = {
    "owner": "candleflow",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
}


@dag(
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["candleflow", "instruments"],
    doc_md=__doc__,
)
def instruments_sync():
    SyncInstrumentsOperator(
        task_id="resolve_instruments",
        symbols=list(WATCHLIST.symbols),
        provider=WATCHLIST.provider,
        provider_options=WATCHLIST.provider_options,
        pool="tradingview" if WATCHLIST.provider == "tradingview" else "default_pool",
        outlets=[INSTRUMENTS],
    )


instruments_sync()
