"""The api-server's start-up heap is frozen once, after the API's first call (see
``candleflow.api.heap``). Each case runs in a fresh interpreter: freezing is process-wide,
and this test process's own heap is not the api-server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

FIRST_CALL = """
import asyncio, gc, json
from candleflow.api import capacity, heap
before = gc.get_freeze_count()
asyncio.run(capacity.run(sum, [1, 2]))
after_one = gc.get_freeze_count()
kept = [[] for _ in range(5000)]  # tracked objects a second freeze would take in
asyncio.run(capacity.run(sum, [3, 4]))
print(json.dumps([before, after_one, gc.get_freeze_count()]))
"""


def _counts(**env: str) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_CALL],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_first_call_through_the_api_threads_freezes_the_heap_once():
    before, after_one, after_two = _counts(CANDLEFLOW_API_GC_FREEZE="1")
    assert before == 0
    assert after_one > 1000  # the interpreter's and the API's imports
    assert after_two < after_one + 5000  # once per process: the second call froze nothing


def test_the_freeze_can_be_turned_off():
    assert _counts(CANDLEFLOW_API_GC_FREEZE="0") == [0, 0, 0]
