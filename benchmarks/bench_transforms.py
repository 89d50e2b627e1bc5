"""bench-transforms: the shared pipeline applied through Arrow next to the same transforms
written as native Spark expressions.

On ≥ 10M generated prediction rows (20 numeric features with nulls and heavy tails, two
categoricals, a timestamp), written once to Parquet under ``.cache/bench/``, in the same run:

(a) ``apply_pipeline`` — the fitted default pipeline's numpy code on Arrow batches
    (``mapInArrow``), at each ``spark.sql.execution.arrow.maxRecordsPerBatch`` asked for;
(b) the same fitted params as native Spark Column expressions, the same output columns.

Both read the Parquet and end in a ``noop`` write; runs alternate after a warm-up, medians
are reported. Both paths must agree on a 100k-row sample before any figure is written.
Where the Arrow time goes: a bare scan, an identity ``mapInArrow``, one returning zeros as
wide as the output, and the numpy stages timed in this process. Writes ``benchmarks/results/transforms.json`` with
``arrow_vs_native_ratio`` (throughput of a over b).

    python -m benchmarks.bench_transforms [--rows 10000000] [--repeat 3] [--batch-sizes 10000,50000]

The data is made by :mod:`benchmarks.transforms_data`, the native path by
:mod:`benchmarks.native_transforms`.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.common import write_result
from benchmarks.native_transforms import apply_native
from benchmarks.transforms_data import CONTRACT, NUMERIC, cached_data
from skewguard.config import load_settings, repo_root
from skewguard.logs import setup_logging
from transforms import FittedPipeline, Pipeline, coerce, default_pipeline, to_batch

log = logging.getLogger("benchmarks.transforms")

TOLERANCE = 1e-9
WHOLE_STAGE = "spark.sql.codegen.wholeStage"
BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"
NATIVE_VARIANTS = ("native", "native_no_wholestage")
SPARK_CONF = {"master": "local[2]", "driver_memory": "6g"}
CORES = 2  # local[2]


def _noop_seconds(df: DataFrame) -> float:
    t0 = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - t0


def _agreement(df: DataFrame, fitted: FittedPipeline, sample_rows: int) -> dict[str, Any]:
    """Both paths on every k-th row, joined on id: max |Δ| per column and NaN/null mismatches."""
    from jobs.gold.spark_transforms import apply_pipeline

    rows = df.count()
    sample_df = df.where(F.col("id") % max(rows // sample_rows, 1) == 0)
    arrow_df = apply_pipeline(sample_df, fitted, keep=["id"])
    native_df = apply_native(sample_df, fitted, keep=["id"])
    types = [(f.name, f.dataType) for f in arrow_df.schema], [(f.name, f.dataType) for f in native_df.schema]
    if types[0] != types[1]:
        raise RuntimeError(f"the two paths give different columns: {types}")
    names = fitted.output_names()
    a_df = arrow_df.select("id", *[F.col(f"`{n}`").alias(f"a{i}") for i, n in enumerate(names)])
    b_df = native_df.select("id", *[F.col(f"`{n}`").alias(f"b{i}") for i, n in enumerate(names)])
    aggs = [F.count(F.lit(1)).alias("rows"), F.count("a0").alias("arrow"), F.count("b0").alias("native")]
    for i in range(len(names)):
        a, b = F.col(f"a{i}"), F.col(f"b{i}")
        aggs.append(F.max(F.when(~F.isnan(a) & ~F.isnan(b), F.abs(a - b))).alias(f"d{i}"))
        aggs.append(F.sum(((F.isnan(a) != F.isnan(b)) | (a.isNull() != b.isNull())).cast("int")).alias(f"m{i}"))
    row = a_df.join(b_df, "id", "full_outer").agg(*aggs).first()
    if row is None:
        raise RuntimeError("the agreement check returned nothing")
    diffs = {n: float(row[f"d{i}"] or 0.0) for i, n in enumerate(names)}
    mismatches = sum(int(row[f"m{i}"] or 0) for i in range(len(names)))
    worst = max(diffs, key=lambda n: diffs[n])
    out = {
        "rows_compared": row["rows"],
        "max_abs_diff": diffs[worst],
        "max_abs_diff_column": worst if diffs[worst] > 0 else None,
        "columns_not_bit_identical": sorted(n for n, d in diffs.items() if d > 0),
        "max_abs_diff_by_column": diffs,
        "nan_or_null_mismatches": mismatches,
        "tolerance": TOLERANCE,
    }
    if row["rows"] != row["arrow"] or row["rows"] != row["native"] or mismatches or diffs[worst] > TOLERANCE:
        raise RuntimeError(f"the Arrow and native paths disagree: {out} ({row['arrow']} vs {row['native']} rows)")
    return out


def exchange_only(input_df: DataFrame, output_schema: Any) -> DataFrame:
    """The inputs through Arrow to Python and a batch as wide as the pipeline's output (zeros)
    back: what ``apply_pipeline`` costs without the numpy stages."""
    names = output_schema.names[1:]

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import numpy as np
        import pyarrow as pa

        for batch in batches:
            zeros = pa.array(np.zeros(batch.num_rows))
            yield pa.RecordBatch.from_arrays([batch.column(0)] + [zeros] * len(names), names=["id", *names])

    return input_df.mapInArrow(run, output_schema)


def _python_split(path: Path, df: DataFrame, fitted: FittedPipeline, batch_size: int, rows: int) -> dict[str, Any]:
    """The numpy work of one Arrow worker, stage by stage, on ``rows`` rows in this process
    (best of three passes: a CPU-bound figure on a shared machine)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyspark.sql.pandas.types import to_arrow_schema

    keep = ["id"]
    schema = to_arrow_schema(df.select(*keep, *fitted.pipeline.inputs).schema)
    table = ds.dataset(str(path), format="parquet").head(rows, columns=schema.names).cast(schema)
    names = fitted.output_names()
    clock = time.perf_counter
    passes = []
    for _ in range(3):
        seconds = {"coerce": 0.0, **{s.name: 0.0 for s in fitted.pipeline.stages}, "to_batch": 0.0}
        for batch in table.to_batches(max_chunksize=batch_size):
            t = clock()
            frame = coerce(batch, fitted.pipeline.inputs)
            seconds["coerce"] += clock() - t
            for stage, params in zip(fitted.pipeline.stages, fitted.params, strict=True):
                t = clock()
                stage.apply_frame(frame, params)
                seconds[stage.name] += clock() - t
            t = clock()
            out = to_batch(frame)
            columns = [batch.column(k) for k in keep] + [out.column(n) for n in names]
            pa.RecordBatch.from_arrays(columns, [*keep, *names])
            seconds["to_batch"] += clock() - t
        passes.append(seconds)
    seconds = min(passes, key=lambda p: sum(p.values()))
    total = sum(seconds.values())
    return {
        "rows": table.num_rows,
        "batch_size": batch_size,
        "seconds": round(total, 3),
        "us_per_row": round(total / table.num_rows * 1e6, 3),
        "share_by_step": {k: round(v / total, 3) for k, v in seconds.items()},
    }


def _median(runs: list[float]) -> float:
    return round(statistics.median(runs), 3)


def _plans(df: DataFrame, pipeline: Pipeline, fitted: FittedPipeline) -> dict[str, DataFrame]:
    """The measured plans: both paths, the Arrow probes and the bare scan, each ending in the ``id`` column."""
    from jobs.gold.spark_transforms import apply_pipeline

    input_df = df.select("id", *pipeline.inputs)
    arrow_df = apply_pipeline(df, fitted, keep=["id"])
    return {
        "arrow": arrow_df,
        "native": apply_native(df, fitted, keep=["id"]),
        "arrow_identity": input_df.mapInArrow(lambda batches: batches, input_df.schema),
        "scan": input_df,
        "arrow_exchange": exchange_only(input_df, arrow_df.schema),
    }


def _variants(plans: dict[str, DataFrame], batch_sizes: list[int]) -> dict[str, tuple[DataFrame, dict[str, str]]]:
    """Label → (plan, session settings for that run)."""
    variants = {
        "native": (plans["native"], {WHOLE_STAGE: "true"}),
        # the 60 fused expressions make one generated method too big for HotSpot to compile
        "native_no_wholestage": (plans["native"], {WHOLE_STAGE: "false"}),
        "scan": (plans["scan"], {WHOLE_STAGE: "true"}),
    }
    for b in batch_sizes:
        for plan in ("arrow", "arrow_identity", "arrow_exchange"):
            variants[f"{plan}@{b}"] = (plans[plan], {WHOLE_STAGE: "true", BATCH: str(b)})
    return variants


def _timed_run(spark: SparkSession, label: str, variant: tuple[DataFrame, dict[str, str]], rows: int) -> float:
    """Seconds of one ``noop`` write of the variant's plan under its session settings."""
    plan_df, conf = variant
    for key, value in conf.items():
        spark.conf.set(key, value)
    secs = _noop_seconds(plan_df)
    log.info("%s: %.1fs = %.0f rows/s", label, secs, rows / secs)
    return secs


def _timed_runs(
    spark: SparkSession,
    variants: dict[str, tuple[DataFrame, dict[str, str]]],
    batch_sizes: list[int],
    repeat: int,
    rows: int,
) -> dict[str, list[float]]:
    """After a warm-up, ``repeat`` rounds of every variant; label → seconds of each round."""
    arrows, natives = [f"arrow@{b}" for b in batch_sizes], list(NATIVE_VARIANTS)
    probes = [f"arrow_{probe}@{b}" for b in batch_sizes for probe in ("identity", "exchange")]
    for label in [arrows[0], *natives]:
        _timed_run(spark, f"{label} (warm-up)", variants[label], rows)
    runs: dict[str, list[float]] = {label: [] for label in variants}
    for r in range(repeat):
        # Arrow and native runs alternate; each round rotates the order, so that no variant
        # always follows the same neighbour (Python workers idle out after a minute).
        a, n, p = (labels[r % len(labels) :] + labels[: r % len(labels)] for labels in (arrows, natives, probes))
        for label in [label for pair in zip_longest(a, n) for label in pair if label] + ["scan", *p]:
            runs[label].append(round(_timed_run(spark, label, variants[label], rows), 3))
    return runs


def _comparison(runs: dict[str, list[float]], batch_sizes: list[int], rows: int, repeat: int) -> dict[str, Any]:
    """The result's timing fields: the fastest Arrow batch size against the faster native
    variant, and where the Arrow time goes."""
    medians = {label: _median(r) for label, r in runs.items()}
    best = min(batch_sizes, key=lambda b: medians[f"arrow@{b}"])
    native_label = min(NATIVE_VARIANTS, key=lambda n: medians[n])
    arrow_s, native_s, scan_s = medians[f"arrow@{best}"], medians[native_label], medians["scan"]
    identity_s, exchange_s = medians[f"arrow_identity@{best}"], medians[f"arrow_exchange@{best}"]
    per_round = [round(min(runs[n][r] for n in NATIVE_VARIANTS) / runs[f"arrow@{best}"][r], 3) for r in range(repeat)]
    return {
        "runs_s": runs,
        "median_s": medians,
        "rows_per_s": {label: round(rows / s) for label, s in medians.items()},
        "arrow": {"max_records_per_batch": best, "median_s": arrow_s, "rows_per_s": round(rows / arrow_s)},
        "native": {"variant": native_label, "median_s": native_s, "rows_per_s": round(rows / native_s)},
        "arrow_vs_native_ratio": round(native_s / arrow_s, 3),
        # same-round pairs: less exposed to load from other processes on a shared machine
        "arrow_vs_native_ratio_per_round": per_round,
        "arrow_vs_native_ratio_by_batch_size": {b: round(native_s / medians[f"arrow@{b}"], 3) for b in batch_sizes},
        "arrow_vs_native_default_codegen_ratio": round(medians["native"] / arrow_s, 3),
        # differences of medians: JVM and Python work overlap, so the parts are approximate
        "arrow_time_split_s": {
            "parquet_scan": scan_s,
            "inputs_to_python_and_back": round(identity_s - scan_s, 3),
            "output_width_back_to_jvm": round(exchange_s - identity_s, 3),
            "numpy_stages": round(arrow_s - exchange_s, 3),
        },
        "native_transform_over_scan_s": round(native_s - scan_s, 3),
    }


def _data_facts(path: Path, generation_s: float | None) -> dict[str, Any]:
    """What the measured Parquet holds, and how long writing it took (``None``: it was cached)."""
    return {
        "parquet": str(path.relative_to(repo_root())),
        "parquet_bytes": sum(f.stat().st_size for f in path.glob("*.parquet")),
        "numeric": len(NUMERIC),
        "categorical": ["device", "country"],
        "timestamp": "event_ts",
        "generation_s": None if generation_s is None else round(generation_s, 1),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_transforms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="generated rows (default 10M)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each path after a warm-up (median)")
    parser.add_argument("--batch-sizes", default="10000,50000", help="maxRecordsPerBatch values, comma-separated")
    parser.add_argument("--sample-rows", type=int, default=100_000, help="rows on which both paths must agree")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    setup_logging("INFO")

    from jobs.gold.spark_transforms import fit_pipeline
    from jobs.lib.session import get_session

    base = load_settings("local")
    settings = base.model_copy(update={"spark": base.spark.model_copy(update=SPARK_CONF)})
    spark = get_session(settings, app_name="bench-transforms")
    path, generation_s = cached_data(spark, args.rows)
    df = spark.read.parquet(str(path))

    pipeline = default_pipeline("bench", CONTRACT, time_column="event_ts")
    t0 = time.perf_counter()
    fitted = fit_pipeline(df, pipeline, accuracy=settings.training.quantile_accuracy)
    fit_s = time.perf_counter() - t0
    log.info("fitted %s in %.1fs: %d output columns", pipeline.name, fit_s, len(fitted.output_names()))
    agreement = _agreement(df, fitted, args.sample_rows)
    log.info("paths agree on %d rows: max |Δ| %.3g (%s)", agreement["rows_compared"], agreement["max_abs_diff"],
             agreement["max_abs_diff_column"])  # fmt: skip

    runs = _timed_runs(spark, _variants(_plans(df, pipeline, fitted), batch_sizes), batch_sizes, args.repeat, args.rows)
    comparison = _comparison(runs, batch_sizes, args.rows, args.repeat)
    best = comparison["arrow"]["max_records_per_batch"]
    python = _python_split(path, df, fitted, best, min(args.rows, 1_000_000))
    result = {
        "rows": args.rows,
        "columns": {"input": len(pipeline.inputs) + 1, "output": len(fitted.output_names()) + 1},
        "data": _data_facts(path, generation_s),
        "pipeline": {"stages": [s.kind for s in pipeline.stages], "params_hash": fitted.params_hash()},
        "fit_s": round(fit_s, 1),
        **comparison,
        "numpy_stages_in_process_estimate_s": round(python["us_per_row"] * args.rows / 1e6 / CORES, 3),
        "python_worker_profile": python,
        "agreement": agreement,
        "spark": {"version": spark.version, **SPARK_CONF},
        "target": {"arrow_vs_native_ratio": 0.5},
    }
    write_result("transforms", result)
    sys.stdout.write(
        f"arrow {result['arrow']['rows_per_s']} rows/s (maxRecordsPerBatch {best}), native "
        f"{result['native']['rows_per_s']} rows/s: ratio {result['arrow_vs_native_ratio']}; "
        f"max |Δ| {agreement['max_abs_diff']:.3g} on {agreement['rows_compared']} rows; fit {fit_s:.0f}s\n"
    )
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
