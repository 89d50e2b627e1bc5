"""bench-soak: a month of daily ingests with late data, weekly upkeep, Elasticsearch retention
shorter than the month and an alias rollover, checked at the end.

Simulates ``--days`` days (default 30) of four workloads. Each simulated day indexes that
day's records except a late share, which arrives one or two days later (indexed with a later
day's batch), then runs the daily ingest ``--date D --lookback-days 2`` in one long-lived
Spark session, as a scheduler would; every seventh day runs ``maintain_tables`` (OPTIMIZE of
the recent partitions, VACUUM, retention). Two warm-up days are indexed and ingested first,
so every measured day reads a full three-day window.

The index is an alias (``bench-soak``) over backing indices, read through the alias. Half-way
through, the alias rolls over: new documents go to a second backing index, and the day
before, the window is also read once through the first backing index itself. Elasticsearch
keeps ``RETENTION_DAYS`` days (10, shorter than the month): each day, the documents of the
day that falls out are deleted from their backing index. At the end, a backfill re-ingests
the whole month through the alias (the days retention emptied must be kept, not deleted).

At the end: bronze against everything indexed (``rows_lost``, ``rows_duplicated``, per
record id), quarantine against the malformed records, ``skewguard reconcile`` over the
whole range, and the data files per partition. ``day30_vs_day1_time_ratio`` compares the
last day's ingest with the first's, each the median of three runs of that day's ingest
(re-runs are idempotent: they replace the same window with the same rows).

    python -m benchmarks.bench_soak [--days 30] [--records-per-day 4000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_result
from skewguard.config import Settings, load_settings, repo_root
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.soak")

INDEX = "bench-soak"  # the alias every ingest reads through
BACKING = ("bench-soak-000001", "bench-soak-000002")
START = dt.date(2024, 10, 1)
WARMUP_DAYS = 2
LOOKBACK = 2
LATE_SHARE = 0.05
RETENTION_DAYS = 10  # Elasticsearch keeps this many days; bronze keeps 90


def _day_records(day: dt.date, n: int, seed: int) -> list[Any]:
    from ops.synthetic import GeneratorConfig, generate

    return list(
        generate(GeneratorConfig(seed=seed, start_date=day, days=1, records_per_day=n, malformed_fraction=0.01))
    )


def _index(settings: Settings, records: list[dict[str, Any]], path: Path) -> None:
    from ops.loader import load_jsonl
    from skewguard.es import connect

    with path.open("w") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    client = connect(settings.elasticsearch)
    try:
        result = load_jsonl(client, path, INDEX)
    finally:
        client.close()
    if result.rejected:
        raise RuntimeError(f"{result.rejected} records rejected while indexing {path}")


def _create_alias(settings: Settings) -> None:
    from schemas.records import SKEWGUARD_INDEX_MAPPING
    from skewguard.es import connect, ensure_index

    client = connect(settings.elasticsearch)
    try:
        ensure_index(client, BACKING[0], SKEWGUARD_INDEX_MAPPING)
        client.indices.put_alias(index=BACKING[0], name=INDEX, is_write_index=True)
    finally:
        client.close()


def _roll_over(settings: Settings) -> None:
    """New documents go to the second backing index; reads through the alias see both."""
    from schemas.records import SKEWGUARD_INDEX_MAPPING
    from skewguard.es import connect, ensure_index

    client = connect(settings.elasticsearch)
    try:
        ensure_index(client, BACKING[1], SKEWGUARD_INDEX_MAPPING)
        client.indices.update_aliases(
            actions=[
                {"add": {"index": BACKING[0], "alias": INDEX, "is_write_index": False}},
                {"add": {"index": BACKING[1], "alias": INDEX, "is_write_index": True}},
            ]
        )
    finally:
        client.close()


def _expire(settings: Settings, documents: list[tuple[str, str]]) -> int:
    """Delete ``(backing index, id)`` documents, as retention would; returns how many went."""
    from elasticsearch import helpers

    from skewguard.es import connect

    client = connect(settings.elasticsearch)
    try:  # the minimal distribution has no _delete_by_query: delete by id
        actions = [{"_op_type": "delete", "_index": index, "_id": doc_id} for index, doc_id in documents]
        deleted, _ = helpers.bulk(client, actions, refresh=True, raise_on_error=False)
    finally:
        client.close()
    return int(deleted)


def _timed_ingest(day: dt.date, *extra: str) -> float:
    from jobs import ingest_logs

    t0 = time.monotonic()
    if ingest_logs.main(["--date", str(day), "--lookback-days", str(LOOKBACK), *extra]) != 0:
        raise RuntimeError(f"ingest of {day} failed")
    return time.monotonic() - t0


def _files_per_partition(spark: Any, path: str) -> dict[str, int]:
    from pyspark.sql import functions as F

    rows = (
        spark.read.format("delta")
        .load(path)
        .groupBy("event_date", "workload_id")
        .agg(F.countDistinct("_metadata.file_path").alias("files"))
        .collect()
    )
    return {f"{r['event_date']}|{r['workload_id']}": int(r["files"]) for r in rows}


def run(days: int, records_per_day: int, work: Path) -> dict[str, Any]:
    from jobs import maintain_tables
    from jobs.bronze.reconcile import reconcile
    from jobs.lib.session import get_session
    from ops.loader import document_id

    settings = load_settings()
    spark = get_session(settings, app_name="skewguard-bench-soak")
    _create_alias(settings)
    rng = random.Random(30)
    written: dict[int, list[tuple[str, str]]] = {}  # day step → (backing index, id) of its documents
    write_index = BACKING[0]
    rollover_step = WARMUP_DAYS + days // 2
    expired = 0
    concrete_read_s = 0.0
    pending: dict[int, list[tuple[int, dict[str, Any]]]] = {}  # step → (day step, late record) indexed then
    landable: set[str] = set()
    malformed: set[str] = set()
    late_total = 0
    ingest_s: list[float] = []
    upkeep_s: list[float] = []
    files_before_upkeep: list[int] = []
    first_last: dict[str, list[float]] = {}
    total = WARMUP_DAYS + days
    bronze_path = settings.lakehouse.table_path("bronze.serving_logs")

    for step in range(total):
        day = START + dt.timedelta(days=step)
        if step == rollover_step:
            _roll_over(settings)
            write_index = BACKING[1]
            log.info("day %s: alias %s rolled over to %s", day, INDEX, write_index)
        batch = pending.pop(step, [])
        for g in _day_records(day, records_per_day, seed=1000 + step):
            (landable if g.expected_reason is None else malformed).add(document_id(g.record))
            lateness = 0
            if step < total - LOOKBACK and rng.random() < LATE_SHARE:
                lateness = rng.choice((1, 1, 2))
            if lateness:
                pending.setdefault(step + lateness, []).append((step, g.record))
                late_total += 1
            else:
                batch.append((step, g.record))
        _index(settings, [record for _, record in batch], work / "batch.jsonl")
        for day_step, record in batch:
            written.setdefault(day_step, []).append((write_index, document_id(record)))
        seconds = _timed_ingest(day)
        if step == rollover_step - 1:  # the same window through the backing index itself: no copy
            concrete_read_s = round(_timed_ingest(day, "--index", BACKING[0]), 3)
        if step - RETENTION_DAYS in written:  # Elasticsearch's retention: the oldest day goes
            expired += _expire(settings, written.pop(step - RETENTION_DAYS))
        measured = step - WARMUP_DAYS + 1  # 1 … days; warm-up days are ≤ 0
        if measured >= 1:
            ingest_s.append(round(seconds, 3))
            log.info("day %d/%d (%s): indexed %d, ingest %.1fs", measured, days, day, len(batch), seconds)
        if measured in (1, days):
            repeats = [seconds] + [_timed_ingest(day) for _ in range(2)]
            first_last["day1" if measured == 1 else "day_last"] = [round(s, 3) for s in repeats]
        if measured >= 1 and measured % 7 == 0:
            files_before_upkeep.append(max(_files_per_partition(spark, bronze_path).values()))
            t0 = time.monotonic()
            if maintain_tables.main(["--as-of", str(day)]) != 0:
                raise RuntimeError(f"table upkeep on {day} failed")
            upkeep_s.append(round(time.monotonic() - t0, 3))
            log.info("day %d: upkeep %.1fs", measured, upkeep_s[-1])
    assert not pending, "late records left unindexed"

    # a backfill of the whole month through the alias: the days retention emptied are kept
    from jobs import ingest_logs

    end = START + dt.timedelta(days=total - 1)
    t0 = time.monotonic()
    if ingest_logs.main(["--start", str(START), "--end", str(end)]) != 0:
        raise RuntimeError("the backfill of the month failed")
    backfill_s = round(time.monotonic() - t0, 3)
    last_run = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("metrics.job_runs"))
        .orderBy("started_at", ascending=False)
        .first()
    )
    kept_cells = json.loads(last_run["details_json"] if last_run else "{}").get("kept_source_empty", {})

    bronze = spark.read.format("delta").load(bronze_path).select("event_id")
    bronze_rows = bronze.count()
    bronze_ids = {r[0] for r in bronze.distinct().toLocalIterator()}
    quarantine = spark.read.format("delta").load(settings.lakehouse.table_path("bronze.quarantine"))
    quarantine_ids = [r[0] for r in quarantine.select("event_id").collect()]
    reconciled = reconcile(spark, settings, START, end)
    mismatches = [r.to_json() for r in reconciled if not r.reconciles]
    kept_rows = sum(-r.difference for r in reconciled if r.status == "kept: source gone")
    files = _files_per_partition(spark, bronze_path)
    on_disk = sum(1 for f in Path(bronze_path).rglob("*.parquet") if "_delta_log" not in f.parts)

    day1, last = statistics.median(first_last["day1"]), statistics.median(first_last["day_last"])
    return {
        "days": days,
        "workloads": 4,
        "records_per_day": records_per_day,
        "lookback_days": LOOKBACK,
        "late_records": late_total,
        "indexed_landable": len(landable),
        "indexed_malformed": len(malformed),
        "bronze_rows": bronze_rows,
        "rows_lost": len(landable - bronze_ids),
        "rows_duplicated": bronze_rows - len(bronze_ids),
        "rows_unexpected": len(bronze_ids - landable),
        "quarantine_rows": len(quarantine_ids),
        "quarantine_lost": len(malformed - set(quarantine_ids)),
        "quarantine_duplicated": len(quarantine_ids) - len(set(quarantine_ids)),
        "reconcile_mismatches": mismatches,
        "es_retention_days": RETENTION_DAYS,
        "es_documents_expired": expired,
        "alias_rollover_day": str(START + dt.timedelta(days=rollover_step)),
        "backing_indices": list(BACKING),
        "concrete_index_read_s": concrete_read_s,
        "backfill_s": backfill_s,
        "backfill_kept_source_empty_cells": len(kept_cells),
        "backfill_kept_rows": sum(kept_cells.values()),
        "reconcile_kept_rows_source_gone": kept_rows,
        "max_files_per_partition_before_upkeep": files_before_upkeep,
        "max_files_per_partition_at_end": max(files.values()),
        "bronze_files_active": sum(files.values()),
        "bronze_files_on_disk": on_disk,
        "bronze_versions": len(list((Path(bronze_path) / "_delta_log").glob("*.json"))),
        "ingest_s_per_day": ingest_s,
        "upkeep_s": upkeep_s,
        "day1_ingest_s_runs": first_last["day1"],
        "day_last_ingest_s_runs": first_last["day_last"],
        "day30_vs_day1_time_ratio": round(last / day1, 3),
        "targets": {"rows_lost": 0, "rows_duplicated": 0, "day30_vs_day1_time_ratio": 1.2},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days measured (default 30)")
    parser.add_argument("--records-per-day", type=int, default=4000, help="records per day, 4 workloads (default 4000)")
    args = parser.parse_args(argv)
    if args.days < 7 or args.records_per_day < 100:
        parser.error("--days must be >= 7 (weekly upkeep) and --records-per-day >= 100")
    setup_logging("INFO")
    work = repo_root() / ".cache" / "bench" / "soak"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.update(SKEWGUARD_LAKEHOUSE=str(work / "lakehouse"), ES_COLLECTION_NAME=INDEX)
    from skewguard.es import connect

    client = connect(load_settings().elasticsearch)
    try:  # this benchmark's own indices (INDEX was a plain index before it became an alias)
        for name in (*BACKING, INDEX):
            client.options(ignore_status=404).indices.delete(index=name)
    finally:
        client.close()
    t0 = time.monotonic()
    result = run(args.days, args.records_per_day, work)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    write_result("soak", result)
    ok = result["rows_lost"] == 0 and result["rows_duplicated"] == 0 and not result["reconcile_mismatches"]
    log.info(
        "soak: %d days, lost %d, duplicated %d, reconcile mismatches %d, day %d vs day 1 ingest time %.2f×",
        args.days,
        result["rows_lost"],
        result["rows_duplicated"],
        len(result["reconcile_mismatches"]),
        args.days,
        result["day30_vs_day1_time_ratio"],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
