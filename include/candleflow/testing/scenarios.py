"""Fault scenarios of the replay server and the per-connection options that tune them.

A scenario is chosen per connection with ``?scenario=NAME`` on the websocket URL, or for
the whole server with ``ReplayServer(scenario=NAME)``. Faults that break a connection
happen once per server (per symbol for ``disconnect_mid_page``) so that a client that
reconnects, as it should, then succeeds. ``SCENARIOS`` documents each one exactly; tests
assert against these descriptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

SCENARIOS: dict[str, str] = {
    "disconnect_mid_page": (
        "The first history page (create_series or request_more_data) of each symbol on this "
        "server is cut: series_loading plus a timescale_update holding the older half of the "
        "page's bars are sent, then the TCP connection is aborted (close code 1006, no "
        "series_completed). Later requests for that symbol are served normally."
    ),
    "heartbeats_only": (
        "The hello and heartbeats are sent, but no client message is ever answered "
        "(what an expired token looks like). Heartbeat echoes still keep the socket open."
    ),
    "bad_token": (
        "set_auth_token with any token other than 'unauthorized_user_token' gets "
        'protocol_error ["bad auth token"] and the server closes the socket (code 1000).'
    ),
    "http_429": (
        "The first `reject` handshakes (default 1) with this scenario get HTTP 429 with a "
        "Retry-After: 1 header instead of the upgrade; later ones are accepted."
    ),
    "malformed_frame": (
        "Once per server, the reply to the first create_series is preceded by the text frame "
        f"{'~m~12x~m~{not framing}'!r}, whose length is not a number; then the normal reply."
    ),
    "slow": "Every reply is delayed by `delay` seconds (default 0.5).",
    "bad_bars": (
        "Every history page of at least 6 bars is corrupted, by position from its oldest bar: "
        "#1 high and low swapped (high < low); #2 volume -(v+1) (volume symbols only); "
        "#3 followed by a duplicate with the same ts and open/high/low/close * 1.01; "
        "#4 ts + 7 s (off the grid); #5 close null. The page then has one extra entry."
    ),
    "ignore_range": (
        "Ranges are not supported: a create_series or modify_series carrying "
        '"r,<from>:<to>" is answered as if only its count had been sent (the newest '
        "min(count, bar_cap) bars, 300 when the count is not a positive number)."
    ),
    "disconnect_mid_stream": (
        "Once per server, after `drop_after` (default 50) delta qsd ticks have been sent on a "
        "connection, the TCP connection is aborted (code 1006)."
    ),
    "disconnect_every_frame": (
        "Every connection is aborted (code 1006) right after its first frame of delta qsd "
        "ticks: a server that drops the socket after every tick."
    ),
    "market": (
        "One market per symbol for the whole server: every quote subscription gets the "
        "symbol's last trade as its snapshot (re-sent on every subscription), then every "
        "trade after it, the same trades for all subscribers; trades are made only while "
        "someone reads them, and with `trades` N > 0 a subscription gets N of them, then the "
        "market is quiet for it (testing.market)."
    ),
    "lean-aapl": (
        "Server-wide only (ReplayServer(scenario='lean-aapl', as_of=DATE), or candleflow "
        "replay-server --scenario lean-aapl --as-of DATE): NASDAQ:AAPL daily bars are LEAN's "
        "real AAPL history up to DATE, adjusted as the resolve descriptor's adjustment says "
        "(none, splits, dividends) with the actions known on DATE; the clock is DATE 00:00 "
        "UTC. Needs the shared data folder (testing.lean_aapl)."
    ),
}

MALFORMED_FRAME = "~m~12x~m~{not framing}"


def check_scenario(name: str | None) -> str | None:
    """``name`` if it is a known scenario (or ``None``); otherwise a ``ValueError``."""
    if name is not None and name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Per-connection knobs: server defaults, each overridable by a URL query parameter."""

    scenario: str | None = None
    heartbeat: float = 10.0  # seconds between heartbeats
    heartbeat_timeout: float = 10.0  # seconds to wait for the echo before closing
    delay: float = 0.5  # reply delay of the `slow` scenario
    tick_interval: float = 0.5  # seconds between quote frames (0 = as fast as possible)
    ticks_per_frame: int = 1  # delta qsd envelopes per symbol per frame
    tick_step: float | None = None  # virtual seconds per tick; default tick_interval or 1 ms
    drop_after: int = 50  # disconnect_mid_stream: ticks before the drop
    trades: int = 0  # market: trades per subscription, then it is quiet (0: no end)
    reject: int = 1  # http_429: how many handshakes to reject
    max_bars: int | None = None  # lookback: only the newest max_bars bars of a series exist
    adjustments: int = 1  # 1: equities say has_adjustment (0: no symbol has adjustments)

    def with_query(self, query: Mapping[str, str]) -> ConnectionOptions:
        """A copy with the URL query's values; unknown keys are ignored, bad values raise."""
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name not in query:
                continue
            raw = query[f.name]
            if f.name == "scenario":
                changes[f.name] = check_scenario(raw or None)
            elif f.name in {"ticks_per_frame", "drop_after", "reject", "trades", "adjustments"}:
                changes[f.name] = int(raw)
            elif f.name == "max_bars":
                changes[f.name] = _positive_or_none(f.name, raw)
            else:
                changes[f.name] = float(raw)
        return dataclasses.replace(self, **changes)

    @property
    def virtual_tick_step(self) -> float:
        if self.tick_step is not None:
            return self.tick_step
        return self.tick_interval / max(self.ticks_per_frame, 1) or 0.001


def _positive_or_none(name: str, raw: str) -> int | None:
    if raw in ("", "none", "None"):
        return None
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be a positive number of bars, got {raw!r}")
    return value


def corrupt_page(rows: list[list[Any]], pricescale: int) -> list[list[Any]]:
    """The ``bad_bars`` corruption of one page of ``[t, o, h, l, c, (v)]`` rows."""
    if len(rows) < 6:
        return rows
    rows = [list(r) for r in rows]
    bar = rows[1]
    bar[2], bar[3] = bar[3], bar[2]
    if bar[2] >= bar[3]:
        bar[2] = bar[3] - 1.0 / pricescale
    if len(rows[2]) > 5:
        rows[2][5] = -(rows[2][5] + 1.0)
    rows[4][0] = rows[4][0] + 7.0
    rows[5][4] = None
    twin = [rows[3][0], *(round(x * 1.01, 6) for x in rows[3][1:5]), *rows[3][5:]]
    return [*rows[:4], twin, *rows[4:]]
