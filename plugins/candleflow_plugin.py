"""Candleflow's Airflow plugin: registers the trading-calendar timetable.

The class lives in the ``candleflow`` package (so DAG files import it without relying on
the plugins folder being on ``sys.path``); registering it here lets the scheduler
deserialise DAGs that use it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from candleflow.airflow.timetables import SettledIntervalTimetable, TradingSessionTimetable


class CandleflowPlugin(AirflowPlugin):
    name = "candleflow"
    timetables = [TradingSessionTimetable, SettledIntervalTimetable]  # noqa: RUF012
