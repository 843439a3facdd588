"""``make soak``: ``python -m candleflow.testing.soak``; exit 1 when a check fails.

Settings from the environment: ``SOAK_MINUTES`` (default 20), ``SOAK_SYMBOLS`` (200),
``SOAK_SEED`` (7), ``SOAK_RESULTS`` (a JSON file for the figures); ``SOAK_KEEP=1`` keeps
the stack's folder for a post-mortem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from candleflow import config
from candleflow.testing.soak.run import soak


def main() -> int:
    report = soak(
        config.number("SOAK_MINUTES", 20.0),
        symbols=config.integer("SOAK_SYMBOLS", 200),
        seed=config.integer("SOAK_SEED", 7),
        log=lambda line: print(line, flush=True),
    )
    print("\n".join(report.lines()), flush=True)
    results = config.setting("SOAK_RESULTS")
    if results:  # make soak: the benchmarks table reads it
        path = Path(results)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.summary(), indent=2))
    return 0 if not report.problems() else 1


if __name__ == "__main__":
    sys.exit(main())
