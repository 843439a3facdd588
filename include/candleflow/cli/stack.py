"""candleflow up: what make up runs (the embedded server, Airflow, in the foreground)."""

from __future__ import annotations

import typer


def up(
    port: int = typer.Option(
        None, envvar="CANDLEFLOW_AIRFLOW_PORT", help="Port of the Airflow UI (default 8080)."
    ),
) -> None:
    """Prepare everything and run Airflow in the foreground until Ctrl-C."""
    from candleflow.stack import env, supervisor

    raise typer.Exit(supervisor.up(port=port or env.DEFAULT_PORT))
