"""The watchlist: which symbols to load, at which timeframes, from which providers.

Read at DAG parse time (it is a small local TOML file, no I/O beyond that), so that one
OHLCV DAG and one history DAG per configured timeframe can be generated, each mapped over
chunks of symbols. ``CANDLEFLOW_WATCHLIST`` points at another file; the default ships with
the package (``watchlist.toml``, which documents every setting).

The DAGs generated from it (their ids, schedules and chunks) are ``candleflow.dag_specs``.

Providers: ``provider``/``provider_options`` at the top are the default; a symbol may name
its own (``{ symbol = "BINANCE:BTCUSDT", provider = "ccxt" }``), and each ``[[sources]]``
section lists symbols sharing a provider and its options. Chunks never mix providers: one
chunk task holds one provider connection.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from candleflow import calendars, config
from candleflow.domain import DEFAULT_REJECT_THRESHOLD, Timeframe, check_session, check_symbol
from candleflow.errors import ConfigError

DEFAULT = Path(__file__).with_name("watchlist.toml")
ENV = "CANDLEFLOW_WATCHLIST"
DEFAULT_CHUNK_SIZE = 100  # symbols per chunk task; see docs/backfills.md for the measurements
DEFAULT_CONCURRENCY = 4  # fetches in flight per chunk


@dataclass(frozen=True)
class Source:
    """Symbols that share a provider and its options (what one chunk may hold)."""

    provider: str
    symbols: tuple[str, ...]
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TimeframeSchedule:
    timeframe: Timeframe
    every: dt.timedelta
    calendar: str | None = None
    offset: dt.timedelta | None = None  # None: derived from the calendar's session open
    history_months: int | None = 1  # months per run of ohlcv_<tf>_history; None: no history DAG
    chunk_size: int | None = None  # None: the watchlist's


@dataclass(frozen=True)
class Watchlist:
    provider: str
    symbols: tuple[str, ...]
    timeframes: tuple[TimeframeSchedule, ...]
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD
    provider_options: dict = field(default_factory=dict)
    path: Path = DEFAULT
    sources: tuple[Source, ...] = ()
    chunk_size: int = DEFAULT_CHUNK_SIZE
    concurrency: int = DEFAULT_CONCURRENCY

    def source_of(self, symbol: str) -> Source:
        for source in self.sources:
            if symbol in source.symbols:
                return source
        raise ValueError(f"symbol not on the watchlist {self.path}: {symbol}")


_KINDS = {str: "a string", int: "a whole number", float: "a number", list: "an array",
          dict: "a table", bool: "true or false"}  # fmt: skip


def _typed(value: Any, kind: type, where: str, key: str) -> Any:
    """``value`` if TOML gave it the type ``key`` needs; else a ``ConfigError`` naming the
    file, the key and the type expected (a string where an array belongs, say)."""
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        found = next((v for k, v in _KINDS.items() if type(value) is k), type(value).__name__)
        raise ConfigError(f"{where}: {key} = {value!r} is {found}; expected {_KINDS[kind]}")
    return value


def _duration(text: Any, *, where: str, key: str) -> dt.timedelta:
    text = _typed(text, str, where, key)
    tf = Timeframe.parse(text) if text in ("1m", "5m", "15m", "30m", "1h", "4h", "1d") else None
    if tf is None or tf.minutes is None:
        raise ConfigError(f"{where}: bad interval {key} = {text!r}; expected e.g. 1m, 15m, 1h, 1d")
    return tf.delta


def _positive(value: Any, *, where: str, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: {key} = {value!r}; expected a whole number >= 1")
    return value


def _calendar(value: Any, *, where: str) -> str | None:
    """A calendar some exchange of ``candleflow.calendars`` trades on; any other name would
    match no symbol, and the timeframe would silently run on the clock."""
    if value is None:
        return None
    known = sorted({e.calendar for e in calendars.EXCHANGES.values()})
    if _typed(value, str, where, "calendar") not in known:
        raise ConfigError(
            f"{where}: unknown calendar {value!r}; expected one of {', '.join(known)}"
        )
    return value


def _symbol(value: Any, *, where: str) -> str:
    try:
        return check_symbol(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _session(value: Any, *, where: str) -> str:
    """``session = "regular"`` or ``"extended"``, else a ``ConfigError`` naming the entry."""
    try:
        return check_session(_typed(value, str, where, "session"))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _history(value: Any, *, where: str) -> int | None:
    """``history = "1mo"`` (default), ``"3mo"``, ``"12mo"`` ... or ``false`` (no history DAG)."""
    if value is False:
        return None
    months = {f"{n}mo": n for n in (1, 2, 3, 4, 6, 12)}
    if value not in months:
        raise ConfigError(f"{where}: bad history {value!r}; expected one of {', '.join(months)}")
    return months[value]


def _schedule(name: str, options: Any, where: str) -> TimeframeSchedule:
    try:
        tf = Timeframe.parse(name)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    options = _typed(options, dict, where, f"timeframes.{name}")
    every, offset = (
        _duration(options[key], where=where, key=key) if key in options else None
        for key in ("every", "offset")
    )
    size = options.get("chunk_size")
    return TimeframeSchedule(
        tf,
        every or tf.delta,
        _calendar(options.get("calendar"), where=where),
        offset,
        _history(options.get("history", "1mo"), where=where),
        None if size is None else _positive(size, where=where, key="chunk_size"),
    )


def _sources(data: dict, provider: str, options: dict, path: Path) -> tuple[Source, ...]:
    """Group every symbol by (provider, options), in watchlist order; a symbol appears once."""
    entries: list[tuple[str, str, dict, str]] = []
    for i, item in enumerate(_typed(data.get("symbols", []), list, str(path), "symbols")):
        where = f"{path} symbols[{i}]"
        if isinstance(item, dict):  # a symbol naming its own provider (and options)
            name = _typed(item.get("provider", provider), str, where, "provider")
            own = _typed(item.get("options", {}), dict, where, "options")
            opts = options if name == provider and "options" not in item else dict(own)
            if "session" in item:  # the series: a provider option (chunks never mix them)
                opts = {**opts, "session": _session(item["session"], where=where)}
            entries.append((item.get("symbol", ""), name, opts, where))
        else:
            entries.append((item, provider, options, where))
    for i, section in enumerate(_typed(data.get("sources", []), list, str(path), "sources")):
        where = f"{path} [[sources]] #{i + 1}"
        section = _typed(section, dict, where, "sources")
        if "provider" not in section:
            raise ConfigError(f"{where} needs a provider")
        name = _typed(section["provider"], str, where, "provider")
        opts = dict(_typed(section.get("options", {}), dict, where, "options"))
        symbols = _typed(section.get("symbols", []), list, where, "symbols")
        entries.extend((s, name, opts, f"{where} symbols[{j}]") for j, s in enumerate(symbols))
    groups: dict[tuple[str, str], Source] = {}
    seen: set[tuple[str, str]] = set()
    for symbol, name, opts, where in entries:
        _symbol(symbol, where=where)
        series = (symbol, opts.get("session", "regular"))
        if series[1] == "extended" and not calendars.has_extended(symbol):
            raise ConfigError(f"{where}: {symbol} has no extended session (US equities have)")
        if series in seen:
            raise ConfigError(f"{path}: symbol {symbol} is listed twice ({series[1]} session)")
        seen.add(series)
        key = (name, json.dumps(opts, sort_keys=True))
        group = groups.setdefault(key, Source(name, (), opts))
        groups[key] = Source(name, (*group.symbols, symbol), opts)
    return tuple(groups.values())


def load(path: str | Path | None = None) -> Watchlist:
    """Parse and check a watchlist; errors name the file and the bad entry."""
    path = Path(path or config.setting(ENV) or DEFAULT)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read watchlist {path}: {exc}") from None
    provider = _typed(data.get("provider", "tradingview"), str, str(path), "provider")
    options = dict(_typed(data.get("provider_options", {}), dict, str(path), "provider_options"))
    sources = _sources(data, provider, options, path)
    timeframes = _typed(data.get("timeframes", {}), dict, str(path), "timeframes")
    schedules = tuple(
        _schedule(name, opts, f"{path} [timeframes.{name}]") for name, opts in timeframes.items()
    )
    threshold = _typed(
        data.get("reject_threshold", DEFAULT_REJECT_THRESHOLD), float, str(path), "reject_threshold"
    )
    if not 0 <= threshold <= 1:
        raise ConfigError(f"{path}: reject_threshold must be within [0, 1], got {threshold}")
    return Watchlist(
        provider=provider,
        symbols=tuple(dict.fromkeys(s for src in sources for s in src.symbols)),
        timeframes=schedules,
        reject_threshold=threshold,
        provider_options=options,
        path=path,
        sources=sources,
        chunk_size=_positive(
            data.get("chunk_size", DEFAULT_CHUNK_SIZE), where=str(path), key="chunk_size"
        ),
        concurrency=_positive(
            data.get("concurrency", DEFAULT_CONCURRENCY), where=str(path), key="concurrency"
        ),
    )


def select(
    watchlist_symbols: list[str] | tuple[str, ...], requested: list[str] | None
) -> list[str]:
    """The symbols a run loads: all, or the requested subset (each must be on the list)."""
    if not requested:
        return list(watchlist_symbols)
    unknown = sorted(set(requested) - set(watchlist_symbols))
    if unknown:
        raise ConfigError(f"symbols not on the watchlist: {', '.join(unknown)}")
    return [s for s in watchlist_symbols if s in set(requested)]
