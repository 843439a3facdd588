"""The 100M-bar scenario of ``bench_scale.py`` at any size (not a benchmark itself).

``symbols`` x ``bars`` 1m bars of the replay universe (60% XNYS equities from 2024-01-02,
40% 24x7 pairs from 2024-01-01), generated one symbol at a time so memory stays one
symbol's bars (generation is never timed):

1. raw COPY anchor: binary COPY of the first ``ANCHOR_MAX`` bars into a copy of
   ``candleflow.bars`` (same primary key), no writer logic;
2. the bar writer: ``upsert_bars`` per symbol in 200,000-bar slices, one transaction each
   under the series' lock, as history backfills load;
3. an hourly run: the next 60 bars of every symbol, one transaction each, into this
   warehouse and into an empty one with the same instruments;
4. a BI query: daily OHLCV of every symbol for January 2024 from ``analytics.daily_bars``;
5. compression of every closed month (``compress.compress_segment``, rows removed).
"""

from __future__ import annotations

import datetime as dt
import time

import harness
import pandas as pd
from psycopg2 import sql

from candleflow.db import bars as db_bars
from candleflow.db import bulk, compress, connection
from candleflow.db.bars import BAR_STAGE_COLUMNS
from candleflow.db.locks import lock_series
from candleflow.testing import synthetic

ANCHOR_MAX = 10_000_000
SLICE = 200_000
UTC = dt.UTC
BI_SQL = """
SELECT symbol, session_date, open, high, low, close, volume FROM analytics.daily_bars
WHERE session_date >= '2024-01-01' AND session_date < '2024-02-01'
"""


def _bars(symbol: str, n: int, after: dt.datetime | None = None) -> pd.DataFrame:
    """The first ``n`` 1m bars of ``symbol`` from 2024 (or after ``after``)."""
    start = after or dt.datetime(2024, 1, 1, tzinfo=UTC)
    days = n // 390 * 7 // 5 + 20 if not symbol.startswith("BINANCE") else n // 1440 + 2
    return synthetic.bars(symbol, "1m", start, start + dt.timedelta(days=days)).head(n)


def _instruments(url: str, symbols: list[str]) -> dict[str, int]:
    with connection.transaction(url) as conn, conn.cursor() as cur:
        ids = {}
        for symbol in symbols:
            exchange, ticker = symbol.split(":")
            tz = "Etc/UTC" if exchange == "BINANCE" else "America/New_York"
            cur.execute(
                "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (symbol, exchange, ticker, tz),
            )
            ids[symbol] = cur.fetchone()[0]
    return ids


def _raw_copy(conn, ids: dict[str, int], per: int) -> dict:
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_raw (LIKE candleflow.bars INCLUDING ALL)")
    conn.commit()
    rows, seconds = 0, 0.0
    for symbol, iid in ids.items():
        if rows >= ANCHOR_MAX:
            break
        frame = _bars(symbol, per).assign(filled=False)
        constants = {"instrument_id": iid, "timeframe": "1m", "source": "provider", "run_id": "raw"}
        began = time.perf_counter()
        rows += bulk.copy_frame(conn, "bench_raw", frame, BAR_STAGE_COLUMNS, constants)
        conn.commit()
        seconds += time.perf_counter() - began
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE bench_raw"))
    conn.commit()
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def _writer(conn, ids: dict[str, int], per: int) -> tuple[dict, dict[str, dt.datetime]]:
    rows, seconds, last = 0, 0.0, {}
    for symbol, iid in ids.items():
        frame = _bars(symbol, per)
        last[symbol] = frame["ts"].iloc[-1].to_pydatetime()
        for lo in range(0, len(frame), SLICE):
            piece = frame.iloc[lo : lo + SLICE]
            began = time.perf_counter()
            with conn:
                lock_series(conn, iid, "1m")
                rows += sum(db_bars.upsert_bars(conn, iid, "1m", piece, run_id="backfill")[:1])
            seconds += time.perf_counter() - began
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}, last


def _hourly(url: str, ids: dict[str, int], last: dict[str, dt.datetime]) -> float:
    frames = {s: _bars(s, 60, last[s] + dt.timedelta(minutes=1)) for s in ids}
    conn = connection.connect(url)
    began = time.perf_counter()
    for symbol, iid in ids.items():
        with conn:
            lock_series(conn, iid, "1m")
            db_bars.upsert_bars(conn, iid, "1m", frames[symbol], run_id="hourly")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def _size(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid))"  # partitioned: its partitions
            " FROM pg_partition_tree('candleflow.bars'))"
            " + pg_total_relation_size('candleflow.bar_segments')"
        )
        return cur.fetchone()[0]


def run(url: str, symbols: int, per: int) -> dict:
    names = harness.universe(symbols)
    ids = _instruments(url, names)
    conn = connection.connect(url)
    raw = _raw_copy(conn, ids, per)
    writer, last = _writer(conn, ids, per)
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars")
    conn.autocommit = False
    loaded_bytes = _size(conn)

    empty_name = "cf_bench_scale_empty"
    empty = harness.fresh_database(empty_name)
    try:
        _instruments(empty, names)
        hourly_empty = _hourly(empty, ids, last)
    finally:
        harness.drop_database(empty_name)
    hourly_full = _hourly(url, ids, last)

    with conn.cursor() as cur:
        timings = []
        for _ in range(3):
            began = time.perf_counter()
            cur.execute(BI_SQL)
            bi_rows = len(cur.fetchall())
            timings.append(time.perf_counter() - began)
    conn.commit()

    began = time.perf_counter()
    keys = compress.closed_segments(conn, dt.datetime(2100, 1, 1, tzinfo=UTC))
    conn.rollback()
    for key in keys:
        with conn:
            compress.compress_segment(conn, key, remove_rows=True)
    compress_s = time.perf_counter() - began
    with conn.cursor() as cur:
        cur.execute("SELECT pg_total_relation_size('candleflow.bar_segments')")
        (segment_bytes,) = cur.fetchone()
    conn.close()
    bars = writer["rows"] + 60 * len(ids)
    return {
        "symbols": symbols,
        "bars_per_symbol": per,
        "bars": writer["rows"],
        "raw_copy": raw,
        "writer": writer,
        "writer_vs_raw_copy": round(writer["rows_per_s"] / raw["rows_per_s"], 3),
        "plain_bytes": loaded_bytes,
        "plain_bytes_per_bar": round(loaded_bytes / writer["rows"], 1),
        "hourly_empty_s": round(hourly_empty, 3),
        "hourly_full_s": round(hourly_full, 3),
        "hourly_ratio": round(hourly_full / hourly_empty, 3),
        "bi_query_s": round(min(timings), 3),
        "bi_rows": bi_rows,
        "segments": len(keys),
        "compress_s": round(compress_s, 1),
        "compress_bars_per_s": round(bars / compress_s),
        "segment_bytes": segment_bytes,
        "segment_bytes_per_bar": round(segment_bytes / bars, 2),
    }
