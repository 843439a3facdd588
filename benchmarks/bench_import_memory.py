"""Peak memory of file imports: ``ticks import`` of 2M ticks, ``sync --provider files`` of 1M bars.

Why: a vendor dump may be any size, so an import must hold a bounded part of it at a time:
files are read in chunks, each validated and stored in its own transaction. The figure is
the peak resident memory of the whole command as a user types it (the ``candleflow``
process plus, for ``sync``, its validation helper process), sampled every 20 ms from
``/proc`` and summed over the process tree. Each command also runs on a file a tenth the
size: that is the anchor, so the ratio says whether the peak depends on the file's size.
Target: <= 400 MiB each, independent of file size.

Files: a canonical tick CSV (``ts,price,size``, microsecond timestamps: 87 MB for 2M ticks)
and a 1m bar CSV (``timestamp,open,high,low,close,volume``, about 57 bytes a bar), written
from the synthetic series into a temporary folder.
Writes ``benchmarks/results/import_memory.json``.
Run: ``.venv/bin/python benchmarks/bench_import_memory.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness
import numpy as np
import pandas as pd

DB = "cf_bench_import_memory"
TICKS = int(os.environ.get("CANDLEFLOW_BENCH_TICKS", "2000000"))
BARS = int(os.environ.get("CANDLEFLOW_BENCH_BARS", "1000000"))
START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
CLI = str(harness.BIN / "candleflow")


def tick_file(path: Path, n: int) -> int:
    """``n`` ticks, ~10 a second with repeated timestamps, written in pieces (bounded)."""
    rng = np.random.default_rng(7)
    with path.open("w") as out:
        out.write("ts,price,size\n")
        done, t = 0, pd.Timestamp(START).value // 1000
        while done < n:
            k = min(500_000, n - done)
            steps = rng.integers(0, 200_000, k)  # microseconds; some ticks share a stamp
            steps[rng.random(k) < 0.05] = 0
            stamps = t + np.cumsum(steps)
            t = int(stamps[-1])
            ts = pd.to_datetime(stamps, unit="us", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            price = np.round(100 + np.cumsum(rng.normal(0, 0.01, k)), 2)
            size = rng.integers(1, 500, k)
            pd.DataFrame({"ts": ts, "price": price, "size": size}).to_csv(
                out, header=False, index=False
            )
            done += k
    return path.stat().st_size


def bar_file(path: Path, n: int) -> int:
    """``n`` consecutive 1m bars of a 24x7 pair, written in pieces."""
    rng = np.random.default_rng(11)
    with path.open("w") as out:
        out.write("timestamp,open,high,low,close,volume\n")
        done, close = 0, 100.0
        while done < n:
            k = min(500_000, n - done)
            ts = pd.date_range(START + dt.timedelta(minutes=done), periods=k, freq="1min")
            closes = close + np.cumsum(rng.normal(0, 0.05, k))
            opens = np.concatenate(([close], closes[:-1]))
            close = float(closes[-1])
            spread = np.abs(rng.normal(0, 0.05, k))
            frame = pd.DataFrame(
                {
                    "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"),
                    "open": opens.round(4),
                    "high": (np.maximum(opens, closes) + spread).round(4),
                    "low": (np.minimum(opens, closes) - spread).round(4),
                    "close": closes.round(4),
                    "volume": rng.integers(1, 1000, k),
                }
            )
            frame.to_csv(out, header=False, index=False)
            done += k
    return path.stat().st_size


def _tree_rss_kib(root: int) -> int:
    """Resident KiB of ``root`` and every descendant (read from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measured(args: list[str], env: dict[str, str]) -> dict:
    """Run ``args``; its wall seconds and the peak of its process tree's RSS (MiB)."""
    began = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=7200)
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:3])} failed:\n{out.decode()[-2000:]}{err.decode()[-3000:]}"
        )
    return {
        "seconds": round(time.perf_counter() - began, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "stdout": out.decode().strip().splitlines()[-1][:300] if out.strip() else "",
    }


def ticks_import(env: dict[str, str], path: Path) -> dict:
    return measured([CLI, "ticks", "import", str(path), "--symbol", "BINANCE:BENCHUSDT"], env)


def files_sync(env: dict[str, str], path: Path, n: int) -> dict:
    end = START + dt.timedelta(minutes=n)
    args = [CLI, "sync", "BINANCE:BENCHUSDT", "-t", "1m", "--start", START.isoformat()]
    args += ["--end", end.isoformat(), "--provider", "files", "--file", str(path)]
    args += ["--preset", "nautilus_csv"]
    return measured(args, env)


def main() -> None:
    db = harness.fresh_database(DB)
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=db)
    results: dict = {"target_mib": 400}
    try:
        with tempfile.TemporaryDirectory(prefix="cf-bench-import-") as folder:
            for kind, n, write, run in (
                ("ticks", TICKS, tick_file, ticks_import),
                ("bars", BARS, bar_file, files_sync),
            ):
                for label, rows in (("anchor", n // 10), ("full", n)):
                    path = Path(folder) / f"{kind}-{rows}.csv"
                    size = write(path, rows)
                    harness.fresh_database(DB)
                    args = (env, path) if kind == "ticks" else (env, path, rows)
                    result = run(*args)
                    result.update(rows=rows, file_mb=round(size / 1e6, 1))
                    results[f"{kind}_{label}"] = result
                    print(kind, label, result, flush=True)
                    path.unlink()
    finally:
        harness.drop_database(DB)
    for kind in ("ticks", "bars"):
        full, anchor = results[f"{kind}_full"], results[f"{kind}_anchor"]
        results[f"{kind}_ratio"] = round(full["peak_rss_mib"] / anchor["peak_rss_mib"], 2)
    harness.write("import_memory", results)


if __name__ == "__main__":
    main()
