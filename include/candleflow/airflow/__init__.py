"""The only Airflow-aware part of Candleflow: operators, connection glue, timetables.

Services stay importable and testable without Airflow running; these classes only map
Airflow's context (run id, data interval, params, connections) onto service calls.
"""
