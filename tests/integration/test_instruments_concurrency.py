"""Two timeframes of one symbol load concurrently: the instrument row is not locked by a load.

One load (1h) is held open at the very end of its transaction (after its bars, rejects and
watermark are written, just before its audit row) by a gate: a trigger on ``load_audit`` that
waits for an advisory lock this test holds. While it is held, a 1d load of the same symbol,
an instruments refresh and a collector's start (a bare-symbol ensure) must all commit. Any
backend blocked by the held load fails the test at once (``pg_blocking_pids``), so a
regression shows as a clear failure rather than a hang.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
import time

import pytest

from candleflow.db import connection
from candleflow.db.instruments import ensure_instrument
from candleflow.services.instruments import resolve_and_store
from candleflow.services.sync import sync
from candleflow.testing import ReplayServer

pytestmark = pytest.mark.timeout(300)

SYMBOL = "NASDAQ:AAPL"
GATE = 874_201  # advisory lock key of the gate; only this test uses it
WINDOWS = {
    "1h": (dt.datetime(2024, 3, 4, tzinfo=dt.UTC), dt.datetime(2024, 3, 6, tzinfo=dt.UTC)),
    "1d": (dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 6, tzinfo=dt.UTC)),
}

GATE_TRIGGER = f"""
CREATE FUNCTION public.hold_1h_load() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.timeframe = '1h' THEN
        PERFORM pg_advisory_lock_shared({GATE});
        PERFORM pg_advisory_unlock_shared({GATE});
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER hold_1h_load BEFORE INSERT ON candleflow.load_audit
    FOR EACH ROW EXECUTE FUNCTION public.hold_1h_load();
"""


def waiting_on_gate(admin) -> list[int]:
    """Backends waiting for the gate: the held load."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = %s AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (GATE,),
        )
        return [row[0] for row in cur.fetchall()]


def blocked_by(admin, pid: int) -> list[int]:
    """Backends (other than the gate holder's own waiters) that wait for ``pid``."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (pid,)
        )
        return [row[0] for row in cur.fetchall()]


def run_while_checking(admin, held_pid: int, work) -> object:
    """Run ``work`` in a thread; fail the moment anything waits for the held load.

    On failure the pool is not waited for: the blocked work ends once the gate opens.
    """
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(work)
    try:
        while True:
            try:
                return future.result(timeout=0.05)  # re-raises what ``work`` raised
            except concurrent.futures.TimeoutError:
                waiting = blocked_by(admin, held_pid)
                assert not waiting, f"backends {waiting} wait for the open 1h load {held_pid}"
    finally:
        pool.shutdown(wait=False)


@pytest.mark.parametrize("known", [True, False], ids=["known-instrument", "new-instrument"])
def test_two_timeframes_of_one_symbol_load_while_the_other_transaction_is_open(db_url, db, known):
    admin = connection.connect(db_url, autocommit=True)
    gate = connection.connect(db_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(GATE_TRIGGER)
    with gate.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (GATE,))
    with ReplayServer(seed=5) as srv:
        options = {"url": srv.url, "timeout": 10}
        if known:
            resolve_and_store([SYMBOL], provider_options=options, url=db_url)

        def load(tf: str) -> dict:
            start, end = WINDOWS[tf]
            return sync(SYMBOL, tf, start, end, provider_options=options, url=db_url)

        held: dict[str, object] = {}
        first = threading.Thread(target=lambda: held.update(result=load("1h")), daemon=True)
        first.start()
        try:
            deadline = time.monotonic() + 120
            while not (pids := waiting_on_gate(admin)):
                assert first.is_alive(), "the 1h load ended before reaching the gate"
                assert time.monotonic() < deadline, "the 1h load never reached the gate"
                time.sleep(0.05)
            (held_pid,) = pids

            daily = run_while_checking(admin, held_pid, lambda: load("1d"))
            assert daily["outcome"] == "success" and daily["rows_inserted"] > 0
            refreshed = run_while_checking(
                admin,
                held_pid,
                lambda: resolve_and_store([SYMBOL], provider_options=options, url=db_url),
            )
            assert refreshed["symbols"] == [SYMBOL]

            def collector_start() -> int:
                with connection.transaction(db_url) as conn:
                    return ensure_instrument(conn, SYMBOL)

            assert run_while_checking(admin, held_pid, collector_start)
            with db, db.cursor() as cur:  # the 1d load is visible, the 1h one not yet
                cur.execute("SELECT timeframe, count(*) FROM candleflow.bars GROUP BY 1 ORDER BY 1")
                assert cur.fetchall() == [("1d", daily["rows_inserted"])]
            assert first.is_alive()
        finally:
            with gate.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
            first.join(120)
            gate.close()
            admin.close()
        assert not first.is_alive()
        assert held["result"]["outcome"] == "success" and held["result"]["rows_inserted"] > 0
    with db, db.cursor() as cur:
        cur.execute(
            "SELECT timeframe, count(*), min(outcome), max(outcome) FROM candleflow.load_audit"
            " GROUP BY 1 ORDER BY 1"
        )
        audits = [(tf, low, high) for tf, _, low, high in cur.fetchall()]
        assert audits == [("1d", "success", "success"), ("1h", "success", "success")]
        cur.execute("SELECT count(*) FROM candleflow.instruments")
        assert cur.fetchone() == (1,)
