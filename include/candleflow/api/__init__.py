"""Candleflow's HTTP API and chart page (a FastAPI app the Airflow plugin mounts).

Routes live in ``routes`` (instruments, quotes, coverage, sync status) and ``bars``; the
token check in ``auth``; the page and its vendored chart library in ``pages`` and
``static/``. ``create_app`` in ``app`` assembles them.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app():
    from candleflow.api.app import create_app as build

    return build()
