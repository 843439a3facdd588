"""``watchlist_dags``: a user's two-line DAG file gets every Candleflow DAG of its watchlist.

The DAG ids, params and pause defaults of the factory are this repository's (its ``dags/`` is
the same two lines: ``test_dag_integrity.py`` checks them against the README); here, what a
user's file sees: a path relative to the DAG file, ``exclude``, a bad watchlist named in the
error, and the "Candles" link of a sync task.
"""

from __future__ import annotations

import runpy

import pytest

from candleflow.errors import ConfigError

WATCHLIST = 'provider = "tradingview"\nsymbols = ["NASDAQ:AAPL", "NYSE:IBM"]\n[timeframes.1h]\n'


def test_a_dag_file_gets_the_dags_of_the_watchlist_beside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("CANDLEFLOW_WATCHLIST", raising=False)
    monkeypatch.chdir("/")  # a dag-processor's working directory is no guide
    (tmp_path / "watchlist.toml").write_text(WATCHLIST)
    dag_file = tmp_path / "my_dags.py"
    dag_file.write_text(
        "from candleflow.airflow import watchlist_dags\n\n"
        'globals().update(watchlist_dags("watchlist.toml", exclude=("ticks_capture",)))\n'
    )
    found = runpy.run_path(str(dag_file))
    dags = {k: v for k, v in found.items() if k.startswith(("ohlcv", "instr", "bars", "fresh"))}
    assert set(dags) == {
        "ohlcv_1h",
        "ohlcv_1h_history",
        "instruments_sync",
        "bars_rollup",
        "freshness_check",
    }
    assert "ticks_capture" not in found and "warehouse_healthcheck" in found
    assert all(found[dag_id].dag_id == dag_id for dag_id in dags)
    symbols = dags["ohlcv_1h"].params.get_param("symbols").dump()["schema"]["items"]["enum"]
    assert symbols == ["NASDAQ:AAPL", "NYSE:IBM"]


def test_a_bad_watchlist_is_an_error_naming_the_file(tmp_path):
    from candleflow.airflow import watchlist_dags

    bad = tmp_path / "watchlist.toml"
    bad.write_text('symbols = "NASDAQ:AAPL"\n')
    with pytest.raises(ConfigError, match=r"watchlist\.toml.*symbols"):
        watchlist_dags(bad)


def test_a_sync_task_links_to_the_chart_of_its_symbol(tmp_path):
    from candleflow.airflow import watchlist_dags
    from candleflow.airflow.operators import CandlesLink

    (tmp_path / "watchlist.toml").write_text(WATCHLIST)
    dag = watchlist_dags(tmp_path / "watchlist.toml")["ohlcv_1h"]
    (task,) = [t for t in dag.tasks if t.task_id == "sync_tradingview"]
    operator = type("Op", (), {"symbols": ["NASDAQ:AAPL"], "timeframe": "1h"})()
    assert any(isinstance(link, CandlesLink) for link in task.operator_extra_links)
    link = CandlesLink().get_link(operator, ti_key=None)
    assert link == "/candleflow/chart?symbol=NASDAQ%3AAAPL&timeframe=1h"
