"""Retention of the raw logs in Elasticsearch: whole daily indices (``<index>-YYYY.MM.DD``
behind the alias ``<index>``, see ``elasticsearch.daily_indices``) older than
``maintenance.es_retention_days`` are deleted — but only a day that bronze has landed.

Before deleting a day's index the day is reconciled (:func:`jobs.bronze.reconcile.reconcile`
on that one index): every document Elasticsearch counts for the day, and every undated one,
must be in bronze or quarantine, and the day's count must be all the index holds (a document
of another day would be counted nowhere). A day that fails either stays, with the reason in
the run's details and a warning: deleting it would lose records bronze never saw. Ingest it
(``skewguard-ingest --date D``) and the next upkeep deletes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pyspark.sql import SparkSession

from jobs.bronze.reconcile import reconcile
from skewguard.config import Settings
from skewguard.es import concrete_indices, connect, index_day

__all__ = ["expire_daily_indices"]

log = logging.getLogger("skewguard.es_retention")


def _why_kept(rows: list[Any], indexed: int) -> str | None:
    """None when the day may go, else why not."""
    missing = sum(r.difference for r in rows if r.difference > 0)
    if missing:
        days = sorted({f"{r.day} {r.workload_id}" for r in rows if r.difference > 0})
        return f"{missing} documents not in bronze or quarantine ({', '.join(days)}): ingest the day first"
    counted = sum(r.elasticsearch for r in rows)
    if counted != indexed:
        return f"holds {indexed} documents but only {counted} are of its day or undated: reconcile cannot vouch"
    return None


def expire_daily_indices(spark: SparkSession, settings: Settings, as_of: dt.date) -> dict[str, Any]:
    """Delete the daily indices older than the retention that reconcile with bronze; returns
    ``{"kept_from", "deleted": [...], "kept": {index: reason}}`` (``{"skipped": why}`` when
    retention is off)."""
    keep_days = settings.maintenance.es_retention_days
    if keep_days is None:
        return {"skipped": "maintenance.es_retention_days is not set"}
    base = settings.elasticsearch.index
    cutoff = as_of - dt.timedelta(days=keep_days - 1)  # keep_days days up to and including as_of
    deleted: list[str] = []
    kept: dict[str, str] = {}
    client = connect(settings.elasticsearch)
    try:
        for name in concrete_indices(client, f"{base}-*"):
            day = index_day(base, name)
            if day is None or day >= cutoff:
                continue
            indexed = int(client.count(index=name)["count"])
            reason = _why_kept(reconcile(spark, settings, day, day, index=name), indexed)
            if reason is None:
                client.indices.delete(index=name)
                deleted.append(name)
                log.info("deleted %s (%d documents, all in bronze or quarantine)", name, indexed)
            else:
                kept[name] = reason
                log.warning("kept %s past its retention: %s", name, reason)
    finally:
        client.close()
    return {"kept_from": str(cutoff), "deleted": deleted, "kept": kept}
