"""The warm Great Expectations runner: GX's validator, graph and expectations, once per process.

Why a runner of our own around GX's validator (the profile of a 1-bar window, 0.4 s warm):
``Batch.validate`` builds a new validator, loads the batch twice, substitutes suite
parameters, rebuilds GX's metric dependency graph of every expectation (about half the
time, most of it in GX rebuilding each expectation's pydantic configuration thousands of
times) and asks each expectation for its dependencies again to judge it. None of that
depends on the data. So ``_Runner`` does it once per process and suite: the validator bound
to the ``candleflow-bars`` batch, the expectations, their metric dependencies and the
suite-level graph. A run loads the frame into GX's execution engine, resolves the graph
(GX's metric providers compute every metric) and has each expectation judge its metrics
(``Expectation._validate``, GX's own judgement). Results are ``BOOLEAN_ONLY`` plus each
expectation's ``unexpected_count`` metric: the partial value lists of ``SUMMARY`` double
the metric work, and the rejected rows with their raw values are in ``rejected_bars``.
``run_suite(..., engine="stock")`` takes GX's public path; a test holds the two to the
same verdicts and counts, and the runner falls back to it if a GX upgrade breaks the runner.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from candleflow.validation.gx import (
    GX_COLUMNS,
    GX_LOCK,
    RESULT_FORMAT,
    build_suite,
    json_safe,
    state,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class _Item:
    """One expectation of a runner: GX's objects and what the result JSON repeats."""

    expectation: Any
    dependencies: Any
    count_metric: str | None  # the dependency name of its unexpected_count metric, if any
    check: str | None
    static: dict[str, Any]  # expectation_type, kwargs, meta: the same on every run


class _Runner:
    """One suite bound to GX's validator for the ``candleflow-bars`` batch (see above)."""

    def __init__(self, gx_suite: Any) -> None:
        import pandas as pd
        from great_expectations.validator.v1_validator import Validator

        _, definition, _ = state()
        self.empty = pd.DataFrame({col: pd.Series(dtype="float64") for col in GX_COLUMNS})
        validator = Validator(
            batch_definition=definition,
            batch_parameters={"dataframe": self.empty},
            result_format=RESULT_FORMAT,
        )._wrapped_validator
        self.rc = {"result_format": RESULT_FORMAT}
        configs = validator.process_expectations_for_validation(
            gx_suite.expectation_configurations, None
        )
        graphs, errors, processed = (
            validator._generate_metric_dependency_subgraphs_for_each_expectation_configuration(
                expectation_configurations=configs,
                processed_configurations=[],
                catch_exceptions=False,
                runtime_configuration=self.rc,
            )
        )
        if errors:
            raise RuntimeError(f"GX could not plan the suite: {errors}")
        self.graph = validator._generate_suite_level_graph_from_expectation_level_sub_graphs(graphs)
        self.engine = validator._execution_engine
        self.batch_id = validator.active_batch_id
        self.calculator = validator._metrics_calculator
        self.items = [self._item(config) for config in processed]

    def _item(self, config: Any) -> _Item:
        expectation = config.to_domain_obj()
        deps = expectation.get_validation_dependencies(
            execution_engine=self.engine, runtime_configuration=copy.deepcopy(self.rc)
        )
        map_metric = getattr(expectation, "map_metric", None)
        count = f"{map_metric}.unexpected_count" if map_metric else None
        static = {
            "expectation_type": config.type,
            "kwargs": json_safe(config.kwargs),
            "meta": json_safe(config.meta or {}),
        }
        check = (config.meta or {}).get("check")
        if count not in deps.metric_configurations:
            count = None
        return _Item(expectation, deps, count, check, static)

    def run(self, frame: pd.DataFrame) -> tuple[bool, list[dict[str, Any]]]:
        """Each expectation's success and unexpected count on ``frame`` (GX computes both)."""
        from great_expectations.execution_engine.pandas_batch_data import PandasBatchData

        self.engine.load_batch_data(self.batch_id, PandasBatchData(self.engine, frame))
        try:
            resolved, aborted = self.calculator.resolve_validation_graph(
                graph=self.graph, runtime_configuration=self.rc, min_graph_edges_pbar_enable=0
            )
            if aborted:
                failed = {str(v["metric_configuration"].metric_name) for v in aborted.values()}
                raise RuntimeError(f"GX could not compute metrics {sorted(failed)}")
            outcomes = [self._judge(item, resolved, len(frame)) for item in self.items]
        finally:
            # GX's engine caches every metric it computes (the frame's condition masks too),
            # and holds the batch: drop both so a long-lived worker does not grow.
            getattr(self.engine, "_metric_cache", {}).clear()
            self.engine.load_batch_data(self.batch_id, PandasBatchData(self.engine, self.empty))
        return all(o["success"] for o in outcomes), outcomes  # as GX: every expectation

    def _judge(self, item: _Item, resolved: dict, rows: int) -> dict[str, Any]:
        deps = item.dependencies
        metrics = {name: resolved[m.id] for name, m in deps.metric_configurations.items()}
        raw = item.expectation._validate(
            metrics=metrics,
            runtime_configuration={"result_format": deps.result_format},
            execution_engine=self.engine,
        )
        success = raw["success"] if isinstance(raw, dict) else raw.success
        result: dict[str, Any] = {"element_count": rows}
        if item.count_metric:
            result["unexpected_count"] = int(metrics[item.count_metric] or 0)
        severity = str(getattr(item.expectation.severity, "value", item.expectation.severity))
        return {**item.static, "success": bool(success), "result": result, "severity": severity}


_RUNNERS: dict[tuple[float | None, bool], _Runner] = {}


def runner(jump_threshold: float | None, jump_rejects: bool) -> _Runner:
    """The warm runner of one suite variant, built once per process (about 0.3 s)."""
    key = (None if jump_threshold is None else float(jump_threshold), jump_rejects)
    with GX_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = _Runner(build_suite(*key))
        return _RUNNERS[key]


def is_warm(jump_threshold: float | None, jump_rejects: bool) -> bool:
    """True when this process already holds the runner of that suite variant."""
    return (None if jump_threshold is None else float(jump_threshold), jump_rejects) in _RUNNERS


def stock(frame: pd.DataFrame, threshold: float | None, rejects: bool) -> tuple[bool, list]:
    """GX's public path: a batch of the frame, ``Batch.validate`` with SUMMARY results."""
    _, definition, _ = state()
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(build_suite(threshold, rejects), result_format="SUMMARY")
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        if item.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"GX expectation {config.type} raised: {item.exception_info['exception_message']}"
            )
        counted = {"element_count": len(frame)}
        if "unexpected_count" in (item.result or {}):
            counted["unexpected_count"] = int(item.result["unexpected_count"] or 0)
        outcomes.append(
            {
                "expectation_type": config.type,
                "kwargs": json_safe(config.kwargs),
                "meta": json_safe(config.meta or {}),
                "success": bool(item.success),
                "result": counted,
                "severity": str(getattr(config.severity, "value", config.severity)),
            }
        )
    return bool(result.success), outcomes
