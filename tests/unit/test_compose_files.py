"""``docker-compose.yaml`` checked without Docker: schema, Airflow CLI, shared settings, paths.

- The file validates against the Compose specification's JSON schema, the copy that
  ``check-jsonschema`` (a dev dependency) vendors as ``compose-spec.json`` (Apache-2.0,
  from github.com/compose-spec/compose-spec), so no network is needed.
- Every service command, healthcheck and init step that calls ``airflow`` parses with the
  installed Airflow 3.3 CLI parser; ``candleflow`` steps exist in our CLI.
- All Airflow services share one executor (Celery), JWT secret, execution API URL (the
  api-server service), metadata database, broker (the redis service) and result backend.
- The mounts make ``import candleflow`` and the DAG files work: a fake container root is
  built from the bind mounts, ``sys.path`` from ``PYTHONPATH`` and the DAGs folder, and the
  DAG files are imported from there in a subprocess.
- Every ``${VAR}`` is documented in ``.env.example``; no secret is written literally.
- The test override ``docker-compose.check.yaml`` only adjusts services of the base file, puts
  every one on the host network, takes its ports from the check's variables (never the
  machine's 5432/6379/8080) and validates with the base file.
- The image: every base image is a build argument with a public default, the build context
  (an allowlist in ``.dockerignore``) holds every path the Dockerfile copies, the entrypoint
  dispatches like the official image's, and the wheelhouse list follows the lock's markers.

Nothing here needs Docker, so it is the unit tier's; ``make compose-check``
(docker/compose_check.py) runs all of it for real, with Docker.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
CHECK = ROOT / "docker-compose.check.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
LONG_RUNNING = {"postgres", "redis", *AIRFLOW_SERVICES} - {"airflow-init"}
SHARED = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "CANDLEFLOW_DATABASE_URL",
    "AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved by PyYAML


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_the_file_validates_against_the_compose_specification(compose):
    import jsonschema

    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification"
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(compose), key=lambda e: e.path
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_services_of_the_official_celery_layout_are_there(services):
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= set(services)
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    worker = services["airflow-worker"]
    # `--scale airflow-worker=N` needs no fixed container name and no published port.
    assert "container_name" not in worker and "ports" not in worker
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        needs = services[name]["depends_on"]
        assert needs["airflow-init"]["condition"] == "service_completed_successfully", name
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"


def test_every_airflow_service_shares_executor_secrets_database_and_broker(services):
    envs = {name: _env(services[name]) for name in AIRFLOW_SERVICES}
    for key in SHARED:
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), (key, values)
    env = envs["airflow-scheduler"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )
    assert any(p.endswith(":8080") for p in services["airflow-apiserver"]["ports"])
    assert re.fullmatch(r"redis://redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    warehouse = env["CANDLEFLOW_DATABASE_URL"]
    assert warehouse.endswith("@postgres:5432/candleflow")
    assert env["AIRFLOW_CONN_CANDLEFLOW_WAREHOUSE"] == warehouse


def _airflow_invocations(services) -> list[list[str]]:
    """Every airflow argv of the file (without the leading ``airflow``), values filled in."""
    found: list[list[str]] = []
    for name in AIRFLOW_SERVICES:
        service = services[name]
        if "entrypoint" not in service:  # the image's entrypoint runs `airflow <command>`
            found.append(_argv(service["command"]))
        test = service.get("healthcheck", {}).get("test", [])
        lines = [test[1]] if test and test[0] == "CMD-SHELL" else []
        if name == "airflow-init":
            lines = service["command"][-1].splitlines()
        for line in lines:
            filled = re.sub(r"\$\$\{(\w+)\}", "4", line).split("||")[0]
            argv = shlex.split(filled) if filled.strip().startswith("airflow ") else []
            if argv:
                found.append(argv[1:])
    return found


def test_every_airflow_command_parses_with_the_installed_cli(services, airflow_bin):
    invocations = _airflow_invocations(services)
    assert ["api-server"] in invocations and ["celery", "worker"] in invocations
    assert ["dag-processor"] in invocations and ["triggerer"] in invocations
    assert any(argv[:2] == ["pools", "set"] and argv[2] == "tradingview" for argv in invocations)
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "import airflow.providers.celery.executors.celery_executor as ce\n"
        "assert hasattr(ce, 'app')\n"
        "parser = get_parser()\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    parser.parse_args(argv)\n"
        "print('ok')\n"
    )
    python = str(Path(airflow_bin).with_name("python"))
    result = subprocess.run(
        [python, "-c", script, json.dumps(invocations)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "ok" in result.stdout, (invocations, result.stderr[-3000:])
    init = services["airflow-init"]["command"][-1]
    assert "candleflow db migrate" in init
    cli = subprocess.run(
        [str(Path(airflow_bin).with_name("candleflow")), "db", "migrate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr


def test_the_pools_airflow_init_creates_are_the_ones_the_dags_use(services):
    from candleflow.stack.env import POOLS

    init = services["airflow-init"]["command"][-1]
    created = set(re.findall(r"airflow pools set (\w+)", init))
    assert created == set(POOLS)


def test_mounts_and_pythonpath_make_candleflow_and_the_dags_importable(services, tmp_path):
    service = services["airflow-worker"]
    env = _env(service)
    fake_root = tmp_path / "container"
    for volume in service["volumes"]:
        source, _, target = volume.partition(":")
        target = target.split(":")[0]
        if source.startswith("./"):
            dest = fake_root / target.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(ROOT / source[2:])
    mounted = {v.partition(":")[2].split(":")[0] for v in service["volumes"]}
    dags_folder = env["AIRFLOW__CORE__DAGS_FOLDER"]
    assert dags_folder in mounted and env["AIRFLOW__CORE__PLUGINS_FOLDER"] in mounted
    pythonpath = env["PYTHONPATH"].split(":")
    # Airflow itself puts the DAGs and plugins folders on sys.path; PYTHONPATH adds include/.
    container_path = [str(fake_root / p.lstrip("/")) for p in pythonpath]
    container_path.append(str(fake_root / dags_folder.lstrip("/")))
    script = f"""
import importlib.util, pathlib, sys
editable = {str(ROOT / "include")!r}
sys.path[:] = {container_path!r} + [p for p in sys.path if p != editable and p]
import candleflow
assert candleflow.__file__.startswith({str(fake_root)!r}), candleflow.__file__
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(fake_root / dags_folder.lstrip("/"))!r})
assert not bag.import_errors, bag.import_errors
print(" ".join(sorted(bag.dag_ids)))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    dag_ids = result.stdout.split()
    assert "ohlcv_1h" in dag_ids and "warehouse_healthcheck" in dag_ids, dag_ids


def test_every_variable_is_documented_in_env_example():
    lines = COMPOSE.read_text().splitlines()
    used = set(VAR_REF.findall("\n".join(x for x in lines if not x.lstrip().startswith("#"))))
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    )
    missing = sorted(used - documented)
    assert not missing, f"add to .env.example: {missing}"


def test_no_secret_is_written_in_the_file(services):
    text = COMPOSE.read_text()
    for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text):
        assert VAR_REF.fullmatch(password), f"literal password in a URL: {password}"
    for name, service in services.items():
        for key, value in _env(service).items():
            if SECRET_NAME.search(key) and value and not key.endswith("_FILE"):
                ref = VAR_REF.fullmatch(value)
                assert ref, f"{name}: {key} is not a ${{VAR}} reference"
    # Secrets without which nothing may start are required (`:?`), never defaulted.
    for var in (
        "CANDLEFLOW_JWT_SECRET",
        "CANDLEFLOW_FERNET_KEY",
        "CANDLEFLOW_API_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "AIRFLOW_DB_PASSWORD",
        "CANDLEFLOW_DB_PASSWORD",
        "CANDLEFLOW_ADMIN_PASSWORD",
    ):
        refs = re.findall(r"(?<!\$)\$\{" + var + r"(:?[-?+])?[^}]*\}", text)
        assert refs and set(refs) == {":?"}, (var, refs)


@pytest.fixture(scope="module")
def check_override() -> dict[str, Any]:
    return yaml.safe_load(CHECK.read_text())


def _check_settings() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from composecheck.stack import settings
    finally:
        sys.path.remove(str(ROOT / "docker"))
    names = {"airflow": "a:1", "postgres": "p:1", "redis": "r:1"}
    return settings(names, "ws://127.0.0.1:1/socket.io/websocket")


def test_the_check_override_only_moves_services_onto_the_host_network(services, check_override):
    overridden = check_override["services"]
    assert set(overridden) <= set(services), set(overridden) - set(services)
    assert set(overridden) == set(services), "every service must leave the default network"
    for name, service in overridden.items():
        assert service["network_mode"] == "host", name
    lines = CHECK.read_text().splitlines()
    text = "\n".join(x for x in lines if not x.lstrip().startswith("#"))
    for taken in ("5432", "6379", "8080"):
        assert not re.search(rf"(?<![0-9]){taken}(?![0-9])", text), f"literal port {taken}"
    used = set(VAR_REF.findall(text))
    given = set(_check_settings())
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert used <= given | documented, sorted(used - given - documented)


def test_the_check_override_merges_into_a_valid_compose_file(compose, check_override):
    import jsonschema

    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(check_override))
    assert not errors, [e.message for e in errors]
    env = check_override["services"]["airflow-worker"]["environment"]
    # The URLs keep the base file's host names (extra_hosts maps them to 127.0.0.1).
    assert (
        "@postgres:${CANDLEFLOW_CHECK_POSTGRES_PORT" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    hosts = check_override["services"]["airflow-worker"]["extra_hosts"]
    assert {h.split(":")[0] for h in hosts} == {"postgres", "redis", "airflow-apiserver"}
    assert set(env) <= set(_env(compose["services"]["airflow-worker"])) | {
        k
        for k in env
        if k.startswith(
            (
                "AIRFLOW__SCHEDULER__",
                "AIRFLOW__DAG_PROCESSOR__",
                "AIRFLOW__CELERY__",
                "AIRFLOW__API__",
                "AIRFLOW__LOGGING__",
            )
        )
    }


def test_the_check_settings_are_fresh_secrets_and_distinct_free_ports():
    first, second = _check_settings(), _check_settings()
    for key in ("POSTGRES_PASSWORD", "CANDLEFLOW_JWT_SECRET", "CANDLEFLOW_FERNET_KEY"):
        assert first[key] != second[key] and len(first[key]) >= 32, key
    ports = [int(v) for k, v in first.items() if k.startswith("CANDLEFLOW_CHECK_")]
    assert len(set(ports)) == len(ports) and not {5432, 6379, 8080} & set(ports)


def test_every_base_image_is_a_build_argument_with_a_public_default():
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert args["UV_IMAGE"].startswith("ghcr.io/astral-sh/uv:")
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.M)
    named = {alias for _, alias in stages if alias}
    for image, _ in stages:
        assert image in named or image.strip("${}") in args, image
    make_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert make_uv and args["UV_IMAGE"].endswith(":" + make_uv.group(1))


def test_the_build_context_holds_every_path_the_dockerfile_copies(tmp_path):
    from fnmatch import fnmatch

    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def in_context(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate, pat = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
            parts = path.split("/")
            hit = any(fnmatch("/".join(parts[: i + 1]), pat) for i in range(len(parts)))
            if pat.startswith("**/"):
                hit = any(fnmatch(part, pat[3:]) for part in parts)
            if hit:
                keep = negate
        return keep

    sources = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        sources += line.split()[:-1]
    assert sources
    for source in sources:
        path = source.rstrip("/")
        if path == ".":
            continue
        assert (ROOT / path).exists(), source
        assert in_context(path), f"{source} is excluded by .dockerignore"
    assert not in_context(".venv/bin/python") and not in_context(".candleflow/secrets.json")
    assert not in_context("tests/conftest.py")
    assert in_context("include/candleflow/__init__.py") and in_context("dags/candleflow_dags.py")


@pytest.mark.parametrize(
    ("argv", "runs"),
    [
        (["scheduler"], "airflow scheduler"),
        (["celery", "worker", "--skip-serve-logs"], "airflow celery worker --skip-serve-logs"),
        (["api-server", "--port", "8080"], "airflow api-server --port 8080"),
        (["airflow", "version"], "airflow version"),
        (["candleflow", "db", "migrate"], "candleflow db migrate"),
        (["bash", "-c", "echo ran bash"], "ran bash"),
        ([], "airflow version"),
    ],
)
def test_the_entrypoint_runs_airflow_subcommands_and_programs_as_given(tmp_path, argv, runs):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("airflow", "candleflow"):
        fake = bin_dir / program
        fake.write_text(f'#!/bin/sh\necho {program} "$@"\n')
        fake.chmod(0o755)
    done = subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), *argv],
        capture_output=True, text=True, timeout=30,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == runs


def test_the_wheelhouse_follows_the_lock_markers_of_a_linux_python_3_11():
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from composecheck import wheelhouse
    finally:
        sys.path.remove(str(ROOT / "docker"))
    lock = (ROOT / "uv.lock").read_text()
    exported = subprocess.run(
        [str(ROOT / ".candleflow/bootstrap/bin/uv"), "export", "--frozen", "--no-dev",
         "--no-emit-project", "--format", "requirements-txt", "--no-header"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if exported.returncode != 0:
        pytest.skip(f"uv export failed: {exported.stderr[-500:]}")
    names = {
        spec.split("=")[0].lower(): hashes for spec, hashes in wheelhouse.needed(exported.stdout)
    }
    # Debian bookworm's Python is 3.11.2: the lock's async-timeout marker (< 3.11.3) holds.
    assert "async-timeout" in names and 'name = "async-timeout"' in lock
    assert "colorama" not in names  # sys_platform == 'win32' only
    assert "apache-airflow" in names and "candleflow" not in names
    assert all(hashes and all(h.startswith("sha256:") for h in hashes) for hashes in names.values())


def test_the_merged_check_file_drops_host_ports_and_clones_the_worker():
    import jsonschema

    sys.path.insert(0, str(ROOT / "docker"))
    try:
        from composecheck.stack import merged
    finally:
        sys.path.remove(str(ROOT / "docker"))
    result = merged()
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(result))
    assert not errors, [e.message for e in errors]
    services = result["services"]
    assert all("ports" not in s for s in services.values() if s["network_mode"] == "host")
    a, b = services["airflow-worker"], services["airflow-worker-b"]
    assert (a["hostname"], b["hostname"]) == ("cf-worker-a", "cf-worker-b")
    assert {**a, "hostname": None} == {**b, "hostname": None}
    # The base file's settings survive the merge; the check's replace only what it names.
    env = a["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["CANDLEFLOW_WATCHLIST"] == "/opt/airflow/check/watchlist.toml"
    targets = [v.split(":")[1] for v in a["volumes"]]
    assert "/opt/airflow/dags" in targets and "/opt/airflow/check/watchlist.toml" in targets
    assert len(targets) == len(set(targets))
