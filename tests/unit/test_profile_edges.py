"""Histogram-then-refine: the reference's fine edges picked from exact counts on provisional
edges, and the counts on them, against numpy on the raw values."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.drift.binning_kernel import count_numeric
from jobs.drift.profile_edges import refined_edges


@pytest.mark.parametrize("shape", ["lognormal", "integers"])
def test_refined_edges_have_exact_counts_and_a_small_rank_error(shape: str) -> None:
    rng = np.random.default_rng(3)
    n = 400_000
    values = rng.lognormal(0, 1.5, n) if shape == "lognormal" else rng.poisson(30, n).astype(float)
    values[rng.random(n) < 0.01] = np.nan
    sample = rng.choice(values[~np.isnan(values)], 50_000, replace=False)
    provisional = np.unique(np.quantile(sample, np.arange(1, 2048) / 2048, method="inverted_cdf"))
    counts = count_numeric(values, provisional, np.zeros(n, dtype=np.int64), 1)[0][0]
    fine, coarse, got, error = refined_edges(counts, provisional, 256, 10)
    # the counts on the picked edges are what counting on them directly gives
    want = count_numeric(values, fine, np.zeros(n, dtype=np.int64), 1)[0][0]
    np.testing.assert_array_equal(got, want)
    assert set(coarse) <= set(fine) and set(fine) <= set(provisional)
    # each fine edge's rank is off its quantile by at most about one provisional bin
    valid = np.sort(values[~np.isnan(values)])
    ranks = np.searchsorted(valid, fine, side="right") / valid.size
    if shape == "lognormal":
        assert fine.size == 255
        targets = np.arange(1, 256) / 256
        assert np.max(np.abs(ranks - targets)) == pytest.approx(error, abs=1e-12)
    else:  # ties: fewer distinct edges than bins, every one a value the data hold
        assert fine.size < 255 and np.isin(fine, valid).all()
    assert error < 2.0 / 2048  # ties aside: about one provisional bin
