"""bench-evaluate: ``evaluate_models`` on 10M labelled examples × 2 bundles (every metric, 200
bootstrap replicates), next to a bare scan of the same columns in the same run; and, not
timed, the bootstrap intervals' coverage in a seeded simulation.

Data (``benchmarks.evaluate_data``, cached under ``.cache/bench/evaluate``): a training day of
``--train-rows`` examples and an evaluation day of ``--rows``, generated in Spark into
``silver.labeled_examples``. On the training day the project's own jobs build the training set
(the parity pipeline: every stage kind), train two models (``--reg-param`` 0.01 and 1.0) and
bundle them. Then, in one session, after a warm-up of each:

* **scan** — the columns the evaluation reads (``event_id``, ``event_ts``, ``event_date``,
  ``workload_id``, ``label``, ``features``) of the evaluation day from Delta, through a
  ``noop`` write (every row materialised);
* **evaluate** — the ``evaluate_models`` stage as its job runs it (recorded in
  ``metrics.job_runs``): production v1 and candidate v2 recomputed from the logged inputs,
  exact AUC/AP, the Poisson bootstrap, ``metrics.evaluations``, the HTML report.

``evaluate_vs_scan_ratio`` = evaluate / scan (median scan of the runs around it).

**Coverage** (``--coverage-reps`` repetitions, pure numpy): two models' scores of a simulated
population with a known true difference of AUC, log loss and Brier score (closed form where
there is one, else a sample of ``--truth-rows``); each repetition draws a sample of
``--coverage-n`` rows and computes the paired 95 % percentile interval of the difference with
the very functions the Spark pass runs (``evaluation_passes.accumulate_sums`` on the rows,
``tabular_evaluation.replicate_metrics`` on the sums). Reported per metric with the binomial
standard error.

    python -m benchmarks.bench_evaluate [--rows 10000000] [--repeat 1] [--coverage-reps 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import local_session, timed, write_result
from skewguard.config import repo_root
from skewguard.logs import setup_logging

log = logging.getLogger("benchmarks.evaluate")

TRAIN_DAY = dt.date(2024, 11, 19)
EVAL_DAY = dt.date(2024, 11, 20)
TARGETS = {"evaluate_vs_scan_ratio": 10.0}
COVERAGE_TARGET = (0.92, 0.98)  # 95 % ± 3 %
MODELS = (("v1", 0.01), ("v2", 1.0))


def _bench_dir() -> Path:
    return repo_root() / ".cache" / "bench" / "evaluate"


def _prepare(spark: Any, settings: Any, rows: int, train_rows: int) -> dict[str, Any]:
    """The lakehouse's labelled examples and the two bundles (made once per row count)."""
    from benchmarks.evaluate_data import PIPELINE, WORKLOAD, write_labeled_examples
    from jobs.build_training_set import main as build
    from jobs.lib.delta_io import ensure_table
    from jobs.train_reference_model import main as train
    from ops.build_bundle import build_named_bundle
    from schemas.tables import SILVER_LABELED_EXAMPLES

    info_file = Path(settings.lakehouse.root) / "bench-data.json"
    if info_file.exists():
        info: dict[str, Any] = json.loads(info_file.read_text())
        if info["rows"] == rows and info["train_rows"] == train_rows:
            return _located(info, Path(settings.lakehouse.root))
    path = ensure_table(spark, settings, SILVER_LABELED_EXAMPLES)
    trained_on = write_labeled_examples(spark, path, train_rows, TRAIN_DAY, seed=1)
    evaluated = write_labeled_examples(spark, path, rows, EVAL_DAY, seed=2, first_id=10**9)
    spec = Path(settings.lakehouse.root) / "pipeline.json"
    spec.write_text(json.dumps(PIPELINE))
    if build(["--date", str(TRAIN_DAY), "--workload", WORKLOAD, "--name", "bench", "--pipeline", str(spec)]) != 0:
        raise RuntimeError("build_training_set failed")
    bundles = {}
    for version, reg in MODELS:
        if train(["--training-set", "bench", "--name", "fraud", "--version", version, "--reg-param", str(reg)]) != 0:
            raise RuntimeError("train_reference_model failed")
        bundles[version] = str(build_named_bundle(settings, "fraud", version).path)
    info = {
        "rows": rows,
        "train_rows": train_rows,
        "table": path,
        "training_day": trained_on,
        "evaluation_day": evaluated,
        "bundles": bundles,
        "reg_params": dict(MODELS),
    }
    root = Path(settings.lakehouse.root)
    kept = {**info, "table": _relative(info["table"], root)}
    kept["bundles"] = {v: _relative(b, root) for v, b in bundles.items()}
    info_file.write_text(json.dumps(kept, indent=2))
    return info


def _relative(path: str, root: Path) -> str:
    """A path inside the lakehouse, kept relative to it (the clone can move)."""
    return str(Path(path).resolve().relative_to(root.resolve()))


def _located(info: dict[str, Any], root: Path) -> dict[str, Any]:
    """``info`` with its lakehouse paths made absolute again (an older file's absolute ones kept)."""

    def at(path: str) -> str:
        return str(root / path)  # an absolute ``path`` stays itself

    return {**info, "table": at(info["table"]), "bundles": {v: at(b) for v, b in info["bundles"].items()}}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="labelled examples evaluated")
    parser.add_argument("--train-rows", type=int, default=20_000, help="labelled examples the models train on")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of the evaluation (median)")
    parser.add_argument("--coverage-reps", type=int, default=200, help="simulated samples of the coverage check")
    parser.add_argument("--coverage-n", type=int, default=2000, help="rows per simulated sample")
    parser.add_argument("--truth-rows", type=int, default=4_000_000, help="rows behind a simulated true value")
    parser.add_argument("--skip-timing", action="store_true", help="only the coverage simulation")
    args = parser.parse_args(argv)
    setup_logging("INFO")

    result: dict[str, Any] = {"load_average_start": list(os.getloadavg())}
    if not args.skip_timing:
        result.update(_timing(args))
    if args.coverage_reps:
        from benchmarks.evaluate_coverage import coverage

        t0 = time.perf_counter()
        result["coverage"] = coverage(args.coverage_reps, args.coverage_n, args.truth_rows)
        result["coverage"]["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_end"] = list(os.getloadavg())
    write_result("evaluate", result)
    log.info("bench-evaluate: %s", json.dumps({k: v for k, v in result.items() if k.endswith("ratio")}))
    return 0


def _timing(args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from benchmarks.evaluate_data import WORKLOAD
    from jobs.evaluate.tabular_evaluation import EvaluationRequest, evaluate_models
    from jobs.lib.runs import recorded_stage
    from jobs.lib.window import DayWindow

    lakehouse = _bench_dir() / f"lakehouse_{args.rows}"
    if not (lakehouse / "bench-data.json").exists():
        shutil.rmtree(lakehouse, ignore_errors=True)  # a preparation that did not finish
    settings, spark = local_session("bench-evaluate", lakehouse)
    info = _prepare(spark, settings, args.rows, args.train_rows)
    window = DayWindow(EVAL_DAY, EVAL_DAY, WORKLOAD)
    columns = ["event_id", "event_ts", "event_date", "workload_id", "label", "features"]

    def scan() -> None:
        df = spark.read.format("delta").load(info["table"]).where(window.contains()).select(*columns)
        df.write.format("noop").mode("overwrite").save()

    request = EvaluationRequest(window, (info["bundles"]["v2"],), production=info["bundles"]["v1"])
    results: list[Any] = []

    def evaluate() -> None:
        outcome = recorded_stage(
            spark, settings, "evaluate_models", partial(evaluate_models, request=request), window=window
        )
        if not outcome.succeeded:
            raise RuntimeError(f"evaluate_models failed: {outcome.run.error}")
        results.append((outcome.result, _load()))

    shutil.rmtree(settings.evaluation_report_root(), ignore_errors=True)
    timed("warm-up scan", scan)
    scans, evals, loads = [], [], []
    scans.append(timed("scan", scan)[0])
    for i in range(args.repeat):
        loads.append(_load())
        evals.append(timed(f"evaluate #{i + 1}", evaluate)[0])
        scans.append(timed("scan", scan)[0])
    scan_s, eval_s = statistics.median(scans), statistics.median(evals)
    last, _ = results[-1]
    whole = [r for r in last.rows if r["slice_column"] == ""]
    metrics = {f"{r['bundle_role']} {r['bundle_version']}": {} for r in whole}
    for r in whole:
        metrics[f"{r['bundle_role']} {r['bundle_version']}"][r["metric"]] = {
            k: r[k] for k in ("value", "ci_low", "ci_high", "diff_vs_production", "diff_ci_low", "diff_ci_high")
        } | json.loads(r["details_json"])
    binning = {
        f"{r['bundle_role']} {r['bundle_version']} {r['metric']}": json.loads(r["details_json"])["binning_error"]
        for r in whole
        if "binning_error" in json.loads(r["details_json"])
    }
    ratio = eval_s / scan_s
    counted = spark.read.format("delta").load(info["table"]).where(window.contains()).agg(F.count(F.lit(1))).first()[0]
    return {
        "evaluate_vs_scan_ratio": round(ratio, 3),
        "targets": TARGETS,
        "met": {"evaluate_vs_scan_ratio": ratio <= TARGETS["evaluate_vs_scan_ratio"]},
        "seconds": {"scan": round(scan_s, 3), "evaluate": round(eval_s, 3)},
        "scan_runs_s": [round(s, 3) for s in scans],
        "evaluate_runs_s": [round(s, 3) for s in evals],
        "evaluate_phases_s": [r.phases for r, _ in results],
        "evaluate_rows_per_s": round(args.rows / eval_s),
        "load_average_1m_at_evaluate_start": loads,
        "load_average_1m_at_evaluate_end": [load for _, load in results],
        "rows": args.rows,
        "rows_in_window": counted,
        "scored": last.scored,
        "refused": last.refused,
        "bundles": 2,
        "replicates": settings.evaluation.replicates,
        "score_bins": settings.evaluation.score_bins,
        "binning_error": binning,
        "metrics": metrics,
        "data": info,
        "spark": {"master": settings.spark.master, "driver_memory": settings.spark.driver_memory},
    }


if __name__ == "__main__":
    raise SystemExit(main())
