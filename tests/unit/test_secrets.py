"""Secrets never leak: DSN descriptions, connect errors, secret files, the socket folder.

Each case is one a hostile or careless setup produces: a keyword DSN with a password, a
?password= URL, two first runs racing to create secrets.json, a symlink planted where the
passwords file goes, a permissive umask, a socket folder created first by someone else.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import stat
from pathlib import Path

import pytest

from candleflow.db import connection, embedded
from candleflow.errors import ConfigError, DatabaseUnavailable
from candleflow.stack import env as stack_env

SECRET = "hunter2-Secret"


@pytest.mark.parametrize(
    ("dsn", "described"),
    [
        (
            f"postgresql://bob:{SECRET}@db.example.com:6543/warehouse",
            "db.example.com:6543/warehouse",
        ),
        (
            f"host=db.example.com password={SECRET} dbname=warehouse user=bob",
            "db.example.com:5432/warehouse",
        ),
        (f"host=db.example.com password='{SECRET} x' dbname=w", "db.example.com:5432/w"),
        (
            f"postgresql://bob@db.example.com/warehouse?password={SECRET}",
            "db.example.com:5432/warehouse",
        ),
        (f"postgresql:///warehouse?host=/run/pg&password={SECRET}", "/run/pg:5432/warehouse"),
        (f"host=db.example.com password={SECRET} junk", "<a DSN libpq cannot parse>"),
    ],
)
def test_a_dsn_is_described_without_its_user_or_password(dsn, described):
    assert connection.describe(dsn) == described
    assert SECRET not in connection.describe(dsn) and "bob" not in connection.describe(dsn)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "template",
    [
        "host=127.0.0.1 port={port} user=bob password={secret} dbname=warehouse",
        "postgresql://bob:{secret}@127.0.0.1:{port}/warehouse",
        "postgresql://bob@127.0.0.1:{port}/warehouse?password={secret}",
    ],
)
def test_cannot_connect_names_the_server_and_never_the_password(template):
    port = _closed_port()
    with pytest.raises(DatabaseUnavailable) as caught:
        connection.connect(template.format(port=port, secret=SECRET))
    message = str(caught.value)
    assert f"127.0.0.1:{port}/warehouse" in message
    assert SECRET not in message and "bob" not in message


def test_the_read_side_cannot_connect_the_same_way_and_never_shows_the_password():
    """``query.versions`` (the API's cache keys) reports a failed connect as ``connect`` does."""
    from candleflow.query import versions

    port = _closed_port()
    with pytest.raises(DatabaseUnavailable) as caught:
        versions.version("NASDAQ:AAPL", f"postgresql://bob:{SECRET}@127.0.0.1:{port}/warehouse")
    message = str(caught.value)
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/warehouse" in message
    assert SECRET not in message and "bob" not in message


MALFORMED = [
    f"postgresql://bob:{SECRET}%zz@127.0.0.1/warehouse",  # a bad percent-escape in the password
    f"postgresql://bob:{SECRET}@[127.0.0.1/warehouse",  # an unclosed IPv6 bracket
    f"host=127.0.0.1 password={SECRET} junk",  # a keyword DSN with a stray word
    f"host=127.0.0.1 password='{SECRET}",  # an unterminated quote
]


@pytest.mark.parametrize("dsn", MALFORMED)
def test_a_malformed_dsn_is_refused_without_echoing_it(dsn):
    with pytest.raises(ConfigError) as caught:
        connection.connect(dsn)
    message = str(caught.value)
    assert "not a valid PostgreSQL URL" in message and "postgresql://" in message
    assert SECRET not in message and "bob" not in message


def test_the_cli_names_a_malformed_database_url_in_one_line_without_its_password():
    import subprocess
    import sys

    cli = str(Path(sys.executable).with_name("candleflow"))
    env = dict(os.environ, CANDLEFLOW_DATABASE_URL=MALFORMED[0])
    result = subprocess.run([cli, "db", "status"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and "CANDLEFLOW_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


# --- secret files ----------------------------------------------------------------------


def _load_in(home: str, barrier, out) -> None:
    os.environ["CANDLEFLOW_HOME"] = home
    barrier.wait()
    out.put(stack_env.load_secrets())


def test_racing_first_runs_agree_on_one_secrets_file_created_0600(tmp_path):
    home = tmp_path / "home"
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(6), context.Queue()
    runs = [context.Process(target=_load_in, args=(str(home), barrier, out)) for _ in range(6)]
    for run in runs:
        run.start()
    got = [out.get(timeout=60) for _ in runs]
    for run in runs:
        run.join(timeout=60)
    stored = json.loads((home / "secrets.json").read_text())
    assert all(values == stored for values in got)  # every process uses the stored secrets
    assert stat.S_IMODE((home / "secrets.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in home.iterdir()) == ["secrets.json"]  # no temporary left


def test_secret_files_are_0600_from_creation_even_with_an_open_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("CANDLEFLOW_HOME", str(tmp_path))
    old = os.umask(0)
    try:
        stack_env.load_secrets()
        written = stack_env.write_private(tmp_path / "other.json", "{}")
    finally:
        os.umask(old)
    assert written
    for name in ("secrets.json", "other.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_symlink_planted_at_a_secret_file_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "attacker-readable.txt"
    target.write_text("untouched")
    target.chmod(0o644)
    planted = tmp_path / "simple_auth_manager_passwords.json"
    planted.symlink_to(target)

    stack_env.write_private(planted, json.dumps({"admin": SECRET}))

    assert target.read_text() == "untouched"
    assert not planted.is_symlink() and json.loads(planted.read_text()) == {"admin": SECRET}
    assert stat.S_IMODE(planted.stat().st_mode) == 0o600


# --- the embedded server's socket folder ---------------------------------------------------


def test_a_fresh_socket_folder_is_created_private(tmp_path):
    folder = tmp_path / "sock"
    embedded.private_socket_dir(folder, None)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    embedded.private_socket_dir(folder, None)  # and accepted the next time


def test_a_socket_folder_others_can_write_to_is_refused(tmp_path):
    folder = tmp_path / "sock"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ConfigError, match=r"has mode 0777, expected 0700") as caught:
        embedded.private_socket_dir(folder, None)
    assert str(folder) in str(caught.value) and "CANDLEFLOW_HOME" in str(caught.value)


def test_a_symlinked_socket_folder_is_refused(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (tmp_path / "sock").symlink_to(real)
    with pytest.raises(ConfigError, match="not a plain folder"):
        embedded.private_socket_dir(tmp_path / "sock", None)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder of another user needs root")
def test_a_socket_folder_another_user_created_is_refused(tmp_path):
    import pwd

    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(folder, nobody, -1)
    with pytest.raises(ConfigError, match=f"owned by uid {nobody}"):
        embedded.private_socket_dir(folder, None)


def test_start_refuses_a_planted_socket_folder_before_touching_anything(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CANDLEFLOW_HOME", str(home))
    from candleflow import config

    sock = config.socket_dir()
    sock.mkdir(parents=True)
    sock.chmod(0o777)
    with pytest.raises(ConfigError, match="socket folder"):
        embedded.start()
    assert not (Path(embedded.pgdata()) / "PG_VERSION").exists()
