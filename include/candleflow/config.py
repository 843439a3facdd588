"""Settings from the environment: the one parser, and where things live.

Every setting is an environment variable documented in ``.env.example`` (a test checks that
each variable the package reads is there). Modules read them through ``setting``,
``integer``, ``number`` and ``flag`` here, never ``os.environ`` directly, so a blank value
means "the default" everywhere, a boolean has one set of spellings, and a bad value fails
naming the variable. Nothing here connects or starts anything: importing it is free (DAG files
do).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from candleflow.errors import ConfigError

DATABASE_URL_ENV = "CANDLEFLOW_DATABASE_URL"
HOME_ENV = "CANDLEFLOW_HOME"
PROJECT_DIR_ENV = "CANDLEFLOW_PROJECT_DIR"
WAREHOUSE_DB = "candleflow"
AIRFLOW_DB = "airflow"
WAREHOUSE_CONN_ID = "candleflow_warehouse"

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def setting(
    name: str, default: str | None = None, *, env: Mapping[str, str] | None = None
) -> str | None:
    """The variable's value, stripped; unset or blank gives ``default``.

    ``env`` replaces the process environment (a test, or the environment a child will get).
    """
    value = (os.environ if env is None else env).get(name, "").strip()
    return value or default


def _parsed(name: str, default, kind, env: Mapping[str, str] | None):
    text = setting(name, env=env)
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a valid {kind.__name__}") from None


def integer(name: str, default: int, *, env: Mapping[str, str] | None = None) -> int:
    """A whole number; ``ConfigError`` names the variable when it is not one."""
    return _parsed(name, default, int, env)


def number(name: str, default: float, *, env: Mapping[str, str] | None = None) -> float:
    """A number (``2``, ``0.5``); ``ConfigError`` names the variable when it is not one."""
    return _parsed(name, default, float, env)


def flag(name: str, default: bool | None, *, env: Mapping[str, str] | None = None) -> bool | None:
    """On (1, true, yes, on) or off (0, false, no, off), any case; unset or blank: ``default``."""
    text = setting(name, env=env)
    if text is None:
        return default
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ConfigError(f"{name}={text!r}; expected one of {', '.join(TRUE + FALSE)}")


def project_root() -> Path:
    """The checkout: ``include/candleflow/config.py`` -> two levels up from the package."""
    return Path(setting(PROJECT_DIR_ENV) or Path(__file__).resolve().parents[2])


def home() -> Path:
    """Runtime state (database files, Airflow home, logs): ``.candleflow/`` in the checkout."""
    return Path(setting(HOME_ENV) or project_root() / ".candleflow")


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
    return setting(DATABASE_URL_ENV)
