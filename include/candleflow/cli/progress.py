"""Progress of long commands: a Rich bar with counts and rate on a terminal, log lines otherwise.

Why two forms: a person at a terminal wants to see a sync of fifty symbols move (which
window, how many bars, how fast); CI logs and Airflow task logs want plain lines they can
grep, and control codes would garble them. The choice follows stderr: a terminal gets the
bar (and log lines printed above it), anything else gets one log line per finished step.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)
_HANDLER = "candleflow-cli"


@functools.cache
def console() -> Any:
    """The one stderr console, shared by the progress bar and the log handler."""
    from rich.console import Console

    return Console(stderr=True)


def on_terminal() -> bool:
    return bool(console().is_terminal) and sys.stderr.isatty()


def configure_logging(level: int) -> None:
    """Log lines above the bar on a terminal (Rich), plain timestamped lines otherwise."""
    if on_terminal():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=console(), show_path=False, markup=False, rich_tracebacks=False
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER] + [handler]
    root.setLevel(level)


class _Stderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a line is logged (tests and Rich swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class Progress:
    """Steps of one command (windows, files) and the items they moved (bars, ticks).

    ``total`` is the number of steps, or None when unknown (a spinner and elapsed time).
    """

    def __init__(self, description: str, total: int | None, *, unit: str = "bars") -> None:
        self.description, self.total, self.unit = description, total, unit
        self.steps = self.items = 0
        self._began = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        self._began = time.perf_counter()
        if on_terminal():
            from rich import progress as rp

            self._bar = rp.Progress(
                rp.SpinnerColumn(),
                rp.TextColumn("{task.description}"),
                rp.BarColumn(),
                rp.MofNCompleteColumn(),
                rp.TextColumn("{task.fields[items]:,} " + self.unit),
                rp.TextColumn("{task.fields[rate]:,.0f} " + self.unit + "/s"),
                rp.TimeElapsedColumn(),
                console=console(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, items=0, rate=0.0)
        return self

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self._began
        return self.items / elapsed if elapsed > 0 else 0.0

    def step(self, label: str, items: int = 0) -> None:
        """One step finished (``label`` says which) having moved ``items``."""
        self.steps += 1
        self.items += items
        if self._bar is not None:
            self._bar.update(
                self._task,
                advance=1,
                items=self.items,
                rate=self.rate,
                description=f"{self.description} {label}",
            )
            return
        of = f"/{self.total}" if self.total is not None else ""
        log.info(
            "%s: %d%s done (%s), %d %s, %.0f %s/s",
            self.description,
            self.steps,
            of,
            label,
            self.items,
            self.unit,
            self.rate,
            self.unit,
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            if self.total is None:
                self._bar.update(self._task, total=max(self.steps, 1), completed=self.steps)
            self._bar.stop()
