"""The order of the compose check, its timings, and the line it ends with.

1. A Docker engine (engine.py); the compose client (Debian's docker-compose if no v2 plugin).
2. The images (images.py, wheelhouse.py): Python base, uv, PostgreSQL, Redis, Airflow.
3. The replay server on 127.0.0.1 (a real websocket; the containers share the host network).
4. ``docker-compose.yaml`` + ``docker-compose.check.yaml`` + a second worker, up; every
   health check green (stack.py).
5. Through the REST API (runs.py): one ``ohlcv_1h`` run over two days, then one month of
   ``ohlcv_1h_history`` as a backfill, during which the worker running a task is SIGKILLed.
6. The bars in the compose PostgreSQL against the oracle, value for value, none twice.
7. Teardown: containers and volumes always, the engine if this check started it.

Figures (seconds per step, disk, load average) go to ``.candleflow/compose/last-run.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from composecheck import CACHE, ROOT, scenario
from composecheck.engine import Engine, Unavailable, docker_binary, install_packages
from composecheck.images import AIRFLOW_IMAGE, Images
from composecheck.stack import Stack, compose_client, settings

log = logging.getLogger("compose-check")

UV = ROOT / ".candleflow" / "bootstrap" / "bin" / "uv"
UV_VERSION = "0.13.9"  # the Makefile's UV_VERSION


class Timings(dict):
    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self[step] = round(time.monotonic() - began, 1)
            log.info("%s: %.0f s", step, self[step])


def _pip() -> list[str]:
    for python in (
        ROOT / ".candleflow" / "bootstrap" / "bin" / "python",
        Path(shutil.which("python3") or ""),
    ):
        if python.is_file():
            return [str(python), "-m", "pip"]
    raise Unavailable("no python3 with pip to download the wheelhouse")


def _disk(engine: Engine) -> dict[str, int]:
    sizes = {
        "wheelhouse_bytes": sum(
            p.stat().st_size for p in (ROOT / "docker" / "wheelhouse").glob("*.whl")
        )
    }
    if engine.started:
        done = subprocess.run(["du", "-sb", str(engine.data_root)], capture_output=True, text=True)
        sizes["engine_data_bytes"] = int(done.stdout.split()[0]) if done.returncode == 0 else -1
    return sizes


def build_images(engine: Engine, timings: Timings, *, reuse: bool = False) -> dict[str, str]:
    docker = [docker_binary()]
    images = Images(docker, {**os.environ, **engine.env}, CACHE)
    with timings("base image"):
        base = images.python_base()
    with timings("wheelhouse"):
        from composecheck import wheelhouse

        count = wheelhouse.fill(UV, _pip())
        log.info("wheelhouse: %d wheels", count)
    with timings("postgres and redis images"):
        images.services(base)
    with timings("airflow image"):
        if reuse and images.has(AIRFLOW_IMAGE):
            images.names["airflow"] = AIRFLOW_IMAGE
        else:
            images.airflow(base, images.uv(UV, UV_VERSION))
    return images.names


def run(keep: bool, *, reuse: bool = False) -> int:
    """The whole check; prints its one-line outcome last, after the teardown."""
    timings = Timings()
    CACHE.mkdir(parents=True, exist_ok=True)
    engine = Engine(CACHE / "docker")
    stack: Stack | None = None
    outcome = "failed: interrupted"
    try:
        with timings("engine"):
            engine.ensure()
            if not shutil.which("docker-compose"):
                install_packages(["docker-compose"])
        names = build_images(engine, timings, reuse=reuse)
        engine.unnice()
        from candleflow.testing import ReplayServer

        with ReplayServer(host="127.0.0.1", port=0, seed=scenario.SEED) as replay:
            docker = docker_binary()
            stack = Stack(
                compose_client(docker), docker, engine.env, settings(names, replay.url), CACHE
            )
            stack.down()  # whatever an interrupted run left
            stack.write_merged()
            outcome = f"success, {scenario.play(stack, replay, timings)} bars"
    except (
        Unavailable,
        RuntimeError,
        TimeoutError,
        AssertionError,
        KeyboardInterrupt,
        subprocess.SubprocessError,
        OSError,
    ) as exc:
        outcome = "failed: " + (" ".join(str(exc).split())[:2000] or type(exc).__name__)
        if stack is not None:
            saved = stack.save_logs(CACHE / "logs")
            log.error("container logs saved in %s (%d files)", CACHE / "logs", len(saved))
    finally:
        if keep and stack is not None:
            log.info("--keep: the stack stays up; `python docker/compose_check.py --down` ends it")
        else:
            with timings("teardown"):
                if stack is not None:
                    stack.down()
                engine.stop()
    return _report(outcome, timings, engine)


def down() -> int:
    """Tear down what a ``--keep`` run (or a killed one) left: the project, then our engine."""
    engine = Engine(CACHE / "docker")
    if not engine.ensure(start=False):
        print("compose-check: no engine runs; nothing to tear down", flush=True)
        return 0
    docker = docker_binary()
    fake = {"airflow": "unused", "postgres": "unused", "redis": "unused"}
    Stack(compose_client(docker), docker, engine.env, settings(fake, "ws://unused"), CACHE).down()
    engine.stop()
    print("compose-check: torn down", flush=True)
    return 0


def _report(outcome: str, timings: Timings, engine: Engine) -> int:
    figures = {
        "outcome": outcome,
        "seconds": dict(timings),
        "load_average": os.getloadavg(),
        **_disk(engine),
    }
    (CACHE / "last-run.json").write_text(json.dumps(figures, indent=2) + "\n")
    log.info("figures: %s", json.dumps(figures))
    print(f"compose-check: {outcome}", flush=True)
    return 0 if outcome.startswith("success") else 1
