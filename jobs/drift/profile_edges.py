"""The reference's fine and coarse edges picked from exact counts on provisional edges
(histogram-then-refine, :mod:`jobs.drift.reference_profile`); numpy only."""

from __future__ import annotations

import numpy as np

from skewguard.drift_stats import coarse_counts

__all__ = ["closest", "refined_edges"]


def closest(cum_at: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per target count, the index of the edge whose count (values ≤ edge) is nearest it."""
    right = np.clip(np.searchsorted(cum_at, targets), 0, cum_at.size - 1)
    left = np.clip(right - 1, 0, cum_at.size - 1)
    return np.where(np.abs(cum_at[left] - targets) <= np.abs(cum_at[right] - targets), left, right)


def refined_edges(
    counts: np.ndarray, provisional: np.ndarray, fine_bins: int, coarse_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(fine edges, coarse edges, the counts on the fine edges in the histogram layout, the
    largest rank error of a fine edge as a share of the values, ties aside) from exact counts on the
    provisional edges: each fine edge is the provisional edge whose exact rank is nearest its
    quantile, and each coarse edge the fine edge nearest its own."""
    k = provisional.size
    bins, on_edge, nulls = counts[: k + 1], counts[k + 1 : 2 * k + 1], counts[2 * k + 1]
    n = int(bins.sum())
    if k == 0 or n == 0:
        return provisional, provisional, counts, 0.0
    cum_at = np.cumsum(bins)[:-1].astype(np.float64)
    targets = n * np.arange(1, fine_bins) / fine_bins
    picked = np.unique(closest(cum_at, targets))
    fine = provisional[picked]
    # a target inside a run of values equal to one edge (a tie) cannot be met closer than the tie allows
    first = np.clip(np.searchsorted(cum_at, targets), 0, k - 1)
    in_tie = (cum_at[first] - on_edge[first] <= targets) & (targets <= cum_at[first])
    misses = np.abs(cum_at[closest(cum_at, targets)] - targets)[~in_tie]
    error = float(misses.max(initial=0.0) / n)
    coarse = np.unique(fine[closest(cum_at[picked], n * np.arange(1, coarse_bins) / coarse_bins)])
    on_fine = coarse_counts(bins, provisional, fine)
    return fine, coarse, np.concatenate([on_fine, on_edge[picked], [nulls]]).astype(np.int64), error
