"""bench-soak: a month of daily ingests with late data and weekly upkeep, checked at the end.

Simulates ``--days`` days (default 30) of four workloads. Each simulated day indexes that
day's records except a late share, which arrives one or two days later (indexed with a later
day's batch), then runs the daily ingest ``--date D --lookback-days 2`` in one long-lived
Spark session, as a scheduler would; every seventh day runs ``maintain_tables`` (OPTIMIZE of
the recent partitions, VACUUM, retention). Two warm-up days are indexed and ingested first,
so every measured day reads a full three-day window.

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

INDEX = "bench-soak"
START = dt.date(2024, 10, 1)
WARMUP_DAYS = 2
LOOKBACK = 2
LATE_SHARE = 0.05


def _day_records(day: dt.date, n: int, seed: int) -> list[Any]:
    from ops.synthetic import GeneratorConfig, generate

    return list(
        generate(GeneratorConfig(seed=seed, start_date=day, days=1, records_per_day=n, malformed_fraction=0.01))
    )


def _index(settings: Settings, records: list[dict[str, Any]], path: Path) -> None:
    import json

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


def _timed_ingest(day: dt.date) -> float:
    from jobs import ingest_logs

    t0 = time.monotonic()
    if ingest_logs.main(["--date", str(day), "--lookback-days", str(LOOKBACK)]) != 0:
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
    from jobs.lib.session import get_session
    from ops.loader import document_id
    from ops.reconcile import reconcile

    settings = load_settings()
    spark = get_session(settings, app_name="skewguard-bench-soak")
    rng = random.Random(30)
    pending: dict[int, list[dict[str, Any]]] = {}  # step → late records indexed at that step
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
        batch = pending.pop(step, [])
        for g in _day_records(day, records_per_day, seed=1000 + step):
            (landable if g.expected_reason is None else malformed).add(document_id(g.record))
            lateness = 0
            if step < total - LOOKBACK and rng.random() < LATE_SHARE:
                lateness = rng.choice((1, 1, 2))
            if lateness:
                pending.setdefault(step + lateness, []).append(g.record)
                late_total += 1
            else:
                batch.append(g.record)
        _index(settings, batch, work / "batch.jsonl")
        seconds = _timed_ingest(day)
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

    bronze = spark.read.format("delta").load(bronze_path).select("event_id")
    bronze_rows = bronze.count()
    bronze_ids = {r[0] for r in bronze.distinct().toLocalIterator()}
    quarantine = spark.read.format("delta").load(settings.lakehouse.table_path("bronze.quarantine"))
    quarantine_ids = [r[0] for r in quarantine.select("event_id").collect()]
    end = START + dt.timedelta(days=total - 1)
    mismatches = [r.to_json() for r in reconcile(spark, settings, START, end) if r.difference != 0]
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
    try:
        client.options(ignore_status=404).indices.delete(index=INDEX)
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
