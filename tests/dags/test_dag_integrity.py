"""DAG integrity: every DAG imports cleanly, is tagged, retries, and parses fast; it starts
paused or not as the README's DAG table says, and its Trigger form requires no param that
may be left empty.

No monkeypatching: the DAG files must import with the plain environment.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.dag_runs import run_dag
from tests.support.readme import dag_start_states, paused_per_readme

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_every_dag_is_tagged_documented_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.max_active_runs is not None, dag_id
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_in_under_a_second(path):
    """Time the file itself in a fresh interpreter, after Airflow's own import is paid.

    CPU time, not wall time: the dag-processor's budget is work, and a busy CI machine must
    not turn a 0.2 s parse into a failure.
    """
    code = (
        "import time, runpy, airflow.sdk\n"
        "t = time.process_time()\n"
        f"runpy.run_path({str(path)!r})\n"
        "print(time.process_time() - t)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seconds = float(result.stdout.strip().splitlines()[-1])
    assert seconds < 1.0, f"{path.name} took {seconds:.2f}s to parse"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy_at_parse_time(path):
    heavy = (
        "pandas",
        "great_expectations",
        "websocket",
        "numpy",
        "pyarrow",
        "adbc_driver_postgresql",
    )
    code = (
        "import sys, runpy\n"
        f"runpy.run_path({str(path)!r})\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_healthcheck_dag_run_records_a_healthy_warehouse(airflow_env, airflow_bin, db_url, db):
    env = dict(airflow_env, CANDLEFLOW_DATABASE_URL=db_url)
    started = time.time()
    result = run_dag(airflow_bin, env, "warehouse_healthcheck", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with db.cursor() as cur:
        cur.execute("SELECT ok, run_id, checked_at FROM candleflow.health_checks")
        rows = cur.fetchall()
    assert len(rows) == 1 and rows[0][0] is True and rows[0][1]
    assert rows[0][2].timestamp() >= started - 1


def test_a_symbols_param_refuses_what_the_instruments_table_would(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    # a copy: resolve() keeps the value it resolved, and the DagBag is shared by the module
    param = copy.deepcopy(dagbag.dags["bars_rollup"].params.get_param("symbols"))
    assert param.resolve(["NASDAQ:AAPL", "NYSE:BRK.B"]) == ["NASDAQ:AAPL", "NYSE:BRK.B"]
    for bad in ("NASDAQ:AA PL", "NASDAQ:AAPL:X", "BINANCE:XRP/ETH", "AAPL", "X:" + "Y" * 70):
        with pytest.raises(ParamValidationError):
            param.resolve([bad])


def test_every_dag_starts_paused_or_running_as_the_readme_says(dagbag):
    states = dag_start_states()
    got = {dag_id: dag.is_paused_upon_creation for dag_id, dag in dagbag.dags.items()}
    want = {dag_id: paused_per_readme(dag_id, states) for dag_id in dagbag.dags}
    assert got == want
    assert not want["freshness_check"] and not want["instruments_sync"]


def _required_in_trigger_form(schema: dict) -> bool:
    """Airflow 3's Trigger form marks a field required when its schema has a type and that
    type does not include "null" (the rule of its React form, ``airflow/ui``)."""
    kind = schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_a_param_that_may_be_left_empty_is_not_required_in_the_trigger_form(dagbag):
    checked = []
    for dag_id, dag in dagbag.dags.items():
        for name in dag.params:
            param = dag.params.get_param(name).dump()
            if param["value"] in ([], None, ""):  # empty means all symbols, the run's window
                checked.append(f"{dag_id}.{name}")
                assert not _required_in_trigger_form(param["schema"]), (dag_id, name, param)
    assert "bars_rollup.symbols" in checked and "ohlcv_1h.symbols" in checked
