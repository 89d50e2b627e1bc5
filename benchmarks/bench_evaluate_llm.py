"""bench-evaluate-llm: the LLM evaluation's endpoint path — ``skewguard-evaluate-llm`` against an
OpenAI-compatible endpoint — on N generated eval records, at the configured concurrency and,
for comparison, at concurrency 1.

The eval records come from the project's own pipeline: generated tool-calling interactions
(``ops.synthetic``) as bronze rows, ``skewguard-parse --kind llm`` and the datasets stage with
``llm.eval_size = N``. The candidate is the local stub endpoint (``python -m ops.llm_stub``, a
deterministic tool router, in a process of its own) answering after a fixed delay that stands
in for a model's latency (``--delay-ms``, 50 by default), plus one run without delay at the
configured concurrency (the client's and the stub's own overhead: this path's ceiling here).

Each configuration is one whole job run (read the eval split, ask, score, write both tables and
the report, record the run); ``records_per_s`` is N over the time spent asking the candidate
(the ``candidate_s`` phase of the run), ``end_to_end_records_per_s`` N over the whole run.

    python -m benchmarks.bench_evaluate_llm [--records 500] [--delay-ms 50] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import local_session, write_result
from skewguard.config import Settings, repo_root
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.evaluate_llm")

DAY = dt.date(2024, 11, 20)
WORKLOAD = "customer-support-tools"
SEED = 21


def _bench_dir() -> Path:
    return repo_root() / ".cache" / "bench" / "evaluate_llm"


def _build_eval_split(spark: Any, settings: Settings, records: int) -> dict[str, Any]:
    """Generated tool-calling records → bronze → silver → gold.llm_datasets with ``records`` eval records."""
    from jobs import parse_logs
    from jobs.gold.llm_datasets import build_llm_datasets
    from jobs.lib.delta_io import ensure_table
    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from ops.synthetic import GeneratorConfig, generate
    from schemas.records import parse_timestamp
    from schemas.tables import BRONZE_SERVING_LOGS

    config = GeneratorConfig(seed=SEED, start_date=DAY, days=1, records_per_day=records * 4, llm_share=1.0,
                             llm_workloads=(WORKLOAD,))  # fmt: skip
    ingested = dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
    rows = []
    for i, generated in enumerate(generate(config)):
        rec = generated.record
        ts = parse_timestamp(rec["timestamp"])
        assert ts is not None
        rows.append((f"llm-{i:07d}", "bench", ts, ts.date(), rec["workload_id"], rec.get("client_id"),
                     "llm_interaction", json.dumps(rec, separators=(",", ":")), "bench", ingested))  # fmt: skip
    bronze = spark.createDataFrame(rows, BRONZE_SERVING_LOGS.spark_schema())
    bronze.write.format("delta").mode("overwrite").save(ensure_table(spark, settings, BRONZE_SERVING_LOGS))
    if parse_logs.main(["--date", DAY.isoformat(), "--kind", "llm", "--profile", "local"]) != 0:
        raise RuntimeError("parse_logs failed")
    llm = settings.llm.model_copy(update={"eval_size": records, "min_records": records + 1, "limit": None})
    built = build_llm_datasets(
        spark, settings.model_copy(update={"llm": llm}), DayWindow(DAY, DAY), RunRecord(job="bench"),
        str(_bench_dir() / "exports"),
    )  # fmt: skip
    ds = built[WORKLOAD]
    if ds.splits.get("eval") != records:
        raise RuntimeError(f"the eval split holds {ds.splits.get('eval')} records, not {records}: {ds.line()}")
    return {"generated": len(rows), "dataset": ds.line()}


def _run(spark: Any, settings: Settings, base_url: str, concurrency: int, records: int, label: str) -> dict[str, Any]:
    from jobs import evaluate_llm

    report = _bench_dir() / "reports" / label
    argv = ["--workload", WORKLOAD, "--base-url", base_url, "--model", "bench-candidate",
            "--concurrency", str(concurrency), "--report-dir", str(report), "--profile", "local"]  # fmt: skip
    t0 = time.perf_counter()
    if evaluate_llm.main(argv) != 0:
        raise RuntimeError(f"evaluate_llm failed ({label})")
    wall = time.perf_counter() - t0
    path = settings.lakehouse.table_path("metrics.job_runs")
    row = (
        spark.read.format("delta").load(path).where("job = 'evaluate_llm'").orderBy("started_at", ascending=False)
    ).first()
    details = json.loads(row["details_json"])
    phases = details["phases"]
    evaluations = spark.read.format("delta").load(settings.lakehouse.table_path("metrics.llm_evaluations"))
    total = evaluations.where(f"run_id = '{row['run_id']}' AND tool = '*'").first()
    if total["answered"] != records:
        raise RuntimeError(f"{label}: {total['answered']} of {records} answered")
    result = {
        "concurrency": concurrency,
        "records_per_s": round(records / phases["candidate_s"], 1),
        "end_to_end_records_per_s": round(records / wall, 1),
        "candidate_s": phases["candidate_s"],
        "run_s": round(wall, 2),
        "phases": phases,
        "latency_p50_ms": round(total["latency_p50_ms"], 2),
        "latency_p99_ms": round(total["latency_p99_ms"], 2),
    }
    log.info("%s: %s", label, result)
    return result


@contextlib.contextmanager
def _stub(delay_ms: float) -> Iterator[str]:
    """The stub endpoint in a process of its own (the client's process keeps its GIL); its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.llm_stub", "--delay-ms", str(delay_ms)],
        cwd=repo_root(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=500, help="eval records (default 500)")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the stub model's latency per request (ms)")
    parser.add_argument("--concurrency", type=int, help="the configured concurrency (default: llm_eval.concurrency)")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    lakehouse = _bench_dir() / "lakehouse"
    shutil.rmtree(_bench_dir(), ignore_errors=True)
    settings, spark = local_session("skewguard-bench-evaluate-llm", lakehouse, driver_memory="2g")
    concurrency = args.concurrency or settings.llm_eval.concurrency
    t0 = time.perf_counter()
    prepared = _build_eval_split(spark, settings, args.records)
    prepared["prepare_s"] = round(time.perf_counter() - t0, 1)
    runs = {}
    with _stub(args.delay_ms) as base_url:
        _run(spark, settings, base_url, concurrency, args.records, "warm-up")
        runs["configured"] = _run(spark, settings, base_url, concurrency, args.records, "configured")
        runs["single"] = _run(spark, settings, base_url, 1, args.records, "single")
    with _stub(0.0) as base_url:
        runs["no_delay"] = _run(spark, settings, base_url, concurrency, args.records, "no-delay")
    speedup = runs["configured"]["records_per_s"] / runs["single"]["records_per_s"]
    ideal = 1000 / args.delay_ms * concurrency
    result = {
        "records": args.records,
        "delay_ms": args.delay_ms,
        "concurrency": concurrency,
        "records_per_s": runs["configured"]["records_per_s"],
        "records_per_s_concurrency_1": runs["single"]["records_per_s"],
        "speedup_vs_concurrency_1": round(speedup, 2),
        "ideal_records_per_s": round(ideal, 1),
        "share_of_ideal": round(runs["configured"]["records_per_s"] / ideal, 3),
        "records_per_s_no_delay": runs["no_delay"]["records_per_s"],
        "runs": runs,
        "prepared": prepared,
        "openai_client": metadata.version("openai"),
    }
    write_result("evaluate_llm", result, command="make bench-evaluate-llm")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
