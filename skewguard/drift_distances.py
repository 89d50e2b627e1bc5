"""More distances between a reference and a current distribution (numpy only; no Spark),
named after Databricks Lakehouse Monitoring's drift metrics where it has one.

On the same bins as PSI (counts of both sides over the reference's bins):

* ``tv_distance`` — total variation, ½ Σ |p_i − q_i| (in [0, 1]);
* ``l_infinity_distance`` — max_i |p_i − q_i|;
* ``hellinger_distance`` — √(1 − Σ √(p_i q_i)) = ‖√p − √q‖₂ / √2 (in [0, 1]);
* ``chi_squared_test`` — Pearson's χ² statistic of the 2×k table (``skewguard.drift_noise``).

On numeric values, ``wasserstein_distance`` — the earth mover's distance W1 = ∫ |F_ref − F_cur| dx,
divided by the reference's standard deviation (population, ddof 0) as Evidently's
``wasserstein`` test does, so that it reads in reference standard deviations: exactly from raw
values (:func:`wasserstein_exact`, scipy's ``wasserstein_distance`` / ``np.std``), or bounded
from the fine histograms on the reference's quantile edges (:func:`wasserstein_bounds`), the
way KS is.
"""

from __future__ import annotations

import math

import numpy as np

from skewguard.drift_stats import proportions

__all__ = ["hellinger", "l_infinity", "total_variation", "wasserstein_bounds", "wasserstein_exact"]


def _both(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if np.sum(ref_counts) == 0 or np.sum(cur_counts) == 0:
        return None
    return proportions(ref_counts), proportions(cur_counts)


def total_variation(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float | None:
    """½ Σ |p − q| over the bins; None when a side is empty."""
    both = _both(ref_counts, cur_counts)
    return None if both is None else float(np.abs(both[0] - both[1]).sum() / 2.0)


def l_infinity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float | None:
    """max |p − q| over the bins; None when a side is empty."""
    both = _both(ref_counts, cur_counts)
    return None if both is None else float(np.abs(both[0] - both[1]).max(initial=0.0))


def hellinger(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float | None:
    """√(1 − Σ √(p q)) over the bins; None when a side is empty."""
    both = _both(ref_counts, cur_counts)
    return None if both is None else math.sqrt(max(1.0 - float(np.sqrt(both[0] * both[1]).sum()), 0.0))


def wasserstein_exact(ref: np.ndarray, cur: np.ndarray) -> float | None:
    """W1 between the raw non-NaN values, divided by the reference's standard deviation (None
    when a side is empty or the reference is constant)."""
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return None
    std = float(np.std(ref))
    if std == 0:
        return None
    r, c = np.sort(ref), np.sort(cur)
    points = np.sort(np.concatenate([r, c]))
    widths = np.diff(points)
    f_ref = np.searchsorted(r, points[:-1], side="right") / r.size
    f_cur = np.searchsorted(c, points[:-1], side="right") / c.size
    return float(np.sum(np.abs(f_ref - f_cur) * widths)) / std


def wasserstein_bounds(
    edges: np.ndarray,
    ref_counts: np.ndarray,
    ref_on_edge: np.ndarray,
    cur_counts: np.ndarray,
    cur_on_edge: np.ndarray,
    low: float,
    high: float,
    ref_std: float,
) -> tuple[float, float] | None:
    """[W_lo, W_hi] ∋ W1 / ``ref_std`` from fine histograms on ``edges`` (k+1 bins, k on-edge
    counts per side, as :func:`skewguard.drift_stats.ks_bounds` takes them), with ``low`` and
    ``high`` the smallest and largest value of both sides.

    Inside bin j (width w_j) both ECDFs are monotone between their values just after its lower
    edge and just before its upper edge, so the gap there lies in [max(0, r_start − c_end,
    c_start − r_end), max(r_end − c_start, c_end − r_start)]; W1 is Σ w_j × gap. None when a
    side is empty or the reference is constant."""
    n, m = float(np.sum(ref_counts)), float(np.sum(cur_counts))
    if n == 0 or m == 0 or ref_std == 0:
        return None
    r_at, c_at = np.cumsum(ref_counts)[:-1] / n, np.cumsum(cur_counts)[:-1] / m
    r_start, c_start = np.concatenate([[0.0], r_at]), np.concatenate([[0.0], c_at])
    r_end = np.concatenate([r_at - np.asarray(ref_on_edge) / n, [1.0]])
    c_end = np.concatenate([c_at - np.asarray(cur_on_edge) / m, [1.0]])
    bounds = np.concatenate([[min(low, edges[0]) if edges.size else low], edges, [high]])
    widths = np.maximum(np.diff(np.clip(bounds, low, high)), 0.0)
    upper = np.maximum(r_end - c_start, c_end - r_start)
    lower = np.maximum.reduce([np.zeros_like(upper), r_start - c_end, c_start - r_end])
    return float(np.sum(widths * lower)) / ref_std, float(np.sum(widths * upper)) / ref_std
