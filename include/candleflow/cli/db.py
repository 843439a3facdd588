"""candleflow db: the embedded server and the warehouse schema.

start/stop only concern the embedded server (nothing configured); status, url and migrate
work on whichever warehouse the one policy picks (candleflow.cli.warehouse: the
candleflow_warehouse connection, else CANDLEFLOW_DATABASE_URL, else the embedded server).
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="The warehouse database: embedded server and schema.")


def _source() -> tuple[str, str]:
    """(url, where it came from), without starting the embedded server."""
    from candleflow.airflow.connections import resolve_warehouse

    return resolve_warehouse(start_embedded=False)


def _require_embedded() -> None:
    source = _source()[1]
    if source != "embedded server":
        typer.echo(f"the warehouse comes from {source}: the embedded server is not used", err=True)
        raise typer.Exit(2)


@app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server (a no-op when it already runs)."""
    from candleflow.db import connection, embedded
    from candleflow.stack import env as stack_env

    _require_embedded()
    state = embedded.start()
    connection.ensure_database(embedded.url())
    typer.echo(f"embedded PostgreSQL running (pid {state.pid}, socket {state.socket_dir})")
    typer.echo(stack_env.reader_login())


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

    url, source = _source()
    if source == "embedded server":
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
        f"warehouse {connection.describe(url)} ({source}): schema version {version}, "
        f"code expects {migrate.latest_version()}"
    )


@app.command("url")
def db_url(database: str = typer.Option("candleflow", help="Database name on the server.")) -> None:
    """Print the warehouse DSN (the embedded server is started if needed)."""
    from candleflow.cli import warehouse
    from candleflow.db import connection

    typer.echo(connection.admin_url(warehouse.resolve(), database))


@app.command("migrate")
def db_migrate() -> None:
    """Create the warehouse database if needed, apply pending migrations, and apply the
    reader role's settings (CANDLEFLOW_READER_PASSWORD, _STATEMENT_TIMEOUT, _CONNECTION_LIMIT)."""
    from candleflow.cli import warehouse
    from candleflow.db import connection, migrate, roles

    url = warehouse.resolve()
    connection.ensure_database(url)
    conn = connection.connect(url)
    try:
        applied = migrate.migrate(conn)
        own = warehouse.embedded_reader_password() if warehouse.is_embedded(url) else None
        roles.configure_reader_from_env(conn, default_password=own)
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

    from candleflow.db import reader_guard

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # never starts the embedded server: guarding is no reason to bring a stopped one back
    url = _source()[0]
    reader_guard.run(url, interval=interval, stop=stop)


@app.command("compress")
def db_compress(
    older_than: str = typer.Option(
        None,
        "--older-than",
        help="Compress segments (months of 1m/3m/5m, years of coarser bars) that ended this "
        "long ago: N followed by d, w, mo or y. Default: CANDLEFLOW_COMPRESS_AFTER, else 2mo.",
    ),
) -> None:
    """Move closed months of bars into compressed segments (one transaction per segment);
    reads, the analytics views and later corrections keep working on them."""
    from candleflow.cli import warehouse
    from candleflow.db import compaction

    done = compaction.compress_closed(warehouse.resolve(), older_than)
    typer.echo(
        f"compressed {done['segments']} segments ({done['bars']} bars) that ended before "
        f"{done['before']}"
    )


@app.command("partitions")
def db_partitions(
    ahead: int = typer.Option(
        None,
        "--ahead",
        min=0,
        help="Months of partitions to create ahead of the current one. Default: "
        "CANDLEFLOW_PARTITIONS_AHEAD, else 3.",
    ),
) -> None:
    """Create the bar and tick partitions ahead, and move rows that reached a DEFAULT
    partition into partitions of their own (what the warehouse_healthcheck DAG does hourly)."""
    from candleflow.cli import warehouse
    from candleflow.db import partitions

    done = partitions.maintain_url(warehouse.resolve(), ahead=ahead)
    left = done["default_rows"]
    typer.echo(
        f"created {done['created']} partitions ahead, {done['adopted']} for rows that were in "
        f"a DEFAULT partition; DEFAULT rows left: {sum(left.values()) if left else 0}"
    )
    if left:
        raise typer.Exit(1)


@app.command("size")
def db_size() -> None:
    """Bars and bytes on disk per timeframe, open (plain rows) and compressed."""
    from candleflow.cli import warehouse
    from candleflow.db import compaction, connection

    conn = connection.connect(warehouse.resolve())
    try:
        rows = compaction.sizes(conn)
    finally:
        conn.close()
    typer.echo(f"{'state':<11}{'timeframe':>9}{'bars':>14}{'bytes':>16}{'bytes/bar':>11}")
    for row in rows:
        typer.echo(
            f"{row.state:<11}{row.timeframe:>9}{row.bars:>14,}{row.bytes:>16,}"
            f"{row.bytes_per_bar:>11.1f}"
        )
    if not rows:
        typer.echo("no bars stored")
