"""The Compose project the check brings up and tears down: files, settings, health, kills.

The project runs ``docker-compose.yaml`` with ``docker-compose.check.yaml`` laid over it
(merged here, see ``merged``), plus ``airflow-worker-b``, a copy of the merged
``airflow-worker`` service with its own host name. Secrets are made fresh for each
run and passed in the client's environment only (never written to disk, never logged); an
empty ``--env-file`` keeps a user's ``.env`` out.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import yaml

from composecheck import ROOT

log = logging.getLogger(__name__)

PROJECT = "candleflowcheck"
FILES = (ROOT / "docker-compose.yaml", ROOT / "docker-compose.check.yaml")
WORKERS = {"cf-worker-a": "airflow-worker", "cf-worker-b": "airflow-worker-b"}
PORTS = ("POSTGRES", "REDIS", "API", "SCHEDULER", "TRIGGERER")


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1, all different (the sockets stay open until all are picked)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def compose_client(docker: str) -> list[str]:
    """``docker compose`` (v2) where the plugin exists, else Debian's ``docker-compose``."""
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return [docker, "compose"] if probe.returncode == 0 else ["docker-compose"]


def settings(images: dict[str, str], tradingview_url: str) -> dict[str, str]:
    """Every variable the two files need: fresh secrets, free ports, the images to run."""
    values = {
        name: secrets.token_hex(24)
        for name in (
            "POSTGRES_PASSWORD",
            "AIRFLOW_DB_PASSWORD",
            "CANDLEFLOW_DB_PASSWORD",
            "CANDLEFLOW_ADMIN_PASSWORD",
            "CANDLEFLOW_JWT_SECRET",
            "CANDLEFLOW_API_SECRET_KEY",
        )
    }
    values["CANDLEFLOW_FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    for name, port in zip(PORTS, _free_ports(len(PORTS)), strict=True):
        values[f"CANDLEFLOW_CHECK_{name}_PORT"] = str(port)
    values.update(
        AIRFLOW_IMAGE_NAME=images["airflow"],
        CANDLEFLOW_POSTGRES_IMAGE=images["postgres"],
        CANDLEFLOW_REDIS_IMAGE=images["redis"],
        CANDLEFLOW_TRADINGVIEW_URL=tradingview_url,
        AIRFLOW_UID="50000",
    )
    return values


def _merge(base: dict, override: dict) -> dict:
    """One service of an override file laid over the base file's (Compose's merge rules)."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = {**old, **value}
        elif key == "volumes" and old:
            by_target = {v.split(":")[1]: v for v in [*old, *value]}
            merged[key] = list(by_target.values())
        elif key in ("extra_hosts", "ports") and old:
            merged[key] = list(dict.fromkeys([*old, *value]))
        else:
            merged[key] = value
    return merged


def merged() -> dict:
    """docker-compose.yaml with docker-compose.check.yaml laid over it, as Compose would.

    Merged here rather than by ``-f a -f b`` for two things an override cannot say:
    ``ports`` go away on the host network (Docker refuses port bindings there; a service
    listens on its own port), and ``airflow-worker-b`` is the merged ``airflow-worker`` under
    another host name, so the two workers cannot drift apart. Merging the files as written
    keeps every ``${VAR}`` a reference (``config --no-interpolate`` of docker-compose 1.29
    cannot: it validates the uninterpolated ports).
    """
    base, check = (yaml.safe_load(path.read_text()) for path in FILES)
    services = {}
    for name, service in base["services"].items():
        service = _merge(service, check["services"].get(name, {}))
        if service.get("network_mode") == "host":
            service.pop("ports", None)
        services[name] = service
    services["airflow-worker-b"] = {**services["airflow-worker"], "hostname": "cf-worker-b"}
    return {"services": services, "volumes": base["volumes"]}


class Stack:
    """One Compose project, driven through the compose client with a clean environment."""

    def __init__(
        self,
        client: list[str],
        docker: str,
        engine_env: dict[str, str],
        values: dict[str, str],
        work: Path,
    ) -> None:
        self.client, self.docker, self.values, self.work = client, docker, values, work
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        self.env = {**base, **engine_env, **values}
        self.merged = work / "check-compose.yaml"
        self.no_env_file = work / "empty.env"  # compose 1.29 refuses /dev/null
        self.no_env_file.touch()

    def _files(self) -> list[str]:
        return ["-f", str(self.write_merged())]  # always from the files as they are now

    def compose(self, *args: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
        """Run the compose client; a failure raises RuntimeError with the end of its stderr."""
        argv = [*self.client, "--project-name", PROJECT, "--project-directory", str(ROOT),
                "--env-file", str(self.no_env_file), *self._files(), *args]  # fmt: skip
        if not kwargs.get("capture_output"):
            kwargs.setdefault("stderr", subprocess.PIPE)
        done = subprocess.run(argv, env=self.env, timeout=timeout, check=False, **kwargs)
        if done.returncode != 0:
            err = (
                done.stderr.decode(errors="replace")
                if isinstance(done.stderr, bytes)
                else done.stderr
            )
            raise RuntimeError(
                f"compose {args[0]} failed ({done.returncode}): {(err or '')[-1500:]}"
            )
        return done

    def write_merged(self) -> Path:
        """The two files merged into one, plus ``airflow-worker-b`` (see ``merged``)."""
        self.merged.write_text(
            "# Generated by docker/compose_check.py from docker-compose.yaml and\n"
            "# docker-compose.check.yaml; every ${VAR} is still a reference.\n"
            + yaml.safe_dump(merged(), sort_keys=False, width=1000)
        )
        return self.merged

    def down(self) -> None:
        """Containers, networks and volumes of the project, whatever a previous run left."""
        self.compose(
            "down", "--volumes", "--remove-orphans", "--timeout", "20", capture_output=True
        )

    def up(self) -> None:
        self.compose(
            "up",
            "--detach",
            "--no-build",
            timeout=1500,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def containers(self) -> dict[str, dict]:
        """``service -> docker inspect`` of the project's containers."""
        ids = subprocess.run(
            [self.docker, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        if not ids:
            return {}
        inspected = json.loads(
            subprocess.run(
                [self.docker, "inspect", *ids],
                env=self.env,
                check=True,
                capture_output=True,
            ).stdout
        )
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}

    def wait_healthy(self, timeout: float) -> dict[str, str]:
        """Wait until every service with a health check is healthy and airflow-init exited 0."""
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for name, c in self.containers().items():
                health = c["State"].get("Health")
                states[name] = health["Status"] if health else c["State"]["Status"]
                if name == "airflow-init" and c["State"]["Status"] == "exited":
                    states[name] = f"exited {c['State']['ExitCode']}"
            waiting = {n: s for n, s in states.items() if s not in ("healthy", "exited 0")}
            if states and not waiting:
                return states
            if "exited" in " ".join(waiting.values()) or time.monotonic() > deadline:
                raise RuntimeError(f"services not healthy: {waiting}")
            time.sleep(3)

    def kill_worker(self, hostname: str) -> str:
        """SIGKILL the worker container of that host name (all its processes, at once)."""
        service = WORKERS[hostname]
        container = self.containers()[service]["Id"]
        subprocess.run(
            [self.docker, "kill", container], env=self.env, check=True, capture_output=True
        )
        log.info("killed %s (%s, container %s)", service, hostname, container[:12])
        return service

    def save_logs(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for name, c in self.containers().items():
            out = folder / f"{name}.log"
            with out.open("wb") as stream:
                subprocess.run(
                    [self.docker, "logs", "--tail", "400", c["Id"]],
                    env=self.env,
                    stdout=stream,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            saved.append(out)
        return saved
