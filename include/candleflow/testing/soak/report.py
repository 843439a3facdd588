"""The soak's report: faults by kind, recovery per kind, runs, checked counts, problems.

**Recovery** of a fault is measured from Airflow's own record: from the fault's start to
the end of the first task instance that started after the fault ended and succeeded (the
next successful work), or for a killed collector, to the start of the next try of the
tick capture. ``problems`` lists everything that breaks the soak's promise: a lost,
duplicated or wrong bar or tick, a task failed for good, an audit mismatch, a leak, an
unrecovered fault. An empty list is a pass.
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


def recovery(fault: Fault, tis: list[dict]) -> float | None:
    """Seconds from the fault's start to the next successful work (module docstring)."""
    if fault.kind == "kill:collector":
        starts = [
            _ts(t["start_date"])
            for t in tis
            if t["dag_id"] == TICKS_DAG and t["start_date"] and _ts(t["start_date"]) > fault.began
        ]
        return (min(starts) - fault.began).total_seconds() if starts else None
    ends = [
        _ts(t["end_date"])
        for t in tis
        if t["state"] == "success"
        and t["dag_id"] != TICKS_DAG
        and t["start_date"]
        and _ts(t["start_date"]) >= fault.ended
    ]
    return (min(ends) - fault.began).total_seconds() if ends else None


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

    def recoveries(self) -> dict[str, list[float | None]]:
        out: dict[str, list[float | None]] = collections.defaultdict(list)
        for fault in self.faults:
            if not fault.skipped:
                out[fault.kind].append(recovery(fault, self.tis))
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

    def lines(self) -> list[str]:
        injected = [f for f in self.faults if not f.skipped]
        kinds = collections.Counter(f.kind for f in injected)
        out = [
            f"soak: {self.minutes:g} min, {len(injected)} faults of {len(kinds)} kinds"
            f" ({len(self.faults) - len(injected)} skipped)",
            "fault kind            count  recovery median  worst",
        ]
        for kind, values in sorted(self.recoveries().items()):
            done = [v for v in values if v is not None]
            median = f"{statistics.median(done):.0f}s" if done else "-"
            worst = f"{max(done):.0f}s" if done else "-"
            out.append(f"{kind:<22}{kinds[kind]:>5}  {median:>15}  {worst:>5}")
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
        recovery = {}
        for kind, values in self.recoveries().items():
            done = [v for v in values if v is not None]
            recovery[kind] = {
                "count": len(values),
                "median_s": round(statistics.median(done)) if done else None,
                "worst_s": round(max(done)) if done else None,
            }

        def triple(c: Count) -> str:
            return f"{c.lost}/{c.dup}/{c.wrong} of {c.checked:,}"

        return {
            "minutes": self.minutes,
            "faults": sum(1 for f in self.faults if not f.skipped),
            "recovery": recovery,
            "bars": triple(self.bars),
            "ticks": triple(self.ticks),
            "rollup": triple(self.rollup),
            "passed": not self.problems(),
            "report": self.lines(),
        }
