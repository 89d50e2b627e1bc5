"""One workload × scope × feature measured against its reference profile row: PSI, JS,
null-rate and count deltas from the binned counts, and KS bounds refined by the exact walk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.sources import FeatureSpec
from skewguard import drift_distances as dist
from skewguard import drift_noise as noise
from skewguard import drift_stats as m

if TYPE_CHECKING:
    from skewguard.config import Settings

__all__ = ["FeatureDrift", "Scope", "finish_ks", "ks_candidates", "ks_floor", "measure"]

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
