"""Decoding a raw TradingView capture into readable data (``candleflow tv decode``).

A capture is what the websocket delivered: ``~m~<len>~m~<payload>`` envelopes back to back,
on one line or one frame per line (like ``shared/data/tradingview/socket_messages.txt``).
An already-parsed capture, a JSON array of messages (like ``events.json``), is read too.
The default output is one compact JSON message per line (heartbeats as JSON strings);
``--bars`` prints the bars of every ``timescale_update`` and ``du`` as CSV with their
series id, which is how a recorded session becomes a test fixture or a bug report.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from candleflow.errors import BadInputError, ProtocolError
from candleflow.providers.tradingview.protocol import decode

BAR_CSV_COLUMNS = ("series_id", "ts", "open", "high", "low", "close", "volume")
NO_VALUE = 1e99  # TradingView's "no value" sentinel is 1e+100 (protocol doc 2.4)


def read_capture(path: Path) -> list[dict[str, Any] | str]:
    """Every message of a capture file, in order: dicts, and ``~h~<n>`` heartbeat strings.

    Raises ``BadInputError`` naming the file (and line) when it is not text, or a frame is
    not valid framing or nests too deeply to parse.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"{path}: not a text capture (byte {exc.start} is not UTF-8); expected websocket "
            "frames as text, one per line, or a JSON array of messages"
        ) from None
    if text.lstrip().startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise BadInputError(f"{path}: not a JSON array of messages ({exc})") from None
        except RecursionError:
            raise BadInputError(f"{path}: JSON nests too deeply to parse") from None
        return [m for m in parsed if isinstance(m, dict | str)]
    messages: list[dict[str, Any] | str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.extend(decode(line))
        except ProtocolError as exc:
            raise BadInputError(f"{path}:{lineno}: {exc}") from None
    return messages


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iter_bars(messages: Iterable[dict[str, Any] | str]) -> Iterator[tuple[Any, ...]]:
    """``(series_id, ts, open, high, low, close, volume)`` for every bar in the messages.

    Reads every key of a ``timescale_update``/``du`` whose value has an ``s`` list (doc
    3.1), so study data (``st`` lists) is skipped. ``ts`` is ISO-8601 UTC; a missing or
    sentinel volume is ``None``.
    """
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("m") not in ("timescale_update", "du"):
            continue
        params = msg.get("p") or []
        series = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        for series_id, body in series.items():
            if not isinstance(body, dict) or not isinstance(body.get("s"), list):
                continue
            for bar in body["s"]:
                values = bar.get("v", []) if isinstance(bar, dict) else []
                if len(values) < 5:
                    continue
                volume = values[5] if len(values) > 5 else None
                if volume is not None and abs(volume) >= NO_VALUE:
                    volume = None
                yield (series_id, _iso(values[0]), *values[1:5], volume)


def write_messages(messages: Iterable[dict[str, Any] | str], out: TextIO) -> int:
    count = 0
    for msg in messages:
        out.write(json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_bars_csv(messages: Iterable[dict[str, Any] | str], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BAR_CSV_COLUMNS)
    count = 0
    for row in iter_bars(messages):
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return count
