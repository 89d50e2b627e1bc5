"""Delta Lake plumbing shared by the jobs: create declared tables, build safe predicates."""

from __future__ import annotations

import datetime as dt

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from schemas.core import TableSchema
from skewguard.config import Settings

__all__ = [
    "CommitCountError",
    "ensure_table",
    "last_commit",
    "replace_where",
    "sql_date",
    "sql_string",
    "table_version",
]


def sql_string(value: str) -> str:
    """A Spark SQL string literal for ``value`` (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_date(value: dt.date) -> str:
    return f"DATE'{value.isoformat()}'"


def ensure_table(spark: SparkSession, settings: Settings, schema: TableSchema) -> str:
    """Create the declared table at its lakehouse path unless it exists; returns the path."""
    path = settings.lakehouse.table_path(schema.name)
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema.spark_schema()).comment(schema.doc)
    if schema.partition_by:
        builder = builder.partitionedBy(*schema.partition_by)
    for key, value in schema.table_properties().items():
        builder = builder.property(key, value)
    builder.execute()
    return path


def last_commit(spark: SparkSession, path: str) -> tuple[int, dict[str, str]]:
    """Version and operation metrics (e.g. ``numOutputRows``) of the table's latest commit."""
    row = DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()
    if row is None:
        raise RuntimeError(f"{path} has no Delta history")
    return int(row["version"]), dict(row["operationMetrics"] or {})


def table_version(spark: SparkSession, path: str) -> int:
    """Current Delta version of the table at ``path``."""
    return last_commit(spark, path)[0]


class CommitCountError(RuntimeError):
    """A commit wrote another number of rows than the job had reconciled."""


def replace_where(spark: SparkSession, rows_df: DataFrame, path: str, predicate: str, expected: int) -> int:
    """Overwrite exactly the rows matching ``predicate`` with ``rows_df`` and return the new
    version, after checking that the commit wrote ``expected`` rows (its operation metrics):
    a cached partition lost and recomputed from a changed source would show up here."""
    rows_df.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(path)
    version, metrics = last_commit(spark, path)
    written = int(metrics.get("numOutputRows", -1))
    if written != expected:
        name = "/".join(path.rstrip("/").split("/")[-2:])
        raise CommitCountError(f"{name} commit {version} wrote {written} rows, expected {expected}; re-run the window")
    return version
