"""The candidate-vs-production table as text (the job's log, the demo), read from the rows of
one run of ``metrics.evaluations``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobs.evaluate.classifier_metrics import METRICS
from schemas.evaluation_tables import METRICS_EVALUATIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from skewguard.config import Settings

__all__ = ["latest_run", "table_lines"]


def _cell(value: float | None, low: float | None, high: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    f = "{:+.4f}" if signed else "{:.4f}"
    text = f.format(value)
    return text if low is None or high is None else f"{text} [{f.format(low)}, {f.format(high)}]"


def table_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per workload (and day) and candidate: one line per metric with production's value,
    the candidate's and the difference, each with its interval. Slices are in the report."""
    scopes: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if not r["slice_column"]:
            scopes.setdefault((r["workload_id"], str(r["event_date"] or "")), []).append(r)
    lines: list[str] = []
    for (workload, day), scope in sorted(scopes.items()):
        production = {r["metric"]: r for r in scope if r["bundle_role"] == "production"}
        candidates: dict[str, dict[str, Mapping[str, Any]]] = {}
        for r in scope:
            if r["bundle_role"] == "candidate":
                candidates.setdefault(json.loads(r["details_json"])["spec"], {})[r["metric"]] = r
        prod = next(iter(production.values()))
        for by_metric in candidates.values():
            cand = next(iter(by_metric.values()))
            lines.append(
                f"{workload}{' ' + day if day else ''}: candidate {cand['bundle_name']} {cand['bundle_version']} vs "
                f"production {prod['bundle_name']} {prod['bundle_version']} on {prod['n']} labelled rows "
                f"({prod['positives']} positive), {prod['replicates']} bootstrap replicates"
            )
            lines.append(f"  {'metric':<12} {'production':<26} {'candidate':<26} candidate − production")
            for metric in METRICS:
                p, c = production[metric], by_metric[metric]
                lines.append(
                    f"  {metric:<12} {_cell(p['value'], p['ci_low'], p['ci_high']):<26} "
                    f"{_cell(c['value'], c['ci_low'], c['ci_high']):<26} "
                    f"{_cell(c['diff_vs_production'], c['diff_ci_low'], c['diff_ci_high'], signed=True)}"
                )
    return lines


def latest_run(spark: SparkSession, settings: Settings) -> list[dict[str, Any]]:
    """The rows of the latest ``evaluate_models`` run."""
    from pyspark.sql import functions as F

    path = settings.lakehouse.table_path(METRICS_EVALUATIONS.name)
    df = spark.read.format("delta").load(path)
    latest = df.orderBy(F.desc("evaluated_at")).select("run_id").limit(1).collect()
    return [] if not latest else [r.asDict() for r in df.where(F.col("run_id") == latest[0]["run_id"]).collect()]
