"""What ``validate_bars`` hands back (``ValidationResult``): rejects, flags and the summary.

Why a module of its own: these are the parts a reader of ``load_audit.validation`` and
``rejected_bars`` sees, so their shape is kept in one place; ``validate_bars`` only decides.
Empty results come from cached templates (building an empty frame costs about as much as
validating a one-bar window, and almost every window has no rejects and no flags).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from candleflow.domain import BAR_COLUMNS
from candleflow.validation.rules import FLAG_RULES, REJECT_RULES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class ValidationResult:
    """What ``validate_bars`` found. ``summary`` and ``gx_result`` are JSON-serialisable."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    flagged: pd.DataFrame
    summary: dict[str, Any]
    gx_result: dict[str, Any] = field(repr=False)

    @property
    def rejected_share(self) -> float:
        """Rejected rows over rows checked (0.0 for an empty window): the sync's threshold."""
        checked = self.summary["rows_checked"]
        return self.summary["rows_rejected"] / checked if checked else 0.0


def _rules_per_row(idx, rule_masks, names) -> list[list[str]]:
    return [[n for n in names if n in rule_masks and rule_masks[n][i]] for i in idx]


@functools.cache
def _empty_rejected() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="datetime64[us, UTC]"),
            "rules": pd.Series([], dtype=object),
            "raw": pd.Series([], dtype=object),
        }
    )


@functools.cache
def _empty_flagged() -> pd.DataFrame:
    import pandas as pd

    columns = {c: pd.Series([], dtype="float64") for c in BAR_COLUMNS}
    columns["ts"] = pd.Series([], dtype="datetime64[us, UTC]")
    columns["rules"] = pd.Series([], dtype=object)
    columns["change"] = pd.Series([], dtype="float64")
    return pd.DataFrame(columns)


def rejected(frame: pd.DataFrame, bad: np.ndarray, rule_masks, names) -> pd.DataFrame:
    """``ts``, the rules each rejected row broke, and its raw values (JSON-ready)."""
    import numpy as np
    import pandas as pd

    idx = np.flatnonzero(bad)
    if not len(idx):
        return _empty_rejected().copy()
    rows = frame.iloc[idx]
    return pd.DataFrame(
        {
            "ts": rows["ts"].reset_index(drop=True),
            "rules": pd.Series(_rules_per_row(idx, rule_masks, names), dtype=object),
            "raw": pd.Series([raw(row) for row in rows.to_dict("records")], dtype=object),
        }
    )


def raw(row: dict[str, Any]) -> dict[str, Any]:
    """The row's values as received, JSON-ready: NaN -> None, inf kept as a string."""
    import pandas as pd

    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "ts":
            out[key] = None if pd.isna(value) else value.isoformat()
        elif value is None or math.isnan(value):
            out[key] = None
        else:
            out[key] = float(value) if math.isfinite(value) else str(value)
    return out


def flagged(frame, flag, rule_masks, names, changes) -> pd.DataFrame:
    """The flagged rows (they still load) with their rules and close-to-close change."""
    import numpy as np

    idx = np.flatnonzero(flag)
    if not len(idx):
        return _empty_flagged().copy()
    out = frame.iloc[idx][list(BAR_COLUMNS)].reset_index(drop=True)
    out["rules"] = _rules_per_row(idx, rule_masks, names)
    out["change"] = changes[idx]
    return out


def summary(result, *, context: dict[str, Any], rule_masks, checks, gx_success) -> dict[str, Any]:
    """The JSON summary kept in ``load_audit.validation`` (``checks``: per GX check, the
    window's own success and count)."""
    from candleflow.validation.gx import SUITE_NAME

    counts = {
        name: int(rule_masks[name].sum()) if name in rule_masks else 0
        for name in (*REJECT_RULES, *FLAG_RULES)
    }
    rows_in, collapsed = context.pop("rows_in"), context.pop("duplicates_collapsed")
    return {
        "suite": SUITE_NAME,
        **{k: context[k] for k in ("symbol", "timeframe", "window", "now")},
        "rows_in": rows_in,
        "duplicates_collapsed": collapsed,
        "rows_checked": rows_in - collapsed,
        "rows_valid": len(result.valid),
        "rows_rejected": len(result.rejected),
        "rows_flagged": len(result.flagged),
        "rules": counts,
        "jump_threshold": context["jump_threshold"],
        "price_jump_rejects": context["price_jump_rejects"],
        "gx_success": gx_success,
        "expectations": checks,
        "attribution": "pandas masks; GX's unexpected_count per check over the batch"
        " (gx_batch) equals their sum",
    }
