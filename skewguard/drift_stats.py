"""Drift metrics over binned counts (numpy only; no Spark), as DESIGN.md defines them.

The Spark jobs reduce both sides of a comparison to counts per bin; everything here works on
those counts, so the same functions serve the jobs, notebooks and tests:

* **PSI** = Σ (c_i − r_i)·ln(c_i / r_i) over bin proportions, an empty proportion replaced
  by ``epsilon``.
* **JS** over category proportions, log base 2: the divergence (in [0, 1]) and the distance
  (its square root), as scipy's ``jensenshannon(base=2)`` computes the distance.
* **KS** D = sup |F_ref − F_cur|. From fine histograms on the reference's quantile edges (with
  the count of values exactly on each edge), D is known to lie in [D_lo, D_hi]: D_lo is the
  largest gap at the edges (and just below them), and inside a bin neither ECDF can leave the
  range it spans, which bounds the gap there. :func:`walk_runs` finishes the job exactly on
  sorted raw values of the bins that can still hold a larger gap.

Numeric bins: ``edges`` e_0 < … < e_{k−1}; bin 0 = (−∞, e_0], bin j = (e_{j−1}, e_j],
bin k = (e_{k−1}, +∞). NaN and null are counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CATEGORY_NULL",
    "CATEGORY_OTHER",
    "CATEGORY_UNSEEN",
    "STATUS_RANK",
    "KsBounds",
    "bin_numeric",
    "coarse_counts",
    "dataset_drift",
    "js",
    "ks_bounds",
    "proportions",
    "psi",
    "status_of",
    "walk_runs",
    "worst_status",
]

CATEGORY_OTHER, CATEGORY_NULL, CATEGORY_UNSEEN = "__other__", "__null__", "__unseen__"
STATUS_RANK = {"empty": 0, "info": 0, "ok": 1, "warn": 2, "alert": 3}


def proportions(counts: np.ndarray) -> np.ndarray:
    """``counts / counts.sum()`` (all zeros when there is nothing)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, epsilon: float) -> float | None:
    """Population stability index over the same bins; None when either side is empty."""
    if np.sum(ref_counts) == 0 or np.sum(cur_counts) == 0:
        return None
    r, c = proportions(ref_counts), proportions(cur_counts)
    r = np.where(r == 0, epsilon, r)
    c = np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float] | tuple[None, None]:
    """(divergence, distance) of Jensen–Shannon in base 2; (None, None) when a side is empty."""
    if np.sum(ref_counts) == 0 or np.sum(cur_counts) == 0:
        return None, None
    p, q = proportions(ref_counts), proportions(cur_counts)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    divergence = max(float((kl_p.sum() + kl_q.sum()) / 2.0 / math.log(2.0)), 0.0)
    return divergence, math.sqrt(divergence)


def bin_numeric(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Bin indices (k+1 bins), whether each value lies exactly on its bin's upper edge, the
    valid-value mask, and the number of NaN/null values (given as NaN)."""
    valid = ~np.isnan(values)
    nulls = int(values.size - np.count_nonzero(valid))
    vals = values[valid] if nulls else values
    idx = np.searchsorted(edges, vals, side="left")
    on_edge = edges[np.minimum(idx, edges.size - 1)] == vals if edges.size else np.zeros(vals.size, dtype=bool)
    return idx, on_edge, valid, nulls


def coarse_counts(fine_counts: np.ndarray, fine_edges: np.ndarray, coarse_edges: np.ndarray) -> np.ndarray:
    """Counts on the coarse bins from counts on fine bins whose edges include the coarse ones."""
    if coarse_edges.size == 0:
        return np.array([np.sum(fine_counts)], dtype=np.int64)
    # coarse edge i is fine edge pos[i]: coarse bin i ends with fine bin pos[i]
    pos = np.searchsorted(fine_edges, coarse_edges)
    if not np.array_equal(fine_edges[np.minimum(pos, fine_edges.size - 1)], coarse_edges):
        raise ValueError("the coarse edges are not among the fine edges")
    cum = np.concatenate([[0], np.cumsum(fine_counts)])
    bounds = np.concatenate([[0], pos + 1, [fine_counts.size]])
    return np.diff(cum[bounds]).astype(np.int64)


@dataclass(frozen=True)
class KsBounds:
    """D ∈ [d_lo, d_hi]; ``bin_upper[j]`` bounds the gap strictly inside fine bin j."""

    d_lo: float
    d_hi: float
    bin_upper: np.ndarray
    ref_before: np.ndarray
    """Reference values ≤ the bin's lower edge (count), per bin: where a walk of the bin starts."""
    cur_before: np.ndarray
    n_ref: int
    n_cur: int

    def candidates(self, above: float) -> np.ndarray:
        """Bins whose inside can hold a gap larger than ``above``."""
        return np.flatnonzero(self.bin_upper > above)


def ks_bounds(
    ref_counts: np.ndarray, ref_on_edge: np.ndarray, cur_counts: np.ndarray, cur_on_edge: np.ndarray
) -> KsBounds | None:
    """Bounds of the two-sample KS statistic from fine histograms on the same k edges
    (``counts``: k+1 bins of non-null values; ``on_edge``: k counts of values equal to edge j).
    None when either side has no values."""
    n, m = int(np.sum(ref_counts)), int(np.sum(cur_counts))
    if n == 0 or m == 0:
        return None
    r_at = np.cumsum(ref_counts)[:-1]  # values ≤ e_j
    c_at = np.cumsum(cur_counts)[:-1]
    r_below, c_below = r_at - ref_on_edge, c_at - cur_on_edge  # values < e_j
    gaps_at = np.abs(r_at / n - c_at / m)
    gaps_below = np.abs(r_below / n - c_below / m)
    d_lo = float(max(gaps_at.max(initial=0.0), gaps_below.max(initial=0.0)))
    # inside bin j the ECDFs run from their value at e_{j-1} to their value just below e_j
    r_start = np.concatenate([[0], r_at]) / n
    c_start = np.concatenate([[0], c_at]) / m
    r_end = np.concatenate([r_below / n, [1.0]])
    c_end = np.concatenate([c_below / m, [1.0]])
    upper = np.maximum(r_end - c_start, c_end - r_start)
    d_hi = float(max(d_lo, upper.max(initial=0.0)))
    return KsBounds(
        d_lo,
        d_hi,
        upper,
        np.concatenate([[0], r_at]).astype(np.int64),
        np.concatenate([[0], c_at]).astype(np.int64),
        n,
        m,
    )


def walk_runs(
    keys: np.ndarray,
    values: np.ndarray,
    is_cur: np.ndarray,
    start_ref: np.ndarray,
    start_cur: np.ndarray,
    n_ref: np.ndarray,
    n_cur: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk values sorted by (key, value) through each key's two ECDFs.

    ``start_ref``/``start_cur``/``n_ref``/``n_cur`` are given per element (the key's counts
    before its first value and its totals). Returns, per key present (in order): the key, the
    largest |F_ref − F_cur| after each distinct value, and the reference and current counts
    reached after its last value — the start of the key's next chunk.
    """
    if keys.size == 0:
        empty = np.array([], dtype=np.int64)
        return empty, np.array([], dtype=np.float64), empty, empty
    # runs of equal (key, value): the ECDFs step once per run, after all its ties
    new_run = np.ones(keys.size, dtype=bool)
    new_run[1:] = (keys[1:] != keys[:-1]) | (values[1:] != values[:-1])
    run_start = np.flatnonzero(new_run)
    cur_in_run = np.add.reduceat(is_cur.astype(np.int64), run_start)
    ref_in_run = np.diff(np.append(run_start, keys.size)) - cur_in_run
    run_key = keys[run_start]
    new_key = np.ones(run_start.size, dtype=bool)
    new_key[1:] = run_key[1:] != run_key[:-1]
    key_first_run = np.flatnonzero(new_key)
    # cumulative counts within each key, from the key's starting offsets
    ref_cum, cur_cum = np.cumsum(ref_in_run), np.cumsum(cur_in_run)
    key_of_run = np.cumsum(new_key) - 1
    ref_base = np.concatenate([[0], ref_cum])[key_first_run][key_of_run]
    cur_base = np.concatenate([[0], cur_cum])[key_first_run][key_of_run]
    first = run_start  # element index of each run, to read the per-element constants
    r = start_ref[first] + ref_cum - ref_base
    c = start_cur[first] + cur_cum - cur_base
    gaps = np.abs(r / n_ref[first] - c / n_cur[first])
    best = np.maximum.reduceat(gaps, key_first_run)
    key_last_run = np.append(key_first_run[1:], run_start.size) - 1
    return run_key[key_first_run], best, r[key_last_run].astype(np.int64), c[key_last_run].astype(np.int64)


def status_of(value: float | None, warn: float | None, alert: float | None) -> str:
    """``empty`` (no value), ``info`` (no thresholds), else ``alert`` above ``alert``,
    ``warn`` above ``warn``, ``ok``. Deltas are judged by their absolute value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "empty"
    if warn is None and alert is None:
        return "info"
    size = abs(value)
    if alert is not None and size > alert:
        return "alert"
    if warn is not None and size > warn:
        return "warn"
    return "ok"


def worst_status(statuses: list[str]) -> str:
    """The most severe of ``statuses`` (``empty`` when none)."""
    return max(statuses, key=lambda s: STATUS_RANK[s], default="empty")


def dataset_drift(statuses: list[str], drift_share: float) -> tuple[float | None, str]:
    """The verdict on a workload from its monitored features' statuses (Evidently's dataset
    drift): the share of features in ``alert`` among those measured (``empty`` ones are not),
    and ``alert`` when that share is at least ``drift_share``, else ``ok`` (``empty``, no share,
    when no feature was measured)."""
    measured = [s for s in statuses if s != "empty"]
    if not measured:
        return None, "empty"
    share = sum(s == "alert" for s in measured) / len(measured)
    return share, "alert" if share >= drift_share else "ok"
