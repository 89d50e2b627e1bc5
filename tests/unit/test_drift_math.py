"""The drift math on counts (no Spark): KS bounds bracket scipy's statistic and the walk of
the candidate bins reaches it exactly; JS and PSI equal their references; statuses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from skewguard import drift_stats as m

CASES = {
    "normal_shift": lambda r: (r.normal(0, 1, 3000), r.normal(0.1, 1, 2000)),
    "skewed": lambda r: (r.lognormal(0, 2, 3000), r.lognormal(0.05, 2, 2500)),
    "heavy_ties": lambda r: (np.floor(r.random(3000) * 5), np.floor(r.random(1000) * 6)),
    "constant": lambda r: (np.full(500, 2.0), np.full(700, 2.0)),
    "constant_moved": lambda r: (np.full(500, 2.0), np.full(700, 3.0)),
    "disjoint": lambda r: (r.normal(0, 1, 800), r.normal(50, 1, 900)),
    "same": lambda r: (r.normal(0, 1, 2000), r.normal(0, 1, 2000)),
}


def _hist(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx, on_edge, _, _ = m.bin_numeric(values, edges)
    return np.bincount(idx, minlength=edges.size + 1), np.bincount(idx[on_edge], minlength=edges.size)[: edges.size]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fine", [8, 64])
def test_ks_bounds_bracket_scipy_and_walk_is_exact(case: str, fine: int) -> None:
    ref, cur = CASES[case](np.random.default_rng(3))
    edges = np.unique(np.quantile(ref, np.arange(1, fine) / fine))
    (rc, re), (cc, ce) = _hist(ref, edges), _hist(cur, edges)
    bounds = m.ks_bounds(rc, re, cc, ce)
    assert bounds is not None
    expected = ks_2samp(ref, cur).statistic
    assert bounds.d_lo - 1e-15 <= expected <= bounds.d_hi + 1e-15
    # walk every candidate bin with the raw values strictly inside it, as the Spark plan does
    best = bounds.d_lo
    for b in bounds.candidates(above=bounds.d_lo):
        lo = -np.inf if b == 0 else edges[b - 1]
        hi = np.inf if b == edges.size else edges[b]
        inside_ref = ref[(ref > lo) & (ref < hi)]
        inside_cur = cur[(cur > lo) & (cur < hi)]
        values = np.concatenate([inside_ref, inside_cur])
        is_cur = np.concatenate([np.zeros(inside_ref.size, bool), np.ones(inside_cur.size, bool)])
        order = np.lexsort((values,))
        n = values.size
        keys, gaps, _, _ = m.walk_runs(
            np.zeros(n, np.int64), values[order], is_cur[order],
            np.full(n, bounds.ref_before[b]), np.full(n, bounds.cur_before[b]),
            np.full(n, float(bounds.n_ref)), np.full(n, float(bounds.n_cur)),
        )  # fmt: skip
        if keys.size:
            best = max(best, float(gaps.max()))
    assert best == pytest.approx(expected, abs=1e-12)


def test_walk_runs_in_chunks_continues_from_the_counts_reached() -> None:
    rng = np.random.default_rng(5)
    values = np.sort(np.round(rng.normal(0, 1, 400), 1))
    is_cur = rng.random(400) < 0.4
    n_ref, n_cur = float((~is_cur).sum()), float(is_cur.sum())
    keys = np.zeros(400, np.int64)

    def run(sl: slice, r0: int, c0: int) -> tuple[float, int, int]:
        k = keys[sl]
        _, best, r, c = m.walk_runs(k, values[sl], is_cur[sl], np.full(k.size, r0), np.full(k.size, c0),
                                    np.full(k.size, n_ref), np.full(k.size, n_cur))  # fmt: skip
        return float(best[0]), int(r[0]), int(c[0])

    whole, r_all, c_all = run(slice(0, 400), 0, 0)
    # split between two runs of equal values (the Spark walk holds a run back to do this)
    cut = int(np.flatnonzero(values[1:] != values[:-1])[20]) + 1
    first, r, c = run(slice(0, cut), 0, 0)
    second, r2, c2 = run(slice(cut, 400), r, c)
    assert max(first, second) == whole
    assert (r2, c2) == (r_all, c_all) == (int(n_ref), int(n_cur))


def test_js_and_psi_match_their_references() -> None:
    p, q = np.array([50, 30, 0, 20, 0]), np.array([10, 30, 5, 55, 0])
    divergence, distance = m.js(p, q)
    assert distance == pytest.approx(jensenshannon(p, q, base=2), abs=1e-15)
    assert divergence == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-15)
    assert m.js(p, p) == (0.0, 0.0)
    assert m.js(p, np.zeros(5)) == (None, None)
    r, c = p / p.sum(), q / q.sum()
    r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    assert m.psi(p, q, 1e-4) == pytest.approx(float(np.sum((c - r) * np.log(c / r))), abs=1e-15)
    assert m.psi(p, np.zeros(5), 1e-4) is None


def test_coarse_counts_sum_fine_bins_and_refuse_foreign_edges() -> None:
    fine = np.array([1.0, 2.0, 3.0, 4.0])
    counts = np.array([5, 1, 2, 3, 4])  # (-inf,1], (1,2], (2,3], (3,4], (4,inf)
    assert m.coarse_counts(counts, fine, np.array([2.0, 4.0])).tolist() == [6, 5, 4]
    assert m.coarse_counts(counts, fine, np.array([])).tolist() == [15]
    with pytest.raises(ValueError, match="not among the fine edges"):
        m.coarse_counts(counts, fine, np.array([2.5]))


def test_status_and_worst_status() -> None:
    assert m.status_of(0.25, 0.1, 0.2) == "alert"
    assert m.status_of(0.15, 0.1, 0.2) == "warn"
    assert m.status_of(0.1, 0.1, 0.2) == "ok"  # "above" the threshold, not at it
    assert m.status_of(-0.15, 0.1, 0.2) == "warn"  # deltas by their size
    assert m.status_of(None, 0.1, 0.2) == "empty"
    assert m.status_of(3.0, None, None) == "info"
    assert m.worst_status(["ok", "alert", "warn"]) == "alert"
    assert m.worst_status([]) == "empty"
