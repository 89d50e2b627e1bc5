"""The parity gate: sample examples with the outputs the offline pipeline (Spark) computed,
send each to the model bundle in a plain Python process as serving would receive it (one at
a time, then in batches), compare every output, and on a failure re-run both paths stage by
stage on the failing examples to name the first stage and the features where they part.
Writes ``metrics.parity`` and a report (text, HTML, JSON)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.gold.training_set import with_typed_features
from jobs.lib.delta_io import ensure_table, sql_string
from jobs.lib.runs import RunRecord
from jobs.lib.steps import require_columns
from jobs.lib.window import DayWindow
from jobs.parity.comparison import OfflineExample, bisect, compare
from jobs.parity.parity_report import build_report, write_report
from jobs.parity.replay_client import Replay, run_replay
from jobs.parity.stratified_sample import stratified_sample
from schemas.metrics import METRICS_PARITY
from serving.bundle import Bundle
from skewguard.artifacts import load_manifest, model_dir, training_set_dir
from skewguard.config import Settings
from transforms import FittedPipeline

__all__ = ["ParityRequest", "TrainedModel", "check_parity", "offline_score", "trained_model"]

log = logging.getLogger("skewguard.parity")

_INT_LITERAL = r"^-?[0-9]+$"
_ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"


@dataclass(frozen=True)
class ParityRequest:
    """What to check: a bundle against a training set (default: the bundle's own) or any
    Delta table holding the offline outputs."""

    bundle: Path
    training_set: str | None = None
    table: str | None = None
    offline_pipeline: Path | None = None
    strata: tuple[str, ...] = ()
    sample_size: int | None = None
    tolerance: float | None = None
    report_dir: Path | None = None


@dataclass
class _Offline:
    """The sampled offline examples, typed inputs kept for the stage-by-stage re-run."""

    typed_df: DataFrame
    fitted: FittedPipeline
    source: str
    transform_hash: str | None
    quota: dict[str, int]
    """Examples each stratum should give (by stratum name)."""
    inputs_from: str
    """Where the examples' inputs are read (the training set's source table, or the table)."""


@dataclass(frozen=True)
class TrainedModel:
    """The model ``train_reference_model`` wrote, as the offline side scores with it."""

    weights: tuple[float, ...]
    intercept: float
    threshold: float
    path: Path


def trained_model(settings: Settings, bundle: Bundle) -> TrainedModel:
    """The trained model artifact the bundle was built from (its manifest's ``model_source``:
    ``<artifacts>/models/<name>/<version>/model.json`` with the SHA-256 recorded at build time),
    never the bundle's own copy of the weights: a bundle with other weights then fails the gate."""
    source = bundle.manifest.get("model_source")
    if not isinstance(source, dict):
        raise ValueError(f"bundle {bundle.path} does not name the trained model it was built from; rebuild it")
    path = model_dir(settings, str(source["name"]), str(source["version"])) / "model.json"
    if not path.exists():
        raise FileNotFoundError(f"the bundle's trained model is not at {path}")
    text = path.read_bytes()
    if hashlib.sha256(text).hexdigest() != source["sha256"]:
        raise ValueError(f"{path} changed since the bundle was built (SHA-256 differs); rebuild the bundle")
    model = json.loads(text)
    if model["feature_names"] != bundle.fitted.output_names():
        raise ValueError(f"{path}: the trained model's features are not the bundle pipeline's outputs")
    weights = tuple(float(w) for w in model["coefficients"])
    return TrainedModel(weights, float(model["intercept"]), float(model["threshold"]), path)


def offline_score(vector: Column, weights: Sequence[float], intercept: float) -> Column:
    """The logistic model's score as a native Spark expression over the feature vector."""
    products = F.zip_with(vector, F.array(*[F.lit(float(w)) for w in weights]), lambda x, w: x * w)
    z = F.aggregate(products, F.lit(0.0), lambda acc, v: acc + v) + F.lit(float(intercept))
    return F.lit(1.0) / (F.lit(1.0) + F.exp(-z))


def _training_set_examples(
    spark: SparkSession, settings: Settings, name: str, strata: Sequence[str], n: int, seed: int, exhaustive: bool
) -> _Offline:
    manifest = load_manifest(settings, name)
    fitted = FittedPipeline.loads((training_set_dir(settings, name) / "pipeline.json").read_text())
    gold_df = (
        spark.read.format("delta")
        .option("versionAsOf", manifest["version"])
        .load(manifest["path"])
        .where(f"training_set = {sql_string(name)}")
        .select("event_id", F.col("features").alias("_vector"), *dict.fromkeys(["split", *strata]))
    )
    sizes = None
    if set(strata) <= {"split", "workload_id"}:  # a set holds one workload; the manifest counts its splits
        workload = manifest["window"]["workload_id"]
        sizes = {
            tuple({"split": split, "workload_id": workload}[c] for c in strata): count
            for split, count in manifest["split_counts"].items()
        }
        if not strata:
            sizes = {(): sum(manifest["split_counts"].values())}
    sample_df, quota = stratified_sample(gold_df, n, strata, seed, sizes=sizes, exhaustive=exhaustive)
    window = manifest["window"]
    day_window = DayWindow(
        dt.date.fromisoformat(window["start"]), dt.date.fromisoformat(window["end"]), window["workload_id"]
    )
    source = manifest["source"]
    source_df = (spark.read.format("delta").option("versionAsOf", source["version"]).load(source["path"])).where(
        day_window.contains()
    )
    # columns both tables hold (workload_id, event_date, …) come from the source: same values
    carried = [c for c in sample_df.columns if c == "event_id" or c not in source_df.columns]
    contract = fitted.pipeline.inputs
    flags = [F.col("features")[c].rlike(_INT_LITERAL).alias(f"_int_{c}") for c, t in contract.items() if t == "double"]
    joined_df = source_df.join(F.broadcast(sample_df.select(*carried)), "event_id").select("*", *flags)
    keep = [c for c in carried if c != "event_id"] + [f"_int_{c}" for c, t in contract.items() if t == "double"]
    typed_df = with_typed_features(joined_df, contract, keep=keep)
    described = f"{manifest['table']}:{name}@v{manifest['version']}"
    where = f"{source['table']}@v{source['version']}"
    return _Offline(typed_df, fitted, described, manifest.get("transform_source_hash"), _labels(quota), where)


def _table_examples(
    spark: SparkSession, path: str, fitted: FittedPipeline, strata: Sequence[str], n: int, seed: int, exhaustive: bool
) -> _Offline:
    table_df = spark.read.format("delta").load(path)
    require_columns(table_df, ["event_id", "features", *fitted.pipeline.inputs, *strata], f"offline table {path}")
    renamed = table_df.withColumnRenamed("features", "_vector")
    sample_df, quota = stratified_sample(renamed, n, strata, seed, exhaustive=exhaustive)
    return _Offline(sample_df, fitted, path, None, _labels(quota), path)


def _labels(quota: Mapping[tuple[object, ...], int]) -> dict[str, int]:
    return {_label(k): v for k, v in quota.items() if v}


def _label(stratum: tuple[object, ...]) -> str:
    """A stratum's name, as ``_collect`` spells it in Spark (``concat_ws`` of the values)."""
    return "/".join("null" if v is None else str(v) for v in stratum) or "all"


def _request(row: Mapping[str, Any], contract: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object serving receives: numbers for double inputs (a value logged as an
    integer stays one), strings, ISO-8601 UTC timestamps; a missing value is an absent key."""
    request: dict[str, Any] = {}
    for name, dtype in contract.items():
        value = row[name]
        if value is None:
            continue
        if dtype == "double" and row[f"_int_{name}"] and float(value).is_integer() and abs(value) < 2**53:
            value = int(value)
        request[name] = value
    return request


def _collect(offline: _Offline, bundle: Bundle, model: TrainedModel, strata: Sequence[str]) -> list[OfflineExample]:
    contract = offline.fitted.pipeline.inputs
    columns = offline.typed_df.columns
    selected = [F.date_format(c, _ISO_UTC).alias(c) if t == "timestamp" else F.col(c) for c, t in contract.items()]
    flags = [
        F.col(f"_int_{c}") if f"_int_{c}" in columns else F.lit(False).alias(f"_int_{c}")
        for c, t in contract.items()
        if t == "double"
    ]
    score = offline_score(F.col("_vector"), model.weights, model.intercept)
    rows = offline.typed_df.select(
        "event_id",
        "_vector",
        score.alias("_score"),
        F.concat_ws("/", *[F.coalesce(F.col(c).cast("string"), F.lit("null")) for c in strata] or [F.lit("all")]).alias(
            "_stratum"
        ),
        *selected,
        *flags,
    ).collect()
    width = len(bundle.fitted.output_names())
    examples = []
    for row in sorted(rows, key=lambda r: r["event_id"]):
        vector = row["_vector"] or []
        if len(vector) != width:
            raise ValueError(
                f"offline example {row['event_id']}: a feature vector of {len(vector)} values, the bundle has {width}"
            )
        score_value = float("nan") if row["_score"] is None else float(row["_score"])
        examples.append(
            OfflineExample(
                id=row["event_id"],
                request=_request(row.asDict(), contract),
                vector=[float("nan") if v is None else float(v) for v in vector],
                score=score_value,
                label=int(score_value >= model.threshold),
                stratum=row["_stratum"],
            )
        )
    return examples


def _offline_traces(offline: _Offline, ids: Sequence[str]) -> dict[str, list[list[Any]]]:
    """The offline pipeline re-run in Spark, step by step, on the given examples."""
    fitted, names = offline.fitted, list(offline.fitted.pipeline.inputs)
    input_df = offline.typed_df.where(F.col("event_id").isin(list(ids))).select("event_id", *names)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            steps = list(fitted.trace(batch.select(names)))
            traces = [
                json.dumps([[step, {c: values[i] for c, values in columns.items()}] for step, columns in steps])
                for i in range(batch.num_rows)
            ]
            yield pa.RecordBatch.from_arrays(
                [batch.column("event_id"), pa.array(traces, pa.string())], names=["event_id", "trace"]
            )

    rows = input_df.mapInArrow(run, "event_id string, trace string").collect()
    return {r["event_id"]: json.loads(r["trace"]) for r in rows}


def _bisect(
    offline: _Offline,
    bundle_path: Path,
    examples: Sequence[OfflineExample],
    ids: Sequence[str],
    tolerance: float,
    workdir: Path,
) -> dict[str, Any]:
    wanted = set(ids)
    chosen = [e for e in examples if e.id in wanted]
    served, _ = run_replay(bundle_path, chosen, workdir / "trace", ["trace"])
    serving = {i: r["trace"] for i, r in served["trace"].items() if "trace" in r}
    found = bisect(_offline_traces(offline, list(serving)), serving, tolerance)
    if found is None:
        return {
            "examples_traced": len(serving),
            "note": "re-running both pipelines stage by stage gives equal values: the offline outputs were not "
            "computed by the offline pipeline as it runs today (was the table built with other transforms?)",
        }
    return {"examples_traced": len(serving), **found.to_json()}


def _offline_examples(
    spark: SparkSession, settings: Settings, request: ParityRequest, bundle: Bundle, model: TrainedModel, n: int
) -> tuple[_Offline, list[OfflineExample]]:
    """Sample and collect the offline side; when a stratum comes up short of its quota, draw
    again ranking every row (see ``stratified_sample``), and fail if it is still short."""
    seed = settings.parity.sample_seed
    if request.table:
        pipeline_path = (
            request.offline_pipeline
            or training_set_dir(settings, bundle.manifest["training_set"]["name"]) / "pipeline.json"
        )
        if not pipeline_path.exists():
            raise FileNotFoundError(f"no offline pipeline at {pipeline_path}; pass --offline-pipeline")
        fitted = FittedPipeline.loads(pipeline_path.read_text())
    for exhaustive in (False, True):
        if request.table:
            offline = _table_examples(spark, request.table, fitted, request.strata, n, seed, exhaustive)
        else:
            name = request.training_set or bundle.manifest["training_set"]["name"]
            offline = _training_set_examples(spark, settings, name, request.strata, n, seed, exhaustive)
        examples = _collect(offline, bundle, model, request.strata)
        got = Counter(e.stratum for e in examples)
        short = {k: (got.get(k, 0), q) for k, q in offline.quota.items() if got.get(k, 0) < q}
        if not short:
            return offline, examples
    missing = sum(q - g for g, q in short.values())
    raise ValueError(f"{missing} sampled examples have no inputs in {offline.inputs_from} (short strata: {short})")


def check_parity(spark: SparkSession, settings: Settings, request: ParityRequest, run: RunRecord) -> dict[str, Any]:
    """Run the gate; returns the report (``report["passed"]`` is the verdict)."""
    conf = settings.parity
    n = request.sample_size or conf.sample_size
    tolerance = request.tolerance or conf.tolerance
    bundle = Bundle.load(request.bundle)
    model = trained_model(settings, bundle)
    workdir = request.report_dir or settings.artifacts_path() / "parity" / run.run_id
    workdir.mkdir(parents=True, exist_ok=True)
    # the serving process starts now: it loads the bundle while Spark samples
    replay = Replay(request.bundle, workdir / "serving", ["single", "batch"], conf.batch_size)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        offline, examples = _offline_examples(spark, settings, request, bundle, model, n)
        timings["offline_sample_s"] = time.monotonic() - t0
        run.source = offline.source
        if not examples:
            raise ValueError(f"no offline examples in {offline.source}")
        run.read_count = len(examples)
        log.info(
            "sending %d requests to the bundle, one at a time then in batches of %d", len(examples), conf.batch_size
        )
        t0 = time.monotonic()
        served, summary = replay.send(examples, keep=workdir / "requests.tsv")
        timings["serving_s"] = time.monotonic() - t0
        timings.update({f"serving_{mode}_s": v for mode, v in summary["seconds"].items()})
    finally:
        replay.close()
    names = bundle.fitted.output_names()
    comparisons = {
        mode: compare(mode, examples, served[mode], names, tolerance, conf.worst_examples)
        for mode in ("single", "batch")
    }
    failing = list(dict.fromkeys(comparisons["single"].failing_ids + comparisons["batch"].failing_ids))
    divergence = None
    if failing:
        log.info(
            "%d examples over the tolerance: tracing the worst %d stage by stage", len(failing), conf.bisect_examples
        )
        t0 = time.monotonic()
        divergence = _bisect(offline, request.bundle, examples, failing[: conf.bisect_examples], tolerance, workdir)
        timings["bisect_s"] = time.monotonic() - t0
    report = build_report(
        run_id=run.run_id,
        checked_at=run.started_at,
        bundle=bundle,
        offline_source=offline.source,
        offline_pipeline_hash=offline.fitted.params_hash(),
        offline_transform_hash=offline.transform_hash,
        strata=offline.quota,
        comparisons=comparisons,
        divergence=divergence,
        tolerance=tolerance,
        report_dir=workdir,
    )
    if (tuple(bundle.weights.tolist()), bundle.intercept, bundle.threshold) != (
        model.weights,
        model.intercept,
        model.threshold,
    ):
        report["identity_notes"].append(f"the bundle's model weights are not those of the trained model ({model.path})")
    report["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    write_report(report, workdir)
    _record(spark, settings, report)
    run.landed_count = 1
    run.details = {k: report[k] for k in ("passed", "max_abs_diff", "examples_over_tolerance", "report_path")}
    run.details["params"] = {"bundle": f"{bundle.name} {bundle.version}", "bundle_path": str(request.bundle),
                             "sample_size": n, "tolerance": tolerance, "strata": ",".join(request.strata)}  # fmt: skip
    run.status = "succeeded"
    return report


def _record(spark: SparkSession, settings: Settings, report: Mapping[str, Any]) -> None:
    path = ensure_table(spark, settings, METRICS_PARITY)
    row = tuple(report["metrics_row"][c] for c in METRICS_PARITY.column_names)
    spark.createDataFrame([row], METRICS_PARITY.spark_schema()).write.format("delta").mode("append").save(path)
