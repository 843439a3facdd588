"""The soak's report: faults by kind, recovery per fault and per kind, runs, checked counts,
problems.

**Recovery** of a fault is measured from Airflow's own record: from the fault's start to
the end of the first task instance that started after the fault ended and succeeded (the
next successful work), or for a killed collector, to the start of the next try of the
tick capture. Faults come every 30-40 s and a recovery can take longer, so a fault's
recovery may span the next fault too: each fault is reported with the faults that began
before it had recovered (**overlapped by**), and each kind's worst is given twice, over all
its faults and over those no other fault overlapped. Neither hides the other.
``problems`` lists everything that breaks the soak's promise: a lost, duplicated or wrong
bar or tick, a task failed for good, an audit mismatch, a leak, an unrecovered fault. An
empty list is a pass.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import statistics

from candleflow.testing.soak.faults import TICKS_DAG, Fault
from candleflow.testing.soak.oracle import Count


def _ts(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def recovered_at(fault: Fault, tis: list[dict], tries: list[dict] | None = None):
    """When the next successful work after the fault ended (module docstring); None: never.

    ``tries``: every try of the capture (``.../tries``). A task instance as listed shows its
    latest try only, so a retry that began 20 s after a kill and was itself ended by a later
    fault would be invisible, and the kill would seem to last until the last try began."""
    if fault.kind == "kill:collector":
        starts = [
            _ts(t["start_date"])
            for t in (tis if tries is None else tries)
            if t["dag_id"] == TICKS_DAG and t["start_date"] and _ts(t["start_date"]) > fault.began
        ]
        return min(starts) if starts else None
    ends = [
        _ts(t["end_date"])
        for t in tis
        if t["state"] == "success"
        and t["dag_id"] != TICKS_DAG
        and t["start_date"]
        and _ts(t["start_date"]) >= fault.ended
    ]
    return min(ends) if ends else None


def recovery(fault: Fault, tis: list[dict], tries: list[dict] | None = None) -> float | None:
    """Seconds from the fault's start to the next successful work; None: not recovered."""
    at = recovered_at(fault, tis, tries)
    return (at - fault.began).total_seconds() if at else None


def overlaps(
    fault: Fault, faults: list[Fault], tis: list[dict], tries: list[dict] | None = None
) -> list[Fault]:
    """The other faults whose recovery window (start to recovery; open while not recovered)
    and this one's share a start: one began while the other had not recovered yet."""
    began, until = fault.began, recovered_at(fault, tis, tries)
    found = []
    for other in faults:
        if other is fault or other.skipped:
            continue
        start, end = other.began, recovered_at(other, tis, tries)
        if (began <= start and (until is None or start < until)) or (
            start <= began and (end is None or began < end)
        ):
            found.append(other)
    return found


@dataclasses.dataclass
class Report:
    minutes: float
    faults: list[Fault]
    tis: list[dict]
    runs: dict[str, collections.Counter]
    bars: Count
    ticks: Count
    rollup: Count
    audit: list[tuple]
    leaks: list[str]
    rss: dict[str, tuple[float, float]]
    stopped_by_soak: set[str] = dataclasses.field(default_factory=set)
    tries: list[dict] | None = None  # every try of the tick capture (recovered_at)

    def injected(self) -> list[Fault]:
        return [f for f in self.faults if not f.skipped]

    def each(self) -> list[tuple[Fault, float | None, list[Fault]]]:
        """Every injected fault with its recovery (s) and the faults it overlapped."""
        faults = self.injected()
        tis, tries = self.tis, self.tries
        return [(f, recovery(f, tis, tries), overlaps(f, faults, tis, tries)) for f in faults]

    def recoveries(self, alone: bool = False) -> dict[str, list[float | None]]:
        """Recoveries per kind; ``alone``: of the faults no other fault overlapped only."""
        out: dict[str, list[float | None]] = collections.defaultdict(list)
        for fault, seconds, others in self.each():
            if not (alone and others):
                out[fault.kind].append(seconds)
        return dict(out)

    def failed_for_good(self) -> list[dict]:
        return [
            t
            for t in self.tis
            if t["state"] in ("failed", "upstream_failed") and t["id"] not in self.stopped_by_soak
        ]

    def retried(self) -> int:
        return sum(1 for t in self.tis if t["state"] == "success" and t["try_number"] > 1)

    def problems(self) -> list[str]:
        found = []
        for name, count in (("bars", self.bars), ("ticks", self.ticks), ("rollup", self.rollup)):
            if count.lost or count.dup or count.wrong:
                found.append(f"{name}: {count.lost} lost, {count.dup} dup, {count.wrong} wrong")
        for t in self.failed_for_good():
            found.append(f"task {t['dag_id']}.{t['task_id']} {t['dag_run_id']} {t['state']}")
        found += [f"audit {a[0]} {a[1]}: {a[2]} audited, {a[3]} stored" for a in self.audit]
        found += self.leaks
        for kind, values in self.recoveries().items():
            if None in values:
                found.append(f"{kind}: {values.count(None)} fault(s) not recovered")
        return found

    def kinds(self) -> dict[str, dict]:
        """Per kind: count, median and worst recovery, worst of the faults not overlapped."""
        alone = self.recoveries(alone=True)
        out = {}
        for kind, values in sorted(self.recoveries().items()):
            done = [v for v in values if v is not None]
            lone = [v for v in alone.get(kind, []) if v is not None]
            out[kind] = {
                "count": len(values),
                "median_s": round(statistics.median(done)) if done else None,
                "worst_s": round(max(done)) if done else None,
                "not_overlapped": len(alone.get(kind, [])),
                "worst_not_overlapped_s": round(max(lone)) if lone else None,
                "not_recovered": values.count(None),
            }
        return out

    def fault_lines(self) -> list[str]:
        out = []
        for fault, seconds, others in self.each():
            took = f"{seconds:.0f}s" if seconds is not None else "not recovered"
            with_ = ", ".join(
                f"{o.kind} {(o.began - fault.began).total_seconds():+.0f}s" for o in others
            )
            out.append(
                f"  {fault.began:%H:%M:%S} {fault.kind:<26}{took:>14}"
                + (f"  overlapped: {with_}" if with_ else "")
            )
        return out

    def lines(self) -> list[str]:
        injected = self.injected()
        out = [
            f"soak: {self.minutes:g} min, {len(injected)} faults of {len(self.kinds())} kinds"
            f" ({len(self.faults) - len(injected)} skipped)",
            "fault kind                  count  median  worst  alone: n  worst",
        ]
        show = lambda v: f"{v}s" if v is not None else "-"  # noqa: E731
        for kind, k in self.kinds().items():
            out.append(
                f"{kind:<26}{k['count']:>7}  {show(k['median_s']):>6}  {show(k['worst_s']):>5}"
                f"  {k['not_overlapped']:>8}  {show(k['worst_not_overlapped_s']):>5}"
            )
        out.append("each fault (recovery; the faults whose recovery windows it shared):")
        out += self.fault_lines()
        for dag_id, states in sorted(self.runs.items()):
            out.append(f"runs {dag_id}: " + ", ".join(f"{n} {s}" for s, n in states.items()))
        out.append(f"task tries retried to success: {self.retried()}")
        for name, c in (("bars", self.bars), ("ticks", self.ticks), ("rollup 1m", self.rollup)):
            out.append(f"{name} checked {c.checked}: lost {c.lost}, dup {c.dup}, wrong {c.wrong}")
        for name, (first, peak) in sorted(self.rss.items()):
            out.append(f"RSS {name}: {first:.0f} MiB at start, {peak:.0f} MiB peak")
        problems = self.problems()
        out.append("PASS" if not problems else "FAIL:\n  " + "\n  ".join(problems))
        return out

    def summary(self) -> dict:
        """The figures as JSON (``benchmarks/results/soak.json`` for the benchmarks table)."""

        def triple(c: Count) -> str:
            return f"{c.lost}/{c.dup}/{c.wrong} of {c.checked:,}"

        return {
            "minutes": self.minutes,
            "faults": len(self.injected()),
            "recovery": self.kinds(),
            "bars": triple(self.bars),
            "ticks": triple(self.ticks),
            "rollup": triple(self.rollup),
            "passed": not self.problems(),
            "report": self.lines(),
        }
