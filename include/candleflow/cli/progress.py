"""Progress of long commands, and how much a command logs.

Why quiet by default: a person reads a command's result, not the library's INFO lines (a
sync printed a dozen of them for one symbol, ``ticks stream`` one every half second). So
only warnings are logged unless ``-v`` (INFO) or ``-vv`` (DEBUG) asks for more. Candleflow's
own ERROR lines are left out too: the error they describe reaches the command, which reports
it in its one line (``error: ...`` or ``SYMBOL: FAILED: ...``); Airflow's task logs, and
``-v``, keep them.
Progress is separate from logging: on a terminal a Rich bar with counts and rate moves on
stderr; elsewhere (CI, Airflow, a pipe) control codes would garble the output, so progress
becomes one INFO log line per finished step, shown with ``-v``.
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


def level(verbosity: int) -> int:
    """The log level of ``-v`` given ``verbosity`` times: WARNING, INFO, then DEBUG."""
    return (logging.WARNING, logging.INFO)[verbosity] if verbosity < 2 else logging.DEBUG


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
    if level > logging.INFO:
        handler.addFilter(_reported_by_the_command)
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER] + [handler]
    root.setLevel(level)


def _reported_by_the_command(record: logging.LogRecord) -> bool:
    """False for candleflow's own ERROR lines: the command reports that error itself."""
    return record.levelno < logging.ERROR or not record.name.startswith("candleflow.")


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

    def show(self, label: str, items: int) -> None:
        """Where a step without an end stands (a live stream): ``items`` moved so far. Only
        the terminal's bar shows it; a log would repeat it every time (``-v`` logs the
        command's own periodic lines)."""
        self.items = items
        if self._bar is not None:
            description = f"{self.description} {label}"
            self._bar.update(self._task, items=items, rate=self.rate, description=description)

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
            if self.total is None:  # done: a stream (only show) counts as one finished step
                done = max(self.steps, 1) if kind is None else self.steps
                self._bar.update(self._task, total=max(self.steps, 1), completed=done)
            self._bar.stop()
