"""OpenLineage datasets and facets of Candleflow's tasks, built from what each task holds.

The OpenLineage provider's listener emits a START and a COMPLETE (or FAIL) event per task;
what it puts in them comes from the task. ``SyncBarsOperator`` answers its
``get_openlineage_facets_on_complete``/``_on_failure`` with ``chunk_lineage``: the chunk's
per-symbol results (``services.results``) already hold the rows fetched, the rules broken, the
missing values and the rows written, so no facet costs a query. ``@task`` functions have no
such methods; for those the provider reads the task's inlets and outlets, so ``annotate`` adds
OpenLineage datasets to the running task's (``rollup``, ``instruments``).

Naming (OpenLineage's spec, and ``docs/lineage.md``): a provider series is namespace
``tradingview://``, ``ccxt://<exchange id>`` or ``<provider>://``, name
``EXCHANGE:TICKER/<timeframe>`` (an instrument's metadata: ``EXCHANGE:TICKER``); a warehouse
table is namespace ``postgres://HOST:PORT`` (a Unix socket is ``localhost``), name
``DATABASE.candleflow.<table>``. No user, password or token is ever part of a name.

Nothing is built when OpenLineage is off: the listener is not installed, so the operator's
methods are never called, and ``annotate`` returns at once. A facet that cannot be built is
logged and dropped: lineage never fails a load.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from candleflow.domain import BARS, split_symbol

if TYPE_CHECKING:
    from candleflow.services.results import ChunkResult, SymbolResult

log = logging.getLogger(__name__)

# The warehouse tables the tasks write, as migrated (tests compare them with the database).
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "bars": (
        *(("instrument_id", "int4"), ("timeframe", "text"), ("ts", "timestamptz")),
        ("source", "text"),
        *((c, "float8") for c in ("open", "high", "low", "close", "volume")),
        *(("filled", "bool"), ("loaded_at", "timestamptz"), ("run_id", "text")),
    ),
    "rejected_bars": (
        *(("id", "int8"), ("run_id", "text"), ("instrument_id", "int4"), ("symbol", "text")),
        *(("timeframe", "text"), ("ts", "timestamptz"), ("rules", "_text"), ("raw", "jsonb")),
        *(("rejected_at", "timestamptz"), ("provider", "text"), ("window_start", "timestamptz")),
        *(("window_end", "timestamptz"), ("ts_key", "timestamptz")),
        *(("window_key", "tstzrange"), ("raw_hash", "text")),
    ),
    "ticks": (
        *(("instrument_id", "int4"), ("ts", "timestamptz"), ("seq", "int8")),
        *((c, "float8") for c in ("price", "size", "day_volume", "bid", "ask")),
        *(("source", "text"), ("loaded_at", "timestamptz"), ("run_id", "text")),
    ),
    "instruments": (
        *(("id", "int4"), ("symbol", "text"), ("exchange", "text"), ("ticker", "text")),
        *((c, "text") for c in ("description", "type", "currency", "timezone", "session")),
        *(("price_scale", "int4"), ("provider", "text"), ("active", "bool")),
        *(("first_seen", "timestamptz"), ("last_seen", "timestamptz")),
        ("series_session", "text"),
    ),
}
# The column a rule judges, where it judges one (not_null and the price rules span several).
RULE_COLUMN = {"volume_non_negative": "volume", "low_positive": "low"} | {
    rule: "ts" for rule in ("unique_ts", "on_grid", "in_window", "not_forming", "plausible_ts")
}


def enabled() -> bool:
    """Whether OpenLineage is configured (the provider's own test: a transport, a config...)."""
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return False
    return not conf.is_disabled()


def warehouse(url: str) -> tuple[str, str]:
    """(namespace, database) of a libpq DSN in OpenLineage's PostgreSQL naming."""
    from psycopg2.extensions import parse_dsn

    parts = parse_dsn(url)
    host = (parts.get("host") or parts.get("hostaddr") or "localhost").split(",")[0]
    if host.startswith(("/", "@")):  # a Unix-socket directory: a server on this machine
        host = "localhost"
    port = (parts.get("port") or "").split(",")[0] or "5432"  # the first host's port
    return f"postgres://{host}:{port}", parts.get("dbname") or parts.get("user") or "postgres"


def provider_namespace(provider: str, symbol: str, options: Mapping[str, Any] | None) -> str:
    """``tradingview://``; ``ccxt://binance`` (the exchange of the symbol's prefix, as
    ``providers.ccxt.exchange.exchange_id`` picks it, without importing ccxt); ``<name>://``."""
    if provider == "ccxt":
        prefix = split_symbol(symbol)[0]
        return f"ccxt://{((options or {}).get('exchanges') or {}).get(prefix) or prefix.lower()}"
    return f"{provider}://"


@functools.cache
def datasets() -> tuple[type, type]:
    """OpenLineage's InputDataset and OutputDataset, with facets the provider does not redact.

    Why: the provider masks secrets in an event value by value, some 0.1 to 0.2 ms per object;
    a series carries about 240 (schema, metrics, assertions), so a 100-symbol chunk spent 2.4 s
    redacting beside its 6.7 s of work (``benchmarks/bench_lineage.py``). These facets hold no
    secret by construction (names, types, counts, rule names), so they are marked skip-redact
    the way OpenLineage's own classes mark names and namespaces (``RedactMixin``).
    """
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    class Input(InputDataset):
        _skip_redact: ClassVar[list[str]] = ["namespace", "name", "facets", "inputFacets"]

    class Output(OutputDataset):
        _skip_redact: ClassVar[list[str]] = ["namespace", "name", "facets", "outputFacets"]

    return Input, Output


def schema(columns: Sequence[tuple[str, str]]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset as s

    return s.SchemaDatasetFacet(
        fields=[s.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns]
    )


def table(url: str, name: str, rows: int | None = None, *, output: bool = True) -> Any:
    """A warehouse table as an output (with the rows written, when known) or an input."""
    from openlineage.client.facet_v2 import output_statistics_output_dataset as stats

    InputDataset, OutputDataset = datasets()  # noqa: N806 - classes
    namespace, database = warehouse(url)
    facets = {"schema": schema(TABLES[name])}
    if not output:
        return InputDataset(namespace, f"{database}.candleflow.{name}", facets=facets)
    written = (
        {}
        if rows is None
        else {"outputStatistics": stats.OutputStatisticsOutputDatasetFacet(rowCount=rows)}
    )
    return OutputDataset(
        namespace, f"{database}.candleflow.{name}", facets=facets, outputFacets=written
    )


def series_input(namespace: str, timeframe: str, result: SymbolResult) -> Any:
    """One symbol's series as read: its data-quality metrics and one assertion per rule."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    from candleflow.validation import FLAG_RULES

    quality, facets = result.quality, {}
    if quality.rules:  # validated at least once (the summary names every rule)
        facets["dataQualityMetrics"] = dqm.DataQualityMetricsInputDatasetFacet(
            rowCount=quality.rows_fetched,
            columnMetrics={c: dqm.ColumnMetrics(nullCount=n) for c, n in quality.nulls.items()},
        )
        facets["dataQualityAssertions"] = dqa.DataQualityAssertionsDatasetFacet(
            assertions=[
                dqa.Assertion(
                    assertion=rule,
                    success=broken == 0,
                    column=RULE_COLUMN.get(rule),
                    severity="warn" if rule in FLAG_RULES else "error",
                    expected="0",
                    actual=str(broken),  # rows that broke it
                )
                for rule, broken in quality.rules.items()
            ]
        )
    name = f"{result.symbol}/{timeframe}"
    return datasets()[0](
        namespace, name, facets={"schema": schema([(c.name, c.pg_type) for c in BARS])},
        inputFacets=facets,
    )  # fmt: skip


def chunk_lineage(
    result: ChunkResult | None, url: str | None, options: Mapping[str, Any] | None = None
) -> Any:
    """The ``OperatorLineage`` of one chunk task: its series in, ``bars`` (and ``rejected_bars``
    when rows were rejected) out. None when the task stopped before loading anything."""
    if result is None or url is None:
        return None
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage

        read = [r for r in result.symbols if r.quality.rules or r.slices or r.skipped]
        inputs = [
            series_input(
                provider_namespace(result.provider, r.symbol, options), result.timeframe, r
            )
            for r in read
        ]
        totals = result.totals()
        outputs = [table(url, "bars", totals["rows_inserted"] + totals["rows_updated"])]
        rejected = sum(r.quality.rows_rejected for r in result.symbols)
        if rejected:
            outputs.append(table(url, "rejected_bars", rejected))
        return OperatorLineage(inputs=inputs, outputs=outputs)
    except Exception:  # lineage never fails a load: logged, dropped
        log.warning("no OpenLineage facets for this chunk", exc_info=True)
        return None


def annotate(build: Callable[[], tuple[list[Any], list[Any]]]) -> None:
    """Add ``build()``'s (inputs, outputs) to the running ``@task``'s inlets and outlets.

    The provider turns them into the task's COMPLETE event (it reads inlets and outlets of a
    task without an extractor; Airflow ignores outlets that are not assets).
    """
    if not enabled():
        return
    try:
        from airflow.sdk import get_current_context

        task = get_current_context()["task"]
        inputs, outputs = build()
        task.add_inlets(inputs)
        task.add_outlets(outputs)
    except Exception:  # lineage never fails a load: logged, dropped
        log.warning("no OpenLineage datasets for this task", exc_info=True)


def rollup(result: Mapping[str, Any], url: str) -> None:
    """The rollup task: ``ticks`` in, ``bars`` out with the bars it wrote."""

    def build() -> tuple[list[Any], list[Any]]:
        written = sum(result["inserted"].values()) + sum(result["updated"].values())
        return [table(url, "ticks", output=False)], [table(url, "bars", written)]

    annotate(build)


def instruments(
    result: Mapping[str, Any], url: str, provider: str, options: Mapping[str, Any] | None = None
) -> None:
    """The instruments task: each resolved symbol's metadata in, ``instruments`` out."""

    def build() -> tuple[list[Any], list[Any]]:
        read = [
            datasets()[0](provider_namespace(provider, s, options), s) for s in result["symbols"]
        ]
        return read, [table(url, "instruments", int(result["stored"]))]

    annotate(build)
