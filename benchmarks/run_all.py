"""``make bench``: run every benchmark, then write ``benchmarks/README.md`` from the results.

Each script measures its figure and its anchor side by side in one run and writes
``benchmarks/results/<name>.json``; this collects them into one table: figure, anchor,
ratio, target, whether it is met, and the machine it ran on. A script that fails is
reported as failed, not skipped silently.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCRIPTS = [
    "tv_decode",
    "tv_fetch",
    "ccxt",
    "validation",
    "load",
    "rollup",
    "collector",
    "query",
    "api",
    "api_load",
    "dag",
    "storage",
    "scale",
    "sync",
    "memory",
    "import_memory",
    "stack",
    "lineage",
    "adjust_read",
    "adjust_sync",
    "revisions",
]


def run(names: list[str]) -> dict[str, str]:
    status = {}
    for name in names:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            status[name] = "missing"
            continue
        started = time.perf_counter()
        print(f"== {script.name}", flush=True)
        done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        status[name] = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        print(
            f"== {script.name}: {status[name]} in {time.perf_counter() - started:.0f}s", flush=True
        )
    return status


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.1f} when the report was written"
    )


def main() -> None:
    from report import write_report

    names = sys.argv[1:] or SCRIPTS
    status = run(names)
    write_report(
        RESULTS,
        HERE / "README.md",
        status,
        machine(),
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    print(f"wrote {HERE / 'README.md'}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
