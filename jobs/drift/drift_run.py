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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.drift_report import FeatureReport, MetricValue, RunReport
from jobs.drift.histograms import ROWS, BinPlan, Comparison, exact_gaps, feature_frame, histograms
from jobs.drift.reference_profile import merged_specs
from jobs.drift.sources import FeatureSpec, RowSource, table_source
from jobs.lib.delta_io import ensure_table, replace_where, sql_date, sql_string
from schemas.drift_tables import METRICS_DRIFT, METRICS_REFERENCE_PROFILES
from schemas.tables import SILVER_LABELED_EXAMPLES, SILVER_PREDICTIONS
from skewguard import drift_stats as m

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.lib.runs import RunRecord
    from jobs.lib.window import DayWindow
    from skewguard.config import Settings

__all__ = ["DriftResult", "compute_drift", "current_source", "load_profile", "write_drift"]

log = logging.getLogger("skewguard.drift")
Scope = tuple[int, str] | None


@dataclass
class Profile:
    """A stored reference profile, ready to bin current rows with."""

    name: str
    source: RowSource
    specs: list[FeatureSpec]
    plan: BinPlan
    rows: dict[tuple[str, int], dict[str, Any]]
    workload_rows: dict[str, int]


def load_profile(spark: SparkSession, settings: Settings, name: str, workload: str | None) -> Profile:
    """The profile ``name`` (only ``workload``'s features when given)."""
    from pyspark.sql import functions as F

    path = ensure_table(spark, settings, METRICS_REFERENCE_PROFILES)
    found = spark.read.format("delta").load(path).where(F.col("reference") == F.lit(name))
    if workload is not None:
        found = found.where(F.col("workload_id") == F.lit(workload))
    rows = [r.asDict() for r in found.collect()]
    if not rows:
        scope = f" for workload {workload!r}" if workload else ""
        raise LookupError(f"no reference profile named {name!r}{scope}: run profile_reference first")
    per_workload: dict[str, list[FeatureSpec]] = {}
    for r in sorted(rows, key=lambda r: (r["workload_id"], r["feature"])):
        spec = FeatureSpec(r["feature"], r["feature_type"], r["expression"], bool(r["is_array"]))
        per_workload.setdefault(r["workload_id"], []).append(spec)
    specs, _ = merged_specs(per_workload)
    index = {s.name: i for i, s in enumerate(specs)}
    plan = BinPlan(specs)
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["workload_id"], index[r["feature"]])
        by_key[key] = r
        if r["feature_type"] == "numeric":
            plan.edges[key] = np.array(r["fine_edges"], dtype=np.float64)
        else:
            plan.categories[key] = list(r["categories"][:-3])
            plan.others[key] = list(r["other_categories"] or [])
    return Profile(
        name,
        RowSource.from_json(rows[0]["source_json"]),
        specs,
        plan,
        by_key,
        {r["workload_id"]: int(r["rows"]) for r in rows},
    )


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


def _scoped(counts: dict[Any, np.ndarray], workloads: list[str], slices: list[str]) -> dict[Any, np.ndarray]:
    """(workload, scope, feature) → counts: the whole workload and each slice value."""
    out: dict[Any, np.ndarray] = {}
    for (workload, combo, feature), c in counts.items():
        if workload not in workloads:
            continue
        scopes: list[Scope] = [None, *[(j, combo[j]) for j in range(len(slices))]]
        for scope in scopes:
            key = (workload, scope, feature)
            out[key] = out[key] + c if key in out else c.copy()
    return out


def _bin_labels(edges: list[float]) -> list[str]:
    points = ["-inf", *[f"{e:.4g}" for e in edges], "+inf"]
    labels = [f"({points[i]}, {points[i + 1]}]" for i in range(len(points) - 1)]
    if labels:
        labels[-1] = labels[-1][:-1] + ")"
    return [*labels, "null"]


@dataclass
class _Feature:
    """One workload × scope × feature being measured."""

    workload: str
    scope: Scope
    index: int
    spec: FeatureSpec
    ref: dict[str, Any]
    cur: np.ndarray
    cur_rows: int
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    bins: tuple[list[str], list[float], list[float]] = ([], [], [])
    ks: m.KsBounds | None = None
    ks_refine: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cur_count: int = 0
    """Current values (numeric: non-null) or observations (categorical)."""
    cur_null_rate: float | None = None


def _measure(f: _Feature, settings: Settings) -> None:
    conf = settings.drift
    ref = f.ref
    if f.spec.kind == "numeric":
        fine = np.array(ref["fine_edges"], dtype=np.float64)
        k = fine.size
        cur_bins, cur_edge, cur_nulls = f.cur[: k + 1], f.cur[k + 1 : 2 * k + 1], int(f.cur[2 * k + 1])
        coarse = np.array(ref["bin_edges"], dtype=np.float64)
        ref_psi = np.array(ref["bin_counts"], dtype=np.int64)
        cur_psi = np.append(m.coarse_counts(cur_bins, fine, coarse), cur_nulls)
        cur_count = int(cur_bins.sum())
        labels = _bin_labels(list(coarse))
        f.ks = m.ks_bounds(np.array(ref["fine_counts"]), np.array(ref["fine_on_edge"]), cur_bins, cur_edge)
    else:
        ref_psi = np.array(ref["category_counts"], dtype=np.int64)
        cur_psi = f.cur
        cur_nulls = int(f.cur[len(ref_psi) - 2])
        cur_count = int(f.cur.sum()) - cur_nulls
        labels = list(ref["categories"])
        divergence, distance = m.js(ref_psi, cur_psi)
        f.metrics["js_divergence"] = {"value": divergence}
        f.metrics["js_distance"] = {"value": distance}
    f.metrics["psi"] = {"value": m.psi(ref_psi, cur_psi, conf.epsilon)}
    cur_total = cur_count + cur_nulls
    f.metrics["null_rate_delta"] = {
        "value": (cur_nulls / cur_total - ref["null_rate"]) if cur_total and ref["null_rate"] is not None else None
    }
    f.metrics["count_delta"] = {"value": f.cur_rows / ref["rows"] - 1.0 if ref["rows"] else None}
    f.bins = (labels, [float(x) for x in m.proportions(ref_psi)], [float(x) for x in m.proportions(cur_psi)])
    f.cur_count = cur_count
    f.cur_null_rate = cur_nulls / cur_total if cur_total else None


def _ks_candidates(f: _Feature, settings: Settings, exact: bool) -> np.ndarray:
    if f.ks is None:
        return np.zeros(0, dtype=np.int64)
    if exact:
        return f.ks.candidates(above=f.ks.d_lo)
    limits = settings.drift.thresholds_for(f.workload, f.spec.name, "ks")
    straddled = [t for t in (limits.warn, limits.alert) if t is not None and f.ks.d_lo <= t < f.ks.d_hi]
    return f.ks.candidates(above=min(straddled)) if straddled else np.zeros(0, dtype=np.int64)


def _finish_ks(f: _Feature, gaps: np.ndarray, exact: bool) -> None:
    if f.ks is None:
        f.metrics["ks"] = {"value": None}
        return
    refined = f.ks_refine
    lower = max(f.ks.d_lo, float(gaps.max(initial=0.0)))
    rest = np.delete(f.ks.bin_upper, refined)
    upper = lower if exact else max(lower, float(rest.max(initial=0.0)))
    note = "exact" if exact else f"bounded, {refined.size} fine bin(s) walked exactly"
    f.metrics["ks"] = {"value": lower, "lower": lower, "upper": upper, "note": note}
    pvalue = m.ks_pvalue(lower, f.ks.n_ref, f.ks.n_cur)
    f.metrics["ks_pvalue"] = {"value": pvalue, "note": "not an alarm at large N (README, KS)"}


def compute_drift(
    spark: SparkSession,
    settings: Settings,
    reference: str,
    window: DayWindow,
    run: RunRecord,
    table: str | None = None,
    ks_mode: str | None = None,
) -> DriftResult:
    """Measure ``window`` against the profile ``reference``; write ``metrics.drift``."""
    conf = settings.drift
    exact = (ks_mode or conf.ks_mode) == "exact"
    t0 = time.perf_counter()
    profile = load_profile(spark, settings, reference, window.workload_id)
    source = current_source(spark, settings, profile.source, window, table)
    phases = {"load_profile_s": time.perf_counter() - t0}
    slices = list(conf.slice_columns)
    cur_df = feature_frame(source.read(spark), profile.specs, slices)
    t0 = time.perf_counter()
    counts = _scoped(histograms(cur_df, profile.plan, len(slices)), sorted(profile.workload_rows), slices)
    phases["histograms_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    features: list[_Feature] = []
    # every profiled workload is measured (an empty window is reported too), then its slices
    scopes = {(w, s) for (w, s, _) in counts} | {(w, None) for w in profile.workload_rows}
    for workload, scope in sorted(scopes, key=lambda ws: (ws[0], ws[1] is not None, str(ws[1]))):
        cur_rows = int(counts.get((workload, scope, ROWS), np.zeros(1))[0])
        for (w, i), ref in sorted(profile.rows.items()):
            if w != workload:
                continue
            width = profile.plan.width(w, i)
            cur = counts.get((w, scope, i), np.zeros(width, dtype=np.int64))
            f = _Feature(w, scope, i, profile.specs[i], ref, cur, cur_rows)
            _measure(f, settings)
            f.ks_refine = _ks_candidates(f, settings, exact)
            features.append(f)
    comparisons = [
        Comparison(
            f.workload,
            f.index,
            int(b),
            f.scope,
            int(f.ks.ref_before[b]),
            int(f.ks.cur_before[b]),
            f.ks.n_ref,
            f.ks.n_cur,
        )
        for f in features
        if f.ks is not None
        for b in f.ks_refine
    ]
    gaps = np.zeros(0)
    if comparisons:
        log.info(
            "KS: walking %d fine bin(s) of %d feature(s) exactly",
            len(comparisons),
            sum(1 for f in features if f.ks_refine.size),
        )
        ref_df = feature_frame(profile.source.read(spark), profile.specs)
        partitions = max(spark.sparkContext.defaultParallelism, min(len(comparisons), 200))
        gaps = exact_gaps(ref_df, cur_df, profile.plan, comparisons, partitions)
    phases["ks_walk_s"] = time.perf_counter() - t0
    phases["ks_bins_walked"] = len(comparisons)
    offset = 0
    for f in features:
        if f.spec.kind == "numeric":
            _finish_ks(f, gaps[offset : offset + f.ks_refine.size], exact)
            offset += f.ks_refine.size
    result = _result(settings, reference, profile, source, window, run, features, slices, exact)
    result.phases = {k: round(v, 3) for k, v in phases.items()}
    run.source = f"{source.table}@v{source.version}"
    run.read_count = sum(f.cur_rows for f in features if f.scope is None and f.index == 0)
    return result


def _result(
    settings: Settings,
    reference: str,
    profile: Profile,
    source: RowSource,
    window: DayWindow,
    run: RunRecord,
    features: list[_Feature],
    slices: list[str],
    exact: bool,
) -> DriftResult:
    conf = settings.drift
    rows: list[dict[str, Any]] = []
    reports: list[FeatureReport] = []
    alerts: list[str] = []
    warnings: list[str] = []
    for f in features:
        slice_column, slice_value = ("", "") if f.scope is None else (slices[f.scope[0]], f.scope[1])
        values: list[MetricValue] = []
        for metric in ("psi", "ks", "ks_pvalue", "js_divergence", "js_distance", "null_rate_delta", "count_delta"):
            if metric not in f.metrics:
                continue
            got = f.metrics[metric]
            limits = conf.thresholds_for(f.workload, f.spec.name, metric)
            value = got["value"]
            lower, upper = got.get("lower"), got.get("upper")
            if metric == "ks" and lower is not None and not exact:
                low, high = m.status_of(lower, limits.warn, limits.alert), m.status_of(upper, limits.warn, limits.alert)
                status = max((low, high), key=lambda s: m.STATUS_RANK[s])
            else:
                status = m.status_of(value, limits.warn, limits.alert)
            if f.cur_rows == 0 and metric != "count_delta":
                status = "empty"
            values.append(MetricValue(metric, value, limits.warn, limits.alert, status, lower, upper, got.get("note")))
            row = {
                "run_id": run.run_id,
                "computed_at": run.started_at,
                "window_start": window.start,
                "window_end": window.end,
                "reference": reference,
                "source_table": f"{source.table}@v{source.version}",
                "workload_id": f.workload,
                "slice_column": slice_column,
                "slice_value": slice_value,
                "feature": f.spec.name,
                "feature_type": f.spec.kind,
                "metric": metric,
                "value": value,
                "lower": lower,
                "upper": upper,
                "warn_threshold": limits.warn,
                "alert_threshold": limits.alert,
                "status": status,
                "ref_count": int(f.ref["count"]),
                "cur_count": f.cur_count,
                "ref_null_rate": f.ref["null_rate"],
                "cur_null_rate": f.cur_null_rate,
                "bin_labels": f.bins[0] if metric == "psi" else None,
                "ref_props": f.bins[1] if metric == "psi" else None,
                "cur_props": f.bins[2] if metric == "psi" else None,
                "details_json": json.dumps({"ks_mode": "exact" if exact else "bounded", "note": got.get("note")}),
            }
            rows.append(row)
            if status in ("warn", "alert"):
                where = f"{f.workload}{'' if f.scope is None else f' [{slice_column}={slice_value}]'} {f.spec.name}"
                shown = f"{value:.4g}" if lower is None or lower == upper else f"[{lower:.4g}, {upper:.4g}]"
                limit = limits.alert if status == "alert" else limits.warn
                (alerts if status == "alert" else warnings).append(
                    f"{status.upper()} {where}: {metric} {shown} > {limit}"
                )
        reports.append(
            FeatureReport(
                f.workload,
                f.spec.name,
                f.spec.kind,
                "" if f.scope is None else f"{slice_column}={slice_value}",
                m.worst_status([v.status for v in values if v.status != "info"]),
                int(f.ref["count"]),
                f.cur_count,
                f.ref["null_rate"],
                f.cur_null_rate,
                tuple(f.bins[0]),
                tuple(f.bins[1]),
                tuple(f.bins[2]) if f.cur_rows else (),
                tuple(values),
            )
        )
    report = RunReport(
        run.run_id,
        run.started_at.isoformat(),
        str(window),
        profile.source.describe() + f" [profile {reference}]",
        "exact" if exact else "bounded",
        tuple(reports),
    )
    return DriftResult(rows, report, alerts, warnings)


def write_drift(spark: SparkSession, settings: Settings, result: DriftResult, reference: str, window: DayWindow) -> int:
    """Replace the window's rows for ``reference`` (and the workload, when limited) in ``metrics.drift``."""
    path = ensure_table(spark, settings, METRICS_DRIFT)
    schema = METRICS_DRIFT
    rows_df = spark.createDataFrame(
        [tuple(r.get(c) for c in schema.column_names) for r in result.rows], schema.spark_schema()
    )
    predicate = (
        f"window_start = {sql_date(window.start)} AND window_end = {sql_date(window.end)} "
        f"AND reference = {sql_string(reference)}"
    )
    if window.workload_id is not None:
        predicate += f" AND workload_id = {sql_string(window.workload_id)}"
    return replace_where(spark, rows_df, path, predicate, len(result.rows))
