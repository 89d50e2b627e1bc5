"""The drift job's judgement of one feature on exact counts, without Spark (for
``benchmarks.bench_drift_power``).

Each step is the job's own code or a numpy transcription of a Spark pass that does nothing
but count:

* **reference profile** — as ``jobs.drift.reference_profile``: numeric features get the
  quantiles at ``j / fine_bins`` and ``j / bins`` (``np.quantile(method="inverted_cdf")``, a
  sample value at rank ⌈q·n⌉, where the job asks Spark's ``approxQuantile``, whose rank error
  is at most n / ``quantile_accuracy``: ≤ 5 ranks at 100,000 rows), the fine edges their
  unique values and the PSI edges the unique coarse ones; categorical features their
  ``top_k`` most frequent values (ties by value) and the next ``max_known_categories`` as
  ``__other__``;
* **counts** — as ``jobs.drift.histograms``: ``skewguard.drift_stats.bin_numeric`` on the
  fine edges into the same (k+1 bins, k on-edge, nulls) layout; categories coded top K,
  ``__other__``, ``__null__``, ``__unseen__``;
* **exact KS walk** — as ``histograms.exact_gaps``: the values strictly inside each candidate
  fine bin (not on its edges), sorted by (bin, value), walked by
  ``skewguard.drift_stats.walk_runs`` from the bin's starting counts;
* **judgement** — the job's functions: ``feature_drift.measure``, ``ks_candidates``,
  ``finish_ks``, ``judge_metrics`` and ``feature_status`` (worst judged metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.drift.feature_drift import (
    FeatureDrift,
    feature_alpha,
    feature_status,
    finish_ks,
    flagging_tests,
    judge_metrics,
    ks_candidates,
    measure,
)
from jobs.drift.sources import FeatureSpec
from skewguard.drift_stats import CATEGORY_NULL, CATEGORY_OTHER, CATEGORY_UNSEEN, bin_numeric, coarse_counts, walk_runs

if TYPE_CHECKING:
    from skewguard.config import Settings
    from skewguard.settings_models import DriftSettings

__all__ = ["Judged", "categorical_profile", "judge", "numeric_profile"]


@dataclass(frozen=True)
class Judged:
    """One feature's verdict: its status and each judged metric's status and value."""

    status: str
    metrics: dict[str, str]
    values: dict[str, float | None]
    reasons: dict[str, str | None]


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The histogram pass's count vector of one numeric feature (``_bin_batch``)."""
    k = edges.size
    idx, on_edge, valid, nulls = bin_numeric(values, edges)
    counts = np.bincount(idx, minlength=2 * k + 2).astype(np.int64)
    if on_edge.any():
        counts += np.bincount(k + 1 + idx[on_edge], minlength=2 * k + 2)
    counts[2 * k + 1] += nulls
    return counts


def numeric_profile(ref: np.ndarray, conf: DriftSettings) -> dict[str, Any]:
    """The reference profile row of a numeric feature (NaN: null)."""
    coarse_q = [j / conf.bins for j in range(1, conf.bins)]
    qs = sorted({*(j / conf.fine_bins for j in range(1, conf.fine_bins)), *coarse_q})
    coarse_pos = [qs.index(q) for q in coarse_q]
    present = ref[~np.isnan(ref)]
    values = np.quantile(present, qs, method="inverted_cdf") if present.size else np.zeros(0)
    fine = np.unique(values)
    coarse = np.unique(values[coarse_pos]) if values.size else values
    c = _numeric_counts(ref, fine)
    k = fine.size
    bins, on_edge, nulls = c[: k + 1], c[k + 1 : 2 * k + 1], int(c[2 * k + 1])
    return _with_totals(
        {
            "count": int(bins.sum()),
            "null_count": nulls,
            "bin_edges": [float(x) for x in coarse],
            "bin_counts": [int(x) for x in coarse_counts(bins, fine, coarse)] + [nulls],
            "fine_edges": [float(x) for x in fine],
            "fine_counts": [int(x) for x in bins],
            "fine_on_edge": [int(x) for x in on_edge],
        },
        ref.size,
    )


def _category_codes(values: np.ndarray, top: list[str], others: list[str]) -> np.ndarray:
    """``histograms._category_codes``: top K by position, then other, null, unseen (None: null)."""
    k = len(top)
    lookup = {v: i for i, v in enumerate(top)} | dict.fromkeys(others, k)
    is_null = np.array([v is None for v in values], dtype=bool) if values.dtype == object else None
    present = values if is_null is None else np.where(is_null, "", values).astype(str)
    names, inverse = np.unique(present, return_inverse=True)
    codes = np.array([lookup.get(str(v), k + 2) for v in names], dtype=np.int64)[inverse]
    return codes if is_null is None else np.where(is_null, k + 1, codes)


def categorical_profile(ref: np.ndarray, conf: DriftSettings) -> dict[str, Any]:
    """The reference profile row of a categorical feature (an array of strings, None: null)."""
    present = ref[np.array([v is not None for v in ref], dtype=bool)] if ref.dtype == object else ref
    names, counts = np.unique(present.astype(str), return_counts=True)
    ranked = [str(names[i]) for i in np.lexsort((names, -counts))]  # count descending, then value
    top, others = ranked[: conf.top_k], ranked[conf.top_k : conf.top_k + conf.max_known_categories]
    c = np.bincount(_category_codes(ref, top, others), minlength=len(top) + 3)
    nulls = int(c[len(top) + 1])
    row = {
        "count": int(c.sum()) - nulls,
        "null_count": nulls,
        "categories": [*top, CATEGORY_OTHER, CATEGORY_NULL, CATEGORY_UNSEEN],
        "category_counts": [int(x) for x in c],
        "other_categories": others,
    }
    return _with_totals(row, ref.size)


def _with_totals(row: dict[str, Any], rows: int) -> dict[str, Any]:
    total = row["count"] + row["null_count"]
    return {**row, "rows": rows, "null_rate": row["null_count"] / total if total else None}


def _walk(f: FeatureDrift, ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``histograms.exact_gaps`` on in-memory values: the largest gap inside each candidate bin."""
    assert f.ks is not None
    bins = f.ks_refine
    lut = np.full(edges.size + 1, -1, dtype=np.int64)
    lut[bins] = np.arange(bins.size)
    keys, vals, sides = [], [], []
    for side, values in ((0, ref), (1, cur)):
        idx, on_edge, valid, _ = bin_numeric(values, edges)
        cmp = lut[idx]
        keep = (cmp >= 0) & ~on_edge
        keys.append(cmp[keep])
        vals.append(values[valid][keep])
        sides.append(np.full(int(keep.sum()), side, dtype=np.int8))
    k, v, s = np.concatenate(keys), np.concatenate(vals), np.concatenate(sides)
    order = np.lexsort((v, k))
    k, v, s = k[order], v[order], s[order]
    start_ref, start_cur = f.ks.ref_before[bins], f.ks.cur_before[bins]
    n_ref = np.full(bins.size, float(f.ks.n_ref))
    n_cur = np.full(bins.size, float(f.ks.n_cur))
    present, best, _, _ = walk_runs(k, v, s == 1, start_ref[k], start_cur[k], n_ref[k], n_cur[k])
    gaps = np.zeros(bins.size)
    gaps[present] = best
    return gaps


def judge(
    kind: str,
    profile: dict[str, Any],
    ref: np.ndarray,
    cur: np.ndarray,
    settings: Settings,
    exact: bool = True,
    monitored: int = 1,
) -> Judged:
    """The drift job's verdict on one feature (``kind``: numeric or categorical) of ``cur``
    against ``profile`` (of ``ref``, whose raw values the exact KS walk reads), as one
    workload of ``monitored`` features."""
    spec = FeatureSpec("x", kind, "x")
    if kind == "numeric":
        edges = np.array(profile["fine_edges"], dtype=np.float64)
        counts = _numeric_counts(cur, edges)
    else:
        top, others = list(profile["categories"][:-3]), list(profile["other_categories"])
        counts = np.bincount(_category_codes(cur, top, others), minlength=len(top) + 3)
    alpha = feature_alpha(settings.drift, monitored, flagging_tests(settings.drift, "bench", spec))
    f = FeatureDrift("bench", None, 0, spec, profile, counts, cur.size, alpha=alpha)
    measure(f, settings)
    if kind == "numeric":
        f.ks_refine = ks_candidates(f, settings, exact)
        finish_ks(f, _walk(f, ref, cur, edges) if f.ks_refine.size else np.zeros(0), exact)
    values = judge_metrics(f, settings, exact)
    thresholded = [v for v in values if v.status != "info"]
    return Judged(
        feature_status(values),
        {v.metric: v.status for v in thresholded},
        {v.metric: v.value for v in thresholded},
        {v.metric: v.reason for v in thresholded},
    )
