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
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.common import write_result
from skewguard.config import load_settings, repo_root
from skewguard.logs import setup_logging
from transforms import FittedPipeline, coerce, default_pipeline, to_batch

log = logging.getLogger("benchmarks.transforms")

SEED = 20_241_118
DATA_VERSION = 1  # bump when the generator changes: the cached Parquet is keyed by it
START_US = 1_731_888_000_000_000  # 2024-11-18T00:00:00Z, a Monday
DEVICES = ("mobile", "desktop", "tablet", "tv", "watch")
COUNTRIES = tuple("US GB DE FR IN BR JP CA AU ES IT MX NL SE PL TR KR ID AR ZA NG EG PH VN TH CH BE AT IE PT".split())
# name, distribution, share of nulls
NUMERIC: tuple[tuple[str, str, float], ...] = (
    ("amount", "lognormal", 0.0), ("amount_7d", "lognormal", 0.05), ("amount_30d", "lognormal", 0.05),
    ("items", "count", 0.0), ("items_7d", "count", 0.05), ("sessions_30d", "pareto", 0.05),
    ("failed_logins_7d", "count", 0.05), ("account_age_days", "uniform", 0.0), ("days_since_last", "pareto", 0.05),
    ("latency_ms", "pareto", 0.0), ("distance_km", "lognormal", 0.05), ("score_a", "normal", 0.0),
    ("score_b", "normal", 0.05), ("score_c", "cauchy", 0.05), ("score_d", "normal", 0.0),
    ("balance", "signed", 0.05), ("ratio_paid", "ratio", 0.05), ("ratio_refund", "ratio", 0.0),
    ("click_rate", "uniform", 0.05), ("temperature", "normal", 0.0),
)  # fmt: skip
CONTRACT: dict[str, str] = {
    **{name: "double" for name, _, _ in NUMERIC},
    "device": "string",
    "country": "string",
    "event_ts": "timestamp",
}
TOLERANCE = 1e-9
WHOLE_STAGE = "spark.sql.codegen.wholeStage"
BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"


class UnsupportedStage(ValueError):
    """A stage kind (or option) that the native translation does not cover."""


# -- data ---------------------------------------------------------------------------------
def _draw(kind: str, seed: int) -> Column:
    u, g = F.rand(seed), F.randn(seed + 1)
    if kind == "lognormal":
        return F.round(F.exp(g * 1.5 + 3.0), 2)
    if kind == "count":
        return F.floor(F.exp(g * 1.2 + 0.8)).cast("double")
    if kind == "pareto":  # alpha 1.2: a few values orders of magnitude above the rest
        return F.round(F.lit(5.0) / F.pow(u, 1 / 1.2), 1)
    if kind == "cauchy":
        return F.round(F.tan(F.lit(math.pi) * (u - 0.5)), 4)
    if kind == "signed":
        return F.round(g * F.exp(F.randn(seed + 2) * 2.0), 2)
    if kind == "ratio":  # 0/0 → NaN in ~1% of rows, zero-inflated otherwise
        return F.when(u < 0.01, F.lit(float("nan"))).when(u < 0.3, 0.0).otherwise(F.round(F.rand(seed + 2), 4))
    if kind == "uniform":
        return F.round(u * 1000, 3)
    return F.round(g * 10 + 50, 4)


def _with_nulls(value: Column, share: float, seed: int) -> Column:
    return value if share == 0 else F.when(F.rand(seed) >= share, value)


def _skewed_choice(values: Sequence[str], power: float, seed: int) -> Column:
    """One of ``values``, the first ones far more often (index ⌊u^power · n⌋)."""
    idx = F.floor(F.pow(F.rand(seed), power) * len(values)).cast("int") + 1
    return F.element_at(F.array(*[F.lit(v) for v in values]), idx)


def generated_predictions(spark: SparkSession, rows: int) -> DataFrame:
    """Deterministic prediction-shaped rows (fixed partitioning, seeded generators)."""
    columns = {
        name: _with_nulls(_draw(kind, SEED + 10 * i), share, SEED + 10 * i + 7)
        for i, (name, kind, share) in enumerate(NUMERIC)
    }
    columns["device"] = _with_nulls(_skewed_choice(DEVICES, 2.0, SEED + 501), 0.02, SEED + 502)
    columns["country"] = _with_nulls(_skewed_choice(COUNTRIES, 3.0, SEED + 503), 0.03, SEED + 504)
    offset = F.floor(F.rand(SEED + 505) * (14 * 86_400_000_000)).cast("long")
    columns["event_ts"] = _with_nulls(F.timestamp_micros(F.lit(START_US) + offset), 0.01, SEED + 506)
    return spark.range(0, rows, 1, numPartitions=8).select("id", *[col.alias(n) for n, col in columns.items()])


def _cached_data(spark: SparkSession, rows: int) -> tuple[Path, float | None]:
    """The Parquet copy of the data, written on first use; (path, seconds spent writing)."""
    path = repo_root() / ".cache" / "bench" / f"transforms-v{DATA_VERSION}-{rows}.parquet"
    if (path / "_SUCCESS").is_file():
        return path, None
    tmp = path.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("generating %d rows into %s", rows, path)
    t0 = time.perf_counter()
    generated_predictions(spark, rows).write.mode("overwrite").parquet(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return path, time.perf_counter() - t0


# -- the same transforms as native Spark expressions ----------------------------------------
def imputed(c: Column, value: float) -> Column:
    return F.coalesce(F.nanvl(c, F.lit(value)), F.lit(value))


def clipped(c: Column, lower: float | None, upper: float | None) -> Column:
    # greatest/least would send NaN and null elsewhere than numpy does; imputation ran first
    c = c if lower is None else F.greatest(c, F.lit(lower))
    return c if upper is None else F.least(c, F.lit(upper))


def standardized(c: Column, mean: float, std: float) -> Column:
    return (c - F.lit(mean)) / F.lit(std)


def one_hot(c: Column, vocab: Sequence[str]) -> list[Column]:
    """One 0/1 column per vocabulary entry, then the out-of-vocabulary (or missing) one."""
    return [F.when(c == F.lit(v), 1.0).otherwise(0.0) for v in vocab] + [F.when(c.isin(*vocab), 0.0).otherwise(1.0)]


def time_feature(ts: Column, feature: str) -> Column:
    """UTC calendar feature (the session time zone is UTC); NaN for a missing timestamp."""
    hour = F.hour(ts).cast("double")
    values = {
        "hour": hour,
        "day_of_week": F.weekday(ts).cast("double"),  # Monday 0, as the shared stage
        "hour_sin": F.sin(hour * F.lit(2 * math.pi / 24)),
        "hour_cos": F.cos(hour * F.lit(2 * math.pi / 24)),
    }
    if feature not in values:
        raise UnsupportedStage(f"time feature {feature!r}")
    return F.when(ts.isNull(), F.lit(float("nan"))).otherwise(values[feature])


def apply_native(df: DataFrame, fitted: FittedPipeline, keep: Sequence[str] = ()) -> DataFrame:
    """``keep`` plus the feature-vector columns, from ``fitted``'s params as Spark expressions."""
    tz = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if tz != "UTC":
        raise UnsupportedStage(f"time features are UTC; the session time zone is {tz}")
    cols = {name: F.col(f"`{name}`").cast(dtype) for name, dtype in fitted.pipeline.inputs.items()}
    for stage, params in zip(fitted.pipeline.stages, fitted.params, strict=True):
        for c in stage.columns:
            if stage.kind == "impute":
                cols[c] = imputed(cols[c], params["values"][c])
            elif stage.kind == "impute_category":
                cols[c] = F.coalesce(cols[c], F.lit(params["values"][c]))
            elif stage.kind == "clip":
                cols[c] = clipped(cols[c], *params["bounds"][c])
            elif stage.kind == "standardize":
                cols[c] = standardized(cols[c], params["stats"][c]["mean"], params["stats"][c]["std"])
            elif stage.kind == "vocabulary" and stage.opt("one_hot"):
                names = stage.output_names(params)[c]
                cols.update(zip(names, one_hot(cols.pop(c), params["vocab"][c]), strict=True))
            elif stage.kind == "time_features":
                names = stage.output_names(params)[c]
                cols.update({n: time_feature(cols[c], f) for f, n in zip(stage.opt("features"), names, strict=True)})
            else:
                raise UnsupportedStage(f"stage {stage.name!r} ({stage.kind}) has no native translation here")
    return df.select(*[F.col(k) for k in keep], *[cols[n].alias(n) for n in fitted.output_names()])


# -- measurements ---------------------------------------------------------------------------
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_transforms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="generated rows (default 10M)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each path after a warm-up (median)")
    parser.add_argument("--batch-sizes", default="10000,50000", help="maxRecordsPerBatch values, comma-separated")
    parser.add_argument("--sample-rows", type=int, default=100_000, help="rows on which both paths must agree")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    setup_logging("INFO")

    from jobs.gold.spark_transforms import apply_pipeline, fit_pipeline
    from jobs.lib.session import get_session

    base = load_settings("local")
    spark_conf = {"master": "local[2]", "driver_memory": "6g"}
    settings = base.model_copy(update={"spark": base.spark.model_copy(update=spark_conf)})
    spark = get_session(settings, app_name="bench-transforms")
    path, generation_s = _cached_data(spark, args.rows)
    df = spark.read.parquet(str(path))

    pipeline = default_pipeline("bench", CONTRACT, time_column="event_ts")
    t0 = time.perf_counter()
    fitted = fit_pipeline(df, pipeline, accuracy=settings.training.quantile_accuracy)
    fit_s = time.perf_counter() - t0
    log.info("fitted %s in %.1fs: %d output columns", pipeline.name, fit_s, len(fitted.output_names()))
    agreement = _agreement(df, fitted, args.sample_rows)
    log.info("paths agree on %d rows: max |Δ| %.3g (%s)", agreement["rows_compared"], agreement["max_abs_diff"],
             agreement["max_abs_diff_column"])  # fmt: skip

    input_df = df.select("id", *pipeline.inputs)
    plans = {
        "arrow": apply_pipeline(df, fitted, keep=["id"]),
        "native": apply_native(df, fitted, keep=["id"]),
        "arrow_identity": input_df.mapInArrow(lambda batches: batches, input_df.schema),
        "scan": input_df,
    }
    plans["arrow_exchange"] = exchange_only(input_df, plans["arrow"].schema)
    # label -> (plan, session settings for that run)
    variants: dict[str, tuple[str, dict[str, str]]] = {
        "native": ("native", {WHOLE_STAGE: "true"}),
        # the 60 fused expressions make one generated method too big for HotSpot to compile
        "native_no_wholestage": ("native", {WHOLE_STAGE: "false"}),
        "scan": ("scan", {WHOLE_STAGE: "true"}),
    }
    for b in batch_sizes:
        variants[f"arrow@{b}"] = ("arrow", {WHOLE_STAGE: "true", BATCH: str(b)})
        variants[f"arrow_identity@{b}"] = ("arrow_identity", {WHOLE_STAGE: "true", BATCH: str(b)})
        variants[f"arrow_exchange@{b}"] = ("arrow_exchange", {WHOLE_STAGE: "true", BATCH: str(b)})
    arrows, natives = [f"arrow@{b}" for b in batch_sizes], ["native", "native_no_wholestage"]
    probes = [f"arrow_{probe}@{b}" for b in batch_sizes for probe in ("identity", "exchange")]
    runs: dict[str, list[float]] = {label: [] for label in variants}

    def measure(label: str, record: bool = True) -> None:
        plan, conf = variants[label]
        for key, value in conf.items():
            spark.conf.set(key, value)
        secs = _noop_seconds(plans[plan])
        log.info("%s%s: %.1fs = %.0f rows/s", label, "" if record else " (warm-up)", secs, args.rows / secs)
        if record:
            runs[label].append(round(secs, 3))

    for label in [arrows[0], *natives]:
        measure(label, record=False)
    for r in range(args.repeat):
        # Arrow and native runs alternate; each round rotates the order, so that no variant
        # always follows the same neighbour (Python workers idle out after a minute).
        a, n, p = (labels[r % len(labels) :] + labels[: r % len(labels)] for labels in (arrows, natives, probes))
        for label in [label for pair in zip_longest(a, n) for label in pair if label] + ["scan", *p]:
            measure(label)

    medians = {label: _median(r) for label, r in runs.items()}
    best = min(batch_sizes, key=lambda b: medians[f"arrow@{b}"])
    native_label = min(natives, key=lambda n: medians[n])
    arrow_s, native_s, scan_s = medians[f"arrow@{best}"], medians[native_label], medians["scan"]
    identity_s, exchange_s = medians[f"arrow_identity@{best}"], medians[f"arrow_exchange@{best}"]
    per_round = [round(min(runs[n][r] for n in natives) / runs[f"arrow@{best}"][r], 3) for r in range(args.repeat)]
    cores = 2
    python = _python_split(path, df, fitted, best, min(args.rows, 1_000_000))
    python_s = python["us_per_row"] * args.rows / 1e6 / cores
    result = {
        "rows": args.rows,
        "columns": {"input": len(pipeline.inputs) + 1, "output": len(fitted.output_names()) + 1},
        "data": {
            "parquet": str(path.relative_to(repo_root())),
            "parquet_bytes": sum(f.stat().st_size for f in path.glob("*.parquet")),
            "numeric": len(NUMERIC),
            "categorical": ["device", "country"],
            "timestamp": "event_ts",
            "generation_s": None if generation_s is None else round(generation_s, 1),
        },
        "pipeline": {"stages": [s.kind for s in pipeline.stages], "params_hash": fitted.params_hash()},
        "fit_s": round(fit_s, 1),
        "runs_s": runs,
        "median_s": medians,
        "rows_per_s": {label: round(args.rows / s) for label, s in medians.items()},
        "arrow": {"max_records_per_batch": best, "median_s": arrow_s, "rows_per_s": round(args.rows / arrow_s)},
        "native": {"variant": native_label, "median_s": native_s, "rows_per_s": round(args.rows / native_s)},
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
        "numpy_stages_in_process_estimate_s": round(python_s, 3),
        "native_transform_over_scan_s": round(native_s - scan_s, 3),
        "python_worker_profile": python,
        "agreement": agreement,
        "spark": {"version": spark.version, "master": "local[2]", "driver_memory": "6g"},
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
