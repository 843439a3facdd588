"""Corporate actions on the command side: importing a vendor file of them.

``import_actions`` is what ``candleflow actions import`` runs: read the file (LEAN factor
file, zipline csvdir, Quandl WIKI; ``providers.files.actions``), then write the symbol's
actions in one transaction through the one writer (``db.actions``). Re-importing a file
changes nothing. An import only adds and corrects actions: actions from other sources, or of
dates the file does not mention, are kept.

The instrument is created bare when the warehouse does not know it yet (as a tick import
does), so actions can be imported before the bars they adjust.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from candleflow.db import connection

log = logging.getLogger(__name__)


def import_actions(
    path: str | Path,
    symbol: str,
    *,
    preset: str | None = None,
    url: str | None = None,
    run_id: str | None = None,
) -> dict:
    """Read ``path``'s actions of ``symbol`` and store them; the counts, the preset used."""
    from candleflow.db.actions import upsert_actions
    from candleflow.db.instruments import ensure_instrument
    from candleflow.providers.files.actions import detect_actions_preset, read_actions

    path = Path(path)
    name = preset or detect_actions_preset(path)
    actions = read_actions(path, symbol, name)
    run_id = run_id or f"actions__{dt.datetime.now(dt.UTC).isoformat()}"
    conn = connection.connect(url or connection.warehouse_url())
    try:
        with conn:
            instrument_id = ensure_instrument(conn, symbol)
            counts = upsert_actions(conn, instrument_id, actions, source=name, run_id=run_id)
    finally:
        conn.close()
    log.info("imported %d actions of %s from %s (%s)", len(actions), symbol, path.name, name)
    return {
        "symbol": symbol,
        "preset": name,
        "actions": len(actions),
        "splits": int((actions["kind"] == "split").sum()),
        "dividends": int((actions["kind"] == "dividend").sum()),
        **counts._asdict(),
    }
