"""Elasticsearch's own counts next to the lakehouse's, per day × workload (``skewguard reconcile``,
and ``maintain_tables`` before it deletes a day's index), so a person (or a schedule) sees at
once whether every indexed record is in bronze or quarantine exactly once — and which day to
re-ingest when not.

For each UTC day of the window and each workload, Elasticsearch counts the documents whose
indexed timestamp places them in that day (the ingest's own range query, without its
"no timestamp" clause) and the lakehouse counts that day's rows of ``bronze.serving_logs``
and ``bronze.quarantine`` for the same index (an alias or pattern: the concrete indices it
stands for). Documents with no indexed timestamp are compared on a line of their own with the
quarantine rows that have no date. Bronze rows whose ``event_id`` another bronze row also
has (a record whose day or workload changed between ingests, or one indexed in two backing
indices) are counted per day × workload as duplicates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skewguard.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ReconcileError", "ReconcileRow", "format_reconcile", "reconcile"]

NONE = "(none)"
UNDATED_DAY = "(undated)"


class ReconcileError(RuntimeError):
    """Reconciliation cannot run (no such index, a reversed window); the message says which."""


@dataclass(frozen=True)
class ReconcileRow:
    day: str
    workload_id: str
    elasticsearch: int
    bronze: int
    quarantine: int
    bronze_duplicates: int = 0
    """bronze rows of this day × workload whose ``event_id`` another bronze row also has"""

    @property
    def difference(self) -> int:
        """Indexed minus landed: > 0 means records to ingest, < 0 rows whose documents are gone."""
        return self.elasticsearch - self.bronze - self.quarantine

    @property
    def status(self) -> str:
        """``ok``; ``duplicates`` or ``not ingested`` (to act on); ``kept: source gone`` (the
        lakehouse keeps rows Elasticsearch no longer holds: retention, rollover; ingest never
        deletes them, ``maintain_tables`` ages them out)."""
        if self.bronze_duplicates:
            return "duplicates"
        if self.difference > 0:
            return "not ingested"
        return "kept: source gone" if self.difference < 0 else "ok"

    @property
    def reconciles(self) -> bool:
        return self.status in ("ok", "kept: source gone")

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "difference": self.difference, "status": self.status}


def _workload(value: Any) -> str:
    return NONE if value in (None, "") else str(value)


def _es_counts(
    settings: Settings, index: str, start: dt.date, end: dt.date, workload: str | None
) -> tuple[list[str], dict[tuple[str, str], int]]:
    """The concrete indices ``index`` stands for, and Elasticsearch's counts per (day, workload)."""
    from skewguard.es import UNDATED, concrete_indices, connect, window_query

    aggs = {"w": {"terms": {"field": "workload_id", "size": 10_000, "missing": ""}}}
    term = [] if workload is None else [{"term": {"workload_id": workload}}]
    counts: dict[tuple[str, str], int] = {}
    client = connect(settings.es_for("reader"))
    try:
        indices = concrete_indices(client, index)
        if not indices:
            raise ReconcileError(f"index {index!r} does not exist at {settings.elasticsearch.url}")
        day = start
        queries = []
        while day <= end:
            queries.append((str(day), window_query(day, day, workload, dated_only=True)))
            day += dt.timedelta(days=1)
        queries.append((UNDATED_DAY, {"bool": {"filter": [UNDATED, *term]}}))
        for label, query in queries:
            result = client.search(index=index, query=query, size=0, aggs=aggs, track_total_hits=True)
            for bucket in result["aggregations"]["w"]["buckets"]:
                key = (label, _workload(bucket["key"]))
                counts[key] = counts.get(key, 0) + int(bucket["doc_count"])
    finally:
        client.close()
    return indices, counts


def _duplicates(bronze_df: DataFrame, window_df: DataFrame) -> dict[tuple[str, str], int]:
    """Rows of ``window_df`` (bronze, the window) per (day, workload) whose ``event_id`` more
    than one row of bronze has (anywhere in it)."""
    from pyspark.sql import functions as F

    repeated_df = bronze_df.groupBy("event_id").count().where(F.col("count") > 1).select("event_id")
    rows = window_df.join(repeated_df, "event_id", "left_semi").groupBy("event_date", "workload_id").count().collect()
    return {(str(r["event_date"]), _workload(r["workload_id"])): int(r["count"]) for r in rows}


def reconcile(
    spark: SparkSession,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    workload: str | None = None,
    index: str | None = None,
) -> list[ReconcileRow]:
    """One row per (day, workload) seen on either side, plus the undated documents.

    Raises :class:`ReconcileError` for a reversed window or an index that does not exist."""
    from delta.tables import DeltaTable

    from jobs.lib.delta_io import sql_date, sql_string

    if end < start:
        raise ReconcileError(f"--end {end} is before --start {start}")
    index = index or settings.elasticsearch.index
    indices, es = _es_counts(settings, index, start, end, workload)
    keyed = ", ".join(sql_string(i) for i in sorted({*indices, index}))  # and rows keyed by the name itself
    condition = (
        f"es_index IN ({keyed}) AND (event_date IS NULL OR "
        f"(event_date >= {sql_date(start)} AND event_date <= {sql_date(end)}))"
    )
    if workload is not None:
        condition += f" AND workload_id = {sql_string(workload)}"
    lake: dict[str, dict[tuple[str, str], int]] = {"bronze.serving_logs": {}, "bronze.quarantine": {}}
    duplicates: dict[tuple[str, str], int] = {}
    for name, counts in lake.items():
        path = settings.lakehouse.table_path(name)
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        table_df = spark.read.format("delta").load(path)
        window_df = table_df.where(condition)
        for r in window_df.groupBy("event_date", "workload_id").count().collect():
            key = (UNDATED_DAY if r["event_date"] is None else str(r["event_date"]), _workload(r["workload_id"]))
            counts[key] = counts.get(key, 0) + int(r["count"])
        if name == "bronze.serving_logs":
            duplicates = _duplicates(table_df, window_df)
    keys = sorted(set(es) | set(lake["bronze.serving_logs"]) | set(lake["bronze.quarantine"]))
    return [
        ReconcileRow(
            day, wl, es.get((day, wl), 0), lake["bronze.serving_logs"].get((day, wl), 0),
            lake["bronze.quarantine"].get((day, wl), 0), duplicates.get((day, wl), 0),
        )
        for day, wl in keys
    ]  # fmt: skip


def format_reconcile(rows: list[ReconcileRow]) -> str:
    lines = [
        f"  {'day':<12}{'workload_id':<28}{'elasticsearch':>14}{'bronze':>10}{'quarantine':>12}{'difference':>12}"
        f"{'duplicates':>12}"
    ]
    for r in rows:
        flag = "" if r.status == "ok" else f"  ← {r.status.upper() if not r.reconciles else r.status}"
        counts = f"{r.elasticsearch:>14}{r.bronze:>10}{r.quarantine:>12}{r.difference:>12}{r.bronze_duplicates:>12}"
        lines.append(f"  {r.day:<12}{r.workload_id:<28}{counts}{flag}")
    bad = [r for r in rows if not r.reconciles]
    kept = [r for r in rows if r.status == "kept: source gone"]
    if kept:
        lines.append(
            f"{sum(-r.difference for r in kept)} rows kept whose documents Elasticsearch no longer holds "
            "(retention, rollover): ingest keeps them, maintain_tables ages them out, "
            "skewguard-ingest --allow-source-drop deletes them"
        )
    duplicated = [r for r in rows if r.bronze_duplicates]
    if duplicated:
        lines.append(
            f"{sum(r.bronze_duplicates for r in duplicated)} bronze rows share their event_id with another row "
            "(silver keeps the newest ingest); re-ingest the older day with --allow-source-drop to remove the copy"
        )
    lines.append(
        "all days reconcile" if not bad else f"{len(bad)} day × workload rows do not reconcile: re-ingest those days"
    )
    return "\n".join(lines)
