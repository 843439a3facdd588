"""docker/wheelhouse/: every wheel uv.lock pins for the image, downloaded on the host.

Why on the host: pip inside a container here cannot verify the package index's certificate
(the host's CA bundle is not the image's), and an air-gapped user has no index at all. The
image build then installs with ``--no-index`` from this folder and needs no network.

The requirement list is ``uv export --frozen --no-dev`` of the lock, the same command the
Dockerfile runs. Markers are evaluated for Linux x86_64 CPython 3.11 at both ends of the
3.11 line (Debian bookworm's 3.11.2 and the latest python:3.11 image), so the folder serves
either base. Wheels already there with a hash the lock names are kept; only missing ones are
downloaded (hash-checked by pip). hatchling is added: it builds candleflow itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

from composecheck import ROOT

log = logging.getLogger(__name__)

WHEELHOUSE = ROOT / "docker" / "wheelhouse"
BUILD_BACKEND = "hatchling==1.33.0"  # pyproject's build-system; its deps come with it
TARGETS = ("3.11.2", "3.11.14")
_MARKER_ENV = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "x86_64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "python_version": "3.11",
}


def export(uv: Path) -> str:
    """The lock as a hash-pinned requirements file (uv's own export)."""
    done = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
            "--no-header",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def needed(requirements: str) -> list[tuple[str, list[str]]]:
    """``(name==version, [sha256, ...])`` of each requirement a Linux 3.11 image installs."""
    joined = re.sub(r"\\\n\s*", " ", requirements)
    found = []
    for raw in joined.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *hashes = line.split(" --hash=")
        req = Requirement(spec.strip())
        if req.marker is not None and not any(
            req.marker.evaluate({**_MARKER_ENV, "python_full_version": v}) for v in TARGETS
        ):
            continue
        found.append((f"{req.name}{req.specifier}", [h.strip() for h in hashes]))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def fill(uv: Path, pip: list[str]) -> int:
    """Download the wheels the folder lacks; returns how many wheels it holds."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    have = {_sha256(p) for p in WHEELHOUSE.glob("*.whl")}
    missing = [(spec, hashes) for spec, hashes in needed(export(uv)) if not have & set(hashes)]
    if missing:
        log.info("downloading %d wheels into %s", len(missing), WHEELHOUSE)
        listing = WHEELHOUSE / ".missing.txt"
        listing.write_text(
            "".join(
                f"{spec} " + " ".join(f"--hash={h}" for h in hashes) + "\n"
                for spec, hashes in missing
            )
        )
        try:
            subprocess.run(
                [
                    *pip,
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--require-hashes",
                    "-r",
                    str(listing),
                    "-d",
                    str(WHEELHOUSE),
                ],
                check=True,
                timeout=3600,
            )
        finally:
            listing.unlink(missing_ok=True)
    if not list(WHEELHOUSE.glob("hatchling-*.whl")):
        subprocess.run(
            [
                *pip,
                "download",
                "--quiet",
                "--only-binary=:all:",
                BUILD_BACKEND,
                "-d",
                str(WHEELHOUSE),
            ],
            check=True,
            timeout=600,
        )
    return len(list(WHEELHOUSE.glob("*.whl")))
