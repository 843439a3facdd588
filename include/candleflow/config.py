"""Where things live and which database to use, from the environment with safe defaults.

Every setting is an environment variable documented in ``.env.example``. Nothing here
connects or starts anything: importing it is free (DAG files do).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

DATABASE_URL_ENV = "CANDLEFLOW_DATABASE_URL"
HOME_ENV = "CANDLEFLOW_HOME"
WAREHOUSE_DB = "candleflow"
AIRFLOW_DB = "airflow"
WAREHOUSE_CONN_ID = "candleflow_warehouse"


def project_root() -> Path:
    """The checkout: ``include/candleflow/config.py`` -> two levels up from the package."""
    return Path(os.environ.get("CANDLEFLOW_PROJECT_DIR") or Path(__file__).resolve().parents[2])


def home() -> Path:
    """Runtime state (database files, Airflow home, logs): ``.candleflow/`` in the checkout."""
    return Path(os.environ.get(HOME_ENV) or project_root() / ".candleflow")


def socket_dir() -> Path:
    """The embedded server's Unix socket folder.

    A socket path is limited to ~107 bytes; deep checkouts fall back to a short folder in
    /tmp named after the home folder, so two checkouts never share a server.
    """
    preferred = home() / "run"
    if len(str(preferred)) <= 80:
        return preferred
    digest = hashlib.sha256(str(home()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"candleflow-{digest}"  # noqa: S108 - a socket folder, 0700


def configured_database_url() -> str | None:
    """``CANDLEFLOW_DATABASE_URL`` when set: it replaces the embedded server everywhere.

    Only the setting: which URL wins is decided in one place, ``candleflow.db.connection``
    (outside Airflow) and ``candleflow.airflow.connections`` (inside, where the
    ``candleflow_warehouse`` connection comes first).
    """
    return os.environ.get(DATABASE_URL_ENV) or None
