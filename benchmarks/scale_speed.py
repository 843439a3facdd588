"""Timed parts of ``bench_scale.py``: a compressed year's read, the export, the 100M scenario.

Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``). Each function takes a fresh
migrated database and returns its figures; times are the best of ``REPEAT`` runs where a
run is cheap enough to repeat, after a warm-up (every table is then in shared buffers).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import pyarrow as pa

from candleflow import query
from candleflow.db import bars as db_bars
from candleflow.db import compress, connection, segments
from candleflow.query import pool as query_pool
from candleflow.query.compressed import read_compressed
from candleflow.testing import synthetic

REPEAT = int(os.environ.get("CANDLEFLOW_BENCH_REPEAT", "5"))
EXPORT_BARS = int(os.environ.get("CANDLEFLOW_BENCH_EXPORT_BARS", "2000000"))
SCALE_SYMBOLS = int(os.environ.get("CANDLEFLOW_BENCH_SCALE_SYMBOLS", "50"))
SCALE_BARS = int(os.environ.get("CANDLEFLOW_BENCH_SCALE_BARS", "20000"))
ANCHOR_MAX = 10_000_000
SLICE = 200_000
UTC = dt.UTC
PLAIN_SQL = """
SELECT ts, open, high, low, close, volume FROM candleflow.bars
WHERE instrument_id = $1 AND timeframe = '1m' AND source = 'provider' AND ts >= $2 AND ts < $3
ORDER BY ts
"""
VIEW_SQL = """
SELECT ts, open, high, low, close, volume FROM candleflow.compressed_bars
WHERE instrument_id = $1 AND timeframe = '1m' AND source = 'provider' AND ts >= $2 AND ts < $3
"""


def _quiet() -> None:
    logging.getLogger("candleflow").setLevel(logging.WARNING)


def _instruments(conn, symbols: list[str]) -> dict[str, int]:
    ids = {}
    with conn.cursor() as cur:
        for symbol in symbols:
            exchange, ticker = symbol.split(":")
            tz = "America/New_York" if exchange in ("NASDAQ", "NYSE") else "Etc/UTC"
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (symbol, exchange, ticker, tz),
            )
            ids[symbol] = cur.fetchone()[0]
    return ids


def _best(work, repeat: int = REPEAT) -> float:
    work()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def read_year(url: str) -> dict:
    """A symbol-year of 1m bars: plain rows vs compressed segments (numpy and SQL decoders)."""
    _quiet()
    start, end = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)
    year = synthetic.bars("BINANCE:BTCUSDT", "1m", start, end)
    conn = connection.connect(url, autocommit=True)
    ids = _instruments(conn, ["BENCH:PLAIN", "BENCH:PACKED"])
    conn.autocommit = False
    for symbol in ("BENCH:PLAIN", "BENCH:PACKED"):  # both through the bar writer
        with conn:
            db_bars.upsert_bars(conn, ids[symbol], "1m", year, run_id="plain")
    for _, month in year.groupby(year["ts"].dt.month):  # what `candleflow db compress` does
        start_of = segments.segment_bounds("1m", month["ts"].iloc[0].to_pydatetime())[0]
        key = compress.SegmentKey(ids["BENCH:PACKED"], "1m", "provider", start_of)
        with conn:
            compress.compress_segment(conn, key, remove_rows=True)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars, candleflow.bar_segments")
    conn.close()
    read = query_pool.resolve(url)

    def timed(sql_text: str | None, iid: int) -> tuple[float, int]:
        def work(cursor):
            if sql_text is None:
                return read_compressed(cursor, iid, "1m", "provider", start, end)
            cursor.execute(sql_text, parameters=(iid, start, end))
            return cursor.fetch_arrow_table()

        rows = []
        seconds = _best(lambda: rows.append(len(query_pool.POOL.run(read, work))))
        return seconds, rows[-1]

    plain_s, n = timed(PLAIN_SQL, ids["BENCH:PLAIN"])
    packed_s, n2 = timed(None, ids["BENCH:PACKED"])
    view_s, n3 = timed(VIEW_SQL, ids["BENCH:PACKED"])
    assert n == n2 == n3 == len(year), (n, n2, n3, len(year))

    def through_query(symbol: str) -> tuple[float, int]:  # the real query.bars path
        rows = []
        seconds = _best(
            lambda: rows.append(len(query.bars(symbol, "1m", start, end, output="arrow", url=url)))
        )
        return seconds, rows[-1]

    query_plain_s, q1 = through_query("BENCH:PLAIN")
    query_packed_s, q2 = through_query("BENCH:PACKED")
    assert q1 == q2 == len(year), (q1, q2, len(year))
    return {
        "bars": n,
        "plain_s": round(plain_s, 4),
        "compressed_s": round(packed_s, 4),
        "sql_decoder_s": round(view_s, 4),
        "ratio": round(packed_s / plain_s, 3),
        "sql_ratio": round(view_s / plain_s, 3),
        "query_bars_plain_s": round(query_plain_s, 4),
        "query_bars_compressed_s": round(query_packed_s, 4),
        "query_bars_ratio": round(query_packed_s / query_plain_s, 3),
    }


def _load_export_bars(conn, total: int) -> tuple[dict[str, int], dt.datetime, dt.datetime]:
    symbols = [f"BINANCE:E{i}USDT" for i in range(max(1, total // 500_000))]
    per = total // len(symbols)
    start = dt.datetime(2023, 1, 1, tzinfo=UTC)
    end = start + dt.timedelta(minutes=per)
    ids = _instruments(conn, symbols)
    for symbol in symbols:
        frame = synthetic.bars(symbol, "1m", start, end)
        with conn:
            db_bars.upsert_bars(conn, ids[symbol], "1m", frame, run_id="export")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars")
    return ids, start, end


def export(url: str) -> dict:
    """``export_parquet`` of EXPORT_BARS 1m bars against a raw ADBC read of them."""
    from candleflow.query.export import export_parquet

    _quiet()
    conn = connection.connect(url)
    ids, start, end = _load_export_bars(conn, EXPORT_BARS)
    conn.close()
    symbols = list(ids)
    read = query_pool.resolve(url)

    def raw(cursor) -> int:
        total = 0
        for iid in ids.values():
            cursor.execute(PLAIN_SQL, parameters=(iid, start, end))
            total += len(cursor.fetch_arrow_table())
        return total

    raw_s = _best(lambda: query_pool.POOL.run(read, raw), repeat=2)
    out = tempfile.mkdtemp(prefix="cf-bench-export-")
    try:
        began = time.perf_counter()
        result = export_parquet(symbols, "1m", start, end, out, url=url)
        export_s = time.perf_counter() - began
        size = sum(p.stat().st_size for p in result.files)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    packed = _export_compressed(url, ids, start, end)
    return {
        "compressed_months_bars_per_s": round(result.total / packed),
        "compressed_months_s": round(packed, 2),
        "bars": result.total,
        "symbols": len(symbols),
        "export_s": round(export_s, 2),
        "bars_per_s": round(result.total / export_s),
        "raw_read_s": round(raw_s, 2),
        "raw_read_bars_per_s": round(result.total / raw_s),
        "parquet_bytes_per_bar": round(size / result.total, 2),
    }


def _export_compressed(
    url: str, ids: dict[str, int], start: dt.datetime, end: dt.datetime
) -> float:
    """The same export when its months are compressed: the plain read replaced by
    ``read_compressed`` (what the read path does for closed months), files written alike."""
    from concurrent.futures import ThreadPoolExecutor

    from candleflow.db import lake

    conn = connection.connect(url)
    with conn:
        for key in compress.closed_segments(conn, dt.datetime(2100, 1, 1, tzinfo=UTC)):
            compress.compress_segment(conn, key)
    conn.close()
    read = query_pool.resolve(url)
    out = tempfile.mkdtemp(prefix="cf-bench-export-")

    def one(item: tuple[str, int]) -> int:
        symbol, iid = item

        def work(cursor):
            return read_compressed(cursor, iid, "1m", "provider", start, end)

        table = query_pool.POOL.run(read, work)
        table = table.append_column("source", pa.array(["provider"] * len(table)))
        table = table.append_column("complete", pa.array(np.ones(len(table), bool)))
        lake.write_bars(table, out, symbol, "1m", start, end)
        return len(table)

    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:
            total = sum(pool.map(one, ids.items()))
        seconds = time.perf_counter() - began
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert total == EXPORT_BARS // len(ids) * len(ids), total
    return seconds


def scale(url: str) -> dict:
    """The 100M scenario at ``SCALE_SYMBOLS`` x ``SCALE_BARS`` (see ``bench_scale``)."""
    import scale_warehouse

    return scale_warehouse.run(url, SCALE_SYMBOLS, SCALE_BARS)
