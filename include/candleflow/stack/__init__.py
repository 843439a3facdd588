"""The local Airflow stack behind ``make up``: configuration, first-run setup, processes."""
