"""The closed loop on the embedded default, as the demo runs it: bronze logs → silver
predictions and LLM interactions → LLM fine-tuning / evaluation datasets (per-workload counts
printed) → delayed labels → labeled examples → training set → reference model → bundle
→ a local LLM candidate (a deterministic tool router over HTTP) evaluated on the tool-calling
workload's eval split → parity gate → a second candidate (stronger regularisation), gated against the first on the
training set's held-out eval rows → serving (predicting with the bundle, logging with the SDK; two features
drift on purpose) → Elasticsearch → bronze → silver → serving-skew check of what was served
→ drift of the served day against the training set (profiled once), with its HTML report.

Each step is the real job (``main(argv)``), so a failure stops the loop with that job's
one-line cause.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.demo_steps import LoopStepFailed, candidate_gate, llm_candidate, parity_gate, run_step
from skewguard.artifacts import load_manifest
from skewguard.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ops.synthetic import GeneratedRecord
    from serving.bundle import Bundle

__all__ = ["LoopResult", "LoopStepFailed", "close_the_loop", "format_loop"]

log = logging.getLogger("skewguard.loop")


@dataclass(frozen=True)
class LoopResult:
    training_set: dict[str, Any]
    model: dict[str, Any]
    bundle_path: Path
    served: int
    logged: int
    landed: int
    serve_day: dt.date
    parity: dict[str, Any]
    """The parity gate's report (``report.json``)."""
    skew: dict[str, Any]
    """``metrics.serving_skew``'s score row for the served day and the new model version."""
    drifted: tuple[str, ...]
    """The features whose distribution the served day moved on purpose."""
    drift: list[dict[str, Any]]
    """``metrics.drift`` rows of the served day against the training set that are not ok."""
    drift_report: str | None
    evaluation: list[str]
    """The candidate-vs-production lines and the promotion gate's decision."""
    llm_evaluation: list[str]
    """The local LLM candidate's scores against the logged production responses."""


def close_the_loop(
    spark: SparkSession,
    settings: Settings,
    *,
    log_file: Path,
    start: dt.date,
    end: dt.date,
    workload: str,
    serve_requests: int = 500,
    seed: int = 7,
    common: tuple[str, ...] = (),
) -> LoopResult:
    """Run every step after ingest for ``start..end`` and one prediction workload, then serve
    the day after ``end`` with the new bundle and land what serving logged."""
    window = ["--start", str(start), "--end", str(end), *common]
    _parse_and_export_llm_datasets(window)
    llm_evaluation = llm_candidate(spark, settings, common)
    _join_synthetic_labels(settings, log_file, seed, window)
    training_set = f"{workload}_{start:%Y%m%d}_{end:%Y%m%d}"
    bundle = _train_and_bundle(settings, window, workload, training_set, common)
    parity = parity_gate(settings, bundle, common)
    evaluation = candidate_gate(spark, settings, bundle, window, workload, training_set, common)

    serve_round = _ServingRound(end + dt.timedelta(days=1), workload, bundle.version, common)
    drifted = _drifted_features(workload)
    logged = _serve(settings, bundle, workload, _requests(serve_round, serve_requests, seed + 1, drifted))
    landed = _land(spark, settings, serve_round)
    skew = _serving_skew(spark, settings, serve_round)
    drift_report, drift = _drift_against_training_set(spark, settings, serve_round, training_set)
    return LoopResult(
        training_set=load_manifest(settings, training_set),
        model=bundle.manifest,
        bundle_path=bundle.path,
        served=serve_requests,
        logged=logged,
        landed=landed,
        serve_day=serve_round.day,
        parity=parity,
        skew=skew,
        drifted=drifted,
        drift=drift,
        drift_report=drift_report,
        evaluation=evaluation,
        llm_evaluation=llm_evaluation,
    )


@dataclass(frozen=True)
class _ServingRound:
    """The serving round: the day after the window, served with the new bundle. Holds what its
    jobs are given and the rows they select."""

    day: dt.date
    workload: str
    model_version: str
    common: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return ["--date", str(self.day), "--workload", self.workload, *self.common]

    @property
    def served_rows(self) -> str:
        """SQL predicate: the workload's rows of the day from the new model version."""
        return (
            f"event_date = DATE'{self.day}' AND workload_id = '{self.workload}' "
            f"AND model_version = '{self.model_version}'"
        )


def _table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return spark.read.format("delta").load(settings.lakehouse.table_path(name))


def _parse_and_export_llm_datasets(window: list[str]) -> None:
    """Bronze → silver for the window, then the LLM fine-tuning / evaluation datasets."""
    from jobs import build_llm_datasets, parse_logs

    run_step("parse_logs", parse_logs.main, window)
    run_step("build_llm_datasets", build_llm_datasets.main, window)


def _join_synthetic_labels(settings: Settings, log_file: Path, seed: int, window: list[str]) -> None:
    """Delayed labels for the generated predictions (next to ``log_file``), joined into silver."""
    from jobs import join_labels
    from ops.synthetic_labels import LabelConfig, read_records, write_labels

    labels_path = log_file.with_name("labels.jsonl")
    labels = write_labels(
        read_records(log_file), labels_path, LabelConfig(seed=seed, window_days=settings.training.label_window_days)
    )
    log.info("loop: %d labels written to %s", labels.label_rows, labels_path)
    run_step("join_labels", join_labels.main, [*window, "--labels", str(labels_path)])


def _train_and_bundle(
    settings: Settings, window: list[str], workload: str, training_set: str, common: tuple[str, ...]
) -> Bundle:
    """The training set ``training_set``, a reference model on it (versioned by the time) and
    the model's bundle, loaded back as serving will."""
    from jobs import build_training_set, train_reference_model
    from ops.build_bundle import build_named_bundle

    run_step("build_training_set", build_training_set.main, [*window, "--workload", workload, "--name", training_set])
    version = f"v{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    model_name = f"{workload}-model"
    run_step(
        "train_reference_model",
        train_reference_model.main,
        ["--training-set", training_set, "--name", model_name, "--version", version, *common],
    )
    return build_named_bundle(settings, model_name, version, training_set)


def _drifted_features(workload: str) -> tuple[str, str]:
    """The world moves on the served day: one number and one category drift, for the drift check to find."""
    from ops.synthetic_predictions import feature_schema

    schema = feature_schema(workload)
    return next(f for f, kind, *_ in schema if kind == 0), next(f for f, kind, *_ in schema if kind == 2)


def _requests(serve_round: _ServingRound, count: int, seed: int, drifted: tuple[str, ...]) -> Iterator[GeneratedRecord]:
    """The served day's prediction requests, ``drifted`` features moved."""
    from ops.synthetic import GeneratorConfig, generate

    config = GeneratorConfig(
        drifted_features=drifted,
        seed=seed,
        start_date=serve_round.day,
        days=1,
        records_per_day=count,
        llm_share=0.0,
        prediction_workloads=(serve_round.workload,),
    )
    return generate(config)


def _serve(settings: Settings, bundle: Bundle, workload: str, requests: Iterable[GeneratedRecord]) -> int:
    """Predict each request with the bundle and log it with the serving SDK, as a service
    would; the number of records logged."""
    from serving.logger import ServingLogger

    logger = ServingLogger(settings)
    logged = 0
    try:
        for generated in requests:
            request = generated.record
            outputs = bundle.predict({**request["features"], "event_ts": request["timestamp"]})
            event_id = logger.log_prediction(
                workload_id=workload,
                features=request["features"],
                outputs=outputs,
                model=bundle.model_identity(),
                request_id=request["request_id"],
                event_id=request["event_id"],
                client_id=request["client_id"],
                timestamp=request["timestamp"],
            )
            logged += event_id is not None
    finally:
        delivered = logger.close()
    if not delivered:
        raise LoopStepFailed(f"the serving logger could not deliver every record: {logger.stats}")
    return logged


def _land(spark: SparkSession, settings: Settings, serve_round: _ServingRound) -> int:
    """Ingest and parse the served day; the rows of ``silver.predictions`` from the new model."""
    from jobs import ingest_logs, parse_logs
    from skewguard.es import connect

    # Indexed documents become searchable at the next refresh (1 s by default); the loop
    # ingests the served day right away, so it asks for one.
    client = connect(settings.es_for("admin"))
    try:
        client.indices.refresh(index=settings.elasticsearch.index)
    finally:
        client.close()
    run_step("ingest_logs", ingest_logs.main, serve_round.argv)
    run_step("parse_logs", parse_logs.main, serve_round.argv)
    return _table(spark, settings, "silver.predictions").where(serve_round.served_rows).count()


def _serving_skew(spark: SparkSession, settings: Settings, serve_round: _ServingRound) -> dict[str, Any]:
    """``metrics.serving_skew``'s score row for the served day (empty when there is none)."""
    from jobs import check_serving_skew

    run_step("check_serving_skew", check_serving_skew.main, serve_round.argv)
    skew = (
        _table(spark, settings, "metrics.serving_skew")
        .where(f"{serve_round.served_rows} AND check = 'outputs' AND subject = 'score'")
        .first()
    )
    return {} if skew is None else skew.asDict()


def _drift_against_training_set(
    spark: SparkSession, settings: Settings, serve_round: _ServingRound, training_set: str
) -> tuple[str, list[dict[str, Any]]]:
    """Drift of what was served against the training set (profiled once): the HTML report and
    the whole-workload metrics in warn or alert."""
    from jobs import compute_drift, profile_reference

    run_step("profile_reference", profile_reference.main, ["--training-set", training_set, *serve_round.common])
    drift_dir = settings.drift_report_root() / f"{training_set}-{serve_round.day}"
    run_step(
        "compute_drift",
        compute_drift.main,
        ["--reference", training_set, *serve_round.argv, "--report-dir", str(drift_dir)],
    )
    flagged = (
        _table(spark, settings, "metrics.drift")
        .where(
            f"window_start = DATE'{serve_round.day}' AND workload_id = '{serve_round.workload}' "
            f"AND reference = '{training_set}' AND status IN ('warn', 'alert') AND slice_column = ''"
        )
        .orderBy("feature", "metric")
        .collect()
    )
    return str(drift_dir / "report.html"), [r.asDict() for r in flagged]


def format_loop(result: LoopResult) -> str:
    ts, model = result.training_set, result.model
    auc = model["metrics"].get("validation_auc")
    lines = [
        f"training set {ts['name']} (gold.training_set v{ts['version']}):",
        *[f"  {split:<10} {ts['split_counts'].get(split, 0):>8}" for split in ("train", "validation", "eval")],
        f"reference model {model['name']} {model['version']}: validation AUC "
        + ("n/a" if auc is None else f"{auc:.4f}"),
        f"bundle: {result.bundle_path}",
        f"parity gate: {'PASSED' if result.parity['passed'] else 'FAILED'} on {result.parity['examples']} examples "
        f"× {result.parity['outputs']} outputs, max |offline − serving| {result.parity['max_abs_diff']:.3g} "
        f"(serving p99 {result.parity['serving_latency_ms']['p99']:.3f} ms); report: "
        f"{result.parity['report_path']}/report.html",
        *result.llm_evaluation,
        *result.evaluation,
        f"served {result.served} requests on {result.serve_day} with the bundle; logged {result.logged}; "
        f"landed in silver.predictions with model version {model['version']}: {result.landed}",
        f"serving skew on {result.serve_day}: {result.skew.get('mismatched')} of {result.skew.get('rows')} logged "
        f"scores differ from the bundle's recomputation from the logged features",
        f"drift on {result.serve_day} against the training set (drifted on purpose: {', '.join(result.drifted)}): "
        f"{sum(r['status'] == 'alert' for r in result.drift)} metric(s) in alert, "
        f"{sum(r['status'] == 'warn' for r in result.drift)} in warn",
        *[
            f"  ALERT {r['feature']:<16} {r['metric']:<15} "
            + (f"{r['value']:.4f}" if r["value"] is not None else "n/a")
            + f" (alert > {r['alert_threshold']})"
            for r in result.drift
            if r["status"] == "alert"
        ],
        f"  drift report: {result.drift_report}",
    ]
    return "\n".join(lines)
