"""The environment every local Airflow process gets, and the secrets it needs.

Airflow is configured entirely through ``AIRFLOW__*`` variables computed here, so the
api-server, scheduler, dag-processor, triggerer, the tests and ``airflow dags test`` all
agree (one JWT secret, one execution API URL, one metadata database). Secrets are made
once per checkout and kept in ``.candleflow/secrets.json`` (mode 0600 from creation, written
atomically, never in git).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from candleflow import config
from candleflow.db import connection

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"  # the UI and API on this machine only, unless configured
HOST_ENV = "CANDLEFLOW_AIRFLOW_HOST"
ADMIN_USER = "admin"
_LOCAL = ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost")  # noqa: S104 - names, not binds

# The pools the DAGs use, with their slots: TradingView throttles concurrent connections.
POOLS: dict[str, tuple[int, str]] = {
    "tradingview": (4, "Concurrent TradingView websocket sessions"),
    "warehouse_loads": (8, "Concurrent bulk loads into the warehouse"),
}


def airflow_home() -> Path:
    return config.home() / "airflow"


def write_private(path: Path, text: str, *, replace: bool = True) -> bool:
    """Write a secret file: mode 0600 from its first byte, complete or not at all.

    The text goes to a temporary file in the same folder (``mkstemp``: O_EXCL, mode 0600),
    is flushed to disk, then takes the final name in one step. So no reader ever sees the
    file half-written or readable by others, and a symlink planted at ``path`` is replaced,
    never written through. ``replace=False`` keeps a file that already exists (two first
    runs racing both keep the winner's); returns False then.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if path exists, whatever it is
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def api_host() -> str:
    """Where the api-server listens: ``CANDLEFLOW_AIRFLOW_HOST``, else 127.0.0.1."""
    return config.setting(HOST_ENV, DEFAULT_HOST)


def client_url(port: int) -> str:
    """The URL this machine's processes (tasks, the supervisor) reach the api-server at."""
    host = api_host()
    return f"http://{'localhost' if host in _LOCAL else host}:{port}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's pick), for a port only we use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_secrets() -> dict[str, str]:
    """The per-checkout secrets, created once (0600, atomically; see ``write_private``)."""
    path = config.home() / "secrets.json"
    if not path.exists():
        values = {
            "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "jwt_secret": secrets.token_urlsafe(64),  # HS512 wants >= 64 bytes
            "api_secret_key": secrets.token_urlsafe(32),
            "admin_password": secrets.token_urlsafe(12),
            "reader_password": secrets.token_urlsafe(16),
        }
        if write_private(path, json.dumps(values, indent=2), replace=False):
            return values
    values = json.loads(path.read_text())
    if "reader_password" not in values:  # a home made before the BI login had a password
        values["reader_password"] = secrets.token_urlsafe(16)
        write_private(path, json.dumps(values, indent=2))
    return values


def reader_password() -> str:
    """The BI login's password on the embedded server: ``CANDLEFLOW_READER_PASSWORD`` when
    set, else the one generated once for this home (``secrets.json``)."""
    from candleflow.db import roles

    return config.setting(roles.PASSWORD_ENV) or load_secrets()["reader_password"]


def reader_login() -> str:
    """The line that tells a BI user how to log in (printed beside the admin's login)."""
    from candleflow.db import embedded, listen, roles

    where = listen.configured()
    if where is None:
        return (
            f"BI login: {roles.READER_ROLE} on the Unix socket only "
            f"(set {listen.LISTEN_ENV}=127.0.0.1:5433 for TCP)"
        )
    running = listen.running_port(embedded.pgdata())
    if running is not None and running != where.port:
        return (
            f"BI login: the running server does not listen on {where} yet; restart it "
            "(candleflow db stop, then candleflow db start)"
        )
    host = "127.0.0.1" if where.host in ("0.0.0.0", "*", "::") else where.host  # noqa: S104
    # a password the user chose is theirs to know: not echoed
    shown = f"${roles.PASSWORD_ENV}" if config.setting(roles.PASSWORD_ENV) else reader_password()
    return (
        f"BI login: host {host} port {where.port} database {config.WAREHOUSE_DB} "
        f"user {roles.READER_ROLE} password {shown}"
    )


def sqlalchemy_url(libpq_url: str) -> str:
    """The metadata database URL in SQLAlchemy's form (a socket folder goes in ``?host=``)."""
    parts = urlsplit(libpq_url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host, _, port = hostport.partition(":")
    if host.startswith("%2F"):
        query = f"host={host}" + (f"&port={port}" if port else "")
        return f"postgresql+psycopg2://{userinfo}@{parts.path}?{query}"
    return (
        "postgresql+psycopg2://"
        + parts.netloc
        + parts.path
        + (f"?{parts.query}" if parts.query else "")
    )


def airflow_env(*, port: int = DEFAULT_PORT, executor: str = "LocalExecutor") -> dict[str, str]:
    """``os.environ`` plus the Airflow settings of this checkout."""
    warehouse = connection.warehouse_url()
    metadata = connection.admin_url(warehouse, config.AIRFLOW_DB)
    secret = load_secrets()
    home = airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    write_private(passwords, json.dumps({ADMIN_USER: secret["admin_password"]}))
    root = config.project_root()
    base_url = client_url(port)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "CANDLEFLOW_HOME": str(config.home()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": secret["fernet_key"],
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": api_host(),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__SECRET_KEY": secret["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # Riding through a restarted component (docs/reliability.md). A scheduler that
            # exits takes its LocalExecutor workers, the task supervisors, with it; their task
            # instances stay queued or running, holding pool slots, until a scheduler resets
            # them as orphans. It looks at start-up (too soon: the dead one's heartbeat is still
            # fresh) and then every ORPHANED_TASKS_CHECK_INTERVAL, by default 300 s: here 10 s,
            # so they are reset 30-40 s after the kill (the dead scheduler's heartbeat must be
            # SCHEDULER_HEALTH_CHECK_THRESHOLD old, 30 s by default; kept, as a live but slow
            # scheduler older than that would be failed too).
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
            # A task supervisor kills its task after MAX_FAILED_HEARTBEATS failed heartbeats
            # in a row, one per MIN_HEARTBEAT_INTERVAL (5 s): by default 3, so an api-server
            # restart (20-40 s on a busy machine) killed every running task. 18 rides through
            # 90 s of it.
            "AIRFLOW__WORKERS__MAX_FAILED_HEARTBEATS": "18",
            # A task whose supervisor died (killed, or out of memory) under a live scheduler
            # is failed, and retried, once it has not heartbeaten for this long: 300 s by
            # default, here 120 s (heartbeats come every 5 s; longer than the 90 s above, so
            # the scheduler does not fail a task its supervisor still keeps).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
            # Ports of this stack only, picked free: two stacks on one machine never share
            # them, and they listen on 127.0.0.1 (the log servers are off in ``make up``).
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW_CONN_" + config.WAREHOUSE_CONN_ID.upper(): warehouse,
        }
    )
    if sys.platform.startswith("linux"):
        # LocalExecutor workers are forked from the scheduler, so its warm validation is
        # inherited (candleflow.validation.warm); Python 3.14 made forkserver the default.
        env["AIRFLOW__SCHEDULER__MP_START_METHOD"] = "fork"
    return env


def pools_file() -> Path:
    """The pools in ``airflow pools import`` format."""
    path = airflow_home() / "pools.json"
    path.write_text(
        json.dumps(
            {
                name: {"slots": slots, "description": text, "include_deferred": False}
                for name, (slots, text) in POOLS.items()
            }
        )
    )
    return path
