"""Instruments: resolve the watchlist's symbols through the provider into ``instruments``.

Daily from the start (not paused when first parsed: its first run resolves the watchlist at
once), and on demand (trigger it after editing the watchlist). Each symbol's exchange,
description, type, currency, timezone, session and price scale are stored; the OHLCV DAGs,
validation and the BarManager read the timezone and session from there. This run always asks
the provider (the OHLCV loads only ask for symbols missing or confirmed more than a day ago),
and writes a row only when a value changed, besides stamping ``last_seen``. A re-run only
refreshes the rows. One failing symbol does not stop the others: they are all stored, then the
task fails naming the failures: at once when no retry can help (an unknown symbol, a rejected
token), with retries when one may (a timeout).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, dag, task

from candleflow import watchlist
from candleflow.airflow.assets import INSTRUMENTS
from candleflow.airflow.dags.defaults import OPS_START, default_args
from candleflow.airflow.failures import fails_permanently

DEFAULT_ARGS = default_args(delay=dt.timedelta(minutes=1))


def build(wl: watchlist.Watchlist) -> DAG:
    """The ``instruments_sync`` DAG (wiring only; the work is in candleflow.services)."""

    @dag(
        schedule="@daily",
        start_date=OPS_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["candleflow", "instruments"],
        is_paused_upon_creation=False,  # one resolve per symbol a day
        doc_md=__doc__,
    )
    def instruments_sync():
        @task(
            outlets=[INSTRUMENTS],
            pool="tradingview" if wl.provider == "tradingview" else "default_pool",
        )
        @fails_permanently
        def resolve_instruments() -> dict:
            from candleflow.airflow import lineage
            from candleflow.airflow.connections import provider_options, warehouse_url
            from candleflow.services.instruments import resolve_and_store

            url = warehouse_url()
            result = resolve_and_store(
                list(wl.symbols),
                provider=wl.provider,
                provider_options=provider_options(wl.provider, wl.provider_options),
                url=url,
            )
            lineage.instruments(result, url, wl.provider, wl.provider_options)
            return result

        resolve_instruments()

    return instruments_sync()
