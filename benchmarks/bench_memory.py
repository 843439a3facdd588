"""Peak memory of a long window: 20 years of 1m bars of one symbol in bounded slices.

Why: a params run or a history run may name any window; loaded in one piece, 20 years of
1m bars (5M bars of a 24x7 pair listed in 2017, what the replay server serves) would need
several GiB between the websocket frames, the DataFrame, validation and the load. The sync
cuts a window into slices (``services.window``, 200,000 bars each), each fetched, validated
and loaded on its own, so the peak should be that of one slice.

The sync runs in a child process (``services.sync.sync``, what the chunk task calls) and
reports its own peak RSS plus that of its validation helper process when it started one
(``validation.sidecar``; the two peaks added, as if they coincided); the anchor is the
same child loading exactly one slice's worth of bars (the fixed cost: Python, pandas, Great
Expectations, one slice). Target: under 1 GiB.
Writes ``benchmarks/results/memory.json``. Run: ``.venv/bin/python benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness

from candleflow.services.window import DEFAULT_SLICE_BARS
from candleflow.testing import ReplayServer

DB = "cf_bench_memory"
SYMBOL = "BINANCE:ETHUSDT"
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
YEARS = int(os.environ.get("CANDLEFLOW_BENCH_YEARS", "20"))

CHILD = """
import json, time
from candleflow.services.sync import sync
began = time.perf_counter()
record = sync({symbol!r}, "1m", {start!r}, {end!r}, provider_options={{"url": {url!r}}},
              url={db!r}, run_id={run!r})
import os, resource
from candleflow.validation import sidecar
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
helper = 0.0  # the validation helper process, when the sync started one: its peak too
if os.getpid() in sidecar._HELPER:
    status = open(f"/proc/{{sidecar._HELPER[os.getpid()].proc.pid}}/status").read()
    helper = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({{"seconds": time.perf_counter() - began, "bars": record["rows_inserted"],
                  "slices": record["slices"], "outcome": record["outcome"],
                  "own_peak_rss_mib": own, "helper_peak_rss_mib": helper,
                  "peak_rss_mib": own + helper}}))
"""


def child(env, url, db, start, end, run) -> dict:
    code = CHILD.format(
        symbol=SYMBOL, start=start.isoformat(), end=end.isoformat(), url=url, db=db, run=run
    )
    return harness.python(code, env, timeout=7200)[1]


def main() -> None:
    db = harness.fresh_database(DB)
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=db)
    start = END.replace(year=END.year - YEARS)
    one_slice = (END - dt.timedelta(minutes=DEFAULT_SLICE_BARS), END)
    try:
        with ReplayServer(seed=2, now=END.timestamp() + 60) as srv:
            anchor = child(env, srv.url, db, *one_slice, "one-slice")
            harness.fresh_database(DB)  # the long window starts from an empty table too
            long = child(env, srv.url, db, start, END, "twenty-years")
    finally:
        harness.drop_database(DB)
    harness.write(
        "memory",
        {
            "symbol": SYMBOL,
            "window": [start.isoformat(), END.isoformat()],
            "slice_bars": DEFAULT_SLICE_BARS,
            "long": long,
            "one_slice": anchor,
            "ratio": round(long["peak_rss_mib"] / anchor["peak_rss_mib"], 2),
            "target_mib": 1024,
        },
    )


if __name__ == "__main__":
    main()
