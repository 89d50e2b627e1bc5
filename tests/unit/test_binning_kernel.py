"""The compiled numeric binning of the histogram pass counts what the numpy definition counts."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.drift.binning_kernel import cells, count_numeric
from skewguard.drift_stats import bin_numeric


def _reference(values: np.ndarray, edges: np.ndarray, group: np.ndarray, groups: int) -> tuple[np.ndarray, ...]:
    """``bin_numeric`` and ``bincount`` per group, as the histogram pass counted before."""
    k = edges.size
    counts = np.zeros((groups, 2 * k + 2), dtype=np.int64)
    lows, highs = np.full(groups, np.inf), np.full(groups, -np.inf)
    for g in range(groups):
        v = values[group == g]
        idx, on_edge, valid, nulls = bin_numeric(v, edges)
        counts[g, : k + 1] = np.bincount(idx, minlength=k + 1)
        counts[g, k + 1 : 2 * k + 1] = np.bincount(idx[on_edge], minlength=k + 1)[:k]
        counts[g, 2 * k + 1] = nulls
        if v[valid].size:
            lows[g], highs[g] = v[valid].min(), v[valid].max()
    return counts, lows, highs


@pytest.mark.parametrize("k", [0, 1, 2, 7, 64, 2047, 2048])
def test_compiled_counts_equal_the_numpy_definition(k: int) -> None:
    rng = np.random.default_rng(k)
    edges = np.unique(np.round(rng.normal(0, 1, k), 2)) if k else np.zeros(0)
    n = 20_000
    values = np.concatenate(
        [
            rng.normal(0, 1.5, n),
            rng.choice(edges, 500) if edges.size else np.zeros(500),  # exactly on edges
            [np.nan] * 300,
            [np.inf, -np.inf, -0.0, 0.0, 1e308, -1e308],
        ]
    )
    values[rng.integers(0, values.size, 200)] = np.round(values[:200], 2)  # more ties with the edges
    group = rng.integers(0, 3, values.size)
    got = count_numeric(values, edges, group, 4)  # group 3 is empty
    want = _reference(values, edges, group, 4)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert got[0][3].sum() == 0 and got[1][3] == np.inf and got[2][3] == -np.inf


@pytest.mark.parametrize(("k", "sub_bins"), [(0, 1), (3, 1), (64, 32), (2047, 32)])
def test_compiled_cells_equal_the_numpy_definition(k: int, sub_bins: int) -> None:
    """The exact KS walk's cell of a value: its bin (``searchsorted``), that bin's comparison,
    and ⌊(v − low)·scale⌋ clipped to the sub-bins; −1 off the compared bins, on an edge,
    NaN or not allowed."""
    rng = np.random.default_rng(10 + k)
    edges = np.unique(rng.normal(0, 1, k)) if k else np.zeros(0)
    values = np.concatenate([rng.normal(0, 2, 5000), edges, [np.nan, np.inf, -np.inf, 50.0, -50.0]])
    lut = np.where(rng.random(k + 1) < 0.6, -1, 0)
    lut[lut == 0] = np.arange((lut == 0).sum())
    n_cmp = int((lut >= 0).sum())
    low = rng.normal(0, 1, n_cmp)
    scale = np.where(rng.random(n_cmp) < 0.2, 0.0, rng.random(n_cmp) * 10)
    allowed = rng.random(values.size) < 0.9
    got = cells(values, edges, lut, low, scale, sub_bins, allowed)
    idx, on_edge, valid, _ = bin_numeric(values, edges)
    want = np.full(values.size, -1, dtype=np.int64)
    rows = np.flatnonzero(valid)
    cmp = lut[idx]
    inside = (~on_edge) & (cmp >= 0) & allowed[rows]
    rows, cmp = rows[inside], cmp[inside]
    with np.errstate(invalid="ignore"):
        sub = np.nan_to_num(np.floor((values[rows] - low[cmp]) * scale[cmp]), nan=0.0)
    want[rows] = cmp * sub_bins + np.clip(sub, 0, sub_bins - 1).astype(np.int64)
    np.testing.assert_array_equal(got, want)
    assert (got >= 0).sum() > (0 if k < 3 else 100)
