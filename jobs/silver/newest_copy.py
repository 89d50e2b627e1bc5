"""One silver row per ``event_id``: the newest ingest's copy of a record bronze holds twice.

Bronze can hold one record twice: read from two backing indices of an alias, or ingested on a
new day or workload after its timestamp or ``workload_id`` changed in the index while its old
day kept the old copy (ingest never deletes what the source no longer holds). Among the copies
of an ``event_id`` anywhere in bronze, the newest ingest (``ingested_at``; ties broken by
``es_index``, ``event_date``, ``workload_id``, the largest first) is the one silver parses; the
others are counted as ``superseded``. When the winner is in the window being parsed, silver rows
of that ``event_id`` outside the window (an earlier parse of the old copy) are deleted.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.lib.delta_io import retry_on_conflict, sql_string
from jobs.lib.window import DayWindow

__all__ = ["COPY_KEY", "delete_copies_outside", "moved_into", "with_is_newest"]

log = logging.getLogger(__name__)

#: what tells two bronze copies of one record apart
COPY_KEY = ("event_id", "es_index", "event_date", "workload_id")
_IDS_PER_DELETE = 1000


def with_is_newest(window_df: DataFrame, bronze_df: DataFrame, window: DayWindow) -> DataFrame:
    """``window_df`` (bronze rows of ``window``) with ``is_newest``: whether the row is the newest
    copy of its ``event_id`` among all of ``bronze_df``; and ``is_moved_here``: whether it is, and
    bronze also holds older copies outside the window (a record whose day or workload changed)."""
    ids_df = window_df.select("event_id").distinct()
    by_id = Window.partitionBy("event_id")
    newest = by_id.orderBy(F.col("ingested_at").desc(), *(F.col(c).desc() for c in COPY_KEY[1:]))
    newest_df = (
        bronze_df.select(*COPY_KEY, "ingested_at")
        .join(ids_df, "event_id", "left_semi")
        .withColumn("copy_rank", F.row_number().over(newest))
        .withColumn("copies_outside", F.count_if(~window.contains()).over(by_id))
        .where(F.col("copy_rank") == 1)
        .select(*COPY_KEY, F.lit(True).alias("is_newest"), (F.col("copies_outside") > 0).alias("is_moved_here"))
    )
    return (
        window_df.join(newest_df, list(COPY_KEY), "left")
        .withColumn("is_newest", F.coalesce(F.col("is_newest"), F.lit(False)))
        .withColumn("is_moved_here", F.coalesce(F.col("is_moved_here"), F.lit(False)))
    )


def moved_into(flagged_df: DataFrame) -> list[str]:
    """``event_id``s of :func:`with_is_newest`'s rows whose newest copy is here and which bronze
    also holds outside the window (few: call only when the counts say there are some)."""
    return [r["event_id"] for r in flagged_df.where("is_moved_here").select("event_id").distinct().collect()]


def delete_copies_outside(spark: SparkSession, path: str, event_ids: list[str], window: DayWindow) -> None:
    """Delete the rows of ``event_ids`` outside ``window`` from the silver table at ``path``."""
    if not event_ids or not DeltaTable.isDeltaTable(spark, path):
        return
    for start in range(0, len(event_ids), _IDS_PER_DELETE):
        ids = ", ".join(sql_string(i) for i in event_ids[start : start + _IDS_PER_DELETE])
        condition = f"event_id IN ({ids}) AND NOT ({window.predicate()})"
        retry_on_conflict(
            lambda condition=condition: DeltaTable.forPath(spark, path).delete(condition),
            f"delete older copies from {path}",
        )
    log.info("%s: removed the older copies of %d records now parsed in %s", path, len(event_ids), window)
