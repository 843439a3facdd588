"""Response shapes, for the OpenAPI document and the contract tests that read it.

Timestamps are strings in one format (``2024-01-02T14:30:00Z``, UTC, bar start for bars),
declared as ``date-time`` so generated clients parse them. The bars route writes its body
with Arrow's kernels for speed; these models still describe it exactly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Every 4xx/5xx body: one sentence that starts with the parameter's name."""

    detail: str = Field(examples=["timeframe: unknown timeframe '7m'; expected one of 1m, ..."])


class StoredTimeframe(BaseModel):
    timeframe: str
    first: str = Field(json_schema_extra={"format": "date-time"}, description="First bar, UTC")
    last: str = Field(json_schema_extra={"format": "date-time"}, description="Last bar, UTC")


class Instrument(BaseModel):
    model_config = ConfigDict(extra="allow")

    symbol: str = Field(examples=["NASDAQ:AAPL"])
    exchange: str | None = None
    ticker: str | None = None
    description: str | None = None
    type: str | None = None
    currency: str | None = None
    timezone: str | None = None
    session: str | None = None
    timeframes: list[StoredTimeframe] | None = Field(
        default=None,
        description="GET /instruments/{symbol} only: the stored timeframes, finest first",
    )


class InstrumentList(BaseModel):
    items: list[Instrument]
    count: int = Field(description="Items in this page")
    total: int = Field(description="Items matching the filters")
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null at end")


class Bar(BaseModel):
    ts: str = Field(json_schema_extra={"format": "date-time"}, description="Bar start, UTC")
    open: float
    high: float
    low: float
    close: float
    volume: float | None = Field(description="null where the instrument has no volume")
    complete: bool = Field(
        description="false for a resampled bar whose interval the stored bars do not fully "
        "cover (judged against the exchange session), and for filled bars"
    )


class BarsPage(BaseModel):
    symbol: str
    timeframe: str
    start: str = Field(json_schema_extra={"format": "date-time"})
    end: str = Field(json_schema_extra={"format": "date-time"})
    fill: str | None
    adjustment: str = Field(description="raw, splits (the default) or total_return")
    as_of: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="The time the series is read as known at; null: as stored now",
    )
    count: int
    next: str | None = Field(
        json_schema_extra={"format": "date-time"},
        description="Pass as `start` (same `end`) for the next page; null when complete",
    )
    bars: list[Bar]


class Quote(BaseModel):
    model_config = ConfigDict(extra="allow")

    symbol: str
    ts: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    price: float | None = None


class QuoteList(BaseModel):
    items: list[Quote]


class Coverage(BaseModel):
    """Whatever ``query.coverage`` reports (counts, first/last bar, gaps), as JSON."""

    model_config = ConfigDict(extra="allow")

    symbol: str
    timeframe: str
    start: str = Field(json_schema_extra={"format": "date-time"})
    end: str = Field(json_schema_extra={"format": "date-time"})


class SyncStatus(BaseModel):
    items: list[dict]


class Health(BaseModel):
    status: str = "ok"
