"""The drift job's stage: a window measured against a reference profile, and everything the
measurement leaves behind — its rows in ``metrics.drift``, the HTML report and the alert summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.drift.drift_report import write_report
from jobs.drift.drift_run import DriftResult, compute_drift, write_drift

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from skewguard.config import Settings

__all__ = ["measure_drift"]


def measure_drift(
    spark: SparkSession,
    settings: Settings,
    reference: str,
    window: DayWindow,
    run: RunRecord,
    table: str | None = None,
    ks_mode: str | None = None,
    report_dir: Path | None = None,
) -> DriftResult:
    """Measure ``window`` against the profile ``reference`` (:func:`compute_drift`), replace its
    rows in ``metrics.drift`` (not those of a workload with no current rows: an empty window
    does not replace earlier results) and write ``report.html`` and ``summary.json`` (the
    alert and warning lines, the empty workloads) to ``report_dir`` (default:
    ``<drift.report_dir>/<run id>``); fills ``run``."""
    result = compute_drift(spark, settings, reference, window, run, table, ks_mode)
    t0 = time.perf_counter()
    run.output_version = write_drift(spark, settings, result, reference, window)
    result.phases["write_s"] = round(time.perf_counter() - t0, 3)
    folder = Path(report_dir or settings.drift_report_root() / run.run_id)
    report = write_report(result.report, folder / "report.html")
    summary = {"run_id": run.run_id, "window": str(window), "reference": reference,
               "alerts": result.alerts, "warnings": result.warnings,
               "empty_workloads": result.empty_workloads}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    run.landed_count = sum(r["workload_id"] not in result.empty_workloads for r in result.rows)
    run.details = {
        "empty_workloads": result.empty_workloads,
        "reference": reference,
        "report": str(report),
        "alerts": len(result.alerts),
        "warnings": len(result.warnings),
        "phases": result.phases,
    }
    run.status = "succeeded"
    return result
