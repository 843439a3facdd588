"""The images the stack runs, made without a registry and cached across runs.

- **Python base**: ``python:3.11-slim-bookworm`` if the engine already has it, else Debian
  bookworm from the Debian mirror with ``debootstrap --variant=minbase`` (about 70 s once;
  the tarball is kept in ``.candleflow/compose/``), turned into an image by ``docker import``.
- **uv**: the binary the Makefile bootstrapped, imported as an image, because the
  Dockerfile copies ``/uv`` from ``UV_IMAGE`` (ghcr.io's by default).
- **PostgreSQL and Redis**: the official images if the engine has them, else Debian's
  packages on the same base (docker/postgres, docker/redis).
- **Airflow/Candleflow**: docker/Dockerfile with the wheelhouse (wheelhouse.py) in the build
  context, so that its build needs no network at all.

Builds go through the engine's layer cache: a re-run with an unchanged tree rebuilds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tarfile
from pathlib import Path

from composecheck import ROOT

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
PUBLIC = {
    "python": "python:3.11-slim-bookworm",
    "postgres": "postgres:17",
    "redis": "redis:7.2-bookworm",
}
AIRFLOW_IMAGE = "candleflow-airflow:check"


class Images:
    """Make each image once; ``names`` maps the compose variables to the tags to run."""

    def __init__(self, docker: list[str], env: dict[str, str], cache: Path) -> None:
        self.docker, self.env, self.cache = docker, env, cache
        self.names: dict[str, str] = {}

    def _run(self, *args: str, timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.docker, *args], env=self.env, check=True, timeout=timeout, **kwargs
        )

    def has(self, tag: str) -> bool:
        done = subprocess.run(
            [*self.docker, "image", "inspect", tag], env=self.env, capture_output=True
        )
        return done.returncode == 0

    def python_base(self) -> str:
        if self.has(PUBLIC["python"]):
            return PUBLIC["python"]
        key = hashlib.sha256(" ".join(BASE_PACKAGES).encode()).hexdigest()[:8]
        tag = f"candleflow-base:bookworm-{key}"
        if self.has(tag):
            return tag
        tarball = self.cache / f"debian-bookworm-{key}.tar"
        if not tarball.exists():
            self._debootstrap(tarball)
        with tarball.open("rb") as stream:
            self._run(
                "import",
                "--change",
                'CMD ["/bin/bash"]',
                "-",
                tag,
                stdin=stream,
                stdout=subprocess.DEVNULL,
            )
        log.info("imported %s from %s", tag, tarball.name)
        return tag

    def _debootstrap(self, tarball: Path) -> None:
        from composecheck.engine import install_packages

        install_packages(["debootstrap"])
        rootfs = self.cache / "rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        log.info("debootstrap bookworm (%s) from %s", ", ".join(BASE_PACKAGES), MIRROR)
        subprocess.run(
            [
                "nice",
                "-n",
                "10",
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(rootfs),
                MIRROR,
            ],
            check=True,
            timeout=1800,
            stdout=subprocess.DEVNULL,
        )
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
        shutil.rmtree(rootfs)

    def uv(self, uv_binary: Path, version: str) -> str:
        tag = f"candleflow-uv:{version}"
        if not self.has(tag):
            stage = self.cache / "uv-image"
            stage.mkdir(parents=True, exist_ok=True)
            shutil.copy2(uv_binary, stage / "uv")
            tarball = self.cache / "uv-image.tar"
            with tarfile.open(tarball, "w") as tar:
                tar.add(stage / "uv", arcname="uv")
            with tarball.open("rb") as stream:
                self._run("import", "-", tag, stdin=stream, stdout=subprocess.DEVNULL)
        return tag

    def build(self, tag: str, context: Path, dockerfile: Path, **build_args: str) -> None:
        args = [arg for k, v in build_args.items() for arg in ("--build-arg", f"{k}={v}")]
        log.info("building %s", tag)
        self._run(
            "build",
            "--network",
            "host",
            "--quiet",
            "-f",
            str(dockerfile),
            "-t",
            tag,
            *args,
            str(context),
            timeout=3600,
            stdout=subprocess.DEVNULL,
        )

    def services(self, base: str) -> None:
        """PostgreSQL and Redis: the official images if present, else built from Debian."""
        for name, local in (
            ("postgres", "candleflow-postgres:15"),
            ("redis", "candleflow-redis:7"),
        ):
            if self.has(PUBLIC[name]):
                self.names[name] = PUBLIC[name]
                continue
            self.build(
                local,
                ROOT / "docker" / name,
                ROOT / "docker" / name / "Dockerfile",
                BASE_IMAGE=base,
            )
            self.names[name] = local

    def airflow(self, base: str, uv_image: str) -> None:
        self.build(
            AIRFLOW_IMAGE,
            ROOT,
            ROOT / "docker" / "Dockerfile",
            PYTHON_IMAGE=base,
            UV_IMAGE=uv_image,
        )
        self.names["airflow"] = AIRFLOW_IMAGE
