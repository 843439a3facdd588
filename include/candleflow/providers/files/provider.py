"""``FileProvider``: bars from vendor dumps on disk, behind the same ``IDataProvider`` contract.

Backfills from files (Yahoo CSVs, Lean zips, freqtrade feathers...) then run through the
same validate -> load path as live providers. The provider only reads and maps; the base class
trims the window, drops the forming bar and sorts, and bad rows (Low > Open, conflicting
duplicates, an empty or unreadable date or price) pass through for validation to reject,
so nothing is dropped silently. A file is read one window at a time through a chunk index
(``windows.BarFile``): memory stays bounded whatever the file's size.

Configure it with a mapping from symbol (or an ``fnmatch`` glob such as ``"NASDAQ:*"``) to a
``FileSource``; a source's path may use ``{symbol}``, ``{exchange}``, ``{ticker}`` and
``{ticker_lower}``::

    FileProvider(files={
        "NASDAQ:AAPL": FileSource("data/aapl.csv", "yahoo"),
        "NYSEARCA:*": FileSource("lean/daily/{ticker_lower}.zip", "lean_daily", timeframe="1d"),
    })

Values may also be plain dicts (``{"path": ..., "mapping": {"preset": "backtrader",
"label": "end"}}``), which is what an Airflow connection's extras hold.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from candleflow.domain import Instrument, Timeframe, split_symbol
from candleflow.errors import SymbolNotFound, UnsupportedOperation
from candleflow.providers.base import Capability, IDataProvider
from candleflow.providers.files.detect import detect_mapping
from candleflow.providers.files.mapping import FileMapping, as_mapping
from candleflow.providers.files.windows import BarFile

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FileProvider", "FileSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSource:
    """Where one symbol's bars are and how they are laid out.

    ``mapping`` is a ``FileMapping``, a preset name, a dict, or ``"auto"`` (detect from the
    file). ``timeframe``, when given, is the only bar length the file can serve: asking for
    another raises ``UnsupportedOperation`` rather than resampling behind the caller's back.
    """

    path: str | Path
    mapping: FileMapping | str | Mapping[str, Any] = "auto"
    timeframe: str | None = None

    def __post_init__(self) -> None:
        if self.timeframe is not None:
            Timeframe.parse(self.timeframe)
        if not (isinstance(self.mapping, str) and self.mapping == "auto"):
            object.__setattr__(self, "mapping", as_mapping(self.mapping))

    def for_symbol(self, symbol: str, root: Path | None) -> tuple[Path, FileMapping]:
        exchange, ticker = split_symbol(symbol)
        fields = {
            "symbol": symbol,
            "exchange": exchange,
            "ticker": ticker,
            "ticker_lower": ticker.lower(),
        }
        path = Path(str(self.path).format(**fields))
        if root is not None and not path.is_absolute():
            path = root / path
        mapping = detect_mapping(path) if self.mapping == "auto" else self.mapping
        return path, mapping


class FileProvider(IDataProvider):
    """Bars from files; ``resolve`` reports the configured file. No search, no live ticks."""

    name: ClassVar[str] = "files"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BARS, Capability.RESOLVE})
    # parsing is this process's work: a 1M-bar file synced in 13 s and 366 MiB, 16 s and
    # 485 MiB with a validation helper process
    cpu_bound: ClassVar[bool] = True

    def __init__(
        self,
        files: Mapping[str, FileSource | str | Path | Mapping[str, Any]],
        *,
        root: str | Path | None = None,
        cache_size: int = 4,
    ) -> None:
        if not files:
            raise ValueError("FileProvider needs files={symbol or glob: FileSource(...)}")
        self._sources = {key: _as_source(value) for key, value in files.items()}
        self._root = Path(root) if root is not None else None
        self._cache: OrderedDict[tuple[Any, ...], BarFile] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def source(self, symbol: str) -> FileSource:
        """The configured source: an exact symbol first, then globs in the order given."""
        split_symbol(symbol)
        found = self._sources.get(symbol)
        if found is None:
            found = next(
                (
                    src
                    for pattern, src in self._sources.items()
                    if fnmatch.fnmatchcase(symbol, pattern)
                ),
                None,
            )
        if found is None:
            raise SymbolNotFound(
                symbol, reason=f"no file configured; keys: {', '.join(self._sources)}"
            )
        return found

    def _fetch_bars(
        self, symbol: str, tf: Timeframe, start: dt.datetime, end: dt.datetime
    ) -> pd.DataFrame:
        src = self.source(symbol)
        if src.timeframe is not None and Timeframe.parse(src.timeframe) != tf:
            raise UnsupportedOperation(
                f"provider 'files' has {src.timeframe} bars for {symbol} ({src.path}), not {tf}"
            )
        path, mapping = src.for_symbol(symbol, self._root)
        return self._file(path, mapping, tf).window(start, end)

    def _file(self, path: Path, mapping: FileMapping, tf: Timeframe) -> BarFile:
        """Backfills ask for many windows of one file: keep its index while it is unchanged."""
        stat = path.stat() if path.is_file() else None
        key = (str(path), stat and stat.st_mtime_ns, stat and stat.st_size, tf.name, repr(mapping))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            found = self._cache[key] = BarFile(path, mapping, tf)
            while len(self._cache) > max(1, self._cache_size):
                self._cache.popitem(last=False)
        return found

    def _resolve(self, symbol: str) -> Instrument:
        src = self.source(symbol)
        path, mapping = src.for_symbol(symbol, self._root)
        if not path.is_file():
            raise SymbolNotFound(symbol, reason=f"file {path} does not exist")
        return Instrument(
            symbol=symbol,
            timezone=mapping.timezone,
            provider=self.name,
            extra={"path": str(path), "timeframe": src.timeframe},
        )

    def close(self) -> None:
        self._cache.clear()


def _as_source(value: FileSource | str | Path | Mapping[str, Any]) -> FileSource:
    if isinstance(value, FileSource):
        return value
    if isinstance(value, str | Path):
        return FileSource(value)
    return FileSource(**value)
