"""The drift job's stage: a window measured against a reference profile, and everything the
measurement leaves behind — its rows in ``metrics.drift``, the HTML report and the alert summary."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.drift.drift_report import write_report
from jobs.drift.drift_run import DriftResult, compute_drift
from jobs.drift.drift_trend import read_trends
from jobs.lib.delta_io import ensure_table, replace_where, sql_date, sql_string
from schemas.drift_tables import METRICS_DRIFT

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from skewguard.config import Settings

__all__ = ["measure_drift", "write_drift"]


def measure_drift(
    spark: SparkSession,
    settings: Settings,
    reference: str,
    window: DayWindow,
    run: RunRecord,
    table: str | None = None,
    ks_mode: str | None = None,
    report_dir: Path | None = None,
    compare: str = "reference",
) -> DriftResult:
    """Measure ``window`` against the profile ``reference`` (:func:`compute_drift`), replace its
    rows in ``metrics.drift`` (not those of a workload with no current rows: an empty window
    does not replace earlier results) and write ``report.html`` and ``summary.json`` (the
    alert and warning lines, the dataset verdicts in alert, the empty workloads) to ``report_dir`` (default:
    ``<drift.report_dir>/<run id>``); fills ``run``. ``compare``: ``reference`` (the stored
    profile) or ``previous`` (the window before, profiled on the reference's bins); the
    report shows each feature's trend over the last ``drift.trend_windows`` windows."""
    result = compute_drift(spark, settings, reference, window, run, table, ks_mode, compare)
    t0 = time.perf_counter()
    run.output_version = write_drift(spark, settings, result, reference, window)
    result.phases["write_s"] = round(time.perf_counter() - t0, 3)
    path = ensure_table(spark, settings, METRICS_DRIFT)
    trends = read_trends(spark, path, reference, result.drift_type, window, settings.drift.trend_windows)
    result.report = replace(result.report, drift_type=result.drift_type, trends=trends)
    folder = Path(report_dir or settings.drift_report_root() / run.run_id)
    report = write_report(result.report, folder / "report.html")
    summary = {"run_id": run.run_id, "window": str(window), "reference": reference, "drift_type": result.drift_type,
               "alerts": result.alerts, "warnings": result.warnings, "dataset_alerts": result.dataset_alerts,
               "empty_workloads": result.empty_workloads}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    run.landed_count = sum(r["workload_id"] not in result.empty_workloads for r in result.rows)
    run.details = {
        "empty_workloads": result.empty_workloads,
        "reference": reference,
        "drift_type": result.drift_type,
        "report": str(report),
        "alerts": len(result.alerts),
        "dataset_alerts": len(result.dataset_alerts),
        "warnings": len(result.warnings),
        "phases": result.phases,
        "params": {"reference": reference, "compare": compare, "ks_mode": ks_mode or settings.drift.ks_mode},
    }
    run.status = "succeeded"
    return result


def write_drift(
    spark: SparkSession, settings: Settings, result: DriftResult, reference: str, window: DayWindow
) -> int | None:
    """Replace the window's rows for ``reference`` and the run's ``drift_type`` (and the
    workload, when limited) in ``metrics.drift``; a workload with no current rows keeps its earlier rows (None: nothing
    was written, every workload was empty)."""
    empty = set(result.empty_workloads)
    rows = [r for r in result.rows if r["workload_id"] not in empty]
    if not rows:
        return None
    path = ensure_table(spark, settings, METRICS_DRIFT)
    _add_drift_type(spark, path)
    schema = METRICS_DRIFT
    rows_df = spark.createDataFrame([tuple(r.get(c) for c in schema.column_names) for r in rows], schema.spark_schema())
    predicate = (
        f"window_start = {sql_date(window.start)} AND window_end = {sql_date(window.end)} "
        f"AND reference = {sql_string(reference)} "
        f"AND coalesce(drift_type, 'baseline') = {sql_string(result.drift_type)}"
    )
    if window.workload_id is not None:
        predicate += f" AND workload_id = {sql_string(window.workload_id)}"
    if empty:
        measured = sorted({r["workload_id"] for r in rows})
        predicate += f" AND workload_id IN ({', '.join(sql_string(w) for w in measured)})"
    return replace_where(spark, rows_df, path, predicate, len(rows), merge_schema=True)


def _add_drift_type(spark: SparkSession, path: str) -> None:
    """A table written before ``drift_type`` existed gains the column (its rows: null, read as
    ``baseline``), so that the replace predicate can name it."""
    if "drift_type" not in spark.read.format("delta").load(path).columns:
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS (drift_type STRING)")
