"""The DAG definitions ``watchlist_dags`` builds (``candleflow.airflow.factory``).

One module per DAG (or per family: ``ohlcv`` and ``ohlcv_history`` make one DAG per watchlist
timeframe), each with a ``build(watchlist)``; the module docstring is the DAG's ``doc_md``.
They only wire: every task is one call into ``candleflow``, heavy imports inside the task.
"""
