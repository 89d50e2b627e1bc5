"""The feature rows of a drift source, for the passes that bin them: read by tasks straight
from the Delta snapshot's Parquet files when they can be, else by Spark.

:func:`feature_rows` decides once per source, from what is declared and what the Delta log
says — never from the rows: the direct path needs every feature to have a
:func:`~jobs.drift.direct_read.recipe`, slices, the workload and the date of types a task reads
as Spark does, a local table without column mapping, no training-set join, and no deletion
vector on the files it reads (Spark honours those). Either way the passes get the same
batches (``workload_id``, ``_f<i>``, ``_s<j>``: :func:`jobs.drift.histograms.feature_frame`)
through :meth:`FeatureRows.mapInArrow`.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from jobs.drift.direct_read import DirectFile, DirectPlan, file_batches, recipe
from jobs.drift.histograms import feature_frame
from jobs.drift.sources import FeatureSpec, RowSource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FeatureRows", "feature_rows"]

log = logging.getLogger(__name__)

_TASK_BYTES = 128 << 20  # about Spark's own split size: a larger file is shared by row groups
_SLICE_TYPES = {"string", "int", "bigint", "smallint", "tinyint", "boolean", "date"}

BatchFn = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


class FeatureRows:
    """A source's feature batches; ``mapInArrow`` as on the feature DataFrame."""

    def __init__(
        self,
        spark: SparkSession,
        source: RowSource,
        specs: Sequence[FeatureSpec],
        slice_columns: Sequence[str],
        tasks: list[list[DirectFile]] | None,
        plan: DirectPlan | None,
        why_spark: str = "",
    ) -> None:
        self.sparkSession = spark
        self.source, self.specs, self.slice_columns = source, list(specs), list(slice_columns)
        self.tasks, self.plan, self.why_spark = tasks, plan, why_spark
        self._frame: DataFrame | None = None

    @property
    def direct(self) -> bool:
        return self.tasks is not None

    def only(self, features: Iterable[int]) -> FeatureRows:
        """The same rows with only ``features``' columns (``_f<i>`` of the others absent): a
        pass that needs a few features reads no other column."""
        keep = frozenset(features)
        narrow = FeatureRows(self.sparkSession, self.source, self.specs, self.slice_columns, self.tasks,
                             None if self.plan is None else replace(self.plan, only=keep), self.why_spark)  # fmt: skip
        if self.plan is None:
            frame = self.frame()
            narrow._frame = frame.select("workload_id", *[f"_f{i}" for i in sorted(keep)],
                                         *[c for c in frame.columns if c.startswith("_s")])  # fmt: skip
        return narrow

    def frame(self) -> DataFrame:
        """The feature DataFrame read by Spark (for the passes that aggregate in Spark)."""
        if self._frame is None:
            self._frame = feature_frame(self.source.read(self.sparkSession), self.specs, self.slice_columns)
        return self._frame

    def mapInArrow(self, fn: BatchFn, schema: Any) -> DataFrame:
        """``fn`` over each task's batches (a partition's), its output batches as a DataFrame."""
        if self.tasks is None or self.plan is None:
            return self.frame().mapInArrow(fn, schema)
        plan = self.plan

        def task(files: Iterator[DirectFile]) -> Iterator[tuple[Any, ...]]:
            batches = itertools.chain.from_iterable(file_batches(f, plan) for f in files)
            for out in fn(batches):
                yield from zip(*(column.to_pylist() for column in out.columns), strict=True)

        spark = self.sparkSession
        # one planned group of file shares per partition
        shares = spark.sparkContext.parallelize(self.tasks, max(1, len(self.tasks))).flatMap(lambda group: group)
        return spark.createDataFrame(shares.mapPartitions(task), schema)


def _spark(
    spark: SparkSession, source: RowSource, specs: Sequence[FeatureSpec], slices: Sequence[str], why: str
) -> FeatureRows:
    log.info("drift reads %s through Spark: %s", source.describe(), why)
    return FeatureRows(spark, source, specs, slices, None, None, why)


def _local_path(table_path: str, file_path: str) -> str:
    parsed = urlparse(file_path)
    if parsed.scheme:
        return unquote(parsed.path)
    root = urlparse(table_path)
    return os.path.join(unquote(root.path) if root.scheme else table_path, unquote(file_path))


def _snapshot(spark: SparkSession, source: RowSource) -> tuple[Any, set[str]]:
    """The Delta snapshot the source pins (the JVM's object) and its partition columns."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, source.path)
    none = jvm.scala.Option.empty()
    snapshot = delta_log.getSnapshotAt(source.version, none, none)
    return snapshot, set(filter(None, snapshot.metadata().partitionColumns().mkString("\x1f").split("\x1f")))


def _files(spark: SparkSession, source: RowSource, snapshot: Any, partition_columns: set[str]) -> tuple[list[Any], str]:
    """The snapshot's data files of the source's window and workload (path, partition values,
    size, has a deletion vector); or a reason they cannot be read directly."""
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    mapping = snapshot.metadata().configuration().get("delta.columnMapping.mode")
    if mapping.isDefined() and mapping.get() != "none":
        return [], f"column mapping ({mapping.get()}) renames the files' columns"
    files_df = DataFrame(snapshot.allFiles().toDF(), spark)
    if source.start is not None and source.date_column in partition_columns:
        day = F.col("partitionValues")[source.date_column]
        files_df = files_df.where(day.between(str(source.start), str(source.end)))
    if source.workload is not None and source.workload_column in partition_columns:
        files_df = files_df.where(F.col("partitionValues")[source.workload_column] == F.lit(source.workload))
    rows = files_df.select("path", "partitionValues", "size", F.col("deletionVector").isNotNull()).collect()
    if any(r[3] for r in rows):
        return [], "files with deletion vectors (Spark applies them)"
    return rows, ""


def _tasks(source: RowSource, rows: list[Any], parallelism: int, task_bytes: int) -> list[list[DirectFile]]:
    """Files cut into shares of at most about ``task_bytes`` (a large file's row groups dealt
    out), packed largest first into the least loaded of as many tasks as the bytes need (at
    least ``parallelism``, at most one per share)."""
    shares: list[tuple[int, DirectFile]] = []
    for path, partition, size, _ in rows:
        parts = max(1, math.ceil(size / task_bytes))
        shares += [
            (size // parts, DirectFile(_local_path(source.path, path), dict(partition), p, parts)) for p in range(parts)
        ]
    n_tasks = min(len(shares), max(parallelism, math.ceil(sum(s for s, _ in shares) / task_bytes)))
    tasks: list[list[DirectFile]] = [[] for _ in range(n_tasks)]
    loads = [0] * n_tasks
    for size, share in sorted(shares, key=lambda s: -s[0]):
        least = loads.index(min(loads))
        tasks[least].append(share)
        loads[least] += size
    return tasks


def feature_rows(
    spark: SparkSession,
    source: RowSource,
    specs: Sequence[FeatureSpec],
    slice_columns: Sequence[str] = (),
    direct: bool = True,
    task_bytes: int = _TASK_BYTES,
) -> FeatureRows:
    """The feature rows of ``source`` (see the module's text for when tasks read its files);
    a task reads about ``task_bytes`` of Parquet."""
    slices = list(slice_columns)
    if not direct:
        return _spark(spark, source, specs, slices, "drift.direct_read is off")
    if source.training_set is not None:
        return _spark(spark, source, specs, slices, "a training set's examples are a join")
    if urlparse(source.path).scheme not in ("", "file"):
        return _spark(spark, source, specs, slices, "the table is not on a local file system")
    table_df = spark.read.format("delta").option("versionAsOf", source.version).load(source.path)
    columns = dict(table_df.dtypes)
    recipes = [recipe(s.expression, s.kind, s.is_array, columns) for s in specs]
    unreadable = [s.name for s, r in zip(specs, recipes, strict=True) if r is None]
    if unreadable:
        return _spark(spark, source, specs, slices, f"features {unreadable} are expressions only Spark reads")
    snapshot, partition_columns = _snapshot(spark, source)
    typed = {c: t for c, t in columns.items() if c not in partition_columns}
    if any(typed.get(c, "string") not in _SLICE_TYPES for c in (*slices, source.workload_column)):
        return _spark(spark, source, specs, slices, "a slice or workload column of a type tasks do not read")
    if source.start is not None and typed.get(source.date_column, "date") != "date":
        return _spark(spark, source, specs, slices, f"{source.date_column} is not a date")
    rows, why = _files(spark, source, snapshot, partition_columns)
    if why:
        return _spark(spark, source, specs, slices, why)
    plan = DirectPlan(
        [r for r in recipes if r is not None],
        [s.kind for s in specs],
        [s.is_array for s in specs],
        slices,
        source.workload_column,
        source.date_column,
        None if source.start is None else str(source.start),
        None if source.end is None else str(source.end),
        source.workload,
        frozenset(partition_columns),
    )
    tasks = _tasks(source, rows, spark.sparkContext.defaultParallelism, task_bytes)
    log.info("drift reads %s from its %d data file(s) in %d task(s)", source.describe(), len(rows), len(tasks))
    return FeatureRows(spark, source, specs, slices, tasks, plan)
