"""The candleflow command: one Typer app, one module per command group.

db (the warehouse), up (stack), fetch and sync (sync), bars, export, ticks and rollup (ticks),
actions (corporate actions), instruments, replay-server (replay), tv (tv). Commands are thin:
each checks its input (inputs), makes one call into the package and prints the result: text for
a person, or with --json one JSON object for a program. Heavy imports stay inside the commands
so that candleflow --help is instant.

How errors end, so that a typo never looks like a crash:

- bad input (a timeframe, a time, a window, a symbol's shape, a file, an option): one line
  naming the input and what was expected, exit code 2;
- a known failure (the warehouse is down or behind, a provider refused a symbol): one line,
  exit code 1;
- anything else is a bug: its traceback, exit code 1.

Quiet by default (warnings and errors only); -v logs at INFO level and adds the traceback to
the first two; -vv logs at DEBUG level.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import typer

# Typer 0.25+ vendors Click as typer._click: these are the exceptions its parser raises
# (click's own classes are never raised by a Typer app).
from typer._click import exceptions as parse_errors

from candleflow.errors import BadInputError, CandleflowError, ConfigError

HELP = (
    "Candleflow: OHLCV bars and quote ticks from TradingView, vendor files or crypto exchanges, "
    "validated and stored in PostgreSQL; the local Airflow stack; an offline TradingView "
    "replay server."
)
app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP)
BAD_INPUT = (BadInputError, ConfigError)
_state = {"verbose": False}


@app.callback()
def _main(
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="More output: -v logs progress (INFO) and shows tracebacks of errors; -vv DEBUG.",
    ),
) -> None:
    from candleflow.cli.progress import configure_logging, level

    _state["verbose"] = verbose > 0
    configure_logging(level(verbose))


def _register() -> None:
    from candleflow.cli import db, instruments, stack, sync, tv
    from candleflow.cli import ticks as ticks_cli
    from candleflow.cli.bars import bars_command
    from candleflow.cli.export import export_command
    from candleflow.cli.replay import replay_server

    app.add_typer(db.app, name="db")
    app.command("up")(stack.up)
    app.command("fetch")(sync.fetch)
    app.command("sync")(sync.sync)
    app.command("bars")(bars_command)
    app.command("export")(export_command)
    ticks_app = typer.Typer(no_args_is_help=True, help="Quote ticks: capture and import.")
    ticks_app.command("stream")(ticks_cli.ticks_stream)
    ticks_app.command("import")(ticks_cli.ticks_import)
    app.add_typer(ticks_app, name="ticks")
    app.command("rollup")(ticks_cli.rollup)
    app.add_typer(instruments.app, name="instruments")
    app.command("replay-server")(replay_server)
    app.add_typer(tv.app, name="tv")
    from candleflow.cli import actions

    app.add_typer(actions.app, name="actions")


_register()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int, exc: BaseException) -> int:
    if _state["verbose"]:
        traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"error: {_one_line(message)}", err=True)
    return code


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line ``args`` (default: sys.argv); returns the exit code."""
    _state["verbose"] = False
    try:
        code = app(args=args, prog_name="candleflow", standalone_mode=False)
    except parse_errors.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        return 2
    except parse_errors.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return _fail(exc.format_message() + where, 2, exc)
    except typer.Abort as exc:
        return _fail("aborted", 130, exc)
    except BAD_INPUT as exc:
        return _fail(str(exc), 2, exc)
    except CandleflowError as exc:
        return _fail(str(exc), 1, exc)
    return code if isinstance(code, int) else 0


def main() -> None:
    """The console script: exit with run()'s code. Unexpected errors propagate, so Typer's
    hook prints their traceback.

    Arrow's default allocator (mimalloc) keeps the blocks it frees: an import of a large
    file peaked about 60 MiB higher with it. The command uses the system allocator unless
    ARROW_DEFAULT_MEMORY_POOL says otherwise (read when pyarrow first allocates)."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    sys.exit(run())
