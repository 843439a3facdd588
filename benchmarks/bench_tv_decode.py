"""Decoding speed of the TradingView framing against the floor of plain ``json.loads``.

The capture (``shared/data/tradingview/socket_messages.txt``, 1.46 MB, 42 envelopes) is
decoded with ``split_frame`` + ``parse_payload``; the floor is ``json.loads`` of the same,
already separated payloads, so the ratio says what the framing layer costs on top of JSON.
Run: ``python benchmarks/bench_tv_decode.py``; results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from candleflow.providers.tradingview.protocol import is_heartbeat, parse_payload, split_frame

ROOT = Path(__file__).resolve().parent
DATA = (
    Path(os.environ.get("CANDLEFLOW_SHARED_DATA", ROOT.parents[1] / "shared" / "data"))
    / "tradingview"
    / "socket_messages.txt"
)
RESULTS = ROOT / "results" / "tv_decode.json"


def best_of(fn: Callable[[], object], repeat: int = 15) -> float:
    """Median of ``repeat`` timed runs, in seconds (the median resists scheduler noise)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    if not DATA.exists():
        print(f"capture not found: {DATA} (set CANDLEFLOW_SHARED_DATA)", file=sys.stderr)
        return 1
    raw = DATA.read_text(encoding="utf-8")
    payloads = split_frame(raw)

    def framed() -> list:
        return [p if is_heartbeat(p) else parse_payload(p) for p in split_frame(raw)]

    def floor() -> list:
        return [json.loads(p) for p in payloads]

    assert framed() == floor()
    t_framed, t_floor = best_of(framed), best_of(floor)
    mb = len(raw.encode()) / 1e6
    result = {
        "file": DATA.name,
        "megabytes": round(mb, 3),
        "envelopes": len(payloads),
        "split_parse_s": round(t_framed, 6),
        "json_loads_s": round(t_floor, 6),
        "split_parse_mb_s": round(mb / t_framed, 1),
        "json_loads_mb_s": round(mb / t_floor, 1),
        "relative_speed": round(t_floor / t_framed, 3),
        "python": sys.version.split()[0],
    }
    print("| file | MB | envelopes | split+parse MB/s | json.loads MB/s | relative |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {DATA.name} | {mb:.2f} | {len(payloads)} | {result['split_parse_mb_s']} "
        f"| {result['json_loads_mb_s']} | {result['relative_speed']:.2f}x |"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
