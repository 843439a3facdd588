"""Former home of the bar upsert; the bar writer is ``candleflow.db.bars``.

Kept so that ``from candleflow.db.upsert import upsert_bars, lock_series`` keeps working for
callers not yet switched (the sync service); nothing here writes on its own.
"""

from __future__ import annotations

from candleflow.db.bars import BAR_STAGE_COLUMNS, SOURCES, LoadCounts, upsert_bars
from candleflow.db.locks import lock_series, series_key

series_lock_key = series_key

__all__ = [
    "BAR_STAGE_COLUMNS",
    "SOURCES",
    "LoadCounts",
    "lock_series",
    "series_lock_key",
    "upsert_bars",
]
