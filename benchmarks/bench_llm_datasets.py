"""bench-llm-datasets: ≥ 1M generated LLM interaction records, bronze → datasets, next to a
bare parse of the same bronze records (the limit).

The records come from the project's generator (``ops.synthetic``, LLM records only: the
tool-calling support workload and the generic summaries, with string and object tool
arguments, list content and repeated queries), written once as ``bronze.serving_logs`` rows
(cached under ``.cache/bench/llm_datasets``). Then, in one Spark session:

* **bare parse** — read the window of bronze, ``from_json`` of ``source_json`` with the same
  typed record schema the parse uses, count the parsed records (the least any parse does);
* **datasets** — the real jobs: ``skewguard-parse --kind llm`` (validation, typing, derived
  columns, silver + quarantine commits, reconciliation) and ``skewguard-build-llm-datasets``
  (quality filters, dedup, stratified split, ``gold.llm_datasets`` commit, JSONL export).

Each is run ``--repeat`` times after a warm-up; the median is reported. ``records_per_s`` is
records / (parse + datasets); ``vs_bare_parse_ratio`` is that over the bare parse's records/s.

    python -m benchmarks.bench_llm_datasets [--records 1000000] [--days 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import local_session, timed, write_result
from skewguard.config import Settings, repo_root
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.llm_datasets")

START = dt.date(2024, 11, 1)
SEED = 11
TARGET_RATIO = 0.25


def _bench_dir() -> Path:
    return repo_root() / ".cache" / "bench" / "llm_datasets"


def _write_parquet(path: Path, records: int, days: int) -> float:
    """Generate ``records`` LLM records over ``days`` days as bronze rows in Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ops.synthetic import GeneratorConfig, generate
    from schemas.records import parse_timestamp
    from schemas.tables import BRONZE_SERVING_LOGS

    schema = BRONZE_SERVING_LOGS.arrow_schema()
    config = GeneratorConfig(
        seed=SEED, start_date=START, days=days, records_per_day=-(-records // days), malformed_fraction=0.0,
        llm_share=1.0,
    )  # fmt: skip
    t0 = time.perf_counter()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    ingested_at = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
    batch: dict[str, list[Any]] = {name: [] for name in schema.names}
    files = 0

    def flush() -> None:
        nonlocal files
        pq.write_table(pa.Table.from_pydict(batch, schema), path / f"part-{files:05d}.parquet")
        files += 1
        for values in batch.values():
            values.clear()

    for i, generated in enumerate(generate(config)):
        record = generated.record
        ts = parse_timestamp(record["timestamp"])
        if ts is None:
            raise RuntimeError(f"generated record {i} has no readable timestamp")
        row = {
            "event_id": f"llm-{i:09d}", "es_index": "bench", "event_ts": ts, "event_date": ts.date(),
            "workload_id": record["workload_id"], "client_id": record.get("client_id"),
            "record_kind": "llm_interaction", "source_json": json.dumps(record, separators=(",", ":")),
            "ingest_run_id": "bench", "ingested_at": ingested_at,
        }  # fmt: skip
        for name, value in row.items():
            batch[name].append(value)
        if len(batch["event_id"]) == 100_000:
            flush()
            log.info("generated %d records", i + 1)
    if batch["event_id"]:
        flush()
    return time.perf_counter() - t0


def _prepare(spark: Any, settings: Settings, records: int, days: int) -> dict[str, Any]:
    """Bronze of ``records`` generated records (cached: regenerated when the config changes)."""
    from delta.tables import DeltaTable

    from jobs.lib.delta_io import ensure_table
    from schemas.tables import BRONZE_SERVING_LOGS

    stamp = _bench_dir() / "bronze.json"
    wanted = {"records": records, "days": days, "seed": SEED, "start": str(START)}
    bronze = settings.lakehouse.table_path(BRONZE_SERVING_LOGS.name)
    if (
        stamp.exists()
        and json.loads(stamp.read_text()).get("config") == wanted
        and DeltaTable.isDeltaTable(spark, bronze)
    ):
        return json.loads(stamp.read_text())
    shutil.rmtree(settings.lakehouse.root, ignore_errors=True)
    parquet = _bench_dir() / "generated"
    generation_s = _write_parquet(parquet, records, days)
    df = spark.read.parquet(str(parquet))
    df.write.format("delta").mode("overwrite").save(ensure_table(spark, settings, BRONZE_SERVING_LOGS))
    info = {"config": wanted, "generation_s": round(generation_s, 1), "bronze_rows": df.count()}
    shutil.rmtree(parquet)
    stamp.write_text(json.dumps(info))
    return info


def _bare_parse(spark: Any, settings: Settings, window: Any) -> int:
    from pyspark.sql import functions as F

    from jobs.silver.llm_parse import RECORD_SCHEMA
    from jobs.silver.parse import read_bronze

    bronze_df, _ = read_bronze(spark, settings, window, "llm_interaction")
    parsed = bronze_df.select(F.from_json("source_json", RECORD_SCHEMA).alias("r"))
    return int(parsed.agg(F.count(F.col("r")["request"])).first()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_llm_datasets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="generated LLM records (default 1M)")
    parser.add_argument("--days", type=int, default=4, help="days they are spread over (default 4)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each path after a warm-up (median)")
    args = parser.parse_args(argv)
    setup_logging("INFO")

    from jobs import build_llm_datasets, parse_logs
    from jobs.lib.window import DayWindow

    settings, spark = local_session("bench-llm-datasets", _bench_dir() / "lakehouse")
    info = _prepare(spark, settings, args.records, args.days)
    # every run starts from bronze alone (the generated records are kept)
    for layer in ("silver", "gold", "metrics", "_runs"):
        shutil.rmtree(Path(settings.lakehouse.root) / layer, ignore_errors=True)
    end = START + dt.timedelta(days=args.days - 1)
    window = DayWindow(START, end)
    argv_window = ["--start", str(START), "--end", str(end), "--profile", "local"]
    export = str(_bench_dir() / "export")

    def datasets() -> None:
        if parse_logs.main([*argv_window, "--kind", "llm"]) != 0:
            raise RuntimeError("parse_logs --kind llm failed")
        if build_llm_datasets.main([*argv_window, "--export-dir", export]) != 0:
            raise RuntimeError("build_llm_datasets failed")

    timed("warm-up bare parse", lambda: _bare_parse(spark, settings, window))
    timed("warm-up datasets", datasets)
    bare, full = [], []
    records = 0
    for i in range(args.repeat):
        seconds, records = timed(f"bare parse #{i + 1}", lambda: _bare_parse(spark, settings, window))
        bare.append(seconds)
        full.append(timed(f"parse + datasets #{i + 1}", datasets)[0])
    runs_df = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.job_runs"))

    def last(job: str) -> Any:
        return runs_df.where(f"job = '{job}' AND status = 'succeeded'").orderBy("started_at", ascending=False).first()

    parse_run, build_run = last("parse_logs"), last("build_llm_datasets")
    workloads = json.loads(build_run["details_json"])["workloads"]
    phases = {
        "parse_s": round(parse_run["duration_s"], 2),
        **{f"parse_{k}": v for k, v in json.loads(parse_run["details_json"])["phases"].items()},
        "datasets_s": round(build_run["duration_s"], 2),
        **{f"datasets_{k}": v for k, v in json.loads(build_run["details_json"])["phases"].items()},
    }
    bare_s, full_s = statistics.median(bare), statistics.median(full)
    records_per_s = records / full_s
    bare_per_s = records / bare_s
    result = {
        "records": records,
        "days": args.days,
        "generation_s": info["generation_s"],
        "bare_parse_s": round(bare_s, 2),
        "bare_parse_runs_s": [round(x, 2) for x in bare],
        "parse_and_datasets_s": round(full_s, 2),
        "parse_and_datasets_runs_s": [round(x, 2) for x in full],
        "bare_parse_records_per_s": round(bare_per_s),
        "records_per_s": round(records_per_s),
        "vs_bare_parse_ratio": round(records_per_s / bare_per_s, 3),
        "target_vs_bare_parse_ratio": TARGET_RATIO,
        "meets_target": records_per_s / bare_per_s >= TARGET_RATIO,
        "workloads": {
            w: {k: v for k, v in d.items() if k in ("workload_type", "raw", "filtered", "duplicates", "splits")}
            for w, d in workloads.items()
        },
        "last_run_phases": phases,
        "spark": {"master": "local[2]", "driver_memory": "6g"},
    }
    write_result("llm_datasets", result)
    log.info(
        "%d records: parse + datasets %.1f s (%d records/s), bare parse %.1f s (%d records/s): "
        "ratio %.3f (target ≥ %.2f)",
        records, full_s, records_per_s, bare_s, bare_per_s, records_per_s / bare_per_s, TARGET_RATIO,
    )  # fmt: skip
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
