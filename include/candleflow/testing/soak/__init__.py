"""The soak: the ``make up`` stack under a seeded schedule of faults, then checked whole.

``make soak`` (``python -m candleflow.testing.soak``) runs it for ``SOAK_MINUTES`` (default
20); ``tests/e2e/test_soak.py`` runs a short version in ``make test``. Why a package of its
own: the stack (``stack``), the faults (``faults``), the oracle checks (``oracle``), the
process watch (``watch``) and the report (``report``) are each testable and small, and the
test and the command share them rather than copy a harness.
"""
