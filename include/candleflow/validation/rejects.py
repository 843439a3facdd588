"""Former home of the rejected-bars writer; validation only decides, ``db.rejects`` writes.

``record_rejects`` stays importable for callers not yet switched to
``candleflow.db.rejects.write_rejected_bars`` (same arguments, plus ``provider`` and
``window``, which make the rows one per load window).
"""

from __future__ import annotations

from candleflow.db.rejects import write_rejected_bars as record_rejects

__all__ = ["record_rejects"]
