"""What OpenLineage costs a chunk task when it is on, and what its bookkeeping costs when off.

Why: lineage must not slow the loads down. Each figure has its anchor from the same run:

- **Facets and event, in process**, for chunks of 1, 100 (the default chunk size) and 500
  symbols, each loading a day of 1h bars from the replay server: building the chunk's facets
  (``chunk_lineage``, what the listener asks the operator for) plus emitting the COMPLETE
  event the way the provider does (its secrets redaction, JSON, the file transport), beside
  ``sync_chunk``'s own duration for that chunk (the task's work). Event size included.
- **Per task, end to end**: ``airflow dags test ohlcv_1h`` with one 100-symbol chunk task,
  OpenLineage off and on (file transport), alternately, twice each. Their wall times differ
  by more than lineage costs on a loaded machine (GX's warm-up alone varies by seconds), so
  the overhead is measured where the listener runs: the two phases of the task around
  ``execute`` that hold its START and COMPLETE (timed from the task log), on minus off, plus
  the OpenLineage plugin's import in a fresh interpreter, on minus off. Anchor: the wall time
  with it off.
- **Data Docs**, in the same chunks: the seconds spent rendering each validated slice's page
  on the load's path (``validation.docs.render``) and writing it on the store's background
  thread (``db.docs_store.write_page``), timed by wrappers, beside ``sync_chunk``'s duration
  (which includes waiting for the last writes), with the pages' count and size.
- **Off**: what a chunk does for lineage and metrics whatever the setting (``Quality.fetched``
  and ``observe`` per slice, i.e. a null count of the frame), per symbol, beside the chunk's
  time per symbol.

Writes ``benchmarks/results/lineage.json``. Run: ``.venv/bin/python benchmarks/bench_lineage.py``
(``CANDLEFLOW_BENCH_E2E=0`` skips the end-to-end part).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
EVENTS = Path(tempfile.mkdtemp(prefix="cf-bench-lineage-")) / "events.jsonl"
os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
    {"type": "file", "log_file_path": str(EVENTS), "append": True}
)

import harness  # noqa: E402 - after the transport is set: Airflow reads it once

from candleflow.airflow.lineage import chunk_lineage  # noqa: E402
from candleflow.db import docs_store as docs  # noqa: E402
from candleflow.services.chunk import sync_chunk  # noqa: E402
from candleflow.services.results import Quality  # noqa: E402
from candleflow.services.sync import settings_for  # noqa: E402
from candleflow.testing import ReplayServer, synthetic  # noqa: E402
from candleflow.validation import docs as pages  # noqa: E402

DB = "cf_bench_lineage"
META = "cf_bench_lineage_meta"
START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
SIZES = (1, 100, 500)
REPEATS = 5


DOCS = {"render_s": 0.0, "write_s": 0.0, "pages": 0}
os.environ.setdefault(docs.STORE_ENV, str(EVENTS.parent / "data_docs"))


def _timed(work, key: str):
    """``work`` adding its seconds to ``DOCS[key]`` (and each write, a page)."""

    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            DOCS[key] += time.perf_counter() - began
            DOCS["pages"] += key == "write_s"

    return timed


docs.write_page = _timed(docs.write_page, "write_s")
pages.render = _timed(pages.render, "render_s")


def _store_bytes(run_id: str) -> int:
    return sum(p.stat().st_size for p in docs.store().glob(f"{run_id}/*/*/*.html"))


def emit(adapter, lineage) -> int:
    """The COMPLETE event as the listener sends it (adapter.emit redacts, then transports)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=dt.datetime.now(dt.UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="default", name="ohlcv_1h.sync_tradingview"),
        inputs=lineage.inputs,
        outputs=lineage.outputs,
    )
    adapter.emit(event)
    return len(EVENTS.read_text().splitlines()[-1].encode())


def in_process(url: str, srv: ReplayServer) -> list[dict]:
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    adapter, rows = OpenLineageAdapter(), []
    for n in SIZES:
        symbols = harness.universe(n)
        settings = settings_for(run_id=f"bench_{n}", url=url, now=END + dt.timedelta(hours=1))
        options = {"url": srv.url}
        DOCS.update(render_s=0.0, write_s=0.0, pages=0)
        result = sync_chunk(symbols, "1h", START, END, settings, provider_options=options)
        written = dict(DOCS)
        build, send, size = [], [], 0
        for _ in range(REPEATS):
            began = time.perf_counter()
            lineage = chunk_lineage(result, url)
            build.append(time.perf_counter() - began)
            began = time.perf_counter()
            size = emit(adapter, lineage)
            send.append(time.perf_counter() - began)
        rows.append(
            {
                "symbols": n,
                "sync_chunk_s": round(result.duration_s, 3),
                "facets_s": round(statistics.median(build), 4),
                "emit_s": round(statistics.median(send), 4),
                "event_bytes": size,
                "lineage_share": round(
                    (statistics.median(build) + statistics.median(send)) / result.duration_s, 4
                ),
                "data_docs_render_s": round(written["render_s"], 4),
                "data_docs_write_s": round(written["write_s"], 4),
                "data_docs_pages": written["pages"],
                "data_docs_bytes": _store_bytes(f"bench_{n}"),
                "data_docs_share": round(written["render_s"] / result.duration_s, 4),
            }
        )
        print(rows[-1], flush=True)
    return rows


def bookkeeping(per_symbol_s: float) -> dict:
    """Quality.fetched + observe for one day of 1h bars (24 rows), per symbol."""
    bars = synthetic.bars("BINANCE:BTCUSDT", "1h", START, END, seed=1)
    audit = {"rows_fetched": 24, "rows_rejected": 0, "validate_s": 0.01, "load_s": 0.01}
    audit["validation"] = {"summary": {"rows_checked": 24, "rules": dict.fromkeys(range(11), 0)}}
    quality, loops = Quality(), 2000
    began = time.perf_counter()
    for _ in range(loops):
        quality.fetched(bars, 0.01)
        quality.observe(audit)
    each = (time.perf_counter() - began) / loops
    return {
        "per_symbol_us": round(each * 1e6, 1),
        "share_of_symbol_time": round(each / per_symbol_s, 5),
    }


def listener_phases(log: str) -> float:
    """Seconds of the two phases of a task where the OpenLineage listener runs, from a
    ``dags test`` log: before execute (rendered fields stored -> end of the pre-execute group:
    START) and after it (final state reported -> end of the post-execute group: COMPLETE)."""
    lines = [line for line in log.splitlines() if line[:4].isdigit() and "Z [" in line[:40]]

    def at(i: int) -> float:
        return dt.datetime.fromisoformat(lines[i].split(" ", 1)[0].rstrip("Z")).timestamp()

    def first(text: str, after: int = 0) -> int:
        return next(i for i in range(after, len(lines)) if text in lines[i])

    rendered = first("Updating RenderedTaskInstanceFields")
    post = first("::group::Post Execute")
    final = first("Task instance state updated", post)
    return (at(first("::endgroup::", rendered)) - at(rendered)) + (
        at(first("::endgroup::", final)) - at(final)
    )


def plugin_import(env: dict, on: dict) -> dict:
    """The OpenLineage plugin's import in a fresh interpreter, off and on (min of 3 each)."""
    code = (
        "import json, time, airflow.sdk; t = time.perf_counter();"
        " import airflow.providers.openlineage.plugins.openlineage;"
        " print(json.dumps({'s': time.perf_counter() - t}))"
    )
    out = {}
    for mode, e in (("off", env), ("on", on)):
        out[mode] = round(min(harness.python(code, e)[1]["s"] for _ in range(3)), 3)
    return out


def end_to_end(url: str, srv: ReplayServer) -> dict:
    import subprocess

    from candleflow.stack import env as stack_env

    folder = Path(tempfile.mkdtemp(prefix="cf-bench-lineage-dag-"))
    watchlist = folder / "watchlist.toml"
    watchlist.write_text(f"symbols = {json.dumps(harness.universe(100))}\n[timeframes.1h]\n")
    meta = harness.fresh_database(META, migrated=False)
    env = stack_env.airflow_env()
    for key in [k for k in env if k.startswith(("AIRFLOW__OPENLINEAGE__", "AIRFLOW_CONN_"))]:
        del env[key]
    env.update(
        AIRFLOW_HOME=str(folder),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=stack_env.sqlalchemy_url(meta),
        CANDLEFLOW_DATABASE_URL=url,
        CANDLEFLOW_WATCHLIST=str(watchlist),
        CANDLEFLOW_TRADINGVIEW_URL=srv.url,
    )
    airflow = str(harness.BIN / "airflow")
    harness.run([airflow, "db", "migrate"], env)
    on = dict(env, AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
        {"type": "file", "log_file_path": str(folder / "events.jsonl"), "append": True}
    ))  # fmt: skip
    walls: dict[str, list[float]] = {"off": [], "on": []}
    phases: dict[str, list[float]] = {"off": [], "on": []}
    for i, mode in enumerate(["off", "on", "off", "on"]):  # a new day each: every run inserts
        day = END + dt.timedelta(days=i)
        conf = json.dumps({"start": day.isoformat(), "end": (day + dt.timedelta(1)).isoformat()})
        args = [airflow, "dags", "test", "ohlcv_1h", f"2024-03-{10 + i}T12:00:00+00:00"]
        began = time.perf_counter()
        done = subprocess.run(
            [*args, "--conf", conf], env=on if mode == "on" else env, capture_output=True, text=True
        )
        walls[mode].append(round(time.perf_counter() - began, 2))
        if done.returncode != 0 or "state=success" not in done.stdout + done.stderr:
            raise SystemExit((done.stdout + done.stderr)[-4000:])
        phases[mode].append(round(listener_phases(done.stdout + done.stderr), 3))
        print(mode, walls[mode][-1], phases[mode][-1], flush=True)
    events = (folder / "events.jsonl").read_text().splitlines()
    imports = plugin_import(env, on)
    harness.drop_database(META)
    listener = statistics.mean(phases["on"]) - statistics.mean(phases["off"])
    return {
        "walls": walls,
        "wall_difference_s": round(statistics.mean(walls["on"]) - statistics.mean(walls["off"]), 2),
        "listener_phases_s": phases,
        "listener_s": round(listener, 3),
        "plugin_import_s": imports,
        "overhead_s": round(listener + imports["on"] - imports["off"], 3),
        "events_written": len(events),
    }


def main() -> None:
    url = harness.fresh_database(DB)
    try:
        with ReplayServer(seed=1, any_symbol=True) as srv:
            rows = in_process(url, srv)
            biggest = rows[-1]
            off = bookkeeping(biggest["sync_chunk_s"] / biggest["symbols"])
            e2e = (
                end_to_end(url, srv) if os.environ.get("CANDLEFLOW_BENCH_E2E", "1") != "0" else None
            )
    finally:
        harness.drop_database(DB)
    harness.write("lineage", {"in_process": rows, "off": off, "end_to_end": e2e})


if __name__ == "__main__":
    main()
