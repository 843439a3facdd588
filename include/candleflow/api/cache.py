"""Encoded bar pages, kept while the data they were built from is unchanged.

Why: twenty clients asking for the same year of 1h bars made the api-server read, resample
and encode the same 8,760 bars twenty times (p99 2.9 s). A page's body is a pure function
of its request and of the series' bars, so it is kept, keyed by the request and by the
instrument's data version (``candleflow.query.bar_version``: a counter per series that a
trigger bumps on every write to ``bars``, whoever writes). A write changes the version, so
the next request misses and rebuilds: no stale page is ever served. The version is read
before the bars, so a page is never older than the version it is stored under.

Each page is kept as sent (JSON) and gzip-compressed once (most clients accept gzip, and
Airflow's api-server would otherwise compress the same megabyte on every response); its
ETag is a hash of the JSON. The least recently used pages beyond ``CANDLEFLOW_API_CACHE_MB``
(default 64) are dropped. One cache per process.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from candleflow import config

MAX_BYTES = int(config.number("CANDLEFLOW_API_CACHE_MB", 64.0) * 2**20)


@dataclass(frozen=True, slots=True)
class Page:
    """One encoded response body: as JSON, gzip-compressed, and its strong ETag."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Page:
        tag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        return cls(body, gzip.compress(body, compresslevel=5, mtime=0), tag)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


class PageCache:
    """A thread-safe LRU of ``Page`` by key, bounded in bytes."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, Page] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: Hashable, page: Page) -> Page:
        if page.size > self.max_bytes:
            return page  # larger than the whole cache: serve it, keep nothing
        with self._lock:
            old = self._pages.pop(key, None)
            self._bytes += page.size - (old.size if old else 0)
            self._pages[key] = page
            while self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= dropped.size
        return page

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = self.hits = self.misses = 0


PAGES = PageCache()
