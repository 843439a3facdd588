"""The embedded server's optional TCP listener for BI tools, and its authentication rules.

Why: Metabase, Superset or Tableau usually run elsewhere (often in Docker) and connect over
TCP with a password, while the stack's own processes use the Unix socket with trust (only
this user can open the 0700 socket folder). ``CANDLEFLOW_DB_LISTEN`` (``127.0.0.1:5433``,
``0.0.0.0:5433`` for a container network, or a bare port meaning 127.0.0.1) turns TCP on.

- Every TCP login is checked with scram-sha-256 (``pg_hba.conf`` is rewritten at each start:
  the socket stays ``trust``, any ``host`` line is ``scram-sha-256``), so ``postgres``, which
  has no password, cannot log in over TCP at all and the reader needs its password.
- PostgreSQL has one ``port`` for its socket and its TCP listener, so with TCP on the socket
  file is named after that port too; ``port()`` reads the running server's port from
  ``postmaster.pid``, so every client finds it.
- A port already taken (a system PostgreSQL on 5432, another stack) is refused before the
  server starts, with an error naming the variable, instead of a server that fails to bind.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import NamedTuple

from candleflow.errors import ConfigError

log = logging.getLogger(__name__)

LISTEN_ENV = "CANDLEFLOW_DB_LISTEN"
SOCKET_PORT = 5432  # the port (and socket file name) when TCP is off
DEFAULT_HOST = "127.0.0.1"

HBA = """\
# Written by candleflow at every start of the embedded server; edits are replaced.
# The Unix socket (a 0700 folder) is for the stack's own processes: trust.
local   all   all                   trust
# Every TCP login needs a password (CANDLEFLOW_DB_LISTEN turns TCP on).
host    all   all   0.0.0.0/0       scram-sha-256
host    all   all   ::/0            scram-sha-256
"""


class Listen(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def configured(environ: dict[str, str] | None = None) -> Listen | None:
    """``CANDLEFLOW_DB_LISTEN`` parsed, or None when TCP is off (unset or empty)."""
    env = os.environ if environ is None else environ
    raw = (env.get(LISTEN_ENV) or "").strip()
    if not raw:
        return None
    host, sep, port_text = raw.rpartition(":")
    host = host.strip("[]") if sep else DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    if not 0 < port < 65536 or not host:
        raise ConfigError(
            f"{LISTEN_ENV}={raw!r}; expected HOST:PORT such as 127.0.0.1:5433 "
            "(or 0.0.0.0:5433 for a container network)"
        )
    return Listen(host, port)


def running_port(pgdata: Path) -> int | None:
    """The port in ``postmaster.pid`` (its fourth line), None when unreadable."""
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def check_free(where: Listen) -> None:
    """Refuse a port something else listens on, naming the variable that moves it."""
    family = socket.AF_INET6 if ":" in where.host else socket.AF_INET
    host = "" if where.host in ("*", "0.0.0.0") else where.host  # noqa: S104 - checks a bind
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, where.port))
        except OSError as exc:
            raise ConfigError(
                f"{LISTEN_ENV}={where}: cannot listen there ({exc.strerror}); another server "
                f"(a PostgreSQL on {where.port}?) may hold it: pick a free port, "
                f"e.g. {LISTEN_ENV}={where.host}:{where.port + 1}"
            ) from None


def server_options(where: Listen | None, socket_dir: Path) -> str:
    """The ``postgres`` options of the listener (none: socket only, as before)."""
    if where is None:
        return f"-c listen_addresses='' -k {socket_dir} -p {SOCKET_PORT}"
    return f"-c listen_addresses='{where.host}' -k {socket_dir} -p {where.port}"


def write_hba(pgdata: Path, user: str | None) -> None:
    """Replace ``pg_hba.conf`` (initdb's trusts 127.0.0.1 too) with the rules above."""
    path = pgdata / "pg_hba.conf"
    path.write_text(HBA)
    path.chmod(0o600)
    if user is not None:
        import shutil

        shutil.chown(path, user, user)


def warn_if_stale(where: Listen | None, pgdata: Path) -> None:
    """A server already running keeps its listener: say so when the setting changed."""
    port = running_port(pgdata)
    wanted = where.port if where else SOCKET_PORT
    if port is not None and port != wanted:
        log.warning(
            "the embedded server runs on port %d but %s asks for %s; restart it "
            "(candleflow db stop, then candleflow db start) to apply",
            port,
            LISTEN_ENV,
            where or "no TCP listener",
        )
