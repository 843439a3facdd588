"""The ``candleflow`` command. Sub-commands are thin: each calls one function of the package.

Heavy imports stay inside the commands so that ``candleflow --help`` is instant.
"""

from __future__ import annotations

import logging
import sys

import typer

from candleflow.errors import CandleflowError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])
db_app = typer.Typer(
    no_args_is_help=True, help="The warehouse database: embedded server and schema."
)
app.add_typer(db_app, name="db")


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server (a no-op when it already runs)."""
    from candleflow.db import connection, embedded

    _require_embedded()
    state = embedded.start()
    connection.ensure_database(embedded.url())
    typer.echo(f"embedded PostgreSQL running (pid {state.pid}, socket {state.socket_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server; its data stays in .candleflow/pgdata."""
    from candleflow.db import embedded

    _require_embedded()
    embedded.stop()
    typer.echo("embedded PostgreSQL stopped")


@db_app.command("status")
def db_status() -> None:
    """Which database is used, whether it answers, and its schema version."""
    from candleflow.db import connection, embedded, migrate

    url = connection.warehouse_url(start_embedded=False)
    if not _configured():
        state = embedded.status()
        typer.echo(
            f"embedded PostgreSQL: {f'running, pid {state.pid}' if state.running else 'stopped'}"
            f" (data {state.pgdata})"
        )
        if not state.running:
            raise typer.Exit(1)
    conn = connection.connect(url)
    try:
        version = migrate.current_version(conn)
    finally:
        conn.close()
    typer.echo(
        f"warehouse {connection.describe(url)}: schema version {version}, "
        f"code expects {migrate.latest_version()}"
    )


@db_app.command("url")
def db_url(database: str = typer.Option("candleflow", help="Database name on the server.")) -> None:
    """Print the warehouse DSN (the embedded server is started if needed)."""
    from candleflow.db import connection

    typer.echo(connection.admin_url(connection.warehouse_url(), database))


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the warehouse database if needed and apply pending migrations."""
    from candleflow.db import connection, migrate, roles

    url = connection.warehouse_url()
    connection.ensure_database(url)
    conn = connection.connect(url)
    try:
        applied = migrate.migrate(conn)
        roles.set_reader_password_from_env(conn)
        version = migrate.current_version(conn)
    finally:
        conn.close()
    typer.echo(f"applied {applied or 'nothing'}; schema version {version}")


@app.command("up")
def up(
    port: int = typer.Option(
        None, envvar="CANDLEFLOW_AIRFLOW_PORT", help="Port of the Airflow UI (default 8080)."
    ),
) -> None:
    """Prepare everything and run Airflow in the foreground until Ctrl-C."""
    from candleflow.stack import env, supervisor

    raise typer.Exit(supervisor.up(port=port or env.DEFAULT_PORT))


def _register() -> None:
    """Commands that live beside the code they drive."""
    from candleflow.cli import sync as cli_bars
    from candleflow.cli import ticks as ticks_cli
    from candleflow.cli.bars import bars_command
    from candleflow.cli.replay import replay_server
    from candleflow.providers.tradingview.decode import tv_decode

    app.command("fetch")(cli_bars.fetch)
    app.command("sync")(cli_bars.sync)
    app.command("bars")(bars_command)
    ticks_app = typer.Typer(no_args_is_help=True, help="Quote ticks: capture and import.")
    ticks_app.command("stream")(ticks_cli.ticks_stream)
    ticks_app.command("import")(ticks_cli.ticks_import)
    app.add_typer(ticks_app, name="ticks")
    app.command("rollup")(ticks_cli.rollup)
    app.command("replay-server")(replay_server)
    tv_app = typer.Typer(no_args_is_help=True, help="TradingView protocol tools.")
    tv_app.command("decode")(tv_decode)
    app.add_typer(tv_app, name="tv")


def _configured() -> bool:
    from candleflow import config

    return config.configured_database_url() is not None


def _require_embedded() -> None:
    if _configured():
        typer.echo("CANDLEFLOW_DATABASE_URL is set: the embedded server is not used", err=True)
        raise typer.Exit(2)


_register()


def main() -> None:
    """Entry point: known errors become one clear line and exit code 1, not a traceback."""
    try:
        app()
    except CandleflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
