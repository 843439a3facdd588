"""The Binance stub's faults: what a test can queue, and the error reply each one becomes.

Why apart from the server: the replies' statuses, codes and messages are Binance's own (what
ccxt maps to its errors), a table worth reading on its own; the stub only decides when.
"""

from __future__ import annotations

import dataclasses

FAULTS = ("429", "418", "500", "502", "503", "504", "drop", "-1121", "401")


class BinanceError(Exception):
    """An error reply in Binance's shape: HTTP status plus ``{"code": ..., "msg": ...}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.body = status, {"code": code, "msg": msg}


@dataclasses.dataclass
class Fault:
    """One queued fault: its kind, the endpoint it hits and how many more requests it takes."""

    kind: str
    endpoint: str
    remaining: int
    retry_after: int


def fault_error(fault: Fault, headers: dict[str, str]) -> BinanceError:
    """The error reply ``fault`` stands for, in Binance's words; a 429 or 418 also sets
    ``Retry-After`` in ``headers``."""
    if fault.kind in ("429", "418"):
        headers["Retry-After"] = str(fault.retry_after)
        msg = (
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
            if fault.kind == "429"
            else "Way too much request weight used; IP banned until later."
        )
        return BinanceError(int(fault.kind), -1003, msg)
    if fault.kind == "-1121":
        return BinanceError(400, -1121, "Invalid symbol.")
    if fault.kind == "401":
        return BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return BinanceError(int(fault.kind), -1001, "Internal error; unable to process your request.")
