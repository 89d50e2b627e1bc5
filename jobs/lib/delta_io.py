"""Delta Lake plumbing shared by the jobs: create declared tables, build safe predicates."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.lib.catalog import register_table
from schemas.core import TableSchema
from skewguard.config import Settings

__all__ = [
    "CommitCountError",
    "MissingCommitError",
    "ensure_table",
    "last_commit",
    "replace_where",
    "retry_on_conflict",
    "sql_date",
    "sql_string",
    "table_version",
    "tagged_commit",
]


log = logging.getLogger(__name__)
T = TypeVar("T")

# What Delta raises when another writer committed first and its change conflicts with ours.
CONFLICTS: tuple[type[Exception], ...] = (
    DeltaConcurrentModificationException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentTransactionException,
)
CONFLICT_ATTEMPTS = 6


def retry_on_conflict(
    action: Callable[[], T], what: str, attempts: int = CONFLICT_ATTEMPTS, base_delay_s: float = 0.5
) -> T:
    """Run ``action`` (a whole Delta transaction: read, write, commit) again when a concurrent
    writer's commit conflicts with it, with jittered backoff; the last conflict is raised.

    Delta's optimistic concurrency lets writes to disjoint partitions commit side by side;
    this covers the rest (two MERGEs into one unpartitioned table, two runs of one window),
    where re-running the transaction on the new snapshot
    gives the same result as running the two one after the other."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CONFLICTS as exc:
            if attempt == attempts:
                raise
            delay = base_delay_s * 2 ** (attempt - 1) * (1 + random.random())
            log.warning(
                "%s: a concurrent commit conflicts (%s); retrying in %.1fs (attempt %d of %d)",
                what,
                type(exc).__name__,
                delay,
                attempt + 1,
                attempts,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def sql_string(value: str) -> str:
    """A Spark SQL string literal for ``value`` (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_date(value: dt.date) -> str:
    return f"DATE'{value.isoformat()}'"


def ensure_table(spark: SparkSession, settings: Settings, schema: TableSchema) -> str:
    """Create the declared table at its lakehouse path unless it exists, and register it in the
    catalog under its name (``catalog``; a no-op when off or already done); returns the path."""
    path = _create_table(spark, settings, schema)
    register_table(spark, settings, schema.name, path)
    return path


def _create_table(spark: SparkSession, settings: Settings, schema: TableSchema) -> str:
    path = settings.lakehouse.table_path(schema.name)
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema.spark_schema()).comment(schema.doc)
    if schema.partition_by:
        builder = builder.partitionedBy(*schema.partition_by)
    for key, value in schema.table_properties().items():
        builder = builder.property(key, value)

    # Two first runs at once: the other one may commit version 0 while this one creates (a
    # conflict, or "table not found"), and this JVM then holds a cached, stale "no table here"
    # view of the path. Forget the cached logs and look again, for up to 30 s.
    deadline = time.monotonic() + 30
    while True:
        try:
            builder.execute()
            return path
        except Exception:
            if time.monotonic() > deadline:
                raise
            jvm = spark.sparkContext._jvm
            if jvm is not None:
                jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
            if DeltaTable.isDeltaTable(spark, path):
                return path
            log.info("%s: not created yet by a concurrent writer; looking again", path)
            time.sleep(0.5)


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


class MissingCommitError(RuntimeError):
    """No commit carries the tag a write left."""


def tagged_commit(spark: SparkSession, path: str, tag: str, depth: int = 100) -> tuple[int, dict[str, str]]:
    """Version and operation metrics of the commit written with ``userMetadata = tag``
    (other writers may have committed after it, so it need not be the latest)."""
    row = (
        DeltaTable.forPath(spark, path)
        .history(depth)
        .where(F.col("userMetadata") == tag)
        .select("version", "operationMetrics")
        .first()
    )
    if row is None:
        raise MissingCommitError(f"{path}: no commit tagged {tag} in the last {depth} versions")
    return int(row["version"]), dict(row["operationMetrics"] or {})


def replace_where(
    spark: SparkSession, rows_df: DataFrame, path: str, predicate: str, expected: int, merge_schema: bool = False
) -> int:
    """Overwrite exactly the rows matching ``predicate`` with ``rows_df`` and return the new
    version, after checking that the commit wrote ``expected`` rows (its operation metrics):
    a cached partition lost and recomputed from a changed source would show up here.

    A conflicting concurrent commit (the same window written at once) re-runs the write,
    so the later one replaces the earlier and no row is doubled. ``merge_schema`` adds columns
    the table does not have yet (a table written before its schema gained them)."""
    tag = f"skewguard-{uuid.uuid4().hex}"

    def write() -> None:
        (
            rows_df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .option("mergeSchema", str(merge_schema).lower())
            .option("userMetadata", tag)
            .save(path)
        )

    retry_on_conflict(write, f"replace {predicate} in {path}")
    try:
        version, metrics = tagged_commit(spark, path, tag)
    except MissingCommitError:
        # Delta commits nothing when no row is written and none matched the predicate
        if expected == 0 and spark.read.format("delta").load(path).where(predicate).limit(1).count() == 0:
            return table_version(spark, path)
        raise
    written = int(metrics.get("numOutputRows", -1))
    if written != expected:
        name = "/".join(path.rstrip("/").split("/")[-2:])
        raise CommitCountError(f"{name} commit {version} wrote {written} rows, expected {expected}; re-run the window")
    return version
