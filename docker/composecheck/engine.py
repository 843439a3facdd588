"""The Docker engine the check talks to: one that already runs, or one it starts and stops.

A running engine (``DOCKER_HOST``, else ``/var/run/docker.sock``) is used as it is and left
running. Otherwise, as root, the check installs Debian's ``docker.io`` and ``docker-compose``
with apt if they are missing, and starts ``dockerd`` the way it was seen to work on this kind
of machine (a VM without a registry): ``--iptables=false --bridge=none``, so it never
touches the machine's firewall or creates a bridge (the stack runs with host networking),
and the ``overlay2`` storage driver where the kernel has overlayfs, else ``vfs`` (which
copies the whole file system for every layer: several times slower, several GB more). It
has its own socket and state under ``/run``, keeps its images in ``.candleflow/compose/docker``
(the layer cache of the next run), and runs under ``nice`` so that the image builds yield
to whatever else the machine does.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGES = {
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
}
SYSTEM_SOCKET = "/var/run/docker.sock"


class Unavailable(RuntimeError):
    """No engine can be had here; the message says why (``make test`` prints it and skips)."""


def _answers(docker_host: str) -> bool:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    try:
        done = subprocess.run(
            [docker_binary(), "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _alive(pid: int, child: subprocess.Popen | None) -> bool:
    """Whether ``pid`` still runs; reaps it when it is our child (no zombie counts as alive)."""
    if child is not None and child.pid == pid:
        return child.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def docker_binary() -> str:
    """Debian's client first: it matches the daemon apt installs (API 1.41)."""
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    raise Unavailable("no docker client: apt-get install docker.io")


def why_not() -> str | None:
    """Why no engine can be had (for ``--if-possible``), or None when one can."""
    host = os.environ.get("DOCKER_HOST") or f"unix://{SYSTEM_SOCKET}"
    if shutil.which("docker") and _answers(host):
        return None
    if os.name != "posix" or not Path("/proc").exists():
        return "not a Linux host"
    if os.geteuid() != 0:
        return f"no Docker engine answers at {host}, and starting one needs root"
    if not shutil.which("dockerd") and not shutil.which("apt-get"):
        return "no Docker engine runs, dockerd is not installed and apt-get is not available"
    return None


def install_packages(names: list[str]) -> None:
    """apt-get install what is missing (``policy-rc.d`` keeps apt from starting services)."""
    missing = [PACKAGES[n] for n in names if not shutil.which(n)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(f"missing {', '.join(missing)}: install them (apt-get install ...)")
    log.info("installing %s with apt", " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
        check=True,
        timeout=1200,
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Engine:
    """Where the engine listens, and whether this check started it (and so stops it)."""

    data_root: Path
    docker_host: str = ""
    started: bool = False
    driver: str = ""
    run_dir: Path = field(init=False)
    _proc: subprocess.Popen | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        key = hashlib.sha256(str(self.data_root.resolve()).encode()).hexdigest()[:10]
        self.run_dir = Path("/run") / f"candleflow-dockerd-{key}"

    @property
    def log_path(self) -> Path:
        return self.data_root.parent / "dockerd.log"

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.docker_host}

    def ensure(self, *, start: bool = True) -> bool:
        """Use the running engine, adopt one a killed check left, or start dockerd.

        Returns whether an engine answers; ``start=False`` only looks (for ``--down``).
        """
        for host in (os.environ.get("DOCKER_HOST"), f"unix://{SYSTEM_SOCKET}"):
            if host and _answers(host):
                self.docker_host = host
                log.info("using the running Docker engine at %s (it stays running)", host)
                return True
        self.docker_host = f"unix://{self.run_dir / 'docker.sock'}"
        self.started = True
        if _answers(self.docker_host):
            log.info("adopting the engine a previous check left at %s", self.docker_host)
            return True
        if not start:
            return False
        if os.geteuid() != 0:
            raise Unavailable("no Docker engine runs, and starting one needs root")
        install_packages(["dockerd"])
        self._start()
        return True

    def _start(self) -> None:
        """overlay2 where the kernel has overlayfs (fast, layers are diffs), else vfs."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        with open("/proc/filesystems") as known:
            drivers = ["overlay2", "vfs"] if "overlay" in known.read() else ["vfs"]
        for driver in drivers:
            if self._start_with(driver):
                self.driver = driver
                log.info("started dockerd (%s, host networking only) at %s", driver,
                         self.docker_host)  # fmt: skip
                return
            log.warning("dockerd did not start with the %s storage driver", driver)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"dockerd did not start with {' or '.join(drivers)}:\n{tail}")

    def _start_with(self, driver: str) -> bool:
        log_file = self.log_path.open("ab")
        argv = [
            "nice",
            "-n",
            "10",
            "dockerd",
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.run_dir / "exec"),
            "--pidfile",
            str(self.run_dir / "dockerd.pid"),
            "--host",
            self.docker_host,
            f"--storage-driver={driver}",
            "--iptables=false",
            "--bridge=none",
        ]
        self._proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log_file.close()
        deadline = time.monotonic() + 60
        while not _answers(self.docker_host):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._stop_process(self._proc.pid)
                self._proc = None
                return False
            time.sleep(0.5)
        return True

    def unnice(self) -> None:
        """Back to normal priority once the images are built: the running stack (heartbeats,
        health checks) must not starve behind the machine's other work.

        Every thread of dockerd and containerd: niceness is per thread on Linux, and the
        container shims inherit it from whichever containerd thread starts them.
        """
        import psutil

        if not self.started or self._proc is None:
            return
        root = psutil.Process(self._proc.pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error, OSError):
                for thread in proc.threads():
                    os.setpriority(os.PRIO_PROCESS, thread.id, 0)

    def stop(self) -> None:
        """Stop the dockerd this check started (it stops its containerd); never another."""
        if not self.started:
            return
        try:
            pid = int((self.run_dir / "dockerd.pid").read_text())
        except (OSError, ValueError):
            pid = self._proc.pid if self._proc else 0
        if pid:
            self._stop_process(pid)
            log.info("stopped dockerd %d", pid)
        self._clean_run_dir()

    def _stop_process(self, pid: int) -> None:
        """SIGTERM, then after 60 s SIGKILL to its session (dockerd and its containerd)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _alive(pid, self._proc):
            time.sleep(0.5)
        if _alive(pid, self._proc):
            log.warning("dockerd %d did not stop within 60 s; killing its process group", pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def _clean_run_dir(self) -> None:
        """dockerd leaves its default network namespace mounted in the exec root."""
        prefix = str(self.run_dir) + "/"
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
        for point in sorted(points, reverse=True):
            subprocess.run(["umount", point], check=False, capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
