"""Drift over time: each feature's headline metric (KS for numbers, JS distance for categories)
over the last windows of the same length measured against the same reference and of the same
``drift_type``, read back from ``metrics.drift`` for the report's trend charts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobs.drift.drift_charts import Trend

if TYPE_CHECKING:
    from pyspark.sql import Row, SparkSession

    from jobs.lib.window import DayWindow

__all__ = ["TREND_METRICS", "TrendKey", "read_trends"]

TREND_METRICS = {"numeric": "ks", "categorical": "js_distance"}
"""The metric a feature's trend shows, by feature type."""

TrendKey = tuple[str, str, str]
"""(workload, slice as the report names it — ``<column>=<value>`` or empty —, feature)."""


def read_trends(
    spark: SparkSession, path: str, reference: str, drift_type: str, window: DayWindow, windows: int
) -> dict[TrendKey, Trend]:
    """Per workload × slice × feature, its trend metric in the last ``windows`` windows up to
    ``window`` (oldest first; one small collect of those rows only)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    days = (window.end - window.start).days
    rows_df = (
        spark.read.format("delta")
        .load(path)
        .where(
            (F.col("reference") == F.lit(reference))
            & (F.coalesce(F.col("drift_type"), F.lit("baseline")) == F.lit(drift_type))
            & F.col("metric").isin(*TREND_METRICS.values())
            & (F.datediff("window_end", "window_start") == F.lit(days))
            & (F.col("window_end") <= F.lit(window.end))
        )
    )
    if window.workload_id is not None:
        rows_df = rows_df.where(F.col("workload_id") == F.lit(window.workload_id))
    latest = Window.orderBy(F.col("window_start").desc())
    picked = (
        rows_df.withColumn("_rank", F.dense_rank().over(latest))
        .where(F.col("_rank") <= F.lit(windows))
        .select(
            "workload_id",
            "slice_column",
            "slice_value",
            "feature",
            "feature_type",
            "metric",
            "window_start",
            "window_end",
            "value",
            "status",
            "warn_threshold",
            "alert_threshold",
        )  # fmt: skip
        .collect()
    )
    starts = sorted({r["window_start"] for r in picked})
    labels = {r["window_start"]: _label(r["window_start"], r["window_end"]) for r in picked}
    series: dict[TrendKey, dict[Any, Row]] = {}
    latest_row: dict[TrendKey, Row] = {}
    for r in picked:
        if TREND_METRICS.get(r["feature_type"]) != r["metric"]:
            continue
        key = (r["workload_id"], f"{r['slice_column']}={r['slice_value']}" if r["slice_column"] else "", r["feature"])
        series.setdefault(key, {})[r["window_start"]] = r
        if key not in latest_row or r["window_start"] >= latest_row[key]["window_start"]:
            latest_row[key] = r
    trends: dict[TrendKey, Trend] = {}
    for key, by_start in series.items():
        last = latest_row[key]
        trends[key] = Trend(
            metric=last["metric"],
            windows=tuple(labels[s] for s in starts),
            values=tuple(by_start[s]["value"] if s in by_start else None for s in starts),
            statuses=tuple(by_start[s]["status"] if s in by_start else "empty" for s in starts),
            warn=last["warn_threshold"],
            alert=last["alert_threshold"],
        )
    return trends


def _label(start: object, end: object) -> str:
    return str(start) if start == end else f"{start}..{end}"
