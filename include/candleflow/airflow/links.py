"""The "Data Docs" button of a sync task instance: its chunk's validation pages.

Airflow 3 evaluates an operator's extra links on the worker when the task finishes and keeps
each URL as an XCom (key ``_link_DataDocsLink``); the UI shows the button for classes the
plugin (or the provider info's ``extra-links``) registers. Evaluated there, ``operator`` is
the concrete task (a mapped chunk's own symbols), so the link opens the run's pages of
exactly that chunk (``api.data_docs``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink


class DataDocsLink(BaseOperatorLink):
    """The run's Data Docs pages of this task's symbols and timeframe."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from candleflow.db.docs_store import SERVED_AT as PREFIX

        query = [("symbol", s) for s in getattr(operator, "symbols", None) or ()]
        timeframe = getattr(operator, "timeframe", None)
        if timeframe:
            query.append(("timeframe", str(timeframe)))
        path = f"{PREFIX}/runs/{quote(ti_key.run_id, safe='')}"
        return base_url() + path + (f"?{urlencode(query)}" if query else "")


def base_url() -> str:
    """The api-server's public URL (``[api] base_url``), empty for a same-origin path."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")
