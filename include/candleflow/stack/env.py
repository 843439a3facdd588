"""The environment every local Airflow process gets, and the secrets it needs.

Airflow is configured entirely through ``AIRFLOW__*`` variables computed here, so the
api-server, scheduler, dag-processor, triggerer, the tests and ``airflow dags test`` all
agree (one JWT secret, one execution API URL, one metadata database). Secrets are made
once per checkout and kept in ``.candleflow/secrets.json`` (mode 0600, never in git).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from candleflow import config
from candleflow.db import connection

DEFAULT_PORT = 8080
ADMIN_USER = "admin"

# The pools the DAGs use, with their slots: TradingView throttles concurrent connections.
POOLS: dict[str, tuple[int, str]] = {
    "tradingview": (4, "Concurrent TradingView websocket sessions"),
    "warehouse_loads": (8, "Concurrent bulk loads into the warehouse"),
}


def airflow_home() -> Path:
    return config.home() / "airflow"


def load_secrets() -> dict[str, str]:
    """The per-checkout secrets, created on first use."""
    path = config.home() / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "jwt_secret": secrets.token_urlsafe(64),  # HS512 wants >= 64 bytes
        "api_secret_key": secrets.token_urlsafe(32),
        "admin_password": secrets.token_urlsafe(12),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2))
    return values


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
    passwords.write_text(json.dumps({ADMIN_USER: secret["admin_password"]}))
    passwords.chmod(0o600)
    root = config.project_root()
    base_url = f"http://localhost:{port}"
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
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__SECRET_KEY": secret["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": secret["jwt_secret"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW_CONN_" + config.WAREHOUSE_CONN_ID.upper(): warehouse,
        }
    )
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
