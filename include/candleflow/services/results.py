"""What a chunk did, per symbol: the sums of its slices' audit rows and its outcome.

Kept apart from ``services.chunk`` so the operator, the CLI and tests read the same result:
``ChunkResult.table()`` is the per-symbol table that ends a chunk task's log, ``failures``
what the task fails on, ``as_dict()`` what goes to XCom (counts only, no validation detail).
``SymbolResult.quality`` is what validation saw and where the time went, kept for the task's
OpenLineage facets and metrics (``candleflow.airflow.lineage``/``metrics``) so that neither
has to query the warehouse again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

COUNTS = (
    "rows_fetched",
    "rows_valid",
    "rows_rejected",
    "rows_flagged",
    "rows_inserted",
    "rows_updated",
    "rows_unchanged",
    "rows_out_of_reach",
)

STEPS = ("fetch", "validate", "load")


@dataclass(slots=True)
class Quality:
    """What validation saw in one symbol's slices, and the seconds spent per step.

    Unlike ``SymbolResult.counts`` (what loaded), a window rejected as a whole counts here: it
    was fetched, its rows were judged and its rejects were stored in ``rejected_bars``, so its
    broken rules are what its lineage and metrics must show. Sums over the slices of the run.
    """

    rows_fetched: int = 0
    rows_checked: int = 0  # after identical duplicates were collapsed
    rows_rejected: int = 0  # written to rejected_bars
    rules: dict[str, int] = field(default_factory=dict)  # rows breaking each rule
    nulls: dict[str, int] = field(default_factory=dict)  # missing values per column, as fetched
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    def fetched(self, bars: Any, seconds: float) -> None:
        """A slice's frame as the provider returned it, and how long fetching it took."""
        self.seconds["fetch"] += seconds
        for column, missing in bars.isna().sum().items():  # one vectorised pass
            self.nulls[column] = self.nulls.get(column, 0) + int(missing)

    def observe(self, audit: dict[str, Any]) -> None:
        """A validated slice's audit row (loaded or rejected), with its validation summary."""
        summary = (audit.get("validation") or {}).get("summary") or {}
        self.rows_fetched += int(audit.get("rows_fetched") or 0)
        self.rows_checked += int(summary.get("rows_checked") or 0)
        self.rows_rejected += int(audit.get("rows_rejected") or 0)
        for rule, broken in (summary.get("rules") or {}).items():
            self.rules[rule] = self.rules.get(rule, 0) + int(broken)
        for step in ("validate", "load"):
            self.seconds[step] += float(audit.get(f"{step}_s") or 0.0)


@dataclass(slots=True)
class SymbolResult:
    """One symbol of a chunk: its slices' counts summed, and the first error if any."""

    symbol: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    slices: int = 0
    skipped: int = 0  # slices this run had already loaded (a retry skips them)
    out_of_window: int = 0
    caught_up_from: dt.datetime | None = None  # a scheduled run's catch-up start, if any
    rows_caught_up: int = 0  # bars fetched between the watermark and the run's interval
    duration_s: float = 0.0
    error: BaseException | None = None
    outcome_of_error: str = "failed"
    quality: Quality = field(default_factory=Quality)

    def add(self, audit: dict[str, Any]) -> None:
        self.quality.observe(audit)
        for name in COUNTS:
            self.counts[name] += int(audit.get(name) or 0)
        self.slices += 1
        self.out_of_window += audit["outcome"] == "out_of_window"
        if audit.get("catch_up"):
            self.rows_caught_up += int(audit.get("rows_fetched") or 0)
        self.duration_s += float(audit.get("duration_s") or 0.0)

    def fail(self, exc: BaseException) -> None:
        from candleflow.errors import ValidationFailed

        self.error = exc
        self.outcome_of_error = "rejected" if isinstance(exc, ValidationFailed) else "failed"

    @property
    def outcome(self) -> str:
        """failed/rejected, out_of_window (every slice), skipped (all loaded before), success."""
        if self.error is not None:
            return self.outcome_of_error
        if self.slices and self.out_of_window == self.slices:
            return "out_of_window"
        if not self.slices and self.skipped:
            return "skipped"
        return "success"

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            **self.counts,
            "slices": self.slices,
            "skipped_slices": self.skipped,
            "caught_up_from": self.caught_up_from and self.caught_up_from.isoformat(),
            "rows_caught_up": self.rows_caught_up,
            "duration_s": round(self.duration_s, 4),
            "outcome": self.outcome,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }


@dataclass(slots=True)
class ChunkResult:
    """Every symbol of one chunk over one window ``(start, end]``."""

    timeframe: str
    start: dt.datetime
    end: dt.datetime
    symbols: list[SymbolResult]
    duration_s: float = 0.0
    provider: str = ""  # the provider's registry name (lineage namespaces, metric tags)

    @property
    def failures(self) -> dict[str, BaseException]:
        return {r.symbol: r.error for r in self.symbols if r.error is not None}

    def outcomes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.symbols:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    def table(self) -> str:
        """The per-symbol table: symbol, fetched, inserted, updated, rejected, outcome."""
        head = ("symbol", "fetched", "inserted", "updated", "rejected", "outcome")
        rows = [(r.symbol, *(str(r.counts[c]) for c in _TABLE), _outcome(r)) for r in self.symbols]
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
        lines = [
            f"chunk {self.timeframe} ({self.start.isoformat()}, {self.end.isoformat()}]: "
            f"{len(self.symbols)} symbols in {self.duration_s:.2f}s, "
            + ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes().items()))
        ]
        for row in (head, *rows):
            lines.append(
                "  ".join(
                    cell.ljust(w) if i in (0, 5) else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return "\n".join(lines)

    def totals(self) -> dict[str, int]:
        return {c: sum(r.counts[c] for r in self.symbols) for c in COUNTS}

    def as_dict(self, *, per_symbol: bool = True) -> dict[str, Any]:
        """JSON-ready; ``per_symbol=False`` (for XCom) keeps totals and the failed symbols."""
        out: dict[str, Any] = {
            "timeframe": self.timeframe,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "outcomes": self.outcomes(),
            "totals": self.totals(),
            "caught_up": {
                r.symbol: {"from": r.caught_up_from.isoformat(), "rows": r.rows_caught_up}
                for r in self.symbols
                if r.caught_up_from is not None
            },
        }
        if per_symbol:
            out["symbols"] = [r.as_dict() for r in self.symbols]
        else:
            out["failed"] = {s: f"{type(e).__name__}: {e}" for s, e in self.failures.items()}
        return out


_TABLE = ("rows_fetched", "rows_inserted", "rows_updated", "rows_rejected")


def _outcome(result: SymbolResult) -> str:
    missing = result.counts["rows_out_of_reach"]
    return result.outcome + (f" ({missing} out of reach)" if missing else "")
