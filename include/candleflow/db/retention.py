"""Retention: drop (or export, then drop) whole partitions of bars and ticks older than N.

The setting, ``CANDLEFLOW_RETENTION``, is a comma-separated list of ``TARGET=AGE[:ACTION]``:
a timeframe (``1m``) or ``ticks``, an age (``30d``, ``8w``, ``18mo``, ``5y``) and ``drop``
(the default) or ``export`` (write the partition's rows to the Parquet lake first, under
``CANDLEFLOW_EXPORT_DIR``). Targets not named are kept forever. For example
``ticks=30d,1m=2y:export,5m=5y``.

Why whole partitions: ``DETACH`` + ``DROP`` of a month is a metadata operation that leaves no
dead tuples, where ``DELETE`` of a month of 1m bars would rewrite and vacuum gigabytes. A
partition is expired when all of it is older than the age: its *end* is at or before
``now - age``, so a partition is never dropped while it still holds a bar younger than that.

``apply_retention`` takes the partitions to judge (``list_partitions`` reads them from the
catalogue), so it works on whatever partitioned layout the bar and tick tables have.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from psycopg2 import sql

from candleflow import config
from candleflow.domain import TIMEFRAMES
from candleflow.errors import ConfigError

log = logging.getLogger(__name__)

RETENTION_ENV = "CANDLEFLOW_RETENTION"
EXPORT_DIR_ENV = "CANDLEFLOW_EXPORT_DIR"
ACTIONS = ("drop", "export")
_AGE = re.compile(r"^(\d+)(d|w|mo|y)$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Rule:
    """Keep ``target`` (a timeframe or ``ticks``) for ``age``; then ``action`` it."""

    target: str
    age: str
    action: Literal["drop", "export"] = "drop"

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        """Partitions ending at or before this instant are expired."""
        count, unit = _AGE.match(self.age).groups()  # type: ignore[union-attr]
        n = int(count)
        if unit in ("d", "w"):
            return now - dt.timedelta(days=n * (7 if unit == "w" else 1))
        months = n * (12 if unit == "y" else 1)
        index = now.year * 12 + now.month - 1 - months
        year, month = divmod(index, 12)
        day = min(now.day, 28)  # a calendar-month step that never overflows
        return now.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Partition:
    """One leaf partition: its table, the parent it is attached to, and what it holds."""

    name: str  # schema-qualified, e.g. candleflow.bars_1m_2024_01
    parent: str
    kind: Literal["bars", "ticks"]
    timeframe: str | None  # None for ticks
    start: dt.datetime
    end: dt.datetime

    @property
    def target(self) -> str:
        return "ticks" if self.kind == "ticks" else str(self.timeframe)


def parse_rules(text: str | None) -> dict[str, Rule]:
    """``CANDLEFLOW_RETENTION``'s value as rules by target; bad text raises ``ConfigError``."""
    rules: dict[str, Rule] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        target, sep, rest = item.partition("=")
        age, _, action = rest.partition(":")
        target, age, action = target.strip(), age.strip(), action.strip() or "drop"
        if not sep or (target != "ticks" and target not in TIMEFRAMES):
            raise ConfigError(
                f"{RETENTION_ENV}: bad target in {item!r}; expected ticks or one of "
                f"{', '.join(TIMEFRAMES)}, e.g. ticks=30d,1m=2y:export"
            )
        if not _AGE.match(age) or int(age.rstrip("dwmoy")) <= 0:
            raise ConfigError(
                f"{RETENTION_ENV}: bad age {age!r} for {target}; expected N followed by "
                "d, w, mo or y (N > 0), e.g. 30d or 2y"
            )
        if action not in ACTIONS:
            raise ConfigError(
                f"{RETENTION_ENV}: bad action {action!r} for {target}; expected drop or export"
            )
        rules[target] = Rule(target, age, action)  # type: ignore[arg-type]
    return rules


def rules_from_env() -> dict[str, Rule]:
    return parse_rules(config.setting(RETENTION_ENV))


def expired(
    rules: dict[str, Rule], partitions: list[Partition], now: dt.datetime
) -> list[tuple[Partition, Rule]]:
    """The partitions that a rule expires at ``now``, oldest first, with their rule."""
    due = [
        (p, rules[p.target])
        for p in partitions
        if p.target in rules and p.end <= rules[p.target].cutoff(now)
    ]
    return sorted(due, key=lambda item: (item[0].start, item[0].name))


def list_partitions(conn, parent: str) -> list[Partition]:
    """The leaf partitions under ``parent`` (any depth) with a time range; none when
    ``parent`` is not partitioned. A list level above (by timeframe) names the timeframe."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH RECURSIVE tree(relid, parentrelid, isleaf, bound, tf) AS (
                SELECT relid, parentrelid, isleaf, NULL::text COLLATE "C", NULL::text COLLATE "C"
                FROM pg_partition_tree(%s::regclass) WHERE level = 0
                UNION ALL
                SELECT c.oid, i.inhparent, c.relkind = 'r',
                       pg_get_expr(c.relpartbound, c.oid),
                       coalesce(substring(pg_get_expr(c.relpartbound, c.oid)
                                from $$IN \\('([^']+)'\\)$$), t.tf)
                FROM tree AS t JOIN pg_inherits AS i ON i.inhparent = t.relid
                JOIN pg_class AS c ON c.oid = i.inhrelid
            )
            SELECT relid::regclass::text, parentrelid::regclass::text, bound, tf
            FROM tree WHERE isleaf AND bound LIKE 'FOR VALUES FROM%%'
            """,
            (parent,),
        )
        rows = cur.fetchall()
    kind = "ticks" if parent.split(".")[-1].startswith("ticks") else "bars"
    found = []
    for name, owner, bound, tf in rows:
        match = _BOUNDS.search(bound)
        if match is None:  # MINVALUE/MAXVALUE: not a closed range of time, never expired
            continue
        lo, hi = match.groups()
        found.append(Partition(name, owner, kind, tf, _ts(lo), _ts(hi)))  # type: ignore[arg-type]
    return found


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def drop_partition(conn, partition: Partition) -> None:
    """Detach ``partition`` from its parent and drop it, in the caller's transaction."""
    table = sql.Identifier(*partition.name.split("."))
    parent = sql.Identifier(*partition.parent.split("."))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(parent, table))
        cur.execute(sql.SQL("DROP TABLE {}").format(table))


def apply_retention(
    conn,
    rules: dict[str, Rule],
    partitions: list[Partition],
    now: dt.datetime,
    *,
    export_dir: str | Path | None = None,
) -> list[str]:
    """Export (when the rule says so) and drop every expired partition; returns their names.

    Each partition is exported and dropped in one transaction of its own (committed here),
    so a failed export drops nothing and a re-run picks up where it stopped.
    """
    from candleflow.db import partition_export

    done = []
    for partition, rule in expired(rules, partitions, now):
        with conn:
            if rule.action == "export":
                out = export_dir or config.setting(EXPORT_DIR_ENV)
                if not out:
                    raise ConfigError(
                        f"{RETENTION_ENV} exports {rule.target} but {EXPORT_DIR_ENV} is not set"
                    )
                partition_export.export_partition(conn, partition, Path(out))
            drop_partition(conn, partition)
        log.info(
            "retention %s=%s: %s %s [%s, %s)",
            rule.target,
            rule.age,
            rule.action,
            partition.name,
            partition.start,
            partition.end,
        )
        done.append(partition.name)
    return done
