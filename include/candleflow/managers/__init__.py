"""Managers turn stored data into derived data: ``BarManager`` rolls ticks into bars."""

from __future__ import annotations

from candleflow.managers.bar_manager import DEFAULT_TIMEFRAMES, BarManager, RollupResult

__all__ = ["DEFAULT_TIMEFRAMES", "BarManager", "RollupResult"]
