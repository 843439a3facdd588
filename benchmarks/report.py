"""Turn ``benchmarks/results/*.json`` into the table of ``benchmarks/README.md``.

One function per benchmark maps its JSON to rows of (figure, value, anchor, ratio, target,
met). Ratios are the ones the scripts measured side by side in the same run.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path

Row = tuple[str, str, str, str, str, str]


def _fmt(x: float, unit: str = "") -> str:
    return f"{x:,.0f}{unit}" if abs(x) >= 100 else f"{x:.2f}{unit}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def tv_decode(d: dict) -> Iterator[Row]:
    r = d["relative_speed"]
    yield (
        "TradingView capture decode (split + parse)",
        f"{d['split_parse_mb_s']} MB/s",
        f"json.loads {d['json_loads_mb_s']} MB/s",
        f"{r:.2f}x",
        ">= 0.8x",
        _met(r >= 0.8),
    )


def tv_fetch(d: dict) -> Iterator[Row]:
    b = d["best"]
    yield (
        "fetch_bars 50,000 1h bars via replay server",
        _fmt(b["bars_per_s"], " bars/s"),
        f"network {b['network_wait_s']:.2f}s, decode {b['decode_s']:.2f}s, "
        f"DataFrame {b['frame_build_s']:.2f}s of {b['total_s']:.2f}s",
        "",
        "report",
        "n/a",
    )
    old = d.get("old_window")
    if old:
        r, c = old["range"], old["count"]
        yield (
            f"fetch_bars 30 days of 1h bars {old['days_back']} days back, ranged requests",
            f"{r['total_s']:.3f} s, {r['bars_sent']:,} bars sent",
            f"count paging {c['total_s']:.3f} s, {c['bars_sent']:,} bars sent; "
            f"range ignored {old['range_ignored']['total_s']:.3f} s",
            f"{r['count_over_range_time']:.1f}x faster, "
            f"{r['count_over_range_bars']:.0f}x fewer bars",
            "report",
            "n/a",
        )


def ccxt(d: dict) -> Iterator[Row]:
    p, raw, r = d["provider"], d["raw_ccxt"], d["ratio"]
    yield (
        f"ccxt fetch_bars, a year of 1m bars ({p['bars']:,}) via the Binance stub",
        _fmt(p["bars_per_s"], " bars/s"),
        f"ccxt's own fetch_ohlcv loop {_fmt(raw['bars_per_s'], ' bars/s')}",
        f"{r:.2f}x",
        ">= 0.8x",
        _met(r >= 0.8),
    )


def validation(d: dict) -> Iterator[Row]:
    stack = d.get("in_task")
    if stack:
        w, c = stack["warm"], stack["cold"]
        yield (
            "first validation inside a real task (make up stack, LocalExecutor, load"
            f" {w['load_average']:.1f})",
            f"{w['first_validation_s']:.3f} s",
            f"warm-up off: {c['first_validation_s']:.1f} s",
            f"{c['first_validation_s'] / w['first_validation_s']:.0f}x faster",
            "<= 1 s",
            _met(w["first_validation_s"] <= 1),
        )
    f = d["fork_chain"]
    yield (
        "first validation in a task process forked like Airflow's (no Airflow)",
        f"{f['warm']['first_validation_s']:.3f} s",
        f"warm-up off: {f['cold']['first_validation_s']:.1f} s",
        f"{f['cold']['first_validation_s'] / f['warm']['first_validation_s']:.0f}x faster",
        "<= 1 s",
        _met(f["warm"]["first_validation_s"] <= 1),
    )
    for key, target in (("window_1", 20.0), ("window_48", None)):
        w = d[key]
        yield (
            f"warm validate_bars, {w['rows']}-bar window (median of {w['repeat']},"
            f" load {w['load_average']:.1f})",
            f"{w['median_ms']:.1f} ms (best {w['best_ms']:.1f}, CPU {w['cpu_median_ms']:.1f})",
            f"GX Batch.validate of the same frame {w['stock_gx_median_ms']:.0f} ms",
            f"{w['stock_gx_median_ms'] / w['median_ms']:.0f}x faster",
            f"<= {target:.0f} ms" if target else "report",
            _met(w["median_ms"] <= target) if target else "n/a",
        )
    if "batch_64" in d:
        bt, one = d["batch_64"], d["window_1"]
        yield (
            f"warm validate_windows, {bt['windows']} one-bar windows in one GX run (load"
            f" {bt['load_average']:.1f})",
            f"{bt['per_window_ms']:.1f} ms a window (CPU {bt['cpu_per_window_ms']:.1f})",
            f"one run per window {one['median_ms']:.1f} ms",
            f"{one['median_ms'] / bt['per_window_ms']:.0f}x less",
            "<= 20 ms",
            _met(bt["per_window_ms"] <= 20),
        )
    b = d["best"]
    yield (
        "validate_bars 1M bars (GX + attribution)",
        _fmt(b["rows_per_s"], " rows/s"),
        f"GX part {b['gx_s']:.2f} s of {b['total_s']:.2f} s",
        "",
        "",
        "n/a",
    )


def load(d: dict) -> Iterator[Row]:
    by = {r["method"]: r for r in d["results"]}
    for method in ("upsert_bars (all new)", "upsert_bars (re-load, unchanged)"):
        if method in by:
            yield (
                f"{method}, 1M bars",
                _fmt(by[method]["rows_per_s"], " rows/s"),
                "",
                "",
                "",
                "n/a",
            )
    for label, ratio in next(iter(d["targets"].values())).items():
        if isinstance(ratio, bool):
            yield (label, str(ratio), "n_tup_upd before/after", "", "true", _met(ratio))
            continue
        goal = float(label.split(">=")[1].rstrip(")").strip())
        anchor = label.split("/")[1].split("(")[0].strip()
        yield (
            label.split("(")[0].strip(),
            "",
            anchor,
            f"{ratio:.2f}x",
            f">= {goal:g}x",
            _met(ratio >= goal),
        )


def rollup(d: dict) -> Iterator[Row]:
    t, i = d["throughput"], d["incremental"]
    yield (
        "rollup 2M ticks -> 1m+5m+1h bars",
        _fmt(t["rollup_ticks_per_s"], " ticks/s"),
        f"SQL date_bin baseline {_fmt(t['baseline_ticks_per_s'], ' ticks/s')}",
        f"{t['speedup']:.2f}x",
        ">= 1x (aim 2x)",
        _met(t["speedup"] >= 1),
    )
    yield (
        f"incremental rollup of 100k ticks on {i['base_ticks']:,} rolled-up ticks",
        f"{min(i['big_s']):.3f}s",
        f"empty table {min(i['empty_s']):.3f}s",
        f"{i['ratio']:.2f}x",
        "<= 1.2x",
        _met(i["ratio"] <= 1.2),
    )
    if "reimport" in d:
        r = d["reimport"]
        yield (
            f"rollup of a day ({r['day_ticks']:,} ticks) imported inside a rolled-up year"
            f" ({r['year_ticks']:,} ticks)",
            f"{statistics.median(r['year_rollup_day_s']):.3f}s",
            f"same day, empty table {statistics.median(r['empty_rollup_s']):.3f}s",
            f"{r['rollup_ratio']:.2f}x",
            "<= 1.5x",
            _met(r["rollup_ratio"] <= 1.5),
        )


def collector(d: dict) -> Iterator[Row]:
    yield (
        "tick collector, replay server -> PostgreSQL",
        _fmt(d["ticks_per_s"], " ticks/s"),
        f"tick-to-commit p50 {d['latency_p50_ms']:.0f} ms, p99 {d['latency_p99_ms']:.0f} ms",
        "",
        ">= 20,000 ticks/s",
        _met(d["ticks_per_s"] >= 20000),
    )


def query(d: dict) -> Iterator[Row]:
    r = d["query_pandas_vs_fastest_raw"]
    fastest = min(x["seconds"] for x in d["results"] if x["method"].startswith("raw"))
    mine = next(x for x in d["results"] if x["method"].startswith("query.bars(output='pandas"))
    yield (
        "query.bars 1M bars -> pandas",
        f"{mine['seconds']:.2f}s",
        f"fastest raw ADBC read {fastest:.2f}s",
        f"{r:.2f}x",
        "<= 1.5x",
        _met(r <= 1.5),
    )


def api(d: dict) -> Iterator[Row]:
    anchors = {(r["symbol"], r["clients"]): r for r in d.get("anchor_no_cache", [])}
    for r in d["rows"]:
        anchor = anchors.get((r["symbol"], r["clients"]))
        yield (
            f"API one year of 1h bars ({r['bars']:,} bars, {r['symbol']}), "
            f"{r['clients']} client{'s' if r['clients'] > 1 else ''}",
            f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms"
            + (
                f" ({r['server_cpu_ms_per_request']:.1f} ms server CPU/request)"
                if "server_cpu_ms_per_request" in r
                else ""
            ),
            f"no page cache: p50 {anchor['p50_ms']:.0f} ms, p99 {anchor['p99_ms']:.0f} ms"
            if anchor
            else "",
            f"{anchor['p99_ms'] / r['p99_ms']:.1f}x faster p99" if anchor else "",
            "p99 < 100 ms" if r["clients"] >= 20 else "report",
            _met(r["p99_ms"] < 100) if r["clients"] >= 20 else "n/a",
        )
    for r in d.get("rows_if_none_match", []):
        yield (
            f"API revalidation (If-None-Match, 304), {r['bars']:,} bars, {r['clients']} clients",
            f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms",
            "",
            "",
            "report",
            "n/a",
        )
    yield (
        "API bench machine load (1m load average during the runs, 2 cores)",
        f"{d['load_average_1m']}",
        "",
        "",
        "report",
        "n/a",
    )
    for name, r in d.get("limits", {}).items():
        yield (
            f"API request over a limit: {name}",
            f"{r['status']} in {r['ms']:.0f} ms",
            "",
            "",
            "report",
            "n/a",
        )


def dag(d: dict) -> Iterator[Row]:
    yield (
        f"airflow dags test ohlcv_1h, {d['instruments']} instruments, one interval",
        f"{d['wall_s']:.1f}s wall",
        f"tasks' own work {d['tasks_work_s']:.1f}s",
        f"overhead {d['overhead_s']:.1f}s",
        "report",
        "n/a",
    )


def storage(d: dict) -> Iterator[Row]:
    for name, v in d["variants"].items():
        yield (
            f"storage per row: {name}",
            f"{v['total_per_row']:.0f} B",
            f"heap {v['heap_per_row']:.0f} B + index {v['index_per_row']:.0f} B",
            "",
            "report",
            "n/a",
        )


def scale(d: dict) -> Iterator[Row]:
    closed = d.get("closed")
    if closed:
        anchor = closed["plain rows (anchor)"]["bytes_per_bar"]
        for name in ("replay, 15-minute loads", "replay, one backfill"):
            r = closed[name]
            yield (
                f"bytes per bar, closed months compressed: {name} ({r['bars']:,} 1m bars)",
                f"{r['bytes_per_bar']:.1f} B",
                f"plain rows loaded per series {anchor:.0f} B; arrays under lz4 (est.)"
                f" {r['arrays_lz4_estimate_per_bar']:.1f} B",
                f"{anchor / r['bytes_per_bar']:.0f}x smaller",
                "<= 16 B (moonshot <= 8)",
                _met(r["bytes_per_bar"] <= 16),
            )
        for name, r in closed["real"].items():
            if "skipped" in r:
                continue
            yield (
                f"bytes per bar, closed months compressed: real file {name}",
                f"{r['bytes_per_bar']:.1f} B",
                f"{r['file_bars']:,} bars x 40 copies;"
                f" arrays alone {r['arrays_pglz_per_bar']:.1f} B",
                "",
                "<= 16 B (moonshot <= 8)",
                _met(r["bytes_per_bar"] <= 16),
            )
    rows = d.get("open", {}).get("candidates", {})
    today = rows.get("as migrated (candleflow.bars)")
    for name, r in rows.items():
        yield (
            f"bytes per bar, open month: {name}",
            f"{r['total_per_row']:.1f} B",
            f"heap {r['heap_per_row']:.1f} + index {r['index_per_row']:.1f}",
            f"{today['total_per_row'] / r['total_per_row']:.2f}x smaller" if today else "",
            "<= 110 B",
            _met(r["total_per_row"] <= 110),
        )
    read = d.get("read")
    if read:
        yield (
            f"one symbol-year of 1m bars ({read['bars']:,}), compressed vs plain rows",
            f"{read['compressed_s']:.3f} s",
            f"plain rows {read['plain_s']:.3f} s;"
            f" SQL decoder (views) {read['sql_decoder_s']:.3f} s",
            f"{read['ratio']:.2f}x",
            "<= 1.0x",
            _met(read["ratio"] <= 1.0),
        )
    if read and "query_bars_ratio" in read:
        yield (
            "one symbol-year of 1m bars through query.bars, compressed months vs plain rows",
            f"{read['query_bars_compressed_s']:.3f} s",
            f"plain rows through query.bars {read['query_bars_plain_s']:.3f} s",
            f"{read['query_bars_ratio']:.2f}x",
            "<= 1.0x",
            _met(read["query_bars_ratio"] <= 1.0),
        )
    ex = d.get("export")
    if ex:
        yield (
            f"`candleflow export` of {ex['bars']:,} 1m bars to Parquet (plain rows)",
            _fmt(ex["bars_per_s"], " bars/s"),
            f"raw ADBC read {_fmt(ex['raw_read_bars_per_s'], ' bars/s')}; compressed months "
            f"{_fmt(ex['compressed_months_bars_per_s'], ' bars/s')}",
            f"{ex['bars_per_s'] / ex['raw_read_bars_per_s']:.2f}x raw read",
            ">= 2M bars/s",
            _met(ex["bars_per_s"] >= 2_000_000),
        )
    sc = d.get("scale")
    if sc:
        size = f"{sc['symbols']:,} x {sc['bars_per_symbol']:,} 1m bars"
        yield (
            f"bar writer load of {size}, then compressed",
            _fmt(sc["writer"]["rows_per_s"], " bars/s"),
            f"raw COPY {_fmt(sc['raw_copy']['rows_per_s'], ' rows/s')}; plain "
            f"{sc['plain_bytes_per_bar']:.0f} B/bar -> compressed {sc['segment_bytes_per_bar']:.1f}"
            f" B/bar in {sc['compress_s']:.0f} s",
            f"{sc['writer_vs_raw_copy']:.2f}x",
            ">= 0.3x",
            _met(sc["writer_vs_raw_copy"] >= 0.3),
        )
        yield (
            f"hourly run (60 bars x {sc['symbols']:,} symbols) into the {size} warehouse",
            f"{sc['hourly_full_s']:.2f} s",
            f"empty warehouse {sc['hourly_empty_s']:.2f} s",
            f"{sc['hourly_ratio']:.2f}x",
            "<= 1.2x",
            _met(sc["hourly_ratio"] <= 1.2),
        )
        yield (
            f"BI query: daily OHLCV of {sc['symbols']:,} symbols for a month"
            " (analytics.daily_bars)",
            f"{sc['bi_query_s']:.2f} s",
            f"{sc['bi_rows']:,} rows over {size}",
            "",
            "<= 2 s",
            _met(sc["bi_query_s"] <= 2),
        )


def gx_vs_load(results: Path) -> Iterator[Row]:
    """GX validation of 1M bars against loading the same 1M bars (two scripts' figures)."""
    validation = json.loads((results / "validation.json").read_text())["best"]
    load = {r["method"]: r for r in json.loads((results / "load.json").read_text())["results"]}
    load_s = load["upsert_bars (all new)"]["seconds"]
    ratio = validation["gx_s"] / load_s
    yield (
        "GX validation of 1M bars vs their load",
        f"{validation['gx_s']:.2f}s",
        f"upsert of 1M bars {load_s:.2f}s",
        f"{ratio:.2f}x",
        "<= 1x",
        _met(ratio <= 1),
    )


def sync(d: dict) -> Iterator[Row]:
    m, deep = d["many_symbols"], d["deep"]
    tvkit, tvdf = m["anchors"]["tvkit"], m["anchors"]["tvdatafeed"]
    anchor = (
        f"fetch only: tvkit {tvkit['ms_per_symbol']:.0f} ms/symbol ({tvkit['seconds']:.1f}s), "
        f"tvdatafeed {tvdf['ms_per_symbol']:.0f} ms/symbol ({tvdf['seconds']:.1f}s)"
    )
    for label, key in (("instruments known", "warm_s"), ("all instruments new", "cold_s")):
        yield (
            f"`candleflow sync` {m['symbols']} symbols x last closed hour, one process ({label})",
            f"{m[key]:.1f}s",
            anchor,
            f"{m[key] / tvkit['seconds']:.1f}x tvkit",
            "<= 15 s",
            _met(m[key] <= 15),
        )
    yield (
        f"`candleflow sync` {deep['bars']:,} 1m bars, end to end",
        _fmt(deep["sync_bars_per_s"], " bars/s"),
        f"raw COPY of the same rows {_fmt(deep['raw_copy_rows_per_s'], ' rows/s')}",
        f"{deep['ratio']:.2f}x",
        ">= 0.45x",
        _met(deep["ratio"] >= 0.45),
    )


def memory(d: dict) -> Iterator[Row]:
    long, one = d["long"], d["one_slice"]
    yield (
        f"peak RSS, sync of {long['bars']:,} 1m bars (20 years of {d['symbol']}, "
        f"{long['slices']} slices)",
        f"{long['peak_rss_mib']:,.0f} MiB"
        + (
            f" (sync {long['own_peak_rss_mib']:,.0f} + validation helper"
            f" {long['helper_peak_rss_mib']:,.0f})"
            if long.get("helper_peak_rss_mib")
            else ""
        ),
        f"one slice ({one['bars']:,} bars) {one['peak_rss_mib']:,.0f} MiB",
        f"{d['ratio']:.2f}x",
        "< 1 GiB",
        _met(long["peak_rss_mib"] < 1024),
    )


def import_memory(d: dict) -> Iterator[Row]:
    for kind, what, command in (
        ("ticks", "ticks", "`ticks import`"),
        ("bars", "1m bars", "`sync --provider files`"),
    ):
        full, anchor = d[f"{kind}_full"], d[f"{kind}_anchor"]
        yield (
            f"peak RSS, {command} of {full['rows']:,} {what} ({full['file_mb']:.0f} MB CSV)",
            f"{full['peak_rss_mib']:,.0f} MiB ({full['seconds']:.0f}s)",
            f"a tenth of the file ({anchor['rows']:,} {what}) {anchor['peak_rss_mib']:,.0f} MiB",
            f"{d[f'{kind}_ratio']:.2f}x",
            f"<= {d['target_mib']} MiB, independent of file size",
            _met(full["peak_rss_mib"] <= d["target_mib"]),
        )


def stack(d: dict) -> Iterator[Row]:
    anchor = d.get("anchor")
    for n, target, goal in ((500, "<= 60 s", 60.0), (5000, "report; aim <= 5 min", 300.0)):
        r = d.get(f"hourly_{n}")
        if r:
            yield (
                f"`ohlcv_1h` run, {n:,} symbols, real stack, run start to success",
                f"{r['run_s']:.0f}s ({r['state']}, {r['inserted']:,} bars)",
                f"first run incl. resolving {n:,} instruments {r['warmup_run_s']:.0f}s",
                "",
                target,
                _met(r["run_s"] <= goal and r["state"] == "success"),
            )
    b = d.get("backfill_100")
    if b:
        one = f"one-process sync {anchor['sync_s']:.0f}s" if anchor else ""
        ratio = f"{b['creation_to_done_s'] / anchor['sync_s']:.1f}x" if anchor else ""
        yield (
            f"REST backfill `ohlcv_1h_history`, 100 symbols x 2025 ({b['runs']} runs), "
            "creation to done",
            f"{b['creation_to_done_s']:.0f}s ({b['bars_2025']:,} bars)",
            one,
            ratio,
            "<= 180 s",
            _met(b["creation_to_done_s"] <= 180 and b["states"] == ["success"]),
        )
    lat = d.get("latency")
    if lat and "skipped" not in lat:
        yield (
            "bar close to queryable, scheduled `ohlcv_1h` run (100 symbols)",
            f"{lat['close_to_committed_s']:.0f}s",
            f"run success {lat['close_to_run_success_s']:.0f}s after the close",
            "",
            "<= 2 min",
            _met(lat["close_to_committed_s"] <= 120),
        )
    elif lat:
        yield (
            "bar close to queryable, scheduled `ohlcv_1h` run",
            "not measured",
            lat["skipped"],
            "",
            "<= 2 min",
            "n/a",
        )


def lineage(d: dict) -> Iterator[Row]:
    for r in d["in_process"]:
        if r["symbols"] < 100:
            continue
        cost = r["facets_s"] + r["emit_s"]
        yield (
            f"OpenLineage on: facets + COMPLETE event of a {r['symbols']}-symbol chunk"
            f" ({r['event_bytes'] / 1e6:.2f} MB)",
            f"{cost:.2f}s",
            f"sync_chunk's own work {r['sync_chunk_s']:.1f}s",
            f"{r['lineage_share']:.1%}",
            "<= 5%",
            _met(r["lineage_share"] <= 0.05),
        )
    for r in d["in_process"]:
        if r["symbols"] < 100 or "data_docs_render_s" not in r:
            continue
        yield (
            f"Data Docs: rendering the pages of a {r['symbols']}-symbol chunk on the load's path"
            f" ({r['data_docs_pages']} pages, {r['data_docs_bytes'] / 1e6:.2f} MB; writing them"
            f" {r['data_docs_write_s']:.2f}s on the store's own thread)",
            f"{r['data_docs_render_s']:.2f}s",
            f"sync_chunk's own work {r['sync_chunk_s']:.1f}s (pages included)",
            f"{r['data_docs_share']:.1%}",
            "<= 5%",
            _met(r["data_docs_share"] <= 0.05),
        )
    e2e = d.get("end_to_end")
    if e2e:
        off = sum(e2e["walls"]["off"]) / len(e2e["walls"]["off"])
        imports = e2e["plugin_import_s"]
        yield (
            "OpenLineage on: per task of `airflow dags test ohlcv_1h` (one 100-symbol chunk)",
            f"+{e2e['overhead_s']:.2f}s",
            f"wall with it off {off:.1f}s (listener {e2e['listener_s']:.2f}s, plugin import"
            f" {imports['on'] - imports['off']:.2f}s)",
            f"{e2e['overhead_s'] / off:.1%}",
            "report",
            "n/a",
        )
    off = d["off"]
    yield (
        "OpenLineage off: a chunk's lineage/metrics bookkeeping per symbol",
        f"{off['per_symbol_us']:.0f} us",
        "the chunk's time per symbol",
        f"{off['share_of_symbol_time']:.2%}",
        "report",
        "n/a",
    )


def adjust_read(d: dict) -> Iterator[Row]:
    labels = {"daily": "10 years of daily bars", "minute": "a year of 1m bars"}
    for key, label in labels.items():
        r = d[key]
        yield (
            f"`query.bars` {label} ({r['rows']:,}), {r['adjustment']} adjusted",
            f"{r['adjusted_ms']:.2f} ms",
            f"raw read of the same rows {r['raw_ms']:.2f} ms",
            f"{r['ratio']:.2f}x",
            f"<= {r['target']}x",
            _met(r["ratio"] <= r["target"]),
        )


def adjust_sync(d: dict) -> Iterator[Row]:
    for r in d["runs"]:
        yield (
            f"sync of {d['symbols']} equities with adjustments, {r['run']}",
            f"{r['with_s']:.1f}s",
            f"the same without adjustments {r['without_s']:.1f}s",
            f"{r['ratio']:.2f}x",
            f"<= {r['target']}x",
            _met(r["ratio"] <= r["target"]),
        )


def revisions(d: dict) -> Iterator[Row]:
    yield (
        f"revisions: storage of {d['rows']:,} 1m bars after one full re-adjusting re-sync",
        f"bar_revisions {d['revisions_bytes']:,} B ({d['revision_bytes_per_row']} B/bar),"
        f" {d['revisions']:,} revisions",
        f"bars {d['bars_bytes']:,} B ({d['bars_bytes_per_row']} B/bar)",
        f"{d['storage_ratio']:.2f}x",
        "report bytes; revisions only for bars that changed",
        _met(d["revisions"] == d["rows"] and d["partial_revisions"] == d["partial_changed"]),
    )
    yield (
        f"revisions: full re-sync of {d['rows']:,} changed bars, with revisions kept",
        f"{d['resync_with_s']:.2f}s",
        f"the same re-sync without the trigger {d['resync_without_s']:.2f}s",
        f"{d['slowdown']:.2f}x",
        "report",
        _met(None),
    )


def api_load(d: dict) -> Iterator[Row]:
    growth, errors = d["rss_growth"], d["errors"]
    yield (
        f"API on the `make up` stack, {d['clients']} clients for {d['seconds']:.0f} s",
        f"{errors} errors, {d['busy_503']} busy 503 of {sum(d['responses'].values()):,}"
        f" ({d['requests_per_s']:.0f}/s)",
        f"api-server RSS {d['rss_mib_after_warmup']:.0f} -> {d['rss_mib_end']:.0f} MiB"
        " after warm-up",
        f"{growth:+.1%} RSS",
        "0 errors, RSS growth <= 10 %",
        _met(errors == 0 and growth <= 0.10),
    )


# The targets: worst recovery to the next successful run after these faults.
SOAK_TARGETS = {"warehouse:restart": 120, "kill:scheduler": 60}


def soak(d: dict) -> Iterator[Row]:
    kinds = d["recovery"]

    def worst(kind: str) -> str:
        k = kinds.get(kind)
        if not k:
            return "-"
        alone = k.get("worst_not_overlapped_s")
        return f"{k['worst_s']} s (not overlapped: {alone if alone is not None else '-'} s)"

    within = all(
        kinds.get(kind, {}).get("worst_s") is not None and kinds[kind]["worst_s"] <= limit
        for kind, limit in SOAK_TARGETS.items()
    )
    yield (
        f"soak ({d['minutes']:g} min, {d['faults']} faults of {len(kinds)} kinds)",
        f"lost/dup/wrong: bars {d['bars']}, ticks {d['ticks']}, rollup {d['rollup']}",
        f"worst recovery: warehouse restart {worst('warehouse:restart')}, scheduler kill "
        f"{worst('kill:scheduler')}",
        "",
        ">= 30 faults of >= 6 kinds, 0 lost/dup/wrong, every fault recovered; worst recovery"
        " warehouse <= 120 s, scheduler <= 60 s",
        _met(d["passed"] and d["faults"] >= 30 and len(kinds) >= 6 and within),
    )


EXTRACTORS: dict[str, Callable[[dict], Iterator[Row]]] = {
    "tv_decode": tv_decode,
    "tv_fetch": tv_fetch,
    "ccxt": ccxt,
    "validation": validation,
    "load": load,
    "rollup": rollup,
    "collector": collector,
    "query": query,
    "api": api,
    "api_load": api_load,
    "dag": dag,
    "storage": storage,
    "scale": scale,
    "sync": sync,
    "memory": memory,
    "import_memory": import_memory,
    "stack": stack,
    "lineage": lineage,
    "adjust_read": adjust_read,
    "adjust_sync": adjust_sync,
    "revisions": revisions,
    "soak": soak,
}


def write_report(results: Path, out: Path, status: dict[str, str], machine: str, when: str) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run_all.py`). Every ratio is measured side by "
        "side in the same run; figures, not adjectives.",
        "",
        f"- Machine: {machine}",
        f"- Written: {when}",
        "",
        "| figure | value | anchor (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, extract in EXTRACTORS.items():
        path = results / f"{name}.json"
        if not path.exists():
            if name in status:  # asked for and gave nothing; others keep their earlier rows
                lines.append(f"| {name} | not run ({status[name]}) | | | | |")
            continue
        try:
            for row in extract(json.loads(path.read_text())):
                lines.append("| " + " | ".join(row) + " |")
        except (KeyError, ValueError, StopIteration, TypeError) as exc:
            lines.append(f"| {name} | unreadable result ({type(exc).__name__}: {exc}) | | | | |")
    if (results / "validation.json").exists() and (results / "load.json").exists():
        lines += ["| " + " | ".join(row) + " |" for row in gx_vs_load(results)]
    failed = {k: v for k, v in status.items() if v != "ok"}
    if failed:
        lines += [
            "",
            "Scripts that did not finish: " + ", ".join(f"{k} ({v})" for k, v in failed.items()),
        ]
    lines += _earlier(out, lines)
    lines += [
        "",
        "Raw results: `benchmarks/results/*.json` (not committed; re-run to refresh).",
        "",
    ]
    out.write_text("\n".join(lines))


def _earlier(out: Path, lines: list[str]) -> list[str]:
    """The rows of the previous report for figures this run did not measure, kept below the
    new table under their own date (a partial ``make bench`` must not erase figures)."""
    if not out.exists():
        return []
    old = out.read_text().splitlines()
    when = next((x.split(":", 1)[1].strip() for x in old if x.startswith("- Written:")), "?")
    label = re.compile(r"^\| ([^|]+) \|")
    new = {_figure(m.group(1)) for x in lines if (m := label.match(x))}
    start = next((i for i, x in enumerate(old) if x.startswith("## Earlier figures")), len(old))
    kept = []
    for i, x in enumerate(old):
        m = label.match(x)
        if (
            m
            and not x.startswith("| figure")
            and _figure(m.group(1)) not in new
            and "not run" not in x
        ):
            kept.append(x if i > start else f"{x.rstrip()} {when} |")  # rows kept once have it
    if not kept:
        return []
    return [
        "",
        "## Earlier figures (not measured by this run)",
        "",
        "| figure | value | anchor (same run) | ratio | target | met | written |",
        "|---|---|---|---|---|---|---|",
        *kept,
    ]


def _figure(label: str) -> str:
    """A row's figure without its parenthesised details (load, sizes, symbols), which change
    from run to run: the same figure measured again replaces its earlier row."""
    return re.sub(r"\s*\([^)]*\)", "", label).strip()
