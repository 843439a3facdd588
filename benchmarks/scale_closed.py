"""Bytes per bar of compressed closed months, for ``bench_scale.py`` (not a benchmark itself).

Segments are encoded with ``candleflow.db.segments`` and written with
``candleflow.db.compress.write_segment`` straight into ``bar_segments`` (the plain rows they
would come from are not needed to size them); then ``VACUUM ANALYZE`` and
``pg_total_relation_size`` (heap + TOAST + primary key) divided by the bars.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

import lz4.block
import numpy as np
import pandas as pd
from psycopg2 import sql

from candleflow.db import bars as db_bars
from candleflow.db import compress, connection, segments
from candleflow.domain import BAR_COLUMNS
from candleflow.providers.files import read_bars
from candleflow.testing import synthetic

DATA = os.environ.get("CANDLEFLOW_SHARED_DATA") or str(
    __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"
)
REPLAY = [f"BINANCE:C{i}USDT" for i in range(6)] + [f"NASDAQ:S{i}" for i in range(4)] + ["TVC:IX"]
MONTHS = ("2024-01-01", "2024-04-01")  # three closed months
REAL = {
    "nautilus BTC-PERP": ("nautilus/btc-perp-20211231-20220201_1m.csv", "nautilus_csv"),
    "freqtrade XRP/ETH": ("freqtrade/XRP_ETH-1m.feather", "freqtrade_feather"),
    "Lean SPY minute": ("lean/minute/spy/20131007_trade.zip", "lean_minute"),
    "nautilus 6E futures": (
        "nautilus/6EH4.XCME_1min_bars_20240101_20240131.csv.gz",
        "nautilus_csv",
    ),
    "nautilus GBP/USD bid (no volume)": ("nautilus/gbpusd-m1-bid-2012.csv", "nautilus_csv"),
}
COPIES = 40
ARRAYS = (
    *("ts_delta", "open_delta", "high_delta", "low_delta", "close_delta", "open_float"),
    *("high_float", "low_float", "close_float", "volume_int", "volume_float", "load_first"),
    *("loaded_at", "run_id"),
)


def _with_loads(frame: pd.DataFrame, window_minutes: int | None) -> pd.DataFrame:
    """Provenance as the DAGs write it: one load per window (or one backfill)."""
    if window_minutes is None:
        return frame.assign(loaded_at=pd.Timestamp("2025-01-01", tz="UTC"), run_id="backfill")
    end = frame["ts"].dt.floor(f"{window_minutes}min") + pd.Timedelta(minutes=window_minutes)
    return frame.assign(
        loaded_at=end + pd.Timedelta(seconds=30),
        run_id="scheduled__" + end.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    )


def _instrument(cur, symbol: str) -> int:
    exchange, ticker = symbol.split(":")
    cur.execute(
        "INSERT INTO candleflow.instruments (symbol, exchange, ticker) VALUES (%s, %s, %s)"
        " ON CONFLICT (symbol, series_session) DO UPDATE SET active = true RETURNING id",
        (symbol, exchange, ticker),
    )
    return cur.fetchone()[0]


def _store(conn, series: dict[str, pd.DataFrame]) -> dict:
    """Write every series as segments; sizes of the table, per column and under lz4."""
    lz4_bytes, bars = 0, 0
    with conn.cursor() as cur:
        cur.execute("TRUNCATE candleflow.bar_segments")
        for symbol, frame in series.items():
            iid = _instrument(cur, symbol)
            month = frame["ts"].dt.strftime("%Y-%m")
            for _, part in frame.groupby(month, sort=True):
                seg = segments.encode(part.reset_index(drop=True), "1m")
                key = compress.SegmentKey(iid, "1m", "provider", seg.segment_start)
                compress.write_segment(conn, key, seg)
                params = compress._params(key, seg)
                lz4_bytes += sum(
                    len(lz4.block.compress(_raw(name, params[name]), store_size=False))
                    for name in ARRAYS
                    if params.get(name) is not None
                )
                bars += seg.bars
        cur.execute("VACUUM ANALYZE candleflow.bar_segments")
        cur.execute("SELECT pg_total_relation_size('candleflow.bar_segments')")
        (total,) = cur.fetchone()
        sizes = sql.SQL(", ").join(
            sql.SQL("coalesce(sum(pg_column_size({})), 0)").format(sql.Identifier(c))
            for c in ARRAYS
        )
        cur.execute(sql.SQL("SELECT {} FROM candleflow.bar_segments").format(sizes))
        columns = dict(zip(ARRAYS, cur.fetchone(), strict=True))
    return {
        "bars": bars,
        "segments": sum(
            1 for f in series.values() for _ in f.groupby(f["ts"].dt.strftime("%Y-%m"))
        ),
        "total_bytes": total,
        "bytes_per_bar": total / bars,
        "arrays_pglz_per_bar": sum(columns.values()) / bars,
        "arrays_lz4_estimate_per_bar": lz4_bytes / bars,
        "per_column": {c: round(v / bars, 3) for c, v in columns.items() if v},
    }


def _raw(name: str, value: str | list) -> bytes:
    """The array's element bytes as PostgreSQL stores them (what lz4 would compress)."""
    if name == "run_id":
        return b"".join(len(v or "").to_bytes(4, "little") + (v or "").encode() for v in value)
    if name == "loaded_at":
        return np.asarray([t.timestamp() for t in value], np.float64).astype(np.int64).tobytes()
    if name == "load_first":
        return np.asarray(value, np.int32).tobytes()
    values = [v for v in value.strip("{}").split(",") if v != "NULL"]
    if name.endswith("_float"):
        return np.asarray(values, np.float64).tobytes()
    wide = name in ("ts_delta", "volume_int")
    return np.asarray(values, np.int64).astype(np.int64 if wide else np.int32).tobytes()


def _plain_anchor(conn, series: dict[str, pd.DataFrame]) -> dict:
    """The same replay bars as plain rows of candleflow.bars (heap + primary key)."""
    with conn.cursor() as cur:
        for symbol, frame in series.items():
            iid = _instrument(cur, symbol)
            with conn:  # one transaction, COPY path (a new series)
                db_bars.upsert_bars(conn, iid, "1m", frame[list(BAR_COLUMNS)], run_id="anchor")
        cur.execute("VACUUM ANALYZE candleflow.bars")
        cur.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid))"  # partitioned: its partitions
            " FROM pg_partition_tree('candleflow.bars')), count(*) FROM candleflow.bars"
        )
        total, rows = cur.fetchone()
    return {"rows": rows, "bytes_per_bar": total / rows}


def run(url: str) -> dict:
    logging.getLogger("candleflow").setLevel(logging.WARNING)
    conn = connection.connect(url, autocommit=True)
    try:
        replay = {s: synthetic.bars(s, "1m", *MONTHS) for s in REPLAY}
        out = {
            "replay, 15-minute loads": _store(
                conn, {s: _with_loads(f, 15) for s, f in replay.items()}
            ),
            "replay, one backfill": _store(
                conn, {s: _with_loads(f, None) for s, f in replay.items()}
            ),
        }
        real = {}
        for name, (path, preset) in REAL.items():
            full = os.path.join(DATA, path)
            if not os.path.exists(full):
                real[name] = {"skipped": f"{full} is missing"}
                continue
            frame = _with_loads(read_bars(full, preset, "1m"), None)
            real[name] = _store(conn, {f"REAL:F{i}": frame for i in range(COPIES)})
            real[name]["file_bars"] = len(frame)
        out["real"] = real
        out["plain rows (anchor)"] = _plain_anchor(conn, replay)
        out["measured_at"] = dt.datetime.now(dt.UTC).isoformat()
        return out
    finally:
        conn.close()
