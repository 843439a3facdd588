"""Assets, declared once: producers and consumers import them from here.

Each OHLCV DAG updates the asset of its timeframe; the rollup DAG and BI refreshes can
schedule on them. URIs name the warehouse table, not a file.
"""

from __future__ import annotations

from airflow.sdk import Asset

TICKS = Asset("candleflow://warehouse/ticks", group="candleflow")
INSTRUMENTS = Asset("candleflow://warehouse/instruments", group="candleflow")


def bars_asset(timeframe: str) -> Asset:
    """The asset a load of ``timeframe`` bars updates."""
    return Asset(f"candleflow://warehouse/bars/{timeframe}", group="candleflow")
