from candleflow.airflow import watchlist_dags

globals().update(watchlist_dags())
