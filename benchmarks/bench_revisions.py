"""Benchmark: what keeping corrections costs (``candleflow.bar_revisions``).

Why: every bar a load changes keeps its old values (migration 0017's trigger), so a full
re-adjusting re-sync (a split re-scales a symbol's whole history at the provider) writes one
revision per bar. This measures, on a fresh migrated database of the embedded server (or
``CANDLEFLOW_DATABASE_URL``'s server), side by side:

- storage: ``bars`` for N 1m bars, and ``bar_revisions`` after one re-sync that changes
  every one of them (table + primary key, after ``VACUUM ANALYZE``), bytes and per row;
- the upsert slowdown: the same full re-sync of two identical series, one with the
  revisions trigger, one with it disabled (the anchor: the merge as before 0017);
- that only changed bars get a revision: a re-sync changing 1 % adds exactly that many.

``CANDLEFLOW_BENCH_REVISION_ROWS`` bars per series (default 1,000,000). Writes
``benchmarks/results/revisions.json``.

    .venv/bin/python benchmarks/bench_revisions.py
"""

from __future__ import annotations

import os
import time

import harness
from bench_load import synthetic_bars
from psycopg2 import sql

from candleflow.db import bars as bar_writer
from candleflow.db import connection

DB_NAME = os.environ.get("CANDLEFLOW_BENCH_REVISION_DB", "cf_bench_revisions")
ROWS = int(os.environ.get("CANDLEFLOW_BENCH_REVISION_ROWS", "1000000"))
TRIGGER = "bars_keep_revisions"
PRICES = ("open", "high", "low", "close")


def _instrument(conn, symbol: str) -> int:
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO candleflow.instruments (symbol, exchange, ticker, timezone, session)"
            " VALUES (%s, %s, %s, 'Etc/UTC', '24x7') RETURNING id",
            (symbol, *symbol.split(":")),
        )
        return cur.fetchone()[0]


def _size(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(  # summed over the partitions when partitioned (bars: migration 0022)
            "SELECT sum(pg_total_relation_size(r)) FROM (SELECT relid FROM"
            " pg_partition_tree(%s::regclass) UNION SELECT %s::regclass) AS t(r)",
            (table, table),
        )
        return cur.fetchone()[0]


def _vacuum(conn) -> None:
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE candleflow.bars")
        cur.execute("VACUUM ANALYZE candleflow.bar_revisions")
    conn.autocommit = False


def _resync(conn, iid: int, frame, run_id: str, *, revisions: bool) -> float:
    """One re-sync of ``frame`` in one transaction; seconds (with or without the trigger)."""
    state = sql.SQL("ENABLE" if revisions else "DISABLE")
    with conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("ALTER TABLE candleflow.bars {} TRIGGER {}").format(
                state, sql.Identifier(TRIGGER)
            )
        )
    began = time.perf_counter()
    with conn:
        bar_writer.upsert_bars(conn, iid, "1m", frame, run_id=run_id, reason="re-adjustment")
    return time.perf_counter() - began


def _revision_count(conn) -> int:
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM candleflow.bar_revisions")
        return cur.fetchone()[0]


def main() -> None:
    url = harness.fresh_database(DB_NAME)
    conn = connection.connect(url)
    bars = synthetic_bars(ROWS)
    anchor, measured = _instrument(conn, "BINANCE:ANCHORUSDT"), _instrument(conn, "BINANCE:REVUSDT")
    for iid in (anchor, measured):
        with conn:
            bar_writer.upsert_bars(conn, iid, "1m", bars, run_id="history")
    _vacuum(conn)
    bars_bytes = _size(conn, "candleflow.bars") // 2  # one series' share

    adjusted = bars.assign(**{c: bars[c] * 0.25 for c in PRICES}, volume=bars["volume"] * 4)
    without_s = _resync(conn, anchor, adjusted, "resync-anchor", revisions=False)
    with_s = _resync(conn, measured, adjusted, "resync", revisions=True)
    revisions = _revision_count(conn)
    _vacuum(conn)
    revisions_bytes = _size(conn, "candleflow.bar_revisions")

    step = 100  # 1 % of the bars change again: exactly that many more revisions
    partial = adjusted.copy()
    partial.loc[::step, "close"] = partial.loc[::step, "high"]
    _resync(conn, measured, partial, "correction", revisions=True)
    added = _revision_count(conn) - revisions
    conn.close()
    harness.drop_database(DB_NAME)
    harness.write(
        "revisions",
        {
            "rows": ROWS,
            "bars_bytes": bars_bytes,
            "bars_bytes_per_row": round(bars_bytes / ROWS, 1),
            "revisions": revisions,
            "revisions_bytes": revisions_bytes,
            "revision_bytes_per_row": round(revisions_bytes / max(revisions, 1), 1),
            "storage_ratio": round((bars_bytes + revisions_bytes) / bars_bytes, 2),
            "resync_with_s": round(with_s, 2),
            "resync_without_s": round(without_s, 2),
            "slowdown": round(with_s / without_s, 2),
            "partial_changed": len(partial.loc[::step]),
            "partial_revisions": added,
        },
    )


if __name__ == "__main__":
    main()
