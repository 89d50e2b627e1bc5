"""Training sets from labeled production logs: type the logged feature vectors by the
pipeline's contract, split by a hash of ``event_id``, fit the shared transforms on the
train split (or load fitted ones), apply them through Arrow and write ``gold.training_set``
with its lineage; the manifest names the exact Delta version written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from jobs.gold.spark_transforms import apply_pipeline, fit_pipeline, with_feature_vector
from jobs.lib.delta_io import ensure_table, replace_where, sql_string, table_version
from jobs.lib.runs import RunRecord
from jobs.lib.steps import release, require_columns, table_rows
from jobs.lib.window import DayWindow
from schemas.gold import GOLD_TRAINING_SET
from schemas.tables import SILVER_LABELED_EXAMPLES
from skewguard.artifacts import training_set_dir
from skewguard.config import Settings
from skewguard.settings_models import TrainingSettings
from transforms import SPLITS, FittedPipeline, Pipeline, assign_split, default_pipeline, source_hash

__all__ = [
    "TIME_COLUMN",
    "TrainingSetRequest",
    "build_training_set",
    "default_name",
    "infer_contract",
    "with_split",
    "with_typed_features",
]

log = logging.getLogger("skewguard.training")

TIME_COLUMN = "event_ts"
"""The contract may name this column: the prediction's own timestamp, not a logged feature."""
_LINEAGE = (
    "event_id",
    "event_ts",
    "event_date",
    "workload_id",
    "label",
    "model_name",
    "model_version",
    "transform_hash",
)


@dataclass(frozen=True)
class TrainingSetRequest:
    """Which examples, under which name, with which transforms."""

    window: DayWindow
    name: str
    pipeline: Pipeline | None = None
    fitted: FittedPipeline | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def infer_contract(examples_df: DataFrame) -> dict[str, str]:
    """Feature id → ``double`` when every logged value parses as a number, else ``string``
    (one small aggregate: a row per feature id)."""
    require_columns(examples_df, ["features"], "infer_contract")
    rows = (
        examples_df.select(F.explode("features").alias("feature", "value"))
        .groupBy("feature")
        .agg(F.max((F.col("value").isNotNull() & F.col("value").cast("double").isNull()).cast("int")).alias("text"))
        .collect()
    )
    return {r["feature"]: "string" if r["text"] else "double" for r in sorted(rows, key=lambda r: r["feature"])}


def with_typed_features(examples_df: DataFrame, contract: Mapping[str, str], keep: Sequence[str] = ()) -> DataFrame:
    """The lineage columns, ``keep`` and one column per contract entry, cast from the logged
    text (``event_ts`` from the row)."""
    require_columns(examples_df, ["features", *_LINEAGE, *keep], "with_typed_features")
    clash = sorted(set(contract) & (set(_LINEAGE) - {TIME_COLUMN}))
    if clash:
        raise ValueError(f"feature ids {clash} clash with lineage column names")
    typed = {
        name: F.col("features")[name].cast(dtype)
        for name, dtype in contract.items()
        if name != TIME_COLUMN  # already a timestamp column
    }
    return examples_df.select(*_LINEAGE, *keep, *[expr.alias(name) for name, expr in typed.items()])


def with_split(df: DataFrame, validation_fraction: float, eval_fraction: float, seed: int) -> DataFrame:
    """Adds ``split`` (``transforms.assign_split`` on ``event_id``, through Arrow)."""
    require_columns(df, ["event_id"], "with_split")
    schema = StructType([*df.schema.fields, StructField("split", StringType(), False)])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            split = assign_split(batch.column("event_id"), validation_fraction, eval_fraction, seed)
            yield pa.RecordBatch.from_arrays([*batch.columns, split], names=[*batch.schema.names, "split"])

    return df.mapInArrow(run, schema)


def _pipeline_for(request: TrainingSetRequest, examples_df: DataFrame) -> tuple[Pipeline, FittedPipeline | None]:
    if request.fitted is not None:
        return request.fitted.pipeline, request.fitted
    if request.pipeline is not None:
        return request.pipeline, None
    contract = {**infer_contract(examples_df), TIME_COLUMN: "timestamp"}
    return default_pipeline(request.name, contract, time_column=TIME_COLUMN), None


def _split_counts(split_df: DataFrame, window: DayWindow, run: RunRecord) -> dict[str, int]:
    """Examples per split (one small aggregate), their total recorded as the run's read count;
    fails when the train split is empty."""
    counts = {r["split"]: int(r["n"]) for r in split_df.groupBy("split").agg(F.count(F.lit(1)).alias("n")).collect()}
    run.read_count = sum(counts.values())
    if counts.get("train", 0) == 0:
        raise ValueError(
            f"no labeled examples for the train split in {window} (read {run.read_count}); run join_labels first"
        )
    return counts


def _training_rows(
    split_df: DataFrame,
    fitted: FittedPipeline,
    request: TrainingSetRequest,
    source_version: int,
    transform_source_hash: str,
    run: RunRecord,
) -> DataFrame:
    """The split examples through the fitted transforms, as ``gold.training_set`` rows."""
    applied_df = apply_pipeline(split_df, fitted, keep=[*_LINEAGE, "split"])
    return table_rows(
        with_feature_vector(applied_df, fitted, "features")
        .withColumnRenamed("model_name", "served_model_name")
        .withColumnRenamed("model_version", "served_model_version")
        .withColumnRenamed("transform_hash", "served_transform_hash"),
        GOLD_TRAINING_SET,
        training_set=request.name,
        pipeline_hash=fitted.params_hash(),
        transform_source_hash=transform_source_hash,
        source_table=SILVER_LABELED_EXAMPLES.name,
        source_version=source_version,
        build_run_id=run.run_id,
        built_at=run.started_at,
    )


def _split_rule(conf: TrainingSettings) -> dict[str, Any]:
    return {
        "hash": "murmur3_32(event_id, seed) / 2**32",
        "seed": conf.split_seed,
        "eval_fraction": conf.eval_fraction,
        "validation_fraction": conf.validation_fraction,
    }


def _write_artifacts(settings: Settings, name: str, fitted: FittedPipeline, manifest: Mapping[str, Any]) -> Path:
    """``pipeline.json`` and ``manifest.json`` in the training set's folder; returns the folder."""
    folder = training_set_dir(settings, name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.json").write_text(fitted.dumps() + "\n")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return folder


def build_training_set(
    spark: SparkSession, settings: Settings, request: TrainingSetRequest, run: RunRecord
) -> dict[str, Any]:
    """Build, write and describe one training set; returns its manifest."""
    window, conf = request.window, settings.training
    source = settings.lakehouse.table_path(SILVER_LABELED_EXAMPLES.name)
    source_version = table_version(spark, ensure_table(spark, settings, SILVER_LABELED_EXAMPLES))
    run.source = f"{SILVER_LABELED_EXAMPLES.name}@v{source_version}"
    examples_df = spark.read.format("delta").option("versionAsOf", source_version).load(source).where(window.contains())
    pipeline, fitted = _pipeline_for(request, examples_df)
    split_df = (
        examples_df.transform(with_typed_features, pipeline.inputs)
        .transform(with_split, conf.validation_fraction, conf.eval_fraction, conf.split_seed)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        counts = _split_counts(split_df, window, run)
        if fitted is None:
            log.info("fitting pipeline %r on %d train examples", pipeline.name, counts["train"])
            fitted = fit_pipeline(split_df.where(F.col("split") == "train"), pipeline, conf.quantile_accuracy)
        out_path = ensure_table(spark, settings, GOLD_TRAINING_SET)
        source_hash_now = source_hash()
        rows_df = _training_rows(split_df, fitted, request, source_version, source_hash_now, run)
        predicate = f"training_set = {sql_string(request.name)}"
        version = replace_where(spark, rows_df, out_path, predicate, sum(counts.values()))  # every example read
    finally:
        release(split_df)
        split_df.unpersist()
    run.landed_count, run.output_version = run.read_count, version
    manifest = {
        "name": request.name,
        "table": GOLD_TRAINING_SET.name,
        "path": out_path,
        "version": version,
        "window": {"start": str(window.start), "end": str(window.end), "workload_id": window.workload_id},
        "split_counts": {s: counts.get(s, 0) for s in SPLITS},
        "split_rule": _split_rule(conf),
        "feature_names": fitted.output_names(),
        "inputs": dict(fitted.pipeline.inputs),
        "pipeline_hash": fitted.params_hash(),
        "transform_source_hash": source_hash_now,
        "source": {"table": SILVER_LABELED_EXAMPLES.name, "path": source, "version": source_version},
        "build_run_id": run.run_id,
        "built_at": run.started_at.isoformat(),
        **request.meta,
    }
    folder = _write_artifacts(settings, request.name, fitted, manifest)
    run.details = {"split_counts": manifest["split_counts"], "training_set": request.name, "manifest": str(folder)}
    run.status = "succeeded"
    log.info("training set %s: %s at %s v%d", request.name, manifest["split_counts"], out_path, version)
    return manifest


def default_name(window: DayWindow) -> str:
    """``<workload>_<start>_<end>``."""
    return f"{window.workload_id}_{window.start:%Y%m%d}_{window.end:%Y%m%d}"
