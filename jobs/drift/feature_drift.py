"""One workload × scope × feature measured against its reference profile row: PSI, JS,
null-rate and count deltas from the binned counts, and KS bounds refined by the exact walk;
then judged: each metric against its thresholds and noise floor, the feature by its worst
metric. No Spark here: the drift job and ``benchmarks.bench_drift_power`` share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.drift_report import MetricValue
from jobs.drift.sources import FeatureSpec
from skewguard import drift_distances as dist
from skewguard import drift_noise as noise
from skewguard import drift_stats as m
from skewguard.settings_models import DRIFT_METRIC_NAMES

if TYPE_CHECKING:
    from skewguard.config import Settings
    from skewguard.settings_models import DriftSettings

__all__ = [
    "JUDGED_METRICS",
    "KIND_METRICS",
    "FeatureDrift",
    "Scope",
    "feature_alpha",
    "feature_status",
    "finish_ks",
    "flagging_tests",
    "judge_metrics",
    "ks_candidates",
    "ks_floor",
    "measure",
]

Scope = tuple[int, str] | None


def _bin_labels(edges: list[float]) -> list[str]:
    points = ["-inf", *[f"{e:.4g}" for e in edges], "+inf"]
    labels = [f"({points[i]}, {points[i + 1]}]" for i in range(len(points) - 1)]
    if labels:
        labels[-1] = labels[-1][:-1] + ")"
    return [*labels, "null"]


@dataclass
class FeatureDrift:
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
    alpha: float = 0.01
    """The level this feature's metrics are tested at (``drift.alpha``, corrected)."""
    cur_range: np.ndarray | None = None
    """Numeric: the current values' [min, max] (None when there is none)."""


def measure(f: FeatureDrift, settings: Settings) -> None:
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
        f.metrics["wasserstein_distance"] = _wasserstein(f, fine, cur_bins, cur_edge)
    else:
        ref_psi = np.array(ref["category_counts"], dtype=np.int64)
        cur_psi = f.cur
        cur_nulls = int(f.cur[len(ref_psi) - 2])
        cur_count = int(f.cur.sum()) - cur_nulls
        labels = list(ref["categories"])
        divergence, distance = m.js(ref_psi, cur_psi)
        f.metrics["js_divergence"] = _tested("js_divergence", divergence, ref_psi, cur_psi, f.alpha)
        f.metrics["js_distance"] = _tested("js_distance", distance, ref_psi, cur_psi, f.alpha)
    f.metrics["psi"] = _tested("psi", m.psi(ref_psi, cur_psi, conf.epsilon), ref_psi, cur_psi, f.alpha, conf.epsilon)
    _more_distances(f, ref_psi, cur_psi)
    cur_total = cur_count + cur_nulls
    ref_nulls, ref_total = int(ref["null_count"]), int(ref["count"]) + int(ref["null_count"])
    delta = (cur_nulls / cur_total - ref["null_rate"]) if cur_total and ref["null_rate"] is not None else None
    floor, p_value = noise.null_rate_noise(delta, ref_nulls, ref_total, cur_nulls, cur_total, f.alpha)
    f.metrics["null_rate_delta"] = {"value": delta, "floor": floor, "p_value": p_value}
    f.metrics["count_delta"] = {"value": f.cur_rows / ref["rows"] - 1.0 if ref["rows"] else None}
    f.bins = (labels, [float(x) for x in m.proportions(ref_psi)], [float(x) for x in m.proportions(cur_psi)])
    f.cur_count = cur_count
    f.cur_null_rate = cur_nulls / cur_total if cur_total else None


def _tested(
    kind: str, value: float | None, ref: np.ndarray, cur: np.ndarray, alpha: float, epsilon: float = 1e-4
) -> dict[str, Any]:
    floor, p_value = noise.binned_noise(kind, value, ref, cur, alpha, epsilon)
    return {"value": value, "floor": floor, "p_value": p_value}


def _more_distances(f: FeatureDrift, ref: np.ndarray, cur: np.ndarray) -> None:
    """Total variation, L∞, Hellinger and the χ² test on the PSI bins (Databricks' names); TV
    and L∞ have no closed-form null, so they are tested by the χ² test of the same bins."""
    stat, (floor, p_value) = noise.chi_squared(ref, cur, f.alpha)
    f.metrics["chi_squared_test"] = {"value": stat, "floor": floor, "p_value": p_value}
    f.metrics["tv_distance"] = {"value": dist.total_variation(ref, cur), "p_value": p_value}
    f.metrics["l_infinity_distance"] = {"value": dist.l_infinity(ref, cur), "p_value": p_value}
    f.metrics["hellinger_distance"] = _tested("hellinger_distance", dist.hellinger(ref, cur), ref, cur, f.alpha)


def _wasserstein(f: FeatureDrift, fine: np.ndarray, cur_bins: np.ndarray, cur_edge: np.ndarray) -> dict[str, Any]:
    """W1 over the reference's standard deviation, bounded from the fine histograms (both
    modes: an exact value would need every fine bin walked); the value is the middle of the
    bounds. It has no null distribution of its own: its significance is the KS test's of the
    same two ECDFs, whose p-value ``finish_ks`` fills in."""
    ref, rng = f.ref, f.cur_range
    if rng is None or ref.get("min") is None or not ref.get("std"):
        return {"value": None}
    low, high = min(float(ref["min"]), float(rng[0])), max(float(ref["max"]), float(rng[1]))
    bounds = dist.wasserstein_bounds(
        fine, np.array(ref["fine_counts"]), np.array(ref["fine_on_edge"]), cur_bins, cur_edge, low, high,
        float(ref["std"]),
    )  # fmt: skip
    if bounds is None:
        return {"value": None}
    lower, upper = bounds
    fine_bins = fine.size + 1
    return {"value": (lower + upper) / 2, "lower": lower, "upper": upper, "note": f"bounded by {fine_bins} fine bins"}


def ks_floor(f: FeatureDrift) -> float | None:
    """KS's noise floor at this feature's counts and level."""
    return None if f.ks is None else noise.ks_noise(0.0, f.ks.n_ref, f.ks.n_cur, f.alpha)[0]


def ks_candidates(f: FeatureDrift, settings: Settings, exact: bool) -> np.ndarray:
    if f.ks is None:
        return np.zeros(0, dtype=np.int64)
    if exact:
        return f.ks.candidates(above=f.ks.d_lo)
    # the status changes where D passes a threshold, or the noise floor when that is higher
    limits = settings.drift.thresholds_for(f.workload, f.spec.name, "ks")
    floor = ks_floor(f) or 0.0
    cuts = [max(t, floor) for t in (limits.warn, limits.alert) if t is not None]
    straddled = [t for t in cuts if f.ks.d_lo <= t < f.ks.d_hi]
    return f.ks.candidates(above=min(straddled)) if straddled else np.zeros(0, dtype=np.int64)


def finish_ks(f: FeatureDrift, gaps: np.ndarray, exact: bool) -> None:
    if f.ks is None:
        f.metrics["ks"] = {"value": None}
        return
    refined = f.ks_refine
    lower = max(f.ks.d_lo, float(gaps.max(initial=0.0)))
    rest = np.delete(f.ks.bin_upper, refined)
    upper = lower if exact else max(lower, float(rest.max(initial=0.0)))
    note = "exact" if exact else f"bounded, {refined.size} fine bin(s) walked exactly"
    floor, p_value = noise.ks_noise(lower, f.ks.n_ref, f.ks.n_cur, f.alpha)
    f.metrics["ks"] = {"value": lower, "lower": lower, "upper": upper, "note": note, "floor": floor, "p_value": p_value}
    if f.metrics.get("wasserstein_distance", {}).get("value") is not None:
        f.metrics["wasserstein_distance"]["p_value"] = p_value


JUDGED_METRICS = DRIFT_METRIC_NAMES
"""The metrics a feature can have, in the order they are judged and written."""


KIND_METRICS = {
    "numeric": ("psi", "ks", "wasserstein_distance", "hellinger_distance", "tv_distance", "l_infinity_distance",
                "chi_squared_test", "null_rate_delta", "count_delta"),
    "categorical": ("psi", "js_divergence", "js_distance", "hellinger_distance", "tv_distance",
                    "l_infinity_distance", "chi_squared_test", "null_rate_delta", "count_delta"),
}  # fmt: skip
"""The metrics :func:`measure` gives a feature of each kind."""
_NULL_TESTS = {
    "psi": "psi", "ks": "ks", "wasserstein_distance": "ks", "js_divergence": "js", "js_distance": "js",
    "hellinger_distance": "hellinger",
    "chi_squared_test": "chi_squared", "tv_distance": "chi_squared", "l_infinity_distance": "chi_squared",
    "null_rate_delta": "null_rate",
}  # fmt: skip
"""Metric → the null test it is judged by (JS's distance is the divergence's root; TV and L∞
are judged by the χ² test of their bins, Wasserstein by the KS test of the same ECDFs). The
count delta has none."""


def flagging_tests(conf: DriftSettings, workload: str, spec: FeatureSpec) -> int:
    """How many distinct null tests can flag the feature: those of its metrics with thresholds."""
    tests = set()
    for metric in KIND_METRICS[spec.kind]:
        limits = conf.thresholds_for(workload, spec.name, metric)
        if metric in _NULL_TESTS and (limits.warn is not None or limits.alert is not None):
            tests.add(_NULL_TESTS[metric])
    return len(tests)


def feature_alpha(conf: DriftSettings, monitored: int, tests: int = 1) -> float:
    """The level each metric of a feature is tested at: ``drift.alpha``, divided by the
    workload's ``monitored`` features under ``alpha_correction = bonferroni``, and by the
    feature's flagging ``tests`` (:func:`flagging_tests`) under ``metric_correction =
    bonferroni`` — a feature is flagged when any of its tests is."""
    alpha = conf.alpha / monitored if conf.alpha_correction == "bonferroni" else conf.alpha
    return alpha / max(tests, 1) if conf.metric_correction == "bonferroni" else alpha


def judge_metrics(f: FeatureDrift, settings: Settings, exact: bool) -> list[MetricValue]:
    """Each metric the feature has, judged against its thresholds and its noise floor (KS
    bounded: the worse of its bounds' statuses; an empty window: ``empty`` but for the count
    delta)."""
    conf = settings.drift
    values: list[MetricValue] = []
    for metric in JUDGED_METRICS:
        if metric not in f.metrics:
            continue
        got = f.metrics[metric]
        limits = conf.thresholds_for(f.workload, f.spec.name, metric)
        value, floor, p_value = got["value"], got.get("floor"), got.get("p_value")
        lower, upper = got.get("lower"), got.get("upper")
        if metric == "ks" and lower is not None and not exact:
            judged = [noise.judge(b, limits.warn, limits.alert, floor) for b in (lower, upper)]
            status, reason = max(judged, key=lambda sr: m.STATUS_RANK[sr[0]])
        else:
            status, reason = noise.judge(value, limits.warn, limits.alert, floor, p_value, f.alpha)
        if f.cur_rows == 0 and metric != "count_delta":
            status, reason = "empty", None
        tested = floor is not None or p_value is not None
        values.append(
            MetricValue(
                metric,
                value,
                limits.warn,
                limits.alert,
                status,
                lower,
                upper,
                got.get("note"),
                floor,
                p_value,
                f.alpha if tested else None,
                reason,
            )  # fmt: skip
        )
    return values


def feature_status(values: list[MetricValue]) -> str:
    """The feature's status: its worst judged metric (informational ones do not count)."""
    return m.worst_status([v.status for v in values if v.status != "info"])
