"""The short soak (``make soak``'s little brother): the ``make up`` stack with 20 symbols at
1m and 1h, a one-month history backfill and the tick collector, under a few faults of four
kinds (a replay server fault, SIGKILL of the scheduler, of the api-server and of a running
task); then every bar, tick, roll-up and audit row is checked against the replay server's
record and nothing may be lost, duplicated or wrong (``candleflow.testing.soak``)."""

from __future__ import annotations

import pytest

from candleflow.testing.soak.run import soak

pytestmark = pytest.mark.timeout(1500)

KINDS = ("replay:disconnect_mid_page", "kill:scheduler", "kill:api-server", "kill:task")


def test_a_short_soak_loses_duplicates_and_changes_nothing():
    report = soak(2, symbols=20, seed=11, kinds=KINDS, backfill=("2024-03-01T00:00:00Z",) * 2)
    print("\n".join(report.lines()))
    injected = [f for f in report.faults if not f.skipped]
    assert len({f.kind for f in injected}) >= 3
    assert report.bars.checked > 0 and report.ticks.checked > 0
    assert report.problems() == []
