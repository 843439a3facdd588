"""Candleflow: an Apache Airflow 3 market-data pipeline.

Providers fetch OHLCV bars and quote ticks, Great Expectations validates them and the
command side writes them into PostgreSQL; ``candleflow.query`` reads them back.
Importing the package is cheap on purpose: DAG files import it at parse time.
"""

from __future__ import annotations

__version__ = "0.1.0"
