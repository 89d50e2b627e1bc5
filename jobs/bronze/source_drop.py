"""What a re-ingest may do to bronze rows whose documents Elasticsearch no longer holds.

Elasticsearch's retention (or a rollover, or a deletion) is usually shorter than bronze's, so
re-ingesting a window (a backfill, ``--lookback-days``) reads fewer documents than bronze
holds. Replacing the window with what is left would delete those rows. So, per day × workload
of the window, before anything is committed:

* no document left (``source empty``) → the cell is left untouched and reported as
  ``kept: source empty``;
* some documents gone → the run is refused with one line, unless the share gone is at most
  ``ingest.max_source_drop_share`` (default 0: any);
* ``--allow-source-drop`` → the window is replaced as read, deleting what is gone (on purpose,
  e.g. an erasure request).

A row counts as gone when the read yields no record with its ``event_id`` (landed or
quarantined): a record that moved to another day or workload of the window is not gone.
Bronze's retention is decided only by ``maintain_tables``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the rules (decide) need no Spark
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["FLAG", "CellCheck", "DropDecision", "bronze_cells", "decide"]

FLAG = "--allow-source-drop"


@dataclass(frozen=True)
class CellCheck:
    """One day × workload (``cell``, ``YYYY-MM-DD|workload``) of the window that bronze holds."""

    cell: str
    bronze: int
    """bronze rows of the cell"""
    gone: int
    """of those, rows whose record the read no longer yields"""
    source: int
    """records of the read that land in the cell"""


@dataclass
class DropDecision:
    kept: dict[str, int] = field(default_factory=dict)
    """cells left untouched (no document left), with their bronze rows"""
    dropped: dict[str, int] = field(default_factory=dict)
    """cells whose gone rows this run deletes, with their number"""
    refused: list[CellCheck] = field(default_factory=list)
    """cells whose drop exceeds the allowed share"""
    max_share: float = 0.0

    def refusal(self, index: str) -> str | None:
        """The one line that refuses the run, or None."""
        if not self.refused:
            return None
        first = self.refused[0]
        more = f" (and {len(self.refused) - 1} more day × workload)" if len(self.refused) > 1 else ""
        return (
            f"{first.cell}{more}: {index} no longer holds {first.gone} of the {first.bronze} documents bronze "
            f"has for it (more than ingest.max_source_drop_share {self.max_share:g}); refusing to delete them "
            f"from bronze, nothing committed: re-run with {FLAG} to delete them on purpose"
        )

    def details(self) -> dict[str, Any]:
        return {
            "kept_source_empty": dict(sorted(self.kept.items())),
            "source_dropped": dict(sorted(self.dropped.items())),
        }


def decide(cells: list[CellCheck], max_share: float, allow_drop: bool) -> DropDecision:
    """The decision for each cell bronze holds in the window (pure: no Spark)."""
    decision = DropDecision(max_share=max_share)
    for c in sorted(cells, key=lambda c: c.cell):
        if c.gone == 0:
            continue
        if allow_drop:
            decision.dropped[c.cell] = c.gone
        elif c.source == 0:
            decision.kept[c.cell] = c.bronze
        elif c.gone <= max_share * c.bronze:
            decision.dropped[c.cell] = c.gone
        else:
            decision.refused.append(c)
    return decision


def bronze_cells(
    spark: SparkSession, bronze_path: str, predicate: str, read_df: DataFrame, landed: dict[str, int]
) -> list[CellCheck]:
    """Bronze's rows matching ``predicate``, per cell, and how many of them ``read_df`` (the
    landed and quarantined records of the read: ``event_id``) no longer yields. One Spark job."""
    from pyspark.sql import functions as F

    held_df = read_df.select("event_id").distinct().withColumn("is_held", F.lit(True))
    rows = (
        spark.read.format("delta")
        .load(bronze_path)
        .where(predicate)
        .select("event_id", "event_date", "workload_id")
        .join(held_df, "event_id", "left")
        .groupBy("event_date", "workload_id")
        .agg(F.count("*").alias("bronze"), F.count_if(F.col("is_held").isNull()).alias("gone"))
        .collect()
    )
    checks = []
    for r in rows:
        cell = f"{r['event_date']}|{r['workload_id']}"
        checks.append(CellCheck(cell, int(r["bronze"]), int(r["gone"]), landed.get(cell, 0)))
    return checks
