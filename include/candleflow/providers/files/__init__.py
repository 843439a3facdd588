"""Vendor files: bar and tick dumps (CSV, gzip, zip, parquet, feather, JSON).

``mapping`` names the columns of each vendor layout (the presets), ``detect`` guesses one,
``formats`` opens the containers, ``csv_text`` parses CSV with line-accurate errors,
``readers`` turns raw columns into numbers and UTC timestamps, and ``provider`` holds the
``IDataProvider``.
"""

from __future__ import annotations

from candleflow.providers.files.detect import detect_mapping
from candleflow.providers.files.mapping import PRESETS, FileMapping, preset
from candleflow.providers.files.provider import FileProvider, FileSource
from candleflow.providers.files.readers import read_bars, read_ticks

__all__ = [
    "PRESETS",
    "FileMapping",
    "FileProvider",
    "FileSource",
    "detect_mapping",
    "preset",
    "read_bars",
    "read_ticks",
]
