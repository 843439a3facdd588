"""``make compose-check``: build the images, run docker-compose.yaml for real, tear it down.

Builds the Airflow/Candleflow image from uv.lock through a wheelhouse (no network in the
build) and PostgreSQL and Redis images from Debian's packages unless the engine has the
official ones; starts a Docker engine if none runs (root: Debian's docker.io); brings up
docker-compose.yaml with docker-compose.check.yaml; runs ohlcv_1h and one month of
ohlcv_1h_history through the REST API, killing one of the two workers mid-run; checks the
bars in the compose PostgreSQL against the replay server's oracle; tears everything down.
The last line is ``compose-check: success, N bars`` (exit 0) or ``compose-check: failed: ...``.

    python docker/compose_check.py               # the check (safe to re-run; leaves nothing)
    python docker/compose_check.py --if-possible # make test: skip, saying why, without an engine
    python docker/compose_check.py --keep        # leave the stack up to look at it
    python docker/compose_check.py --down        # tear down what --keep left
    python docker/compose_check.py --keep --reuse-image  # iterate on the stack, no rebuild

The steps are in docker/composecheck/ (see its __init__), the figures of the last run in
.candleflow/compose/last-run.json, and docs/scaling.md says how it was measured.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the teardown in `finally` runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--if-possible",
        action="store_true",
        help="skip (exit 0, saying why) when no Docker engine can be had",
    )
    group.add_argument("--keep", action="store_true", help="leave the stack running")
    group.add_argument("--down", action="store_true", help="tear down what --keep left")
    parser.add_argument(
        "--reuse-image",
        action="store_true",
        help="use an existing Airflow image as it is (iterating on the stack)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="compose-check: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)

    from composecheck import engine
    from composecheck import main as check

    if args.down:
        return check.down()
    if args.if_possible and (reason := engine.why_not()):
        print(f"compose-check: skipped: {reason}", flush=True)
        return 0
    return check.run(keep=args.keep, reuse=args.reuse_image)


if __name__ == "__main__":
    sys.exit(main())
