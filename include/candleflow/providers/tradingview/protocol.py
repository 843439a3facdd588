"""TradingView websocket framing: ``~m~<len>~m~<payload>`` envelopes, several per frame.

Lengths count UTF-16 code units (JavaScript's ``String.length``): Python's ``len`` except
that a character above U+FFFF counts twice. Outgoing JSON is ASCII-only, so the question
never arises for what we send. Heartbeats (``~h~<n>``) are payloads too; the caller echoes
them re-framed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from candleflow.errors import ProtocolError

ENVELOPE = "~m~"
HEARTBEAT = "~h~"
LEGACY_JSON = "~j~"
_SPLIT = re.compile(r"~m~\d+~m~")
_SPLIT_LENGTHS = re.compile(r"~m~(\d{1,12})~m~")
_MAX_DIGITS = 12  # no frame is a terabyte; also keeps int() clear of its digit limit

try:
    from msgspec.json import Decoder as _Decoder
except ImportError:  # pragma: no cover - msgspec comes with Airflow; json is the fallback
    _fast_loads = json.loads
else:
    _fast_loads = _Decoder().decode


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def frame(payload: str | dict[str, Any], *, ensure_ascii: bool = True) -> str:
    """One envelope. A dict is dumped as compact JSON, ASCII-only unless told otherwise.

    ``ensure_ascii=False`` is for the replay server, which must put raw non-ASCII (and
    astral) characters on the wire to exercise UTF-16 length counting in clients.
    """
    if not isinstance(payload, str):
        payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return f"{ENVELOPE}{utf16_len(payload)}{ENVELOPE}{payload}"


def message(method: str, *params: Any, ensure_ascii: bool = True, **extra: Any) -> str:
    """A framed ``{"m": method, "p": [...]}`` message; ``extra`` adds keys such as ``t``."""
    return frame({"m": method, "p": list(params), **extra}, ensure_ascii=ensure_ascii)


def _take_units(text: str, pos: int, units: int) -> int:
    """Index just past ``units`` UTF-16 code units of ``text`` starting at ``pos``."""
    end = pos + units
    if text[pos:end].isascii():
        return end
    count, idx = 0, pos  # rare path: walk, counting astral characters twice
    while idx < len(text) and count < units:
        count += 2 if ord(text[idx]) > 0xFFFF else 1
        idx += 1
    return idx


def _length_at(data: str, pos: int) -> tuple[int, int] | None:
    """``(declared length, payload start)`` of the envelope at ``pos``; ``None`` if cut short.

    Raises ``ProtocolError`` when the text at ``pos`` cannot be the start of an envelope.
    """
    if not data.startswith(ENVELOPE, pos):
        if ENVELOPE.startswith(data[pos:]):
            return None
        raise ProtocolError(
            f"malformed frame at offset {pos}: expected '~m~', got {data[pos : pos + 20]!r}"
        )
    digits_end = data.find(ENVELOPE, pos + 3)
    if digits_end < 0:  # the header is cut short, or is not a header at all
        rest = data[pos + 3 : pos + 3 + _MAX_DIGITS + 3]
        digits = rest.rstrip("~m") if rest.endswith(("~", "~m")) else rest
        numeric = not digits or (digits.isascii() and digits.isdigit())
        if numeric and len(digits) <= _MAX_DIGITS and len(data) - pos - 3 == len(rest):
            return None
        raise ProtocolError(f"malformed frame at offset {pos}: bad length {rest[:20]!r}")
    length_text = data[pos + 3 : digits_end]
    if not (length_text.isascii() and length_text.isdigit() and len(length_text) <= _MAX_DIGITS):
        raise ProtocolError(f"malformed frame at offset {pos}: bad length {length_text[:20]!r}")
    return int(length_text), digits_end + 3


def split_frame(data: str) -> list[str]:
    """The payloads of one websocket text frame, in order.

    Parses by declared length; if the text after a payload is not another envelope (a
    server that counted bytes, or an astral character), falls back to splitting on the
    envelope markers. Anything that is not an envelope raises ``ProtocolError`` naming the
    offset.
    """
    ascii_only = data.isascii()  # one scan; then a declared length is a plain offset
    if ascii_only:  # fast path: one C-level split, kept only if every length checks out
        parts = _SPLIT_LENGTHS.split(data)
        lengths, payloads = parts[1::2], parts[2::2]
        if not parts[0] and all(map(_has_length, payloads, lengths)):
            return payloads  # a marker inside a payload would have broken a length
    payloads = []
    pos, size = 0, len(data)
    while pos < size:
        header = _length_at(data, pos)
        if header is None:
            raise ProtocolError(f"malformed frame at offset {pos}: truncated envelope header")
        units, start = header
        end = start + units if ascii_only else _take_units(data, start, units)
        if end > size or (end < size and not data.startswith(ENVELOPE, end)):
            return payloads + _split_by_markers(data[pos:])
        payloads.append(data[start:end])
        pos = end
    return payloads


def _has_length(payload: str, length: str) -> bool:
    return len(payload) == int(length)


class EnvelopeReader:
    """Incremental splitting for a stream cut at arbitrary points (captures, raw sockets).

    ``feed`` returns the payloads completed by a chunk and keeps the incomplete rest.
    Declared lengths are trusted (UTF-16 units); a bad header raises ``ProtocolError``.
    """

    def __init__(self) -> None:
        self._buffer = ""

    @property
    def pending(self) -> str:
        """Text received but not yet part of a complete envelope."""
        return self._buffer

    def feed(self, chunk: str) -> list[str]:
        data = self._buffer + chunk
        payloads: list[str] = []
        pos = 0
        while pos < len(data):
            header = _length_at(data, pos)
            if header is None:
                break
            units, start = header
            end = _take_units(data, start, units)
            if utf16_len(data[start:end]) < units:
                break
            payloads.append(data[start:end])
            pos = end
        self._buffer = data[pos:]
        return payloads


def _split_by_markers(data: str) -> list[str]:
    parts = _SPLIT.split(data)
    if parts[0]:
        raise ProtocolError(f"malformed frame: unexpected text {parts[0][:20]!r}")
    return parts[1:]


def is_heartbeat(payload: str) -> bool:
    return payload.startswith(HEARTBEAT)


def parse_payload(payload: str) -> dict[str, Any]:
    """Decode one non-heartbeat payload into a dict (a leading ``~j~`` is tolerated)."""
    if payload.startswith(LEGACY_JSON):
        payload = payload[3:]
    try:
        obj = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"payload is not JSON ({exc}): {payload[:60]!r}") from None
    except RecursionError:  # Python's parser recurses per level: hostile input, not a bug
        raise ProtocolError(f"payload nests too deeply to parse: {payload[:60]!r}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"payload is not a JSON object: {payload[:60]!r}")
    return obj


def parse_payloads(payloads: list[str]) -> list[dict[str, Any]]:
    """``parse_payload`` of each, in one ``json.loads`` of the frame when all are objects.

    Why: the quote stream sends hundreds of small ``qsd`` payloads per frame, and one C-level
    parse of ``[p1,p2,...]`` costs a fraction of one Python-level ``json.loads`` call each
    (msgspec's decoder, which Airflow already installs, halves it again). Any doubt (a
    ``~j~`` prefix, ``NaN``, a payload that is not exactly one object) takes the
    per-payload path, which also names the bad payload.
    """
    if len(payloads) > 1 and not any(p.startswith(LEGACY_JSON) for p in payloads):
        try:
            objs = _fast_loads("[" + ",".join(payloads) + "]")
        except (ValueError, RecursionError):  # json's and msgspec's decode errors are
            objs = None  # ValueErrors; the per-payload path names the bad one
        if objs is not None and len(objs) == len(payloads) and all(type(o) is dict for o in objs):
            return objs
    return [parse_payload(p) for p in payloads]


def decode(data: str) -> list[dict[str, Any] | str]:
    """Every message of a frame: dicts for JSON payloads, the raw string for heartbeats."""
    return [p if is_heartbeat(p) else parse_payload(p) for p in split_frame(data)]
