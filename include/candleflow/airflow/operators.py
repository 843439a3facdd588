"""IDataProvider-based operators: the building blocks of the OHLCV and history DAGs.

They hold no logic of their own: each maps the Airflow context onto one service call, so
a DAG for another provider or watchlist is a few lines. Every window argument is
templated; by default the window is the run's data interval, and it holds the bars that
closed inside it (``candleflow.services.window``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from candleflow.airflow.links import DataDocsLink

WINDOW_START = "{{ params.start or data_interval_start }}"
WINDOW_END = "{{ params.end or data_interval_end }}"


class CandlesLink(BaseOperatorLink):
    """ "Candles" on a sync task: the chart page at the task's first symbol and timeframe."""

    name = "Candles"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from urllib.parse import urlencode

        symbols = getattr(operator, "symbols", None) or [""]
        query = {"symbol": symbols[0], "timeframe": getattr(operator, "timeframe", "1d")}
        return "/candleflow/chart?" + urlencode(query)


class SyncBarsOperator(BaseOperator):
    """Fetch, validate and load a chunk of symbols' bars for one window (``services.chunk``).

    One provider connection for the whole chunk; each symbol's window is loaded slice by
    slice, each slice in its own transaction with its own ``load_audit`` row. A failing symbol
    does not stop the others: the task fails once they are all stored, without retry when
    every failure is permanent (unknown symbol, rejected window, bad token), else with
    Airflow's retries, and a retry redoes only the slices this run has not loaded yet (a
    cleared run redoes all). The log ends with the per-symbol table. A run's ``symbols``
    param narrows the chunk; a chunk with none of them is skipped.

    ``conn_id`` names the provider's Airflow connection (``tradingview_default`` /
    ``ccxt_default`` when omitted; ``candleflow.airflow.hooks``), ``warehouse_conn_id`` the
    warehouse's Postgres connection (``candleflow_warehouse`` when omitted, then the one
    policy of ``candleflow.airflow.connections``).
    """

    template_fields: Sequence[str] = (
        "timeframe",
        "start",
        "end",
        "provider_options",
        "reject_threshold",
    )
    ui_color = "#d6eaf8"
    operator_extra_links = (CandlesLink(), DataDocsLink())

    def __init__(
        self,
        *,
        timeframe: str,
        symbols: list[str] | None = None,
        symbol: str | None = None,
        provider: str = "tradingview",
        provider_options: dict[str, Any] | None = None,
        conn_id: str | None = None,
        warehouse_conn_id: str | None = None,
        start: str = WINDOW_START,
        end: str = WINDOW_END,
        reject_threshold: float | str = "{{ params.reject_threshold }}",
        concurrency: int = 4,
        slice_bars: int | None = 200_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (symbols is None) == (symbol is None):
            raise ValueError(f"{self.task_id}: give exactly one of symbols= or symbol=")
        self.symbols = list(symbols) if symbols is not None else [symbol]
        self.timeframe = timeframe
        self.provider = provider
        self.provider_options = provider_options or {}
        self.conn_id = conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.start = start
        self.end = end
        self.reject_threshold = reject_threshold
        self.concurrency = concurrency
        self.slice_bars = slice_bars

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from candleflow import calendars
        from candleflow.airflow import metrics
        from candleflow.airflow.connections import provider_options
        from candleflow.airflow.failures import fail_permanent, raise_for_failures
        from candleflow.domain import to_utc
        from candleflow.errors import ConfigError
        from candleflow.services.chunk import sync_chunk
        from candleflow.services.load import DEFAULT_REJECT_THRESHOLD, LoadSettings

        params = context.get("params") or {}
        requested = set(params.get("symbols") or ())
        symbols = [s for s in self.symbols if not requested or s in requested]
        if not symbols:
            raise AirflowSkipException("none of this chunk's symbols is in the run's symbols")
        options = with_session(self.provider, self.provider_options, params.get("session"))
        if options is not None and options.get("session") == "extended":
            symbols = [s for s in symbols if calendars.has_extended(s)]  # crypto has none
        if options is None or not symbols:
            raise AirflowSkipException(
                f"no symbol of this chunk has a {params.get('session')}-hours series"
            )
        threshold = self.reject_threshold
        dag_run = context.get("dag_run")
        with fail_permanent(self.task_id):
            try:  # a bad param or setting cannot be fixed by a retry
                start, end = to_utc(self.start, name="start"), to_utc(self.end, name="end")
                settings = LoadSettings(
                    run_id=context["run_id"],
                    url=_warehouse(self.warehouse_conn_id),
                    now=dt.datetime.now(dt.UTC),
                    reject_threshold=DEFAULT_REJECT_THRESHOLD
                    if threshold in (None, "", "None")
                    else float(threshold),
                    slice_bars=self.slice_bars,
                    clear_number=getattr(dag_run, "clear_number", None) or 0,
                )
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{self.task_id}: {exc}") from exc
            if start >= end:
                raise ConfigError(f"{self.task_id}: empty window ({start}, {end}]")
            result = sync_chunk(
                symbols,
                self.timeframe,
                start,
                end,
                settings,
                provider=self.provider,
                provider_options=provider_options(self.provider, options, self.conn_id),
                concurrency=self.concurrency,
                resume=True,
                catch_up=catches_up(context),
            )
        self._lineage = (result, settings.url)  # for get_openlineage_facets_on_*, no query
        metrics.chunk(result)
        raise_for_failures(result.failures, what=f"{self.task_id} {self.timeframe}")
        return result.as_dict(per_symbol=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The chunk's series in, ``bars``/``rejected_bars`` out, with data quality
        (``candleflow.airflow.lineage``); the OpenLineage listener calls it after the task."""
        from candleflow.airflow.lineage import chunk_lineage

        return chunk_lineage(*getattr(self, "_lineage", (None, None)), self.provider_options)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete: the symbols stored before the failure, and a rejected window's rules."""
        return self.get_openlineage_facets_on_complete(task_instance)


def catches_up(context: Any) -> bool:
    """A scheduled run with no window of its own also loads from each series' watermark
    (``services.catchup``); a backfill or manual run loads exactly its window."""
    params = context.get("params") or {}
    run_type = getattr(context.get("dag_run"), "run_type", None)
    scheduled = getattr(run_type, "value", run_type) == "scheduled"
    return scheduled and not (params.get("start") or params.get("end"))


def with_session(provider: str, options: dict, session: str | None) -> dict | None:
    """A chunk's provider options for a run's ``session`` param: unchanged when the param is
    empty (each chunk loads its watchlist series), else with ``session`` set; None when the
    provider has no such series (its chunk is skipped: nothing of it to load)."""
    import inspect

    from candleflow.providers.registry import provider_class

    if not session:
        return options
    if session == options.get("session", "regular"):
        return options
    if "session" not in inspect.signature(provider_class(provider).__init__).parameters:
        return None
    return {**options, "session": session}


def _warehouse(conn_id: str | None) -> str:
    """The warehouse URL: ``conn_id``'s (a Postgres connection) if given, else the one policy."""
    from candleflow.airflow.connections import warehouse_hook_url, warehouse_url
    from candleflow.errors import ConfigError

    if not conn_id:
        return warehouse_url()
    url = warehouse_hook_url(conn_id)
    if url is None:
        raise ConfigError(f"no Airflow connection {conn_id!r} defined (the warehouse)")
    return url


def chunk_tasks(spec: Any, watchlist: Any, *, outlets: list[Any]) -> list[Any]:
    """The chunk tasks of one OHLCV or history DAG: one mapped task per provider.

    Mapped over a literal list of chunks (``dag_specs.DagSpec.chunks``), so a run starts
    loading at once, without a task that lists symbols first. TradingView chunks share the
    ``tradingview`` pool (it throttles connections per IP); others use the default pool.
    """
    tasks = []
    for provider in dict.fromkeys(c.provider for c in spec.chunks):
        mine = [c.as_kwargs() for c in spec.chunks if c.provider == provider]
        task = SyncBarsOperator.partial(
            task_id=f"sync_{provider}",
            timeframe=spec.timeframe.name,
            provider=provider,
            concurrency=watchlist.concurrency,
            pool="tradingview" if provider == "tradingview" else "default_pool",
            map_index_template="{{ task.symbols[0] }} ... ({{ task.symbols | length }})",
            outlets=outlets,
        ).expand_kwargs(mine)
        tasks.append(task)
    return tasks
