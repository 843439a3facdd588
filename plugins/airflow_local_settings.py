"""Airflow's start-up hook (``airflow_local_settings``): warm validation before task forks.

Airflow imports this module at start-up in every process (the plugins folder is on its
``sys.path``, in ``make up`` and in the Docker image alike). Only ``airflow scheduler``
(LocalExecutor) and ``airflow celery worker`` act on it: they import Great Expectations and
build the validation suite in the background before they fork the processes that run
tasks, so a task's first validation takes milliseconds. See ``candleflow.validation.warm``
(``CANDLEFLOW_WARM_VALIDATION=0`` turns it off).
"""

from __future__ import annotations

import sys

from candleflow.validation import warm

# Airflow copies every public name of this module into airflow.settings: export none.
__all__: list[str] = []

warm.install(sys.argv)
