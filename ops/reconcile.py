"""``skewguard reconcile``: Elasticsearch's own counts next to the lakehouse's, per day ×
workload, so a person (or a schedule) sees at once whether every indexed record is in
bronze or quarantine — and which day to re-ingest when not.

For each UTC day of the window and each workload, Elasticsearch counts the documents whose
indexed timestamp places them in that day (the ingest's own range query, without its
"no timestamp" clause) and the lakehouse counts that day's rows of ``bronze.serving_logs``
and ``bronze.quarantine`` for the same index. Documents with no indexed timestamp are
compared on a line of their own with the quarantine rows that have no date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skewguard.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["ReconcileRow", "format_reconcile", "reconcile"]

NONE = "(none)"
UNDATED_DAY = "(undated)"


@dataclass(frozen=True)
class ReconcileRow:
    day: str
    workload_id: str
    elasticsearch: int
    bronze: int
    quarantine: int

    @property
    def difference(self) -> int:
        """Indexed minus landed: > 0 means records to ingest, < 0 rows whose documents are gone."""
        return self.elasticsearch - self.bronze - self.quarantine

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "difference": self.difference}


def _workload(value: Any) -> str:
    return NONE if value in (None, "") else str(value)


def _es_counts(
    settings: Settings, index: str, start: dt.date, end: dt.date, workload: str | None
) -> dict[tuple[str, str], int]:
    from skewguard.es import UNDATED, connect, window_query

    aggs = {"w": {"terms": {"field": "workload_id", "size": 10_000, "missing": ""}}}
    term = [] if workload is None else [{"term": {"workload_id": workload}}]
    counts: dict[tuple[str, str], int] = {}
    client = connect(settings.elasticsearch)
    try:
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
    return counts


def reconcile(
    spark: SparkSession,
    settings: Settings,
    start: dt.date,
    end: dt.date,
    workload: str | None = None,
    index: str | None = None,
) -> list[ReconcileRow]:
    """One row per (day, workload) seen on either side, plus the undated documents."""
    from delta.tables import DeltaTable

    from jobs.lib.delta_io import sql_date, sql_string

    index = index or settings.elasticsearch.index
    es = _es_counts(settings, index, start, end, workload)
    lake: dict[str, dict[tuple[str, str], int]] = {"bronze.serving_logs": {}, "bronze.quarantine": {}}
    for name, counts in lake.items():
        path = settings.lakehouse.table_path(name)
        if not DeltaTable.isDeltaTable(spark, path):
            continue
        condition = (
            f"es_index = {sql_string(index)} AND (event_date IS NULL OR "
            f"(event_date >= {sql_date(start)} AND event_date <= {sql_date(end)}))"
        )
        if workload is not None:
            condition += f" AND workload_id = {sql_string(workload)}"
        rows = (
            spark.read.format("delta")
            .load(path)
            .where(condition)
            .groupBy("event_date", "workload_id")
            .count()
            .collect()
        )
        for r in rows:
            key = (UNDATED_DAY if r["event_date"] is None else str(r["event_date"]), _workload(r["workload_id"]))
            counts[key] = counts.get(key, 0) + int(r["count"])
    keys = sorted(set(es) | set(lake["bronze.serving_logs"]) | set(lake["bronze.quarantine"]))
    return [
        ReconcileRow(
            day, wl, es.get((day, wl), 0), lake["bronze.serving_logs"].get((day, wl), 0),
            lake["bronze.quarantine"].get((day, wl), 0),
        )
        for day, wl in keys
    ]  # fmt: skip


def format_reconcile(rows: list[ReconcileRow]) -> str:
    lines = [f"  {'day':<12}{'workload_id':<28}{'elasticsearch':>14}{'bronze':>10}{'quarantine':>12}{'difference':>12}"]
    for r in rows:
        flag = "" if r.difference == 0 else "  ← MISMATCH"
        counts = f"{r.elasticsearch:>14}{r.bronze:>10}{r.quarantine:>12}{r.difference:>12}"
        lines.append(f"  {r.day:<12}{r.workload_id:<28}{counts}{flag}")
    bad = [r for r in rows if r.difference]
    lines.append(
        "all days reconcile" if not bad else f"{len(bad)} day × workload rows do not reconcile: re-ingest those days"
    )
    return "\n".join(lines)
