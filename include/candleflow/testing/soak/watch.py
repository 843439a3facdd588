"""Leaks and growth of the stack's processes: RSS samples, process and connection counts.

A leaked process is one in the session of one of this stack's components (each starts its
own) that no current component's process group holds: what a killed parent leaves behind. Database
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
    """Processes in a session of this stack's components (any seen during the soak) that no
    current component's process group holds: what a killed parent left behind."""
    groups = {*stack.components().values(), stack.proc.pid}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) not in stack.sessions or os.getpgid(pid) in groups:
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmd:  # a zombie has none: its parent reaps it
            found.append(f"leftover process {pid}: {cmd[:80]}")
    return found
