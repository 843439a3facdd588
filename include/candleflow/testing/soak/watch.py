"""Leaks and growth of the stack's processes: RSS samples, process and connection counts.

A leaked process is one of this stack's (its environment names the stack's home) that no
component's process group holds any more: what a killed parent leaves behind. Database
connections are counted before the DAGs run and after the faults stop and the stack settles
(``CONNECTION_SLACK`` for pools warming up). The RSS of
each long-lived component (sampled through the soak, whatever pid a restart gave it) is
bounded by ``RSS_BOUND`` times its first sample's.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import psycopg2

RSS_BOUND = 1.5
# The baseline is taken before the DAGs run: the components' pools open a few more as work
# arrives (SQLAlchemy's default pool keeps 5 per process), which is use, not a leak.
CONNECTION_SLACK = 10
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


def stack_processes(home: str) -> list[int]:
    """Pids whose environment names this stack's ``CANDLEFLOW_HOME``: it and its children."""
    marker = f"CANDLEFLOW_HOME={home}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry))
    return found


def connections(url: str) -> int:
    """Client connections to the server, the checker's own excluded."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND pid <> pg_backend_pid()"
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


@dataclasses.dataclass
class Watch:
    """RSS samples per component name, and the baseline/end counts."""

    rss: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    connections: tuple[int, int] = (0, 0)

    def sample(self, components: dict[str, int]) -> None:
        for name, pid in components.items():
            value = rss_mib(pid)
            if value is not None:
                self.rss.setdefault(name, []).append(value)

    def growth(self) -> dict[str, tuple[float, float]]:
        """Per component: (first sample MiB, largest sample MiB)."""
        return {name: (values[0], max(values)) for name, values in self.rss.items() if values}

    def problems(self) -> list[str]:
        found = []
        for name, (first, peak) in self.growth().items():
            if peak > RSS_BOUND * first:
                found.append(f"{name} RSS grew {first:.0f} -> {peak:.0f} MiB")
        if self.connections[1] > self.connections[0] + CONNECTION_SLACK:
            found.append(f"connections {self.connections[0]} -> {self.connections[1]}")
        return found


def orphans(stack) -> list[str]:
    """This stack's processes outside every component's process group (postgres aside)."""
    groups = {*stack.components().values(), stack.proc.pid}
    found = []
    for pid in stack_processes(str(stack.home)):
        try:
            group = os.getpgid(pid)
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ProcessLookupError):
            continue
        if group not in groups and name not in ("postgres", "pg_ctl"):
            found.append(f"leftover process {pid}: {cmd[:80]}")
    return found
