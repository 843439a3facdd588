"""IDataProvider-based operators: the building blocks of the OHLCV DAGs.

They hold no logic of their own: each maps the Airflow context onto one service call, so
a DAG for another provider or watchlist is a few lines. Every window argument is
templated; by default the window is the run's data interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

WINDOW_START = "{{ params.start or data_interval_start }}"
WINDOW_END = "{{ params.end or data_interval_end }}"


class SyncBarsOperator(BaseOperator):
    """Fetch, validate and load one instrument's bars for one window (``services.sync``)."""

    template_fields: Sequence[str] = (
        "symbol",
        "timeframe",
        "start",
        "end",
        "provider_options",
        "reject_threshold",
    )
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        symbol: str,
        timeframe: str,
        provider: str = "tradingview",
        provider_options: dict[str, Any] | None = None,
        start: str = WINDOW_START,
        end: str = WINDOW_END,
        reject_threshold: float | str = "{{ params.reject_threshold }}",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.symbol = symbol
        self.timeframe = timeframe
        self.provider = provider
        self.provider_options = provider_options or {}
        self.start = start
        self.end = end
        self.reject_threshold = reject_threshold

    def execute(self, context: Any) -> dict[str, Any]:
        from candleflow.airflow.connections import warehouse_url
        from candleflow.services.sync import DEFAULT_REJECT_THRESHOLD, sync

        threshold = self.reject_threshold
        threshold = (
            DEFAULT_REJECT_THRESHOLD if threshold in (None, "", "None") else float(threshold)
        )
        return sync(
            self.symbol,
            self.timeframe,
            self.start,
            self.end,
            provider=self.provider,
            provider_options=self.provider_options,
            run_id=context["run_id"],
            url=warehouse_url(),
            reject_threshold=threshold,
        )


class SyncInstrumentsOperator(BaseOperator):
    """Resolve symbols through a provider into ``candleflow.instruments``."""

    template_fields: Sequence[str] = ("symbols", "provider_options")

    def __init__(
        self,
        *,
        symbols: list[str] | str,
        provider: str = "tradingview",
        provider_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.symbols = symbols
        self.provider = provider
        self.provider_options = provider_options or {}

    def execute(self, context: Any) -> dict[str, Any]:
        from candleflow.airflow.connections import warehouse_url
        from candleflow.services.instruments import resolve_and_store

        return resolve_and_store(
            self.symbols,
            provider=self.provider,
            provider_options=self.provider_options,
            url=warehouse_url(),
        )
