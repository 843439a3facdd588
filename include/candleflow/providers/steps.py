"""Corporate actions derived from a provider's raw and adjusted series of the same sessions.

A provider that serves a series both as traded and adjusted (TradingView's descriptor
``adjustment``: ``none``, ``splits``, ``dividends``) adjusts every bar before an action by
that action's factor, so ``adjusted / raw`` is a step function of the session: flat between
actions, one step at each ex-date, the step's size the action's factor. So:

- the steps of ``splits / none`` are the splits: factor ``f`` is a split of ``1 / f`` new
  shares per old one (snapped to its simple fraction: prices rounded to cents blur it);
- the steps of ``dividends / splits`` are the cash dividends: factor ``f`` is a dividend of
  ``(1 - f) x`` the raw close before the ex-date (the reference that factor is taken on).

Each level is the median of ``adjusted / raw`` over the sessions beside a step, so a provider
that rounds its adjusted prices to a tick still gives the factor to the precision of many
sessions, and a step counts only when it stands out of that rounding noise.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from candleflow.adjustments import action_frame, snap_ratio

log = logging.getLogger(__name__)

MIN_STEP = 1e-6  # relative: below any real action (a 1 cent dividend on a $10,000 share)
WINDOW = 41  # sessions around a move that judge its noise and its levels
DERIVED_SNAP = 2e-3  # a measured split ratio within 0.2 % of a simple fraction is that fraction


def steps(raw: np.ndarray, adjusted: np.ndarray) -> list[tuple[int, float]]:
    """``(i, factor)`` of each step of ``adjusted / raw``: bar ``i`` is the first after it,
    ``factor`` = level before / level after (what the provider multiplied earlier prices by)."""
    raw, adjusted = np.asarray(raw, dtype=float), np.asarray(adjusted, dtype=float)
    valid = np.isfinite(raw) & np.isfinite(adjusted) & (raw > 0) & (adjusted > 0)
    index = np.flatnonzero(valid)
    if len(index) < 2:
        return []
    level = np.log(adjusted[index] / raw[index])
    moves = np.abs(np.diff(level))
    # Candidates: moves well above the rounding noise around them (prices rounded to a tick
    # are noisier where they are low, a split-adjusted 1998 price of 0.12; most sessions
    # have no action, so the median move near a session is its noise).
    if len(moves) <= WINDOW // 2 + 1:  # every centred window holds them all (a daily check)
        noise = np.full(len(moves), 1.4826 * float(np.median(moves)))
    else:
        rolling = pd.Series(moves).rolling(WINDOW, center=True, min_periods=1)
        noise = 1.4826 * rolling.median().to_numpy()
    cuts = np.flatnonzero(moves > np.maximum(MIN_STEP, 8 * noise)) + 1
    found = []
    for cut, before, after in _significant(level, cuts.tolist()):
        found.append((int(index[cut]), float(np.exp(before - after))))
    return found


def _levels(level: np.ndarray, cuts: list[int]) -> list[tuple[int, float, float, float]]:
    """``(cut, level before, level after, score)``: the medians of up to ``WINDOW`` sessions
    on each side (up to the neighbouring cuts), the score the step over 8x their spread."""
    edges = [0, *cuts, len(level)]
    out = []
    for k, cut in enumerate(cuts):
        before = level[max(edges[k], cut - WINDOW) : cut]
        after = level[cut : min(edges[k + 2], cut + WINDOW)]
        lo, hi = float(np.median(before)), float(np.median(after))
        spread = 1.4826 * float(np.median(np.abs(np.concatenate([before - lo, after - hi]))))
        out.append((cut, lo, hi, abs(lo - hi) / max(8 * spread, MIN_STEP)))
    return out


def _significant(level: np.ndarray, cuts: list[int]) -> list[tuple[int, float, float]]:
    """The candidate steps that stand out of the noise of the levels beside them, the
    weakest dropped first (two cuts around one badly rounded session explain it together)."""
    while cuts:
        scored = _levels(level, cuts)
        weakest = min(range(len(scored)), key=lambda k: scored[k][3])
        if scored[weakest][3] >= 1:
            return [(cut, lo, hi) for cut, lo, hi, _ in scored]
        del cuts[weakest]
    return []


def derive_actions(
    days: list, raw: np.ndarray, splits: np.ndarray, dividends: np.ndarray | None
) -> pd.DataFrame:
    """The actions behind three closes of the same sessions (``days``: their session dates,
    ``datetime.date``, ascending): as traded, split-adjusted, and also dividend-adjusted
    (``None``: unknown)."""
    days = list(days)
    raw = np.asarray(raw, dtype=float)
    actions = []
    for i, factor in steps(raw, splits):
        ratio = snap_ratio(1.0 / factor, DERIVED_SNAP)
        if ratio == 1:  # a rounding blip that a simple fraction explains away
            continue
        actions.append({"ex_date": days[i], "kind": "split", "ratio": ratio})
    if dividends is not None:
        for i, factor in steps(splits, dividends):
            reference = raw[:i][np.isfinite(raw[:i])][-1]
            if factor >= 1:
                log.warning("step up of %.6g before %s: no cash dividend, skipped", factor, days[i])
                continue
            actions.append(
                {
                    "ex_date": days[i],
                    "kind": "dividend",
                    "amount": round((1 - factor) * reference, 6),
                    "reference_price": reference,
                    "factor": factor,
                }
            )
    return action_frame(actions)
