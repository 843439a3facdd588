"""The pieces of ``docker/compose_check.py`` (``make compose-check``), one job per module.

engine (find or start a Docker engine), images (base images without a registry), wheelhouse
(the lock's wheels for an offline build), stack (the Compose project), runs (the REST API and
the oracle check), main (the order of it all, the timings and the report).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".candleflow" / "compose"
