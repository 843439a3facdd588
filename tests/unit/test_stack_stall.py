"""A stalled scheduler (its loop failed, it waits for running tasks before exiting, and
schedules nothing meanwhile) is told by its health endpoint: the supervisor kills it once
the endpoint, healthy since the start, has not been for ``STALL_S``. A real HTTP server
stands in for the endpoint; the clock is passed in."""

from __future__ import annotations

import http.server
import threading

import pytest

from candleflow.stack import supervisor
from candleflow.stack.supervisor import HEALTH_EVERY_S, STALL_S, Component


@pytest.fixture
def endpoint():
    state = {"status": 503}

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_port}/health"
    server.shutdown()


class _Alive:
    pid = 0

    def poll(self):
        return None


def _scheduler(url: str) -> Component:
    return Component("scheduler", [], proc=_Alive(), health_url=url)


def test_a_scheduler_unhealthy_since_its_start_is_starting_not_stalled(endpoint):
    _state, url = endpoint
    c = _scheduler(url)
    assert not any(c.stalled(t) for t in range(0, 600, int(HEALTH_EVERY_S)))


def test_a_scheduler_unhealthy_for_stall_s_after_being_healthy_is_stalled(endpoint):
    state, url = endpoint
    c = _scheduler(url)
    state["status"] = 200
    assert not c.stalled(100.0)
    state["status"] = 503
    assert not c.stalled(100.0 + STALL_S)  # not yet past it
    assert c.stalled(100.0 + STALL_S + HEALTH_EVERY_S)
    state["status"] = 200
    assert not c.stalled(200.0)  # healthy again: the clock starts over


def test_a_scheduler_whose_endpoint_is_gone_counts_as_unhealthy(endpoint):
    state, url = endpoint
    c = _scheduler(url)
    state["status"] = 200
    assert not c.stalled(0.0)
    c.health_url = "http://127.0.0.1:1/health"  # refused
    assert c.stalled(STALL_S + HEALTH_EVERY_S)


def test_the_health_endpoint_is_the_one_the_stack_configures():
    env = {
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": "45678",
    }
    assert supervisor.health_url(env) == "http://127.0.0.1:45678/health"
    assert supervisor.health_url({}) is None
