"""What is in the lakehouse: bronze rows per day × workload, quarantine reasons, the last
run and where every table lives (``skewguard summary``, the demo, notebook 01)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from skewguard.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["bronze_summary", "format_summary"]


def bronze_summary(spark: SparkSession, settings: Settings) -> dict[str, Any]:
    """Rows per day × workload × kind in bronze, quarantine per reason, top-level fields no
    record kind declares (per day), the last run, and table locations."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from schemas.records import RECORD_KINDS
    from schemas.tables import TABLES

    paths = {t.name: settings.lakehouse.table_path(t.name) for t in TABLES}
    out: dict[str, Any] = {"tables": paths, "bronze": [], "quarantine": {}, "unknown_fields": {}}

    if DeltaTable.isDeltaTable(spark, paths["bronze.serving_logs"]):
        rows = (
            spark.read.format("delta")
            .load(paths["bronze.serving_logs"])
            .groupBy("event_date", "workload_id", "record_kind")
            .count()
            .orderBy("event_date", "workload_id")
            .collect()
        )
        out["bronze"] = [
            {
                "event_date": str(r["event_date"]),
                "workload_id": r["workload_id"],
                "record_kind": r["record_kind"],
                "rows": r["count"],
            }
            for r in rows
        ]
        # top-level keys no record kind declares: kept in source_json, listed so nobody is surprised
        known = sorted({name for kind in RECORD_KINDS for name in kind.field_names})
        unknown = (
            spark.read.format("delta")
            .load(paths["bronze.serving_logs"])
            .select("event_date", F.explode(F.json_object_keys("source_json")).alias("field"))
            .where(~F.col("field").isin(known))
            .groupBy("event_date", "field")
            .count()
            .collect()
        )
        for r in sorted(unknown, key=lambda r: (r["event_date"], r["field"])):
            out["unknown_fields"].setdefault(str(r["event_date"]), {})[r["field"]] = r["count"]
    if DeltaTable.isDeltaTable(spark, paths["bronze.quarantine"]):
        rows = spark.read.format("delta").load(paths["bronze.quarantine"]).groupBy("reason").count().collect()
        out["quarantine"] = {r["reason"]: r["count"] for r in sorted(rows, key=lambda r: r["reason"])}
    if DeltaTable.isDeltaTable(spark, paths["metrics.job_runs"]):
        last = (
            spark.read.format("delta")
            .load(paths["metrics.job_runs"])
            .orderBy(F.col("finished_at").desc())
            .limit(1)
            .collect()
        )
        if last:
            out["last_run"] = {
                k: str(last[0][k])
                for k in ("run_id", "job", "status", "source_count", "landed_count", "quarantined_count")
            }
            details = json.loads(last[0]["details_json"] or "{}")
            if details.get("kept_source_empty"):
                out["last_run"]["kept_source_empty"] = details["kept_source_empty"]
    return out


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        "bronze.serving_logs — rows per day × workload:",
        f"  {'event_date':<12}{'workload_id':<28}{'record_kind':<18}{'rows':>8}",
    ]
    for r in summary["bronze"]:
        lines.append(f"  {r['event_date']:<12}{r['workload_id']:<28}{r['record_kind']:<18}{r['rows']:>8}")
    total = sum(r["rows"] for r in summary["bronze"])
    lines.append(f"  {'total':<58}{total:>8}")
    quarantined = sum(summary["quarantine"].values())
    lines.append(
        f"bronze.quarantine — {quarantined} records: "
        + (", ".join(f"{k} {v}" for k, v in summary["quarantine"].items()) or "none")
    )
    for day, fields in summary.get("unknown_fields", {}).items():
        lines.append(
            f"unknown top-level fields on {day} (kept in source_json): "
            + ", ".join(f"{k} {v}" for k, v in fields.items())
        )
    if "last_run" in summary:
        lr = summary["last_run"]
        lines.append(
            f"last run: {lr['job']} {lr['status']} ({lr['run_id']}): source {lr['source_count']}, "
            f"landed {lr['landed_count']}, quarantined {lr['quarantined_count']}"
        )
        if lr.get("kept_source_empty"):
            lines.append(
                "  kept: source empty (Elasticsearch holds none of their documents; bronze keeps them): "
                + ", ".join(f"{cell} {rows} rows" for cell, rows in lr["kept_source_empty"].items())
            )
    lines.append("tables:")
    width = max(map(len, summary["tables"]), default=0) + 2
    lines += [f"  {name:<{width}}{path}" for name, path in summary["tables"].items()]
    return "\n".join(lines)
