"""The closed loop on the embedded default, as the demo runs it: bronze logs → silver
predictions and LLM interactions → LLM fine-tuning / evaluation datasets (per-workload counts
printed) → delayed labels → labeled examples → training set → reference model → bundle
→ parity gate → serving (predicting with the bundle, logging with the SDK; two features
drift on purpose) → Elasticsearch → bronze → silver → serving-skew check of what was served
→ drift of the served day against the training set (profiled once), with its HTML report.

Each step is the real job (``main(argv)``), so a failure stops the loop with that job's
one-line cause.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skewguard.config import Settings

__all__ = ["LoopResult", "LoopStepFailed", "close_the_loop", "format_loop"]

log = logging.getLogger("skewguard.loop")


class LoopStepFailed(RuntimeError):
    """A job of the loop exited non-zero (its own log line says why)."""


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


def _run(name: str, main: Any, argv: list[str]) -> None:
    log.info("loop: %s %s", name, " ".join(argv))
    code = main(argv)
    if code != 0:
        raise LoopStepFailed(f"{name} exited {code}")


def close_the_loop(
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
    from jobs import (
        build_llm_datasets,
        build_training_set,
        check_parity,
        check_serving_skew,
        compute_drift,
        ingest_logs,
        join_labels,
        parse_logs,
        profile_reference,
        train_reference_model,
    )
    from jobs.lib.session import get_session
    from ops.build_bundle import build_bundle
    from ops.synthetic import GeneratorConfig, feature_schema, generate
    from ops.synthetic_labels import LabelConfig, read_records, write_labels
    from serving.bundle import Bundle
    from serving.logger import ServingLogger
    from skewguard.artifacts import bundle_dir, load_manifest, model_dir, training_set_dir
    from skewguard.es import connect

    window = ["--start", str(start), "--end", str(end), *common]
    _run("parse_logs", parse_logs.main, window)
    _run("build_llm_datasets", build_llm_datasets.main, window)
    labels_path = log_file.with_name("labels.jsonl")
    labels = write_labels(
        read_records(log_file), labels_path, LabelConfig(seed=seed, window_days=settings.training.label_window_days)
    )
    log.info("loop: %d labels written to %s", labels.label_rows, labels_path)
    _run("join_labels", join_labels.main, [*window, "--labels", str(labels_path)])
    name = f"{workload}_{start:%Y%m%d}_{end:%Y%m%d}"
    _run("build_training_set", build_training_set.main, [*window, "--workload", workload, "--name", name])
    version = f"v{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    model_name = f"{workload}-model"
    _run(
        "train_reference_model",
        train_reference_model.main,
        ["--training-set", name, "--name", model_name, "--version", version, *common],
    )
    bundle: Bundle = build_bundle(
        model_dir(settings, model_name, version),
        training_set_dir(settings, name),
        bundle_dir(settings, model_name, version),
    )

    # the deploy step: serving may use the bundle only if it reproduces the offline outputs
    report_dir = settings.artifacts_path() / "parity" / f"{model_name}-{version}"
    _run("check_parity", check_parity.main, ["--bundle", str(bundle.path), "--report-dir", str(report_dir), *common])
    parity = json.loads((report_dir / "report.json").read_text())

    serve_day = end + dt.timedelta(days=1)
    # the world moves on the served day: one number and one category drift, to be found below
    schema = feature_schema(workload)
    drifted = (next(f for f, kind, *_ in schema if kind == 0), next(f for f, kind, *_ in schema if kind == 2))
    config = GeneratorConfig(
        drifted_features=drifted,
        seed=seed + 1,
        start_date=serve_day,
        days=1,
        records_per_day=serve_requests,
        llm_share=0.0,
        prediction_workloads=(workload,),
    )
    logger = ServingLogger(settings)
    logged = 0
    try:
        for generated in generate(config):
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
    # Indexed documents become searchable at the next refresh (1 s by default); the loop
    # ingests the served day right away, so it asks for one.
    client = connect(settings.elasticsearch)
    try:
        client.indices.refresh(index=settings.elasticsearch.index)
    finally:
        client.close()
    day = ["--date", str(serve_day), "--workload", workload, *common]
    _run("ingest_logs", ingest_logs.main, day)
    _run("parse_logs", parse_logs.main, day)
    spark = get_session(settings)
    landed = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("silver.predictions"))
        .where(f"event_date = DATE'{serve_day}' AND workload_id = '{workload}' AND model_version = '{version}'")
        .count()
    )
    _run("check_serving_skew", check_serving_skew.main, day)
    skew = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("metrics.serving_skew"))
        .where(
            f"event_date = DATE'{serve_day}' AND workload_id = '{workload}' AND model_version = '{version}' "
            "AND check = 'outputs' AND subject = 'score'"
        )
        .first()
    )
    # drift of what was served against the training set (profiled once)
    _run("profile_reference", profile_reference.main, ["--training-set", name, *common])
    drift_dir = settings.drift_report_root() / f"{name}-{serve_day}"
    _run(
        "compute_drift",
        compute_drift.main,
        ["--reference", name, *day, "--report-dir", str(drift_dir)],
    )
    flagged = (
        spark.read.format("delta")
        .load(settings.lakehouse.table_path("metrics.drift"))
        .where(
            f"window_start = DATE'{serve_day}' AND workload_id = '{workload}' AND reference = '{name}' "
            "AND status IN ('warn', 'alert') AND slice_column = ''"
        )
        .orderBy("feature", "metric")
        .collect()
    )
    model = bundle.manifest
    return LoopResult(
        load_manifest(settings, name),
        model,
        bundle.path,
        serve_requests,
        logged,
        landed,
        serve_day,
        parity,
        {} if skew is None else skew.asDict(),
        drifted,
        [r.asDict() for r in flagged],
        str(drift_dir / "report.html"),
    )


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
