"""Table upkeep: retention (delete rows older than the configured days — whole partitions
for day-partitioned tables, a metadata-only commit; rows without a day, by when they were last
ingested), compaction of recent partitions
(``OPTIMIZE``) and ``VACUUM`` of unreferenced files, for every declared table that exists.
What it did, per table, goes to the run's details in ``metrics.job_runs``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from jobs.lib.delta_io import last_commit, sql_date, table_version
from jobs.lib.runs import RunRecord
from schemas.core import TableSchema
from schemas.tables import TABLES
from skewguard.config import Settings

__all__ = ["maintain_tables"]

log = logging.getLogger("skewguard.maintenance")

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# VACUUM lists the table with this many tasks (Spark's default is 10,000: half a minute of
# empty tasks on a small table); one wave of the cluster's cores is enough
_LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def _metric(metrics: dict[str, str], *names: str) -> int:
    for name in names:
        if name in metrics:
            return int(metrics[name])
    return 0


def _retain(
    spark: SparkSession, schema: TableSchema, table: DeltaTable, path: str, keep_days: int, as_of: dt.date
) -> dict[str, Any]:
    cutoff = as_of - dt.timedelta(days=keep_days - 1)  # keep_days days up to and including as_of
    before = table_version(spark, path)
    condition = f"event_date < {sql_date(cutoff)}"
    if "ingested_at" in schema.column_names:
        # undated rows (quarantined without a readable timestamp) age out by when they were last
        # ingested: every window that finds the document again refreshes it
        condition += f" OR (event_date IS NULL AND ingested_at < TIMESTAMP'{cutoff.isoformat()} 00:00:00')"
    table.delete(condition)
    version, metrics = last_commit(spark, path)
    if version == before:
        return {"kept_from": str(cutoff), "deleted_rows": 0, "removed_files": 0}
    return {
        "kept_from": str(cutoff),
        "deleted_rows": _metric(metrics, "numDeletedRows"),
        "removed_files": _metric(metrics, "numRemovedFiles"),
    }


def _optimize(schema: TableSchema, table: DeltaTable, days: int, as_of: dt.date) -> dict[str, Any]:
    builder = table.optimize()
    scope = "all"
    if "event_date" in schema.partition_by:
        since = as_of - dt.timedelta(days=days)
        builder = builder.where(f"event_date >= {sql_date(since)}")
        scope = f"event_date >= {since}"
    row = builder.executeCompaction().first()
    metrics = row["metrics"] if row is not None else None
    return {
        "scope": scope,
        "files_removed": int(metrics["numFilesRemoved"]) if metrics else 0,
        "files_added": int(metrics["numFilesAdded"]) if metrics else 0,
    }


def _vacuum(spark: SparkSession, table: DeltaTable, path: str, hours: float) -> dict[str, Any]:
    before = table_version(spark, path)
    table.vacuum(hours)
    version, metrics = last_commit(spark, path)
    deleted = _metric(metrics, "numDeletedFiles") if version != before else 0
    return {"retention_hours": hours, "deleted_files": deleted}


def maintain_tables(spark: SparkSession, settings: Settings, as_of: dt.date, run: RunRecord) -> dict[str, Any]:
    """Retention, then compaction, then vacuum, table by table; returns what was done."""
    conf = settings.maintenance
    done: dict[str, Any] = {}
    short = conf.vacuum_retention_hours < 168
    previous = spark.conf.get(_RETENTION_CHECK, "true")
    previous_listing = spark.conf.get(_LISTING_PARALLELISM, "10000")
    spark.conf.set(_LISTING_PARALLELISM, str(max(1, spark.sparkContext.defaultParallelism)))
    if short:  # the configured choice, stated in conf's documentation
        log.warning("VACUUM retention %.1f h is below Delta's 168 h safety default", conf.vacuum_retention_hours)
        spark.conf.set(_RETENTION_CHECK, "false")
    try:
        for schema in TABLES:
            path = settings.lakehouse.table_path(schema.name)
            if not DeltaTable.isDeltaTable(spark, path):
                continue
            table = DeltaTable.forPath(spark, path)
            report: dict[str, Any] = {}
            if schema.name in conf.retention_days:
                report["retention"] = _retain(spark, schema, table, path, conf.retention_days[schema.name], as_of)
            report["optimize"] = _optimize(schema, table, conf.optimize_days, as_of)
            report["vacuum"] = _vacuum(spark, table, path, conf.vacuum_retention_hours)
            log.info("%s: %s", schema.name, report)
            done[schema.name] = report
    finally:
        spark.conf.set(_RETENTION_CHECK, previous)
        spark.conf.set(_LISTING_PARALLELISM, previous_listing)
    run.source = ",".join(done)
    run.details = {"as_of": str(as_of), "tables": done}
    run.status = "succeeded"
    return done
