"""Benchmark: the warehouse at scale: compressed closed months, the open month's row, export.

Why: a bar costs 230 B as a plain row (``bench_storage.py``), which makes 10,000 instruments
x 10 years of 1m bars 2-11 TiB. This measures what the partitioned, compressed layout will
store and read, each figure beside a same-run anchor. Parts (``CANDLEFLOW_BENCH_SCALE_PARTS``,
comma-separated, default all):

- ``closed``: bytes per bar of compressed segments (``candleflow.bar_segments``: heap + TOAST
  + index), on the replay server's series (months of 1m bars, provenance of 15-minute loads)
  and, reported apart, on the real 1m files of ``../shared/data`` (each file's bars stored as
  40 instruments so that per-table overheads do not count); per column, and the arrays under
  lz4 (estimated with python-lz4's block format, what PostgreSQL's lz4 uses). Anchor: the
  replay bars as plain rows of ``candleflow.bars``.
- ``open``: bytes per bar of the candidate rows for the open month (``scale_rows.py``).
- ``read``: one symbol-year of 1m bars (24x7, 527,040 bars) read as plain rows (the query
  module's series read over ADBC) against the same bars compressed (``query.compressed``:
  segments over ADBC, numpy decode) and against the SQL decoder (``candleflow.compressed_bars``).
- ``export``: ``candleflow.query.export.export_parquet`` of ``CANDLEFLOW_BENCH_EXPORT_BARS``
  1m bars (default 2,000,000; the target is stated for 10,000,000) against a raw ADBC read of
  the same rows.
- ``scale``: ``CANDLEFLOW_BENCH_SCALE_SYMBOLS`` x ``CANDLEFLOW_BENCH_SCALE_BARS`` 1m bars
  (default 50 x 20,000 = 1M; the full scenario is 1,000 x 100,000 = 100M) loaded through
  the bar writer (one transaction per symbol and 200,000-bar slice, as history backfills
  load) against a raw binary COPY of the same rows (on at most 10M of them); an hourly run
  (60 new bars per symbol, one transaction each) into that warehouse against an empty one; a
  BI query (daily OHLCV of every symbol for one month from ``analytics.daily_bars``); then
  every closed month compressed: time and total size before and after.

Writes ``benchmarks/results/scale.json`` and prints it.

    .venv/bin/python benchmarks/bench_scale.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness
import scale_closed
import scale_rows
import scale_speed

from candleflow.db import connection

PARTS = os.environ.get("CANDLEFLOW_BENCH_SCALE_PARTS", "closed,open,read,export,scale").split(",")
OPEN_ROWS = int(os.environ.get("CANDLEFLOW_BENCH_OPEN_ROWS", "1000000"))


def main() -> None:
    result: dict = {"parts": PARTS, "started": dt.datetime.now(dt.UTC).isoformat()}
    steps = {
        "closed": scale_closed.run,
        "open": lambda url: _open(url),
        "read": scale_speed.read_year,
        "export": scale_speed.export,
        "scale": scale_speed.scale,
    }
    for part in PARTS:
        began = time.perf_counter()
        name = f"cf_bench_scale_{part}"
        url = harness.fresh_database(name)
        try:
            result[part] = steps[part](url)
        finally:
            harness.drop_database(name)
        result[part]["elapsed_s"] = round(time.perf_counter() - began, 1)
        print(f"== {part}: {result[part]['elapsed_s']}s", flush=True)
    merged = {**harness.previous("scale"), **result}  # a part run alone keeps the others
    harness.write("scale", merged)


def _open(url: str) -> dict:
    conn = connection.connect(url, autocommit=True)
    try:
        return {"candidates": scale_rows.measure(conn, OPEN_ROWS, 100)}
    finally:
        conn.close()


if __name__ == "__main__":
    main()
