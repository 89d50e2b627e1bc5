"""Candidate bundles against the production one on the labelled traffic that was served:
each bundle's outputs recomputed from the logged inputs through its own transforms, joined
to the delayed labels, scored on the very same rows, with paired bootstrap intervals; rows
of ``metrics.evaluations``.

Point estimates are exact (ROC AUC and average precision from the exact tie groups, the rest
from sums). Intervals are percentile intervals over ``evaluation.replicates`` Poisson
bootstrap replicates; a replicate's AUC and AP come from fine logit bins of the score, and
their intervals are moved by the point estimate's binning error (exact − binned, kept in
``details_json`` as ``binning_error``) so that they sit around the exact value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.evaluate import classifier_metrics as cm
from jobs.evaluate.evaluation_passes import BootstrapSums, bootstrap_sums
from jobs.evaluate.evaluation_report import write_report
from jobs.evaluate.promotion_gate import GateDecision, gate_decisions, parity_passed
from jobs.evaluate.ranking_pass import exact_ranking
from jobs.evaluate.scored_rows import KEY_SEPARATOR, LoadedBundle, scope_rows, scopes_of, scored_rows
from jobs.lib.delta_io import ensure_table, sql_string, table_version
from schemas.evaluation_tables import METRICS_EVALUATIONS
from schemas.tables import GOLD_TRAINING_SET, SILVER_LABELED_EXAMPLES
from serving.built_bundle import load_built_bundle
from serving.bundle import Bundle

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from skewguard.config import Settings

__all__ = [
    "Estimate",
    "EvaluationRequest",
    "EvaluationResult",
    "estimates",
    "evaluate_models",
    "load_bundle",
    "replicate_metrics",
]

log = logging.getLogger("skewguard.evaluate")


@dataclass(frozen=True)
class EvaluationRequest:
    window: DayWindow
    candidates: tuple[str, ...]
    """Folders, or ``<name>/<version>`` of bundles built here."""
    production: str | None = None
    """The production bundle (default: the one that served most of the window's rows)."""
    training_set: str | None = None
    """Only the rows in this training set's ``eval`` split."""
    by_day: bool = False


@dataclass
class EvaluationResult:
    rows: list[dict[str, Any]]
    bundles: list[dict[str, Any]]
    scored: int
    refused: int
    refusals: list[str] = field(default_factory=list)
    decisions: list[GateDecision] = field(default_factory=list)
    """Per candidate: the promotion gate's decision."""
    report: str = ""
    """The HTML report's path."""
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: ``reading`` (the rows, their labels checked; the bundles loaded),
    ``scoring`` (every bundle's scores of every row, materialised), ``ranking`` (the exact
    AUC/AP passes), ``bootstrap``, ``writing`` (``metrics.evaluations``), ``gate_and_report``."""


def load_bundle(settings: Settings, spec: str, role: str) -> LoadedBundle:
    """A bundle named as a folder (a path that exists) or ``<name>/<version>`` of a built one."""
    from pathlib import Path

    folder = Path(spec)
    if folder.is_dir():
        return LoadedBundle(role, Bundle.load(folder), spec)
    name, sep, version = spec.partition("/")
    if not sep or not name or not version or "/" in version:
        raise ValueError(f"{role} bundle {spec!r}: no such folder, and not <name>/<version> of a built bundle")
    return LoadedBundle(role, load_built_bundle(settings, name, version), spec)


def _rows(spark: SparkSession, settings: Settings, request: EvaluationRequest, run: RunRecord) -> DataFrame:
    from pyspark.sql import functions as F

    path = ensure_table(spark, settings, SILVER_LABELED_EXAMPLES)
    version = table_version(spark, path)
    run.source = f"{SILVER_LABELED_EXAMPLES.name}@v{version}"
    rows_df = spark.read.format("delta").option("versionAsOf", version).load(path).where(request.window.contains())
    if request.training_set is not None:
        from skewguard.artifacts import load_manifest

        manifest = load_manifest(settings, request.training_set)
        eval_df = (
            spark.read.format("delta")
            .option("versionAsOf", manifest["version"])
            .load(manifest["path"])
            .where(f"training_set = {sql_string(request.training_set)} AND split = 'eval'")
            .select("event_id")
        )
        rows_df = rows_df.join(eval_df, "event_id", "left_semi")
        run.source += f" ∩ {GOLD_TRAINING_SET.name}:{request.training_set}@v{manifest['version']} eval"
    missing = [c for c in settings.evaluation.slice_columns if c not in rows_df.columns]
    if missing:
        raise ValueError(f"evaluation.slice_columns: {SILVER_LABELED_EXAMPLES.name} has no column(s) {missing}")
    bad = rows_df.where(~F.col("label").isin(0.0, 1.0)).count()
    if bad:
        raise ValueError(f"{bad} labelled row(s) have a label other than 0 or 1: a binary evaluation needs 0/1 labels")
    return rows_df


def _production_spec(rows_df: DataFrame) -> str:
    from pyspark.sql import functions as F

    top = rows_df.groupBy("model_name", "model_version").count().orderBy(F.desc("count")).limit(1).collect()
    if not top:
        raise LookupError("no labelled rows in the window: nothing to evaluate")
    return f"{top[0]['model_name']}/{top[0]['model_version']}"


def _interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def replicate_metrics(sums: BootstrapSums, calibration_bins: int) -> dict[str, np.ndarray]:
    """Each metric's value in every replicate (NaN where undefined; AUC and AP from the fine bins)."""
    reps = sums.replicate.shape[0]
    out = {m: np.full(reps, np.nan) for m in cm.METRICS}
    for r in range(reps):
        for metric, value in cm.from_sums(sums.replicate[r], calibration_bins).items():
            out[metric][r] = np.nan if value is None else value
        auc, ap = cm.ranking(sums.hist[r, 0], sums.hist[r, 1])
        out["roc_auc"][r] = np.nan if auc is None else auc
        out["pr_auc"][r] = np.nan if ap is None else ap
    return out


@dataclass(frozen=True)
class Estimate:
    """One metric of one bundle: the exact value, its interval, and the paired difference from
    the first bundle (production) with its interval; ``binning_error`` (AUC and AP) is exact −
    binned at the point estimate, by which the replicates were moved."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    diff: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    binning_error: float | None = None


def estimates(
    sums: Sequence[BootstrapSums],
    ranks: Sequence[tuple[float | None, float | None]],
    calibration_bins: int,
    confidence: float,
) -> list[dict[str, Estimate]]:
    """Per bundle (the first is production) and metric, from its bootstrap sums and its exact
    (ROC AUC, average precision): exact point estimates, percentile intervals of the
    replicates, paired percentile intervals of the replicates' differences from production."""
    values: list[dict[str, float | None]] = []
    reps: list[dict[str, np.ndarray]] = []
    binning: list[dict[str, float | None]] = []
    for b, boot in enumerate(sums):
        point: dict[str, float | None] = dict(cm.from_sums(boot.point, calibration_bins))
        point["roc_auc"], point["pr_auc"] = ranks[b]
        binned = cm.ranking(boot.point_hist[0], boot.point_hist[1])
        shift = {
            m: (None if point[m] is None or got is None else point[m] - got)  # type: ignore[operator]
            for m, got in zip(("roc_auc", "pr_auc"), binned, strict=True)
        }
        rep = replicate_metrics(boot, calibration_bins)
        for m, s in shift.items():
            if s is not None:
                rep[m] = rep[m] + s
        values.append(point)
        reps.append(rep)
        binning.append(shift)
    out = []
    for b in range(len(sums)):
        per_metric = {}
        for metric in cm.METRICS:
            low, high = _interval(reps[b][metric], confidence)
            value, prod = values[b][metric], values[0][metric]
            d_low, d_high = _interval(reps[b][metric] - reps[0][metric], confidence)
            per_metric[metric] = Estimate(
                value, low, high, None if value is None or prod is None else value - prod, d_low, d_high,
                binning[b].get(metric),
            )  # fmt: skip
        out.append(per_metric)
    return out


def _scope(key: str) -> dict[str, Any]:
    import datetime as dt

    day, workload, column, value = key.split(KEY_SEPARATOR)
    return {
        "event_date": dt.date.fromisoformat(day) if day else None,
        "workload_id": workload,
        "slice_column": column,
        "slice_value": value,
    }


def _bundle_labels(bundles: Sequence[LoadedBundle]) -> dict[tuple[str, str], str]:
    """``production``, ``candidate1``, ``candidate2``… by (role, path): how a run's summary names
    the bundles (two of them may share a name and version, or be the same folder in both roles)."""
    labels = {("production", str(bundles[0].bundle.path)): "production"}
    labels.update({("candidate", str(b.bundle.path)): f"candidate{i}" for i, b in enumerate(bundles[1:], 1)})
    return labels


def _window_metrics(rows: Sequence[dict[str, Any]], bundles: Sequence[LoadedBundle]) -> dict[str, dict[str, float]]:
    """Each workload's metrics over the whole window (no day, no slice), by bundle:
    ``{"<workload>": {"<label>.<metric>": value, "<label>.<metric>_diff_vs_production": …}}``
    (labels of :func:`_bundle_labels`), what the run's summary shows (every row is in
    ``metrics.evaluations``)."""
    labels = _bundle_labels(bundles)
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["event_date"] is not None or r["slice_column"] or r["value"] is None:
            continue
        label = labels[(r["bundle_role"], r["bundle_path"])]
        scope = out.setdefault(str(r["workload_id"]), {})
        scope[f"{label}.{r['metric']}"] = r["value"]
        if label != "production" and r["diff_vs_production"] is not None:
            scope[f"{label}.{r['metric']}_diff_vs_production"] = r["diff_vs_production"]
    return out


def _metric_rows(
    base: dict[str, Any],
    key: str,
    bundles: Sequence[LoadedBundle],
    ranks: dict[tuple[str, int], tuple[float | None, float | None]],
    boot: dict[tuple[str, int], BootstrapSums],
    settings: Settings,
) -> list[dict[str, Any]]:
    conf = settings.evaluation
    got = estimates(
        [boot[(key, b)] for b in range(len(bundles))],
        [ranks[(key, b)] for b in range(len(bundles))],
        conf.calibration_bins,
        conf.confidence,
    )
    out = []
    for b, loaded in enumerate(bundles):
        sums = boot[(key, b)]
        for metric in cm.METRICS:
            e = got[b][metric]
            details: dict[str, Any] = {"spec": loaded.spec}
            if metric in ("roc_auc", "pr_auc"):
                details["binning_error"] = e.binning_error
            out.append(
                {
                    **base,
                    **_scope(key),
                    **{k: v for k, v in loaded.identity.items()},
                    "metric": metric,
                    "value": e.value,
                    "ci_low": e.ci_low,
                    "ci_high": e.ci_high,
                    "n": int(sums.point[0]),
                    "positives": int(sums.point[1]),
                    "diff_vs_production": e.diff,
                    "diff_ci_low": 0.0 if b == 0 else e.diff_ci_low,
                    "diff_ci_high": 0.0 if b == 0 else e.diff_ci_high,
                    "replicates": conf.replicates,
                    "details_json": json.dumps(details),
                }
            )
    return out


def evaluate_models(
    spark: SparkSession, settings: Settings, request: EvaluationRequest, run: RunRecord, gate: bool = False
) -> EvaluationResult:
    """Score production and the candidates on the window's labelled rows; the rows written to
    ``metrics.evaluations`` (appended as one run), the gate's decisions and the report."""
    import time

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    conf = settings.evaluation
    phases: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(phases.get(name, 0.0) + now - clock[0], 3)
        clock[0] = now

    rows_df = _rows(spark, settings, request, run)
    production = load_bundle(settings, request.production or _production_spec(rows_df), "production")
    bundles = [production, *[load_bundle(settings, c, "candidate") for c in request.candidates]]
    slices = list(conf.slice_columns)
    lap("reading")
    scored_df = scored_rows(rows_df, bundles, slices).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = scored_df.agg(
            F.count(F.lit(1)).alias("rows"), F.sum(F.col("_refused").isNotNull().cast("long")).alias("refused")
        ).first()
        total, refused = int(counts["rows"]), int(counts["refused"] or 0)
        refusals = [
            r["_refused"] for r in scored_df.where(F.col("_refused").isNotNull()).select("_refused").limit(5).collect()
        ]
        if total == refused:
            raise LookupError(f"no labelled row in {request.window} that every bundle could score ({refused} refused)")
        lap("scoring")
        scoped_df, scopes = scope_rows(scored_df, request.by_day), scopes_of(slices, request.by_day)
        thresholds = [b.bundle.threshold for b in bundles]
        boot = bootstrap_sums(
            scoped_df, scopes, thresholds, conf.replicates, conf.seed, conf.calibration_bins, conf.score_bins
        )
        lap("bootstrap")
        ranks = exact_ranking(scoped_df, scopes, {k: b.point_hist for k, b in boot.items()}, len(bundles))
        lap("ranking")
    finally:
        scored_df.unpersist()
    base = {
        "run_id": run.run_id,
        "evaluated_at": run.started_at,
        "window_start": request.window.start,
        "window_end": request.window.end,
        "source": run.source,
    }
    out: list[dict[str, Any]] = []
    for key in sorted({k for k, _ in boot}):
        out += _metric_rows(base, key, bundles, ranks, boot, settings)
    path = ensure_table(spark, settings, METRICS_EVALUATIONS)
    schema = METRICS_EVALUATIONS
    written_df = spark.createDataFrame(
        [tuple(r.get(c) for c in schema.column_names) for r in out], schema.spark_schema()
    )
    written_df.write.format("delta").mode("append").save(path)
    run.read_count, run.landed_count = total, len(out)
    run.output_version = table_version(spark, path)
    lap("writing")
    run.details = {"scored": total - refused, "refused": refused, "bundles": [b.spec for b in bundles]}
    run.status = "succeeded"
    log.info(
        "%d labelled rows scored by %d bundle(s) (%d refused): %d metric rows",
        total - refused,
        len(bundles),
        refused,
        len(out),
    )
    parity = {b.spec: parity_passed(spark, settings, b.bundle) for b in bundles[1:]}
    decisions = gate_decisions(out, settings, parity)
    result = EvaluationResult(
        out, [b.identity | {"spec": b.spec} for b in bundles], total - refused, refused, refusals, decisions
    )
    folder = settings.evaluation_report_root() / run.run_id
    result.report = str(write_report(folder, run.run_id, request, result, boot, bundles, settings, gated=gate))
    labels = _bundle_labels(bundles)
    params = {labels[(b.role, str(b.bundle.path))]: b.spec for b in bundles}
    run.details.update(report=result.report, metrics=_window_metrics(out, bundles), params=params)
    lap("gate_and_report")
    result.phases = phases
    return result
