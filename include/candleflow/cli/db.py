"""candleflow db: the embedded server and the warehouse schema.

start/stop only concern the embedded server (nothing configured); status, url and migrate
work on whichever warehouse the resolver picks.
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="The warehouse database: embedded server and schema.")


def _configured() -> bool:
    from candleflow import config

    return config.configured_database_url() is not None


def _require_embedded() -> None:
    if _configured():
        typer.echo("CANDLEFLOW_DATABASE_URL is set: the embedded server is not used", err=True)
        raise typer.Exit(2)


@app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server (a no-op when it already runs)."""
    from candleflow.db import connection, embedded

    _require_embedded()
    state = embedded.start()
    connection.ensure_database(embedded.url())
    typer.echo(f"embedded PostgreSQL running (pid {state.pid}, socket {state.socket_dir})")


@app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server; its data stays in .candleflow/pgdata."""
    from candleflow.db import embedded

    _require_embedded()
    embedded.stop()
    typer.echo("embedded PostgreSQL stopped")


@app.command("status")
def db_status() -> None:
    """Which database is used, whether it answers, and its schema version."""
    from candleflow.db import connection, embedded, migrate

    url = connection.warehouse_url(start_embedded=False)
    if not _configured():
        state = embedded.status()
        running = f"running, pid {state.pid}" if state.running else "stopped"
        typer.echo(f"embedded PostgreSQL: {running} (data {state.pgdata})")
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


@app.command("url")
def db_url(database: str = typer.Option("candleflow", help="Database name on the server.")) -> None:
    """Print the warehouse DSN (the embedded server is started if needed)."""
    from candleflow.db import connection

    typer.echo(connection.admin_url(connection.warehouse_url(), database))


@app.command("migrate")
def db_migrate() -> None:
    """Create the warehouse database if needed, apply pending migrations, and apply the
    reader role's settings (CANDLEFLOW_READER_PASSWORD, _STATEMENT_TIMEOUT, _CONNECTION_LIMIT)."""
    from candleflow.db import connection, migrate, roles

    url = connection.warehouse_url()
    connection.ensure_database(url)
    conn = connection.connect(url)
    try:
        applied = migrate.migrate(conn)
        roles.configure_reader_from_env(conn)
        version = migrate.current_version(conn)
    finally:
        conn.close()
    typer.echo(f"applied {applied or 'nothing'}; schema version {version}")


@app.command("guard")
def db_guard(
    interval: float = typer.Option(5.0, help="Seconds between two checks.", min=0.5),
) -> None:
    """Enforce candleflow_reader's limits from outside the role until stopped (make up runs
    it): end reader sessions past the limit or in another database, restore its defaults."""
    import signal
    import threading

    from candleflow.db import connection, reader_guard

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # never starts the embedded server: guarding is no reason to bring a stopped one back
    url = connection.warehouse_url(start_embedded=False)
    reader_guard.run(url, interval=interval, stop=stop)
