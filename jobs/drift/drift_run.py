"""Drift of a current window against a stored reference profile: PSI, KS, JS, null-rate and
count deltas per workload × slice × feature, written to ``metrics.drift`` with an HTML report.

One histogram pass over the current rows gives every binned metric and the KS bounds; KS is
then refined (bounded mode: only where a threshold lies inside [D_lo, D_hi]; exact mode: every
bin that can hold a larger gap) by one distributed walk over both sides' raw values.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.baselines import Profile, load_profile, previous_profile
from jobs.drift.dataset_verdict import dataset_rows, verdict_line
from jobs.drift.drift_report import FeatureReport, MetricValue, RunReport
from jobs.drift.feature_drift import (
    FeatureDrift,
    Scope,
    feature_alpha,
    feature_status,
    finish_ks,
    flagging_tests,
    judge_metrics,
    ks_candidates,
    measure,
)
from jobs.drift.feature_rows import FeatureRows, feature_rows
from jobs.drift.histograms import ROWS, combine, extremes_key, histograms
from jobs.drift.ks_walk import Comparison, WalkStats, exact_gaps
from jobs.drift.sources import RowSource, table_source
from schemas.tables import SILVER_LABELED_EXAMPLES, SILVER_PREDICTIONS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from skewguard.config import Settings
    from skewguard.settings_models import DriftSettings

__all__ = ["DRIFT_TYPES", "DriftResult", "compute_drift", "current_source"]

#: ``--compare`` → the ``drift_type`` of the rows
DRIFT_TYPES = {"reference": "baseline", "previous": "consecutive"}

log = logging.getLogger("skewguard.drift")


def current_source(
    spark: SparkSession, settings: Settings, reference: RowSource, window: DayWindow, table: str | None
) -> RowSource:
    """The current rows: ``table`` (a table name or path) when given; else where the
    reference's kind of rows is logged (training sets and predictions: ``silver.predictions``)."""
    if table is None:
        table = SILVER_PREDICTIONS.name if reference.table == SILVER_LABELED_EXAMPLES.name else reference.table
    return table_source(spark, settings, table, window.start, window.end, window.workload_id,
                        reference.workload_column, reference.date_column)  # fmt: skip


@dataclass
class DriftResult:
    rows: list[dict[str, Any]]
    report: RunReport
    alerts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase (profile load, histogram pass, exact KS walk) and bins walked."""
    empty_workloads: list[str] = field(default_factory=list)
    """Profiled workloads with no current row in the window: measured as ``empty``, never written."""
    drift_type: str = "baseline"
    """``baseline`` (against the stored profile) or ``consecutive`` (against the previous window)."""
    dataset_alerts: list[str] = field(default_factory=list)
    """The ``ALERT dataset …`` lines: workloads (or slices) whose share of features in alert
    reaches ``drift.drift_share``."""


def _scoped(counts: dict[Any, np.ndarray], workloads: list[str], slices: list[str]) -> dict[Any, np.ndarray]:
    """(workload, scope, feature) → counts: the whole workload and each slice value."""
    out: dict[Any, np.ndarray] = {}
    for (workload, combo, feature), c in counts.items():
        if workload not in workloads:
            continue
        scopes: list[Scope] = [None, *[(j, combo[j]) for j in range(len(slices))]]
        for scope in scopes:
            key = (workload, scope, feature)
            out[key] = combine(feature, out[key], c) if key in out else c.copy()
    return out


def _measured_features(
    profile: Profile, counts: dict[Any, np.ndarray], settings: Settings, exact: bool
) -> list[FeatureDrift]:
    """Every profiled feature of every workload × scope measured on the binned counts, with
    the fine bins KS still has to walk exactly."""
    features: list[FeatureDrift] = []
    # every profiled workload is measured (an empty window is reported too), then its slices
    scopes = {(w, s) for (w, s, _) in counts} | {(w, None) for w in profile.workload_rows}
    conf = settings.drift
    for workload, scope in sorted(scopes, key=lambda ws: (ws[0], ws[1] is not None, str(ws[1]))):
        cur_rows = int(counts.get((workload, scope, ROWS), np.zeros(1))[0])
        monitored = sum(1 for w, _ in profile.rows if w == workload)
        for (w, i), ref in sorted(profile.rows.items()):
            if w != workload:
                continue
            width = profile.plan.width(w, i)
            cur = counts.get((w, scope, i), np.zeros(width, dtype=np.int64))
            spec = profile.specs[i]
            alpha = feature_alpha(conf, monitored, flagging_tests(conf, w, spec))
            f = FeatureDrift(w, scope, i, spec, ref, cur, cur_rows, alpha=alpha)
            f.cur_range = counts.get((w, scope, extremes_key(i)))
            measure(f, settings)
            f.ks_refine = ks_candidates(f, settings, exact)
            features.append(f)
    return features


def _ks_comparisons(features: list[FeatureDrift], plan: Any) -> list[Comparison]:
    out = []
    for f in features:
        if f.ks is None or not f.ks_refine.size:
            continue
        edges = plan.edges[(f.workload, f.index)]
        k = edges.size
        ref_counts, ref_edge = np.array(f.ref["fine_counts"]), np.array(f.ref["fine_on_edge"])
        cur_counts, cur_edge = f.cur[: k + 1], f.cur[k + 1 : 2 * k + 1]
        lows = [x for x in (f.ref.get("min"), None if f.cur_range is None else f.cur_range[0]) if x is not None]
        highs = [x for x in (f.ref.get("max"), None if f.cur_range is None else f.cur_range[1]) if x is not None]
        for b in (int(x) for x in f.ks_refine):
            low = edges[b - 1] if b > 0 else min(lows, default=edges[0] if k else 0.0)
            high = edges[b] if b < k else max(highs, default=low)
            inside = int(ref_counts[b] + cur_counts[b] - (ref_edge[b] + cur_edge[b] if b < k else 0))
            out.append(
                Comparison(
                    f.workload,
                    f.index,
                    b,
                    f.scope,
                    int(f.ks.ref_before[b]),
                    int(f.ks.cur_before[b]),
                    f.ks.n_ref,
                    f.ks.n_cur,
                    float(low),
                    float(max(high, low)),
                    inside,
                    f.ks.d_lo,
                )  # fmt: skip
            )
    return out


def _walk_ks(
    spark: SparkSession,
    conf: DriftSettings,
    profile: Profile,
    cur_rows: FeatureRows,
    features: list[FeatureDrift],
    comparisons: list[Comparison],
    stats: WalkStats,
) -> np.ndarray:
    """The exact gap at each compared fine bin, from one walk over both sides' raw values
    (after one count of their sub-bins, when many values lie inside them)."""
    gaps = np.zeros(0)
    if comparisons:
        log.info(
            "KS: walking %d fine bin(s) of %d feature(s) exactly",
            len(comparisons),
            sum(1 for f in features if f.ks_refine.size),
        )
        walked = {c.feature for c in comparisons}  # the walk's passes read only these features
        ref_rows = feature_rows(spark, profile.source, profile.specs, (), conf.direct_read).only(walked)
        partitions = max(spark.sparkContext.defaultParallelism, min(len(comparisons), 200))
        gaps = exact_gaps(
            ref_rows, cur_rows.only(walked), profile.plan, comparisons, partitions, stats, conf.ks_refine_above
        )
    return gaps


def _finish_all_ks(features: list[FeatureDrift], gaps: np.ndarray, exact: bool) -> None:
    """Hand each numeric feature its share of the walked gaps (in the comparisons' order)."""
    offset = 0
    for f in features:
        if f.spec.kind == "numeric":
            finish_ks(f, gaps[offset : offset + f.ks_refine.size], exact)
            offset += f.ks_refine.size


def compute_drift(
    spark: SparkSession,
    settings: Settings,
    reference: str,
    window: DayWindow,
    run: RunRecord,
    table: str | None = None,
    ks_mode: str | None = None,
    compare: str = "reference",
) -> DriftResult:
    """Measure ``window`` against the profile ``reference`` (``compare="previous"``: against
    the window before it, profiled on the reference's bins) into ``metrics.drift`` rows."""
    conf = settings.drift
    exact = (ks_mode or conf.ks_mode) == "exact"
    t0 = time.perf_counter()
    profile = load_profile(spark, settings, reference, window.workload_id)
    source = current_source(spark, settings, profile.source, window, table)
    not_compared: list[str] = []
    if compare == "previous":
        profile, not_compared = previous_profile(spark, profile, source, window, conf.direct_read)
        if not_compared:
            log.warning("no rows before %s for %s: nothing to compare with", window, ", ".join(not_compared))
    phases = {"load_profile_s": time.perf_counter() - t0}
    slices = list(conf.slice_columns)
    cur_rows = feature_rows(spark, source, profile.specs, slices, conf.direct_read)
    t0 = time.perf_counter()
    counts = _scoped(histograms(cur_rows, profile.plan, len(slices)), sorted(profile.workload_rows), slices)
    phases["histograms_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features = _measured_features(profile, counts, settings, exact)
    comparisons = _ks_comparisons(features, profile.plan)
    walked = WalkStats()
    gaps = _walk_ks(spark, conf, profile, cur_rows, features, comparisons, walked)
    phases["ks_walk_s"] = time.perf_counter() - t0
    phases["ks_bins_walked"] = len(comparisons)
    phases["ks_sub_bins_walked"] = walked.cells_walked if walked.refined else 0
    phases["ks_values_walked"] = walked.values_walked
    _finish_all_ks(features, gaps, exact)
    result = _result(settings, reference, profile, source, window, run, features, slices, exact)
    result.drift_type = DRIFT_TYPES[compare]
    for row in result.rows:
        row["drift_type"] = result.drift_type
    verdicts = dataset_rows(result.rows, conf.drift_share)
    result.rows += verdicts
    result.dataset_alerts = [verdict_line(v) for v in verdicts if v["status"] == "alert"]
    result.report = replace(result.report, datasets=tuple(verdicts))
    result.phases = {k: round(v, 3) for k, v in phases.items()}
    result.empty_workloads = sorted(
        {f.workload for f in features if f.scope is None and f.cur_rows == 0} | set(not_compared)
    )
    run.source = f"{source.table}@v{source.version}"
    run.read_count = sum(f.cur_rows for f in features if f.scope is None and f.index == 0)
    return result


def _drift_row(
    base: dict[str, Any], f: FeatureDrift, slice_column: str, slice_value: str, v: MetricValue, exact: bool
) -> dict[str, Any]:
    """One ``metrics.drift`` row: ``base`` (the run's columns) and one metric of one feature."""
    return {
        **base,
        "workload_id": f.workload,
        "slice_column": slice_column,
        "slice_value": slice_value,
        "feature": f.spec.name,
        "feature_type": f.spec.kind,
        "metric": v.metric,
        "value": v.value,
        "lower": v.lower,
        "upper": v.upper,
        "warn_threshold": v.warn,
        "alert_threshold": v.alert,
        "alpha": v.alpha,
        "noise_floor": v.noise_floor,
        "p_value": v.p_value,
        "status": v.status,
        "reason": v.reason,
        "ref_count": int(f.ref["count"]),
        "cur_count": f.cur_count,
        "ref_null_rate": f.ref["null_rate"],
        "cur_null_rate": f.cur_null_rate,
        "bin_labels": f.bins[0] if v.metric == "psi" else None,
        "ref_props": f.bins[1] if v.metric == "psi" else None,
        "cur_props": f.bins[2] if v.metric == "psi" else None,
        "details_json": json.dumps({"ks_mode": "exact" if exact else "bounded", "note": v.note}),
    }


def _threshold_line(f: FeatureDrift, slice_column: str, slice_value: str, v: MetricValue) -> str:
    """``WARN``/``ALERT`` line of a metric over its threshold."""
    where = f"{f.workload}{'' if f.scope is None else f' [{slice_column}={slice_value}]'} {f.spec.name}"
    shown = f"{v.value:.4g}" if v.lower is None or v.lower == v.upper else f"[{v.lower:.4g}, {v.upper:.4g}]"
    limit = v.alert if v.status == "alert" else v.warn
    return f"{v.status.upper()} {where}: {v.metric} {shown} > {limit}"


def _feature_report(f: FeatureDrift, slice_column: str, slice_value: str, values: list[MetricValue]) -> FeatureReport:
    return FeatureReport(
        f.workload,
        f.spec.name,
        f.spec.kind,
        "" if f.scope is None else f"{slice_column}={slice_value}",
        feature_status(values),
        int(f.ref["count"]),
        f.cur_count,
        f.ref["null_rate"],
        f.cur_null_rate,
        tuple(f.bins[0]),
        tuple(f.bins[1]),
        tuple(f.bins[2]) if f.cur_rows else (),
        tuple(values),
    )


def _result(
    settings: Settings,
    reference: str,
    profile: Profile,
    source: RowSource,
    window: DayWindow,
    run: RunRecord,
    features: list[FeatureDrift],
    slices: list[str],
    exact: bool,
) -> DriftResult:
    base = {
        "run_id": run.run_id,
        "computed_at": run.started_at,
        "window_start": window.start,
        "window_end": window.end,
        "reference": reference,
        "source_table": f"{source.table}@v{source.version}",
    }
    rows: list[dict[str, Any]] = []
    reports: list[FeatureReport] = []
    alerts: list[str] = []
    warnings: list[str] = []
    for f in features:
        slice_column, slice_value = ("", "") if f.scope is None else (slices[f.scope[0]], f.scope[1])
        values = judge_metrics(f, settings, exact)
        for v in values:
            rows.append(_drift_row(base, f, slice_column, slice_value, v, exact))
            if v.status in ("warn", "alert"):
                (alerts if v.status == "alert" else warnings).append(_threshold_line(f, slice_column, slice_value, v))
        reports.append(_feature_report(f, slice_column, slice_value, values))
    report = RunReport(
        run.run_id,
        run.started_at.isoformat(),
        str(window),
        profile.source.describe() + f" [profile {reference}]",
        "exact" if exact else "bounded",
        tuple(reports),
    )
    return DriftResult(rows, report, alerts, warnings)
